// completion_port bench: teardown latency and per-op cost vs pending ops.
// Usage: completion_port_bench [--quick]
#include <cstdio>
#include <cstring>

#include "bench_util.h"

int main(int argc, char** argv)
{
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const size_t fd_limit = bench::raise_fd_limit();

    std::printf("completion_port bench (reference, static library)\n");
    std::printf("RLIMIT_NOFILE: %zu descriptors\n\n", fd_limit);

    const int cycles = quick ? 50 : 200;
    const bench::TeardownResult t = bench::measure_teardown(cycles);
    std::printf("(a) final dec_ref with an idle worker, %d create/dec_ref cycles\n", t.cycles);
    std::printf("    create   median %9.1f us\n", t.create_median_us);
    std::printf("    dec_ref  median %9.1f us   p99 %9.1f us   max %9.1f us   (requirement: < 100000 us)\n\n",
                t.decref_median_us, t.decref_p99_us, t.decref_max_us);

    bench::PerOpConfig config{};
    config.small_pending = 10;
    config.large_pending = 100000;
    config.active_sockets = 64;
    config.rounds = quick ? 40 : 200;
    config.repetitions = quick ? 3 : 7;
    bench::PerOpResult small{}, large{};
    bench::measure_per_op(config, fd_limit, &small, &large);

    std::printf("(b) cost per op vs other ops pending on the same port\n");
    std::printf("    %d sockets in flight per round, %d rounds, median of %d interleaved repetitions\n",
                config.active_sockets, config.rounds, config.repetitions);
    const char* rule = "    +-------------------+-------------------------+-------------------------+\n";
    std::printf("%s", rule);
    std::printf("    | pending ops       | add + completion ns/op  | add + remove ns/op      |\n");
    std::printf("    |                   |   median      best      |   median      best      |\n");
    std::printf("%s", rule);
    for (const bench::PerOpResult* r : {&small, &large})
    {
        std::printf("    | %17zu | %9.0f %9.0f     | %9.0f %9.0f     |\n", r->pending, r->complete_ns_op,
                    r->complete_best, r->remove_ns_op, r->remove_best);
    }
    std::printf("%s", rule);
    std::printf("    | ratio large/small | %9.2f %9.2f     | %9.2f %9.2f     |\n",
                large.complete_ns_op / small.complete_ns_op, large.complete_best / small.complete_best,
                large.remove_ns_op / small.remove_ns_op, large.remove_best / small.remove_best);
    std::printf("%s", rule);
    std::printf("    O(1) per op means a ratio near 1.\n");
    if (large.pending < config.large_pending)
    {
        std::printf("    note: %zu pending ops need %zu descriptors (2 ops each); the descriptor limit\n"
                    "          allows %zu pending ops, measured there.\n",
                    config.large_pending, config.large_pending / 2, large.pending);
    }
    return 0;
}
