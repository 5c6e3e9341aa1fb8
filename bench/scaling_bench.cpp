// Cost per op with few and with many other ops pending on the same port;
// flat means no walk over the pending ops per completion.
// "Pending": a recv (EPOLLIN) and, where the implementation takes a second op
// on a socket, a hang-up watcher (EPOLLRDHUP) on each end of idle socketpairs.
// The measured ops run on other sockets: add a 1-byte recv on each, the peer
// writes a byte to each, wait for every completion (add + completion); add
// then remove, the closing completion whenever the implementation delivers it
// (add + remove).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include "c_pal/completion_port_linux.h"
#include "json.h"
#include "port_bench.h"
#include "util.h"

namespace bench {
namespace {

struct Counter {
    std::atomic<int> done{0};
    std::atomic<int> unexpected{0};
    int target = 0;
    std::mutex mutex;
    std::condition_variable reached;

    void arrive() {
        if (done.fetch_add(1) + 1 == target) {
            std::lock_guard<std::mutex> lock(mutex);
            reached.notify_all();
        }
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex);
        if (!reached.wait_for(lock, std::chrono::seconds(10), [&] { return done.load() >= target; })) {
            fail("measured ops did not complete within 10 s");
        }
    }
};

void on_received(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t amount) {
    Counter* counter = static_cast<Counter*>(context);
    if (action != COMPLETION_PORT_EPOLL_EPOLLIN || result != COMPLETION_PORT_RESULT_OK || amount != 1) {
        counter->unexpected.fetch_add(1);
    }
    counter->arrive();
}

// A removed op completes as closing, inside remove or later (the final
// dec_ref at the latest): counted, never waited for.
std::atomic<long> removed_closings{0};
std::atomic<long> removed_unexpected{0};
void on_removed(void*, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT, int32_t) {
    (action == COMPLETION_PORT_CLOSING ? removed_closings : removed_unexpected).fetch_add(1);
}

std::atomic<long> background_completions{0};
void on_background(void*, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT, int32_t) {
    if (action != COMPLETION_PORT_CLOSING) {
        background_completions.fetch_add(1);
    }
}

unsigned char background_buffer[1];

bool try_add(COMPLETION_PORT_HANDLE port, int epoll_op, int fd, ON_COMPLETION_PORT_EVENT_COMPLETE callback,
             void* context, void* buffer, uint32_t length) {
    const COMPLETION_PORT_INGRESS_DATA in{epoll_op, fd, callback, context, {buffer, length}};
    return completion_port_add(port, &in) == 0;
}

void add(COMPLETION_PORT_HANDLE port, int epoll_op, int fd, ON_COMPLETION_PORT_EVENT_COMPLETE callback, void* context,
         void* buffer, uint32_t length) {
    if (!try_add(port, epoll_op, fd, callback, context, buffer, length)) {
        fail(std::string("completion_port_add of a ") + (epoll_op == EPOLLIN ? "recv" : "hang-up") + " op failed");
    }
}

// 2 when the implementation takes a hang-up watcher beside a pending recv on
// one socket (the spec guarantees only recv + send), else 1.
size_t ops_per_descriptor() {
    COMPLETION_PORT_HANDLE port = completion_port_create();
    if (port == nullptr) {
        fail("completion_port_create returned NULL");
    }
    int a, b;
    socket_pair(&a, &b);
    add(port, EPOLLIN, a, on_background, nullptr, background_buffer, 1);
    const bool two = try_add(port, EPOLLRDHUP, a, on_background, nullptr, nullptr, 0);
    completion_port_dec_ref(port);
    close(a);
    close(b);
    return two ? 2 : 1;
}

struct Level {
    size_t requested = 0;
    size_t pending = 0;
    COMPLETION_PORT_HANDLE port = nullptr;
    std::vector<int> background, active, peers;
    std::vector<unsigned char> buffers;
    Counter counter;
    std::vector<double> complete_ns, remove_ns;

    void set_up(size_t ops, size_t per_fd, int active_count) {
        port = completion_port_create();
        if (port == nullptr) {
            fail("completion_port_create returned NULL");
        }
        while (pending < ops) {
            int a, b;
            socket_pair(&a, &b);
            for (int fd : {a, b}) {
                background.push_back(fd);
                for (int op : {EPOLLIN, EPOLLRDHUP}) {
                    if (pending < ops && (op == EPOLLIN || per_fd == 2)) {
                        add(port, op, fd, on_background, nullptr, op == EPOLLIN ? background_buffer : nullptr,
                            op == EPOLLIN ? 1 : 0);
                        pending++;
                    }
                }
            }
        }
        for (int i = 0; i < active_count; ++i) {
            int a, b;
            socket_pair(&a, &b);
            active.push_back(a);
            peers.push_back(b);
        }
        buffers.resize(static_cast<size_t>(active_count));
    }

    void tear_down() {
        completion_port_dec_ref(port); // the background ops complete as closing
        for (const std::vector<int>* fds : {&background, &active, &peers}) {
            for (int fd : *fds) {
                close(fd);
            }
        }
    }

