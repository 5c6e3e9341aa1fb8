// Measurements of the implementation under test alone: teardown latency and
// per-op cost against the number of ops pending on the port.
#ifndef CPK_BENCH_PORT_BENCH_H
#define CPK_BENCH_PORT_BENCH_H

#include <cstddef>
#include <string>
#include <vector>

namespace bench {

// create, idle `idle_ms`, final dec_ref timed, `cycles` times; teardown.json.
std::string run_teardown_bench(const std::string& impl_name, int cycles, int idle_ms);

struct ScalingConfig {
    std::string impl_name;
    std::vector<size_t> pending; // requested levels, ascending
    int active;                  // measured ops per round
    int rounds;                  // rounds per run
    int repetitions;
};
// scaling.json.
std::string run_scaling_bench(const ScalingConfig& config);

} // namespace bench

#endif // CPK_BENCH_PORT_BENCH_H
