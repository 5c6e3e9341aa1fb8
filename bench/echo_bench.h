// The echo comparison: every server, P socketpairs, M-byte messages.
#ifndef CPK_BENCH_ECHO_BENCH_H
#define CPK_BENCH_ECHO_BENCH_H

#include <cstddef>
#include <string>
#include <vector>

namespace bench {

struct EchoConfig {
    std::string impl_name;     // the server name of the implementation under test
    std::vector<size_t> pairs; // P values
    std::vector<size_t> sizes; // M values
    int repetitions;
    double slice_s;  // one rate sample
    int slices;      // samples per run
    double warm_s;   // before the first sample
    double count_s;  // the counting run (syscalls, allocations)
    bool progress;   // a line on stderr per (P, M)
    std::string pin; // "": not pinned; "split": client and servers on two CPUs; "same": on one
};

// Runs it all; returns echo.json's text and prints progress on stderr.
std::string run_echo_bench(const EchoConfig& config);

} // namespace bench

#endif // CPK_BENCH_ECHO_BENCH_H
