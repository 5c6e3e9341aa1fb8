// Heap allocations and syscalls of the server threads.
#ifndef CPK_BENCH_COUNTERS_H
#define CPK_BENCH_COUNTERS_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// Allocations (malloc, calloc, realloc, aligned forms, operator new) made so
// far by every thread except those that called exclude_this_thread(): the
// allocator is interposed in this binary (alloc_count.cpp).
uint64_t allocations();
void exclude_this_thread_from_allocations();

// Counts syscall entries of a set of threads with the raw_syscalls:sys_enter
// tracepoint (perf_event_open); unavailable without tracefs or permission.
class SyscallCounter {
public:
    // Why counting is unavailable, or empty when it works.
    static std::string unavailable_reason();
    explicit SyscallCounter(const std::vector<pid_t>& tids);
    ~SyscallCounter();
    SyscallCounter(const SyscallCounter&) = delete;
    SyscallCounter& operator=(const SyscallCounter&) = delete;
    bool ok() const { return ok_; }
    uint64_t read() const;

private:
    std::vector<int> fds_;
    bool ok_ = false;
};

} // namespace bench

#endif // CPK_BENCH_COUNTERS_H
