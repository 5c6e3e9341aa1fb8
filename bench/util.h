// Small helpers shared by the bench's measurements: clocks, statistics, the
// server threads' CPU time, CPU pinning, socketpairs.
#ifndef CPK_BENCH_UTIL_H
#define CPK_BENCH_UTIL_H

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start);

[[noreturn]] void fail(const std::string& what);

// q in [0, 1], nearest rank on a sorted copy; 0 for an empty set.
double quantile(std::vector<double> values, double q);
inline double median(const std::vector<double>& values) { return quantile(values, 0.5); }

// The thread ids of this process, sorted.
std::vector<pid_t> thread_ids();
// Ids in `after` that are not in `before` (both sorted).
std::vector<pid_t> new_threads(const std::vector<pid_t>& before, const std::vector<pid_t>& after);
// CPU time (ns) the threads used so far: /proc schedstat, else utime + stime.
double cpu_ns(const std::vector<pid_t>& tids);

// Pins the calling thread to one CPU (threads it starts inherit it); cpu < 0
// gives it back every CPU the process may use.
void pin_self(int cpu);
// The CPUs this process may use, in order.
std::vector<int> allowed_cpus();

// Sends buf[sent, filled) on a non-blocking socket, advancing `sent`: true once
// all is sent, false on EAGAIN; fails the bench with `what` on any other error.
bool send_pending(int fd, const unsigned char* buf, size_t filled, size_t& sent, int flags, const char* what);

// Raises the soft descriptor limit to the hard one; returns the new soft limit.
size_t raise_fd_limit();
size_t open_fd_count();

// A non-blocking AF_UNIX stream socketpair; fails the bench if it cannot.
void socket_pair(int* a, int* b);

} // namespace bench

#endif // CPK_BENCH_UTIL_H
