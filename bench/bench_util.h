// Small helpers shared by the bench's measurements.
#ifndef CPL_BENCH_UTIL_H
#define CPL_BENCH_UTIL_H

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace bench
{

using Clock = std::chrono::steady_clock;

inline double elapsed_ns(Clock::time_point start, Clock::time_point end)
{
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
}

// q in [0, 1]; nearest-rank on a sorted copy.
inline double quantile(std::vector<double> values, double q)
{
    if (values.empty())
    {
        return 0.0;
    }
    std::sort(values.begin(), values.end());
    size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

// Raises the soft descriptor limit to the hard one; returns the new soft limit.
size_t raise_fd_limit();

struct TeardownResult
{
    double create_median_us;
    double decref_median_us;
    double decref_p99_us;
    double decref_max_us;
    int cycles;
};
TeardownResult measure_teardown(int cycles);

struct PerOpResult
{
    size_t pending;           // background ops actually pending during the runs
    double complete_ns_op;    // add + event-driven completion (median of reps)
    double remove_ns_op;      // add + remove (closing completion), no worker
    double complete_best;     // fastest repetition (least disturbed by noise)
    double remove_best;
};
struct PerOpConfig
{
    size_t small_pending;     // e.g. 10
    size_t large_pending;     // e.g. 100000 (capped by the descriptor limit)
    int active_sockets;       // sockets with an op in flight per round
    int rounds;               // rounds per repetition
    int repetitions;          // interleaved small/large repetitions
};
// Both ports are measured in the same run, repetitions interleaved so that
// machine noise hits both alike.
void measure_per_op(const PerOpConfig& config, size_t fd_limit, PerOpResult* small, PerOpResult* large);

}  // namespace bench

#endif  // CPL_BENCH_UTIL_H
