/* Helpers around the public API for tests (completion_port_linux.h only). */
#ifndef CPK_PORT_H
#define CPK_PORT_H

#include <cstdint>
#include <string>
#include <sys/types.h>

#include "c_pal/completion_port_linux.h"
#include "sync.h"
#include "verdict.h"

namespace cpk {

/* A port plus what the harness could learn about it at creation. */
struct PortInfo {
    COMPLETION_PORT_HANDLE handle = nullptr;
    int epfd = -1;            /* its epoll fd (new eventpoll in /proc/self/fd); -1 if unknown */
    pid_t worker = 0;         /* its worker thread's tid; 0 if unknown */
    int threads_before = 0;   /* count_threads() before create */
    int epoll_fds_before = 0; /* count_epoll_fds() before create */
};

/* Calls completion_port_create and fills PortInfo (handle NULL on failure).
 * The worker is found through the interposed pthread_create, else as the
 * single new thread in /proc/self/task. */
PortInfo create_port();

/* Calls completion_port_dec_ref and returns how long the call took (ns). */
int64_t timed_dec_ref(COMPLETION_PORT_HANDLE h);

/* An ingress filled by hand (for invalid-argument tests). */
COMPLETION_PORT_INGRESS_DATA make_ingress(int epoll_op, int socket, ON_COMPLETION_PORT_EVENT_COMPLETE cb, void* ctx,
                                          void* buffer = nullptr, uint32_t length = 0);

class Recorder;

/* Waits until some thread is blocked inside epoll_wait/epoll_pwait
 * (interposer counters: entered > returned). True if seen in time. */
bool wait_blocked_in_epoll_wait(int timeout_ms = kWaitMs);

/* Sentinel for "must not happen" checks: proves the port's worker went past
 * everything that happened before the call. Adds a recv op (rec.op(op_index),
 * 1-byte buffer) on a fresh socketpair, makes it readable, waits (bounded) for
 * its completion, then waits up to quiet_ms more for any other callback of
 * `rec`. Returns true if the sentinel op completed. Leaves no descriptor.
 * A failed add is checked (row_add) as the requirement it violates; call
 * from the test's own thread. */
bool sentinel(COMPLETION_PORT_HANDLE port, Recorder& rec, size_t op_index, int quiet_ms = 300);

/* A recv op (rec.op(op), 1-byte buffer) on a fresh socketpair of `port`, made
 * readable: true if its first callback came in time with the EPOLLIN action.
 * Shows the port works. Leaves no descriptor. */
bool completes_a_recv(COMPLETION_PORT_HANDLE port, Recorder& rec, size_t op);

/* The requirement a failed completion_port_add of a test's setup violates,
 * from the epoll_ctl calls this thread made since `mark`: CPL_ADD_006 when an
 * EPOLL_CTL_MOD failed with ENOENT and no EPOLL_CTL_ADD followed it, else
 * `otherwise` (by default CPL_ADD_007: a valid add on a live port returns 0;
 * a test of an edge case that must be accepted names its own). */
const char* add_failure_requirement(uint64_t mark, const char* otherwise = "CPL_ADD_007");
/* Those epoll_ctl calls as text, for the failure's context. */
std::string describe_ctl_since(uint64_t mark);

/* EPOLL* mask as text, e.g. "IN|OUT|ONESHOT". */
std::string events_name(uint32_t events);

} // namespace cpk

/* Setup steps of a test, each a check of its own requirement (not of the
 * test's tags): create returned a port (CPL_CREATE_004); a valid add
 * returned 0 (CPL_ADD_007, or CPL_ADD_006 when the add never fell back to
 * EPOLL_CTL_ADD). */
#define CPK_REQUIRE_PORT(p) CPK_REQUIRE("CPL_CREATE_004", (p).handle != nullptr)
#define CPK_REQUIRE_ADD(port, ingress)                                                                                 \
    do {                                                                                                               \
        uint64_t cpk_mark_ = ::cpk::thread_ctl_mark();                                                                 \
        int cpk_add_rc_ = completion_port_add((port), (ingress));                                                      \
        const char* cpk_add_req_ = cpk_add_rc_ == 0 ? "CPL_ADD_007" : ::cpk::add_failure_requirement(cpk_mark_);       \
        INFO("completion_port_add returned " << cpk_add_rc_                                                            \
                                             << "; its epoll_ctl calls: " << ::cpk::describe_ctl_since(cpk_mark_));    \
        CPK_REQUIRE(cpk_add_req_, cpk_add_rc_ == 0);                                                                   \
    } while (0)

#endif
