// (b) Cost per op with few and with many other ops pending on the same port.
// "Pending" = registered and waiting: a recv (EPOLLIN) and a hang-up watcher
// (EPOLLRDHUP) on each end of idle socketpairs, two ops per descriptor (a
// socket holds at most one op per kind, and a send can only wait on a full
// buffer, which would make the socket readable on the other side).
// Measured ops run on a separate set of active sockets: add a 1-byte recv on
// each, the peer writes one byte to each, wait until all completed.
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "bench_util.h"
#include "c_pal/completion_port_linux.h"
#include "test_hooks.h"

namespace bench
{
namespace
{

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "bench: %s\n", what);
    std::exit(1);
}

// Completions of the measured ops of one round.
struct RoundCounter
{
    std::atomic<int> done{0};
    std::atomic<int> unexpected{0};
    int target = 0;
    std::mutex mutex;
    std::condition_variable reached;
};

void on_measured(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t)
{
    RoundCounter* counter = static_cast<RoundCounter*>(context);
    if (action == COMPLETION_PORT_CLOSING)
    {
        counter->done.fetch_add(1);  // the add+remove measurement, inline
        return;
    }
    if (action != COMPLETION_PORT_EPOLL_EPOLLIN || result != COMPLETION_PORT_RESULT_OK)
    {
        counter->unexpected.fetch_add(1);
    }
    if (counter->done.fetch_add(1) + 1 == counter->target)
    {
        std::lock_guard<std::mutex> lock(counter->mutex);
        counter->reached.notify_all();
    }
}

std::atomic<long> background_event_completions{0};
void on_background(void*, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT, int32_t)
{
    if (action != COMPLETION_PORT_CLOSING)
    {
        background_event_completions.fetch_add(1);
    }
}

char background_buffer[1];
char measured_buffers[4096];

struct PortUnderTest
{
    COMPLETION_PORT_HANDLE port = nullptr;
    std::vector<int> background_fds;
    std::vector<int> active_a, active_b;
    RoundCounter counter;
};

void make_pair(int* a, int* b)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    {
        fail("socketpair failed (descriptor limit?)");
    }
    *a = fds[0];
    *b = fds[1];
}

void add_or_die(COMPLETION_PORT_HANDLE port, int epoll_op, int fd, ON_COMPLETION_PORT_EVENT_COMPLETE callback,
                void* context, void* buffer, uint32_t length)
{
    COMPLETION_PORT_INGRESS_DATA in{};
    in.epoll_op = epoll_op;
    in.socket = fd;
    in.event_callback = callback;
    in.event_callback_ctx = context;
    in.buffer_data.buffer = buffer;
    in.buffer_data.length = length;
    if (completion_port_add(port, &in) != 0)
    {
        fail("completion_port_add failed");
    }
}

void set_up(PortUnderTest* p, size_t pending, int active)
{
    p->port = completion_port_create();
    if (p->port == nullptr)
    {
        fail("completion_port_create failed");
    }
    size_t placed = 0;
    while (placed < pending)
    {
        int a, b;
        make_pair(&a, &b);
        for (int fd : {a, b})
        {
            p->background_fds.push_back(fd);
            if (placed < pending)
            {
                add_or_die(p->port, EPOLLIN, fd, on_background, nullptr, background_buffer, 1);
                placed++;
            }
            if (placed < pending)
            {
                add_or_die(p->port, EPOLLRDHUP, fd, on_background, nullptr, nullptr, 0);
                placed++;
            }
        }
    }
    for (int i = 0; i < active; ++i)
    {
        int a, b;
        make_pair(&a, &b);
        p->active_a.push_back(a);
        p->active_b.push_back(b);
    }
}

void tear_down(PortUnderTest* p)
{
    completion_port_dec_ref(p->port);  // the background ops complete as closing
    for (int fd : p->background_fds)
    {
        close(fd);
    }
    for (size_t i = 0; i < p->active_a.size(); ++i)
    {
        close(p->active_a[i]);
        close(p->active_b[i]);
    }
}

