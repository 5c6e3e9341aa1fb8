/* The port under test: creation and the checks that follow its final
 * dec_ref (CPL_CREATE_001..004, CPL_DECREF_002..006). Failures throw pt::Failure. */
#ifndef PT_PORT_H
#define PT_PORT_H

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

#include "harness.h"

namespace pt {

struct PortCtx {
    cpk::PortInfo info;
    COMPLETION_PORT_HANDLE h = nullptr;
    bool alive = false;
    bool tracked = false;        /* allocation tracking started right before create */
    std::vector<int> own_fds;    /* descriptors create opened (its epoll fd, ...) */
    int64_t release_call_ns = 0; /* the final dec_ref: when it was called ... */
    int64_t released_ns = 0;     /* ... and when it returned (0 while alive) */
    pid_t released_by = 0;       /* the thread that made it */
};

/* Creates a port (CPL_CREATE_001..004: non-NULL, one new eventpoll descriptor,
 * one new thread). With `track`, allocation tracking starts right before. */
void port_open(PortCtx& p, bool track);

/* The final dec_ref, made on a helper thread so that a hang fails instead of
 * blocking the test (the helper gives up after cpk::kTeardownMs). */
void port_release(PortCtx& p);

/* A dec_ref that left references must not have released the port (CPL_INCREF_002,
 * CPL_DECREF_001): its epoll descriptor is still open. Fails before anything
 * touches a freed port. */
void check_port_kept(const PortCtx& p, int refs_left);

/* Both final dec_refs at once (each on its own helper thread): a slow
 * teardown is paid once. */
void port_release_both(PortCtx& a, PortCtx& b);

/* After the final dec_ref returned: the worker has left (CPL_DECREF_002,
 * CPL_DECREF_004), the port's descriptors are closed (CPL_DECREF_003) and,
 * when tracked, its allocations are freed (CPL_DECREF_005). `test_fds` are
 * descriptors the test owns (they may reuse numbers the port freed). */
void port_check_released(PortCtx& p, const std::vector<int>& test_fds);

} // namespace pt

#endif
