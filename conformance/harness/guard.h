/* Guard: every test creates one first. It disarms the interposer, snapshots
 * /proc/self/fd and the thread count, and finish() reports what the test
 * left behind (descriptors opened and not closed, extra threads after a
 * bounded grace). Use: CPK_GUARD_END(guard) as the test's last statement. */
#ifndef CPK_GUARD_H
#define CPK_GUARD_H

#include <string>

#include "process.h"

namespace cpk {

class Guard {
public:
    Guard();
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    /* Disarms everything, then compares with the snapshot. Returns "" when
     * nothing leaked, else a description. Waits up to thread_grace_ms for
     * threads to leave /proc/self/task. */
    std::string finish(int thread_grace_ms = 3000);
    const FdList& fds_at_start() const { return fds_; }
    int threads_at_start() const { return threads_; }
private:
    FdList fds_;
    int threads_;
};

} // namespace cpk

/* Last statement of a test: fails the test when anything leaked. */
#define CPK_GUARD_END(guard) REQUIRE((guard).finish() == std::string())

#endif