    double run_complete(int rounds) {
        const size_t n = active.size();
        const unsigned char byte = 'b';
        const Clock::time_point start = Clock::now();
        for (int r = 0; r < rounds; ++r) {
            counter.done = 0;
            counter.target = static_cast<int>(n);
            for (size_t i = 0; i < n; ++i) {
                add(port, EPOLLIN, active[i], on_received, &counter, &buffers[i], 1);
            }
            for (size_t i = 0; i < n; ++i) {
                if (write(peers[i], &byte, 1) != 1) {
                    fail("write failed");
                }
            }
            counter.wait();
        }
        return seconds_since(start) * 1e9 / (static_cast<double>(rounds) * static_cast<double>(n));
    }

    double run_remove(int rounds) {
        const size_t n = active.size();
        const Clock::time_point start = Clock::now();
        for (int r = 0; r < rounds; ++r) {
            for (size_t i = 0; i < n; ++i) {
                add(port, EPOLLIN, active[i], on_removed, nullptr, &buffers[i], 1);
                completion_port_remove(port, active[i]);
            }
        }
        return seconds_since(start) * 1e9 / (static_cast<double>(rounds) * static_cast<double>(n));
    }
};

} // namespace

std::string run_scaling_bench(const ScalingConfig& config) {
    const size_t fd_limit = raise_fd_limit();
    // Descriptors: the open ones, a margin, per level a port's (epoll, an
    // eventfd or two) and its active pairs; the rest carries the background.
    const size_t levels = config.pending.size();
    const size_t per_level = 8 + 2 * static_cast<size_t>(config.active);
    const size_t reserve = open_fd_count() + 32 + levels * per_level;
    size_t spare = fd_limit > reserve ? fd_limit - reserve : 0;

    // The client and every worker on one CPU: a round then costs what its ops
    // cost, not a wake-up across CPUs per op (tens of us on small VMs).
    const std::vector<int> cpus = allowed_cpus();
    pin_self(cpus.empty() ? -1 : cpus[0]);
    const size_t per_fd = ops_per_descriptor();
    std::vector<Level> ports(levels);
    std::string notes;
    for (size_t k = 0; k < levels; ++k) {
        // Whole socketpairs: 2 descriptors, 2 * per_fd ops.
        const size_t wanted_fds = (config.pending[k] + 2 * per_fd - 1) / (2 * per_fd) * 2;
        const size_t fds = std::min(wanted_fds, spare / 2 * 2);
        const size_t ops = std::min(config.pending[k], fds * per_fd);
        spare -= fds;
        ports[k].requested = config.pending[k];
        ports[k].set_up(ops, per_fd, config.active);
        if (ops < config.pending[k]) {
            notes += (notes.empty() ? "" : " ") + std::to_string(config.pending[k]) + " pending ops need " +
                     std::to_string(wanted_fds) + " descriptors (" + std::to_string(per_fd) +
                     (per_fd == 1 ? " op each)" : " ops each)") + "; RLIMIT_NOFILE " + std::to_string(fd_limit) +
                     " leaves " + std::to_string(fds) + " beside the other levels: measured with " +
                     std::to_string(ops) + ".";
        }
    }
    for (Level& level : ports) {
        (void)level.run_complete(config.rounds / 4 + 1); // warm-up
    }
    for (int rep = 0; rep < config.repetitions; ++rep) {
        for (size_t i = 0; i < levels; ++i) {
            Level& level = ports[(i + static_cast<size_t>(rep)) % levels];
            level.complete_ns.push_back(level.run_complete(config.rounds));
            level.remove_ns.push_back(level.run_remove(config.rounds));
        }
    }
    std::string rows;
    for (Level& level : ports) {
        if (level.counter.unexpected.load() != 0) {
            fail("a measured op completed with an unexpected action, result or amount");
        }
        rows +=
            std::string(rows.empty() ? "" : ",\n") + "    {\"requested\": " + std::to_string(level.requested) +
            ", \"pending\": " + std::to_string(level.pending) +
            ", \"add_complete_ns\": " + json_number(median(level.complete_ns), 0) + ", \"add_complete_spread\": " +
            json_number((quantile(level.complete_ns, 0.75) - quantile(level.complete_ns, 0.25)) /
                        median(level.complete_ns)) +
            ", \"add_remove_ns\": " + json_number(median(level.remove_ns), 0) + ", \"add_remove_spread\": " +
            json_number((quantile(level.remove_ns, 0.75) - quantile(level.remove_ns, 0.25)) / median(level.remove_ns)) +
            "}";
    }
    if (background_completions.load() != 0) {
        fail("a background op completed before teardown");
    }
    if (removed_unexpected.load() != 0) {
        fail("a removed op completed otherwise than as closing");
    }
    for (Level& level : ports) {
        level.tear_down();
    }
    pin_self(-1);
    return "{\"server\": " + json_string(config.impl_name) + ", \"fd_limit\": " + std::to_string(fd_limit) +
           ", \"ops_per_descriptor\": " + std::to_string(per_fd) + ", \"active\": " + std::to_string(config.active) +
           ", \"rounds\": " + std::to_string(config.rounds) +
           ", \"repetitions\": " + std::to_string(config.repetitions) +
           ", \"one_cpu\": " + (cpus.empty() ? "false" : "true") + ", \"note\": " + json_string(notes) +
           ",\n \"levels\": [\n" + rows + "\n]}\n";
}

} // namespace bench
