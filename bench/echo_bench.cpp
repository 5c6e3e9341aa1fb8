// Every server runs in turn on fresh socketpairs, the order rotated every
// repetition; a run's rate is the median of its slices, and ratios pair the
// runs of one repetition, so that drift of the machine cancels.
#include "echo_bench.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>

#include "counters.h"
#include "echo_client.h"
#include "json.h"
#include "servers.h"
#include "util.h"

namespace bench {
namespace {

struct ServerKind {
    std::string name;
    std::function<std::unique_ptr<EchoServer>()> make;
};

struct RunResult {
    double rtps = 0;          // median of the slices' rates
    double cpu_us_per_rt = 0; // server threads, over the sampled slices
};

struct CountResult {
    double syscalls_per_rt = NAN;
    double allocs_per_rt = NAN;
};

struct Pairs {
    std::vector<int> client, server;
    explicit Pairs(size_t count) {
        for (size_t i = 0; i < count; ++i) {
            int a, b;
            socket_pair(&a, &b);
            client.push_back(a);
            server.push_back(b);
        }
    }
    ~Pairs() {
        for (size_t i = 0; i < client.size(); ++i) {
            close(client[i]);
            close(server[i]);
        }
    }
};

// Starts the server with its threads on `server_cpu`; returns their ids.
std::vector<pid_t> start_server(EchoServer& server, const Pairs& pairs, size_t size, const EchoConfig& config) {
    const std::vector<int> cpus = allowed_cpus();
    const bool split = config.pin == "split" && cpus.size() >= 2;
    const bool same = config.pin == "same" && !cpus.empty();
    const std::vector<pid_t> before = thread_ids();
    pin_self(split ? cpus[1] : same ? cpus[0] : -1);
    server.start(pairs.server, size);
    pin_self(split || same ? cpus[0] : -1);
    return new_threads(before, thread_ids());
}

void run_until(EchoClient& client, double seconds) {
    const Clock::time_point start = Clock::now();
    do {
        client.round();
    } while (seconds_since(start) < seconds);
}

/* Starts the server on p pairs, warms a client up, runs `measure(client, server
 * thread ids)`, then stops the server and checks the client heard nothing more. */
template <class Measure>
void with_warm_client(const ServerKind& kind, size_t p, size_t m, const EchoConfig& config, Measure measure) {
    Pairs pairs(p);
    std::unique_ptr<EchoServer> server = kind.make();
    const std::vector<pid_t> tids = start_server(*server, pairs, m, config);
    EchoClient client(pairs.client, m);
    run_until(client, config.warm_s);
    measure(client, tids);
    server->stop();
    client.check_quiet();
}

RunResult timed_run(const ServerKind& kind, size_t p, size_t m, const EchoConfig& config) {
    RunResult result;
    with_warm_client(kind, p, m, config, [&](EchoClient& client, const std::vector<pid_t>& tids) {
        std::vector<double> rates;
        const double cpu0 = cpu_ns(tids);
        const uint64_t rounds0 = client.rounds();
        for (int s = 0; s < config.slices; ++s) {
            const uint64_t before = client.rounds();
            const Clock::time_point slice = Clock::now();
            run_until(client, config.slice_s);
            rates.push_back(static_cast<double>((client.rounds() - before) * p) / seconds_since(slice));
        }
        const double round_trips = static_cast<double>((client.rounds() - rounds0) * p);
        result.rtps = median(rates);
        result.cpu_us_per_rt = (cpu_ns(tids) - cpu0) / 1000.0 / round_trips;
    });
    return result;
}

CountResult counting_run(const ServerKind& kind, size_t p, size_t m, const EchoConfig& config) {
    CountResult result;
    with_warm_client(kind, p, m, config, [&](EchoClient& client, const std::vector<pid_t>& tids) {
        SyscallCounter syscalls(tids);
        const uint64_t sys0 = syscalls.read();
        const uint64_t alloc0 = allocations();
        const uint64_t rounds0 = client.rounds();
        run_until(client, config.count_s);
        const double round_trips = static_cast<double>((client.rounds() - rounds0) * p);
        result.allocs_per_rt = static_cast<double>(allocations() - alloc0) / round_trips;
        if (syscalls.ok()) {
            result.syscalls_per_rt = static_cast<double>(syscalls.read() - sys0) / round_trips;
        }
    });
    return result;
}

} // namespace

std::string run_echo_bench(const EchoConfig& config) {
    // The client thread's own allocations are not the servers'.
    exclude_this_thread_from_allocations();
    const std::vector<ServerKind> kinds = {
        {config.impl_name, make_impl_server}, {"floor", make_floor_server},       {"raw-epoll", make_raw_epoll_server},
        {"libuv", make_libuv_server},         {"libevent", make_libevent_server},
    };
    const size_t n = kinds.size();
    const size_t floor = 1, raw = 2, uv = 3;
    const std::string why_no_syscalls = SyscallCounter::unavailable_reason();

    std::string rows;
    for (size_t m : config.sizes) {
        for (size_t p : config.pairs) {
            std::vector<std::vector<RunResult>> runs(n); // [server][repetition]
            for (int rep = 0; rep < config.repetitions; ++rep) {
                for (size_t k = 0; k < n; ++k) {
                    const size_t s = (k + static_cast<size_t>(rep)) % n;
                    runs[s].push_back(timed_run(kinds[s], p, m, config));
                }
            }
            if (config.progress) {
                std::fprintf(stderr, "bench: echo P=%zu M=%zu done\n", p, m);
            }
            for (size_t s = 0; s < n; ++s) {
                std::vector<double> rates, cpu, vs_floor, vs_raw, vs_uv;
                for (int rep = 0; rep < config.repetitions; ++rep) {
                    const double rate = runs[s][rep].rtps;
                    rates.push_back(rate);
                    cpu.push_back(runs[s][rep].cpu_us_per_rt);
                    vs_floor.push_back(rate / runs[floor][rep].rtps);
                    vs_raw.push_back(rate / runs[raw][rep].rtps);
                    vs_uv.push_back(rate / runs[uv][rep].rtps);
                }
                const CountResult counts = counting_run(kinds[s], p, m, config);
                const double mid = median(rates);
                const double spread = (quantile(rates, 0.75) - quantile(rates, 0.25)) / mid;
                if (!rows.empty()) {
                    rows += ",\n";
                }
                rows += "    {\"server\": " + json_string(kinds[s].name) + ", \"P\": " + std::to_string(p) +
                        ", \"M\": " + std::to_string(m) + ", \"rtps\": " + json_number(mid, 0) +
                        ", \"spread\": " + json_number(spread) + ", \"vs_floor\": " + json_number(median(vs_floor)) +
                        ", \"vs_raw\": " + json_number(median(vs_raw)) +
                        ", \"vs_libuv\": " + json_number(median(vs_uv)) +
                        ", \"cpu_us_per_rt\": " + json_number(median(cpu)) +
                        ", \"syscalls_per_rt\": " + json_number(counts.syscalls_per_rt) +
                        ", \"allocs_per_rt\": " + json_number(counts.allocs_per_rt) + "}";
            }
        }
    }
    pin_self(-1);
    const std::vector<int> cpus = allowed_cpus();
    std::string meta =
        "{\"impl\": " + json_string(config.impl_name) + ", \"repetitions\": " + std::to_string(config.repetitions) +
        ", \"slices\": " + std::to_string(config.slices) + ", \"slice_ms\": " + json_number(config.slice_s * 1000, 0) +
        ", \"cpus\": " + std::to_string(cpus.size()) + ", \"pinned\": " +
        json_string(config.pin == "split" && cpus.size() >= 2 ? "split"
                    : config.pin == "same"                    ? "same"
                                                              : "no") +
        ", \"syscall_counting\": " +
        json_string(why_no_syscalls.empty() ? "perf tracepoint raw_syscalls:sys_enter" : why_no_syscalls) +
        ", \"alloc_counting\": \"allocator interposed in the bench binary\"}";
    return "{\"meta\": " + meta + ",\n \"rows\": [\n" + rows + "\n]}\n";
}

} // namespace bench
