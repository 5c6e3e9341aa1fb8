/* A callback held inside the worker (held.h). */
#include "held.h"

namespace cpk {

Latch& hold_callback(Recorder& rec, size_t op) {
    Latch* latch = new Latch();  /* reachable from the persistent recorder's hook */
    rec.op(op).hook = [latch](Op&, const CallbackRecord&) { latch->wait(kTeardownMs); };
    return *latch;
}

HeldCall call_while_held(std::function<void()> fn, const char* label, Latch& latch, int after_ms) {
    HeldCall r;
    AsyncCall call(std::move(fn), label);
    r.returned_early = call.wait(kQuietMs);
    latch.open();
    r.returned_after = call.wait(after_ms);
    r.done_ns = call.done_ns();
    return r;
}

} // namespace cpk
