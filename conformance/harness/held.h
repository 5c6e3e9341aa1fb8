/* A callback held inside the worker, and calls that must wait for it
 * (remove and the final dec_ref wait for a running callback). */
#ifndef CPK_HELD_H
#define CPK_HELD_H

#include <cstddef>
#include <cstdint>
#include <functional>

#include "recorder.h"
#include "sync.h"

namespace cpk {

/* Gives op `op` of rec a hook that holds its callback until the returned latch
 * opens (at most max_hold_ms). Set it before the add. The latch is never
 * freed: it outlives a callback that a broken implementation leaves running. */
Latch& hold_callback(Recorder& rec, size_t op, int max_hold_ms = kTeardownMs);

/* How a call made while a callback was held behaved (call_while_held). */
struct HeldCall {
    bool returned_early = false; /* returned within hold_ms, the callback still held */
    bool returned_after = false; /* returned within after_ms once the latch opened */
    int64_t done_ns = 0;         /* when it returned (0: it did not) */
};

/* Runs fn on its own thread (AsyncCall, `label`), gives it hold_ms, opens
 * `latch`, then waits up to after_ms for it to return. fn must capture by value.
 * A hold longer than the worker's 2 s epoll_wait catches a call that stops
 * waiting after a timeout of its own. */
HeldCall call_while_held(std::function<void()> fn, const char* label, Latch& latch, int after_ms,
                         int hold_ms = kQuietMs);

} // namespace cpk

#endif
