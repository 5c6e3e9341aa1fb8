/* A callback held inside the worker (held.h). */
#include "held.h"

namespace cpk {

Latch& hold_callback(Recorder& rec, size_t op, int max_hold_ms) {
    Latch* latch = new Latch(); /* reachable from the persistent recorder's hook */
    rec.op(op).hook = [latch, max_hold_ms](Op&, const CallbackRecord&) { latch->wait(max_hold_ms); };
    return *latch;
}

HeldCall call_while_held(std::function<void()> fn, const char* label, Latch& latch, int after_ms, int hold_ms) {
    HeldCall r;
    AsyncCall call(std::move(fn), label);
    r.returned_early = call.wait(hold_ms);
    latch.open();
    r.returned_after = call.wait(after_ms);
    r.done_ns = call.done_ns();
    return r;
}

} // namespace cpk
