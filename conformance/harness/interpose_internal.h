/* Shared state of the interposer (not for tests). Everything here is
 * allocation-free and constant-initialized so it works before main and from
 * inside malloc. */
#ifndef CPK_INTERPOSE_INTERNAL_H
#define CPK_INTERPOSE_INTERNAL_H

#include <atomic>
#include <cstdint>
#include <sched.h>
#include <sys/types.h>

#include "interpose.h"
#include "nocopy.h"
#include "sync.h"

namespace cpk {
namespace detail {

/* > 0 while the current thread runs harness bookkeeping: nested calls only forward. */
extern __thread int t_depth;
/* > 0 inside a NoTrack scope. */
extern __thread int t_notrack;

struct Busy : NoCopy {
    Busy() { ++t_depth; }
    ~Busy() { --t_depth; }
};

pid_t tid(); /* cached gettid() */

class SpinLock {
public:
    void lock() {
        for (unsigned i = 0; flag_.test_and_set(std::memory_order_acquire); ++i)
            if (i > 64) sched_yield();
    }
    void unlock() { flag_.clear(std::memory_order_release); }

private:
    std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

struct SpinGuard {
    explicit SpinGuard(SpinLock& l) : l_(l) { l_.lock(); }
    ~SpinGuard() { l_.unlock(); }
    SpinLock& l_;
};

/* Faults. `post` selects FaultKind::rewrite (after the real call) versus the
 * other kinds (before it). Returns true and copies the fault when the call
 * must be affected. Counts hits on every matching fault. */
extern std::atomic<int> g_active_faults;
inline bool faults_armed() { return g_active_faults.load(std::memory_order_relaxed) > 0; }
bool match_fault(Fn fn, int fd, int epfd, int op, bool post, Fault* out);

/* Recording. */
extern std::atomic<bool> g_recording;
inline bool recording() { return g_recording.load(std::memory_order_relaxed); }
void record(CallRecord& r); /* assigns seq */

/* Always-on counters. */
void count_enter(Fn fn);
void count_return(Fn fn);

/* epoll registrations seen through epoll_ctl: (epfd, fd) -> data. */
void epmap_set(int epfd, int fd, uint64_t data);
/* Sets the mapping and reports the previous one (for undo when the call fails). */
bool epmap_swap(int epfd, int fd, uint64_t data, uint64_t* old);
void epmap_del(int epfd, int fd);
int epmap_find(int epfd, uint64_t data); /* -1 if unknown */

extern std::atomic<int> g_last_epoll_fd;

/* Allocation tracking reset (interpose_alloc.cpp). */
void alloc_disarm();

} // namespace detail
} // namespace cpk

#endif
