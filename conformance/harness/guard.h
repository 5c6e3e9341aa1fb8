/* Guard: every test creates one first. It disarms the interposer, snapshots
 * /proc/self/fd and the thread count, and finish() reports what the test
 * left behind (descriptors opened and not closed, extra threads after a
 * bounded grace). Use: CPK_GUARD_END(guard) as the test's last statement. */
#ifndef CPK_GUARD_H
#define CPK_GUARD_H

#include <string>

#include "nocopy.h"
#include "process.h"
#include "verdict.h"

namespace cpk {

/* What a test left behind: "" each when nothing. */
struct Leaks {
    std::string descriptors;
    std::string threads;
};

class Guard : NoCopy {
public:
    Guard();
    ~Guard();
    /* Disarms everything, then compares with the snapshot. Returns "" when
     * nothing leaked, else a description. Waits up to thread_grace_ms for
     * threads to leave /proc/self/task. */
    std::string finish(int thread_grace_ms = 3000);
    /* The same, split by kind. */
    Leaks leaks(int thread_grace_ms = 3000);
    const FdList& fds_at_start() const { return fds_; }
    int threads_at_start() const { return threads_; }

private:
    FdList fds_;
    int threads_;
};

} // namespace cpk

/* Last statement of a test, after its port is released: what the test left
 * behind is a violation of a teardown requirement, not of the test's tags.
 * A descriptor left open is CPL_DECREF_003 (the final dec_ref closes what the
 * port opened), a thread left running CPL_DECREF_002. A test whose leaks
 * belong to another requirement (a failed create: CPL_CREATE_008) names it. */
#define CPK_GUARD_END_AS(guard, fd_req, thread_req)                                                                    \
    do {                                                                                                               \
        ::cpk::PhaseScope cpk_guard_phase_("guard");                                                                   \
        ::cpk::Leaks cpk_leaks_ = (guard).leaks();                                                                     \
        CPK_CHECK(fd_req, cpk_leaks_.descriptors == std::string());                                                    \
        CPK_CHECK(thread_req, cpk_leaks_.threads == std::string());                                                    \
    } while (0)
#define CPK_GUARD_END(guard) CPK_GUARD_END_AS(guard, "CPL_DECREF_003", "CPL_DECREF_002")

#endif
