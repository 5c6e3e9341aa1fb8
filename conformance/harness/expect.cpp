/* Shared expectation helpers. */
#include "expect.h"

#include "cpk_catch.h"
#include "sockets.h"
#include "verdict.h"

namespace cpk {

namespace {

/* The message of a failed one_callback: what was expected, what op `op` got, the dump. */
std::string got_instead(const Recorder& rec, size_t op, const std::string& expected) {
    std::vector<CallbackRecord> v = rec.for_op(op);
    std::string s = "op " + std::to_string(op) + ": expected one callback (" + expected + "), got " +
                    std::to_string(v.size()) + ":\n";
    for (const CallbackRecord& r : v) s += "  " + describe(r) + "\n";
    s += "all callbacks:\n" + rec.dump();
    return s;
}

} // namespace

bool release_port(COMPLETION_PORT_HANDLE h, int timeout_ms) {
    PhaseScope phase("release");
    AsyncCall call([h] { completion_port_dec_ref(h); }, "final completion_port_dec_ref");
    return call.wait(timeout_ms);
}

std::string one_callback(const Recorder& rec, size_t op, int action, int result, long amount) {
    std::vector<CallbackRecord> v = rec.for_op(op);
    bool ok = v.size() == 1 && v[0].action == action && v[0].result == result &&
              (amount < 0 ? v[0].amount >= 0 : v[0].amount == amount);
    if (ok) return "";
    return got_instead(rec, op,
                       std::string(action_name(action)) + ", " + result_name(result) + ", " +
                           (amount < 0 ? std::string(">= 0") : std::to_string(amount)));
}

std::string one_callback(const Recorder& rec, size_t op, int action) {
    std::vector<CallbackRecord> v = rec.for_op(op);
    if (v.size() == 1 && v[0].action == action) return "";
    return got_instead(rec, op, std::string(action_name(action)) + ", any result, any amount");
}

bool wait_all_ops(const Recorder& rec, size_t first, size_t n, int timeout_ms) {
    int64_t deadline = mono_ns() + ms_to_ns(timeout_ms);
    for (size_t i = first; i < first + n; ++i) {
        int64_t left_ms = (deadline - mono_ns()) / 1000000;
        if (!rec.wait_op(i, left_ms > 0 ? static_cast<int>(left_ms) : 0)) return false;
    }
    return true;
}

std::string closed_during_call(const Recorder& rec, size_t op, pid_t tid, int64_t from_ns, int64_t by_ns) {
    std::vector<CallbackRecord> v = rec.for_op(op);
    std::string head = "op " + std::to_string(op) + ": ";
    if (v.size() != 1) return head + std::to_string(v.size()) + " callbacks, want one closing completion";
    const CallbackRecord& c = v[0];
    std::string why;
    if (c.action != COMPLETION_PORT_CLOSING || c.result != COMPLETION_PORT_RESULT_ABANDONED || c.amount != 0)
        why += "  want (CLOSING, ABANDONED, 0)\n";
    if (c.tid != tid)
        why += "  ran on thread " + std::to_string(c.tid) + ", want the caller " + std::to_string(tid) + "\n";
    if (c.start_ns < from_ns) why += "  started " + std::to_string(from_ns - c.start_ns) + " ns before the call\n";
    if (c.end_ns == 0)
        why += "  still running after the call returned\n";
    else if (c.end_ns > by_ns)
        why += "  returned " + std::to_string(c.end_ns - by_ns) + " ns after the call returned\n";
    return why.empty() ? why : head + describe(c) + "\n" + why;
}

std::string describe_calls(const std::vector<CallRecord>& calls) {
    std::string s;
    for (const CallRecord& r : calls) s += describe(r) + "\n";
    return s;
}

std::string discontinuous_calls(const std::vector<CallRecord>& calls, const void* buf, size_t length) {
    const char* base = static_cast<const char*>(buf);
    std::string bad;
    size_t moved = 0;
    for (const CallRecord& r : calls) {
        if (moved >= length) {
            bad += "after all " + std::to_string(length) + " bytes moved: " + describe(r) + "\n";
            continue;
        }
        if (r.buf != base + moved || r.length != length - moved)
            bad += "want buffer+" + std::to_string(moved) + " length " + std::to_string(length - moved) + ": " +
                   describe(r) + "\n";
        if (r.result > 0) moved += static_cast<size_t>(r.result);
    }
    return bad;
}

std::string AllocBalance::problems() const {
    std::string s;
    if (failed)
        s += std::to_string(failed) + " of " + std::to_string(cycles) + " cycles failed, the first: " + first_failure +
             "\n";
    if (overflow) s += "the allocation tracker ran out of room: the figures are unreliable\n";
    if (!quiet)
        s += std::to_string(live) + " allocations (" + std::to_string(live_bytes) + " bytes) still live after " +
             std::to_string(cycles) + " cycles\n";
    return s;
}

RepeatedOps repeated_ops(COMPLETION_PORT_HANDLE port, Recorder& rec, int epoll_op, int fd, void* buf, uint32_t length,
                         int peer, size_t cycles) {
    RepeatedOps r;
    /* Armed during the cycles: the step allocates nothing and asserts nothing;
     * it counts what failed, checked afterwards. */
    r.balance = allocation_balance(cycles, [&](size_t i) -> const char* {
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, epoll_op, fd, buf, length);
        if (completion_port_add(port, &in) != 0) return ++r.refused, "add failed";
        if (peer >= 0 && !write_all(peer, "r", 1)) return ++r.unwritten, "the peer's write failed";
        if (!rec.wait_op_finished(i, kWaitMs)) return ++r.not_completed, "the op did not complete";
        return nullptr;
    });
    return r;
}

void check_repeated_ops(const RepeatedOps& r, const char* completes, const char* frees) {
    INFO(r.balance.problems());
    CPK_KIT_REQUIRE(r.unwritten == 0);
    CPK_CHECK("CPL_ADD_009", r.refused == 0);
    CPK_CHECK(completes, r.not_completed == 0);
    CPK_KIT_REQUIRE(!r.balance.overflow);
    /* an op that never completed still holds its memory: nothing to judge then */
    if (r.balance.failed == 0) CPK_CHECK(frees, r.balance.quiet);
}

} // namespace cpk
