/* Allocation tracking for properties: every thread a property runs keeps its
 * own allocations (rapidcheck, Catch2, the model) out of the harness's live
 * set, except inside the api_* calls below, so that after the final dec_ref
 * the live set holds exactly what the implementation failed to free
 * (CPL_DECREF_005). Threads the implementation owns (its worker) are tracked
 * as usual; callbacks on them must not allocate (the Recorder does not). */
#ifndef PT_TRACK_H
#define PT_TRACK_H

#include <optional>

#include "c_pal/completion_port_linux.h"
#include "interpose.h"
#include "nocopy.h"
#include "port.h"

namespace pt {

/* Lives on the stack of a thread for as long as the thread runs property code. */
class UntrackedThread : cpk::NoCopy {
public:
    UntrackedThread();
    ~UntrackedThread();

private:
    std::optional<cpk::NoTrack> nt_;
    std::optional<cpk::NoTrack>* prev_;
};

/* While one lives, the thread runs a callback's hook: an API call that hangs
 * then breaks the requirement about calls from callbacks (HangMonitor). */
class InHook : cpk::NoCopy {
public:
    InHook();
    ~InHook();
};

/* The public API, with the calling thread's allocations tracked for the call. */
COMPLETION_PORT_HANDLE api_create();
/* cpk::create_port() (allocation-free itself) with create's allocations tracked. */
cpk::PortInfo api_create_port();
void api_inc_ref(COMPLETION_PORT_HANDLE h);
void api_dec_ref(COMPLETION_PORT_HANDLE h);
int api_add(COMPLETION_PORT_HANDLE h, const COMPLETION_PORT_INGRESS_DATA* in);
void api_remove(COMPLETION_PORT_HANDLE h, SOCKET_HANDLE s);

/* The final dec_ref, not watched by the hang monitor (port_release bounds it). */
void api_final_dec_ref(COMPLETION_PORT_HANDLE h);

/* An API call that does not return is a deadlock or a busy loop in the
 * implementation; the test thread cannot time it out. While a HangMonitor
 * lives, a helper thread watches every api_* call in flight and ends the
 * process with a message naming the call (and the requirement it blocks)
 * once one has run for `limit_ms`: the test fails instead of hanging until
 * validate's per-test timeout. Before it ends the process it records a
 * violation of the one requirement the call breaks (add: CPL_ADD_007, from a
 * callback CPL_ADD_017; remove: CPL_REMOVE_003 / CPL_REMOVE_006; dec_ref:
 * CPL_DECREF_001 / CPL_DECREF_010; inc_ref: CPL_INCREF_002 / CPL_ADD_018). */
class HangMonitor : cpk::NoCopy {
public:
    explicit HangMonitor(int limit_ms = 12000);
    ~HangMonitor();

private:
    struct Impl;
    Impl* impl_;
};

} // namespace pt

#endif
