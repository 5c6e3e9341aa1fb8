/* Shared expectation helpers. */
#include "expect.h"

namespace cpk {

bool release_port(COMPLETION_PORT_HANDLE h, int timeout_ms) {
    AsyncCall call([h] { completion_port_dec_ref(h); }, "final completion_port_dec_ref");
    return call.wait(timeout_ms);
}

std::string one_callback(const Recorder& rec, size_t op, int action, int result, long amount) {
    std::vector<CallbackRecord> v = rec.for_op(op);
    bool ok = v.size() == 1 && v[0].action == action && v[0].result == result &&
              (amount < 0 ? v[0].amount >= 0 : v[0].amount == amount);
    if (ok) return "";
    std::string s = "op " + std::to_string(op) + ": expected one callback (" + action_name(action) + ", " +
                    result_name(result) + ", " + (amount < 0 ? std::string(">= 0") : std::to_string(amount)) +
                    "), got " + std::to_string(v.size()) + ":\n";
    for (const CallbackRecord& r : v) s += "  " + describe(r) + "\n";
    s += "all callbacks:\n" + rec.dump();
    return s;
}

bool wait_all_ops(const Recorder& rec, size_t first, size_t n, int timeout_ms) {
    int64_t deadline = mono_ns() + ms_to_ns(timeout_ms);
    for (size_t i = first; i < first + n; ++i) {
        int64_t left_ms = (deadline - mono_ns()) / 1000000;
        if (!rec.wait_op(i, left_ms > 0 ? static_cast<int>(left_ms) : 0)) return false;
    }
    return true;
}

} // namespace cpk