// ns per op of add + event-driven completion, over `rounds` rounds.
double run_complete(PortUnderTest* p, int rounds)
{
    const int active = static_cast<int>(p->active_a.size());
    const char byte = 'b';
    const auto start = Clock::now();
    for (int r = 0; r < rounds; ++r)
    {
        p->counter.done = 0;
        p->counter.target = active;
        for (int i = 0; i < active; ++i)
        {
            add_or_die(p->port, EPOLLIN, p->active_a[i], on_measured, &p->counter, &measured_buffers[i], 1);
        }
        for (int i = 0; i < active; ++i)
        {
            if (write(p->active_b[i], &byte, 1) != 1)
            {
                fail("write failed");
            }
        }
        std::unique_lock<std::mutex> lock(p->counter.mutex);
        if (!p->counter.reached.wait_for(lock, std::chrono::seconds(10),
                                         [&] { return p->counter.done.load() >= active; }))
        {
            fail("measured ops did not complete within 10 s");
        }
    }
    return elapsed_ns(start, Clock::now()) / (static_cast<double>(rounds) * active);
}

// ns per op of add + remove (closing completion on this thread, no worker).
double run_remove(PortUnderTest* p, int rounds)
{
    const int active = static_cast<int>(p->active_a.size());
    const auto start = Clock::now();
    for (int r = 0; r < rounds; ++r)
    {
        for (int i = 0; i < active; ++i)
        {
            add_or_die(p->port, EPOLLIN, p->active_a[i], on_measured, &p->counter, &measured_buffers[i], 1);
            completion_port_remove(p->port, p->active_a[i]);
        }
    }
    return elapsed_ns(start, Clock::now()) / (static_cast<double>(rounds) * active);
}

size_t open_fd_count()
{
    size_t count = 0;
    if (DIR* dir = opendir("/proc/self/fd"))
    {
        while (struct dirent* entry = readdir(dir))
        {
            count += entry->d_name[0] != '.' ? 1 : 0;
        }
        closedir(dir);
    }
    return count;
}

}  // namespace

size_t raise_fd_limit()
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    {
        return 1024;
    }
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);
    (void)getrlimit(RLIMIT_NOFILE, &limit);
    return static_cast<size_t>(limit.rlim_cur);
}

void measure_per_op(const PerOpConfig& config, size_t fd_limit, PerOpResult* small, PerOpResult* large)
{
    // Descriptors: those open now, 2 per port, 2 per active pair, those of
    // the small port's background; the rest, in whole socketpairs, carries
    // the large port's background at 2 ops per descriptor.
    const size_t active_fds = 2 * 2 * static_cast<size_t>(config.active_sockets);
    const size_t small_fds = 2 * ((config.small_pending + 3) / 4) + 2;
    const size_t reserve = open_fd_count() + 4 + active_fds + small_fds + 8;
    const size_t spare_fds = fd_limit > reserve ? fd_limit - reserve : 0;
    const size_t max_large = (spare_fds / 2) * 2 * 2;
    const size_t large_pending = std::min(config.large_pending, max_large);

    PortUnderTest ports[2];
    set_up(&ports[0], config.small_pending, config.active_sockets);
    set_up(&ports[1], large_pending, config.active_sockets);

    std::vector<double> complete[2], removal[2];
    (void)run_complete(&ports[0], config.rounds / 4 + 1);  // warm-up
    (void)run_complete(&ports[1], config.rounds / 4 + 1);
    for (int rep = 0; rep < config.repetitions; ++rep)
    {
        for (int k = 0; k < 2; ++k)
        {
            complete[k].push_back(run_complete(&ports[k], config.rounds));
        }
        for (int k = 0; k < 2; ++k)
        {
            removal[k].push_back(run_remove(&ports[k], config.rounds));
        }
    }
    PerOpResult* out[2] = {small, large};
    for (int k = 0; k < 2; ++k)
    {
        out[k]->pending = cpl_test_pending_ops(ports[k].port);
        out[k]->complete_ns_op = quantile(complete[k], 0.5);
        out[k]->remove_ns_op = quantile(removal[k], 0.5);
        out[k]->complete_best = quantile(complete[k], 0.0);
        out[k]->remove_best = quantile(removal[k], 0.0);
        if (ports[k].counter.unexpected.load() != 0)
        {
            fail("a measured op completed with an unexpected action or result");
        }
        tear_down(&ports[k]);
    }
    if (background_event_completions.load() != 0)
    {
        fail("a background op completed before teardown");
    }
}

}  // namespace bench
