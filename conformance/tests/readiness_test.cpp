/* Spec section 9: a recv op completes only on readiness that holds after its
 * add (CPL_RECV_011). The socket's event is fetched for one op; a second recv
 * op is added on the same socket while the worker handles that event, from
 * inside the first op's callback or from the test thread while that callback
 * runs. Nothing is left to read and the peer stays open, so the second op
 * must wait for new bytes: an implementation that hands it the event it
 * already fetched completes it with (EPOLLIN, OK, 0), which a caller takes
 * for an orderly hang-up. */
#include "cpk_catch.h"

#include "harness.h"
#include "op_checks.h"
#include "port_case.h"

#include <atomic>
#include <cstring>

namespace {

using cpk::PortCase;
using cpk::Recorder;

constexpr size_t kFirst = 10; /* bytes waiting when the first op is added */
constexpr size_t kSecond = 6; /* bytes the peer sends once the second op waits */

/* After the first op (op 0 of rec) completed and the second (op 1) was added:
 * the second gets no callback while nothing arrives, then exactly the next
 * bytes the peer sends. `buf` is the second op's buffer (kSecond + 1 bytes). */
void check_second_waits(COMPLETION_PORT_HANDLE h, Recorder& rec, cpk::SocketPair& sp, const unsigned char* buf) {
    cpk::check_outcomes(rec, "CPL_RECV_002", COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, {kFirst});
    /* The worker has gone past every event it fetched before: a sentinel op
     * on another socket completed, then quiet time for any late callback. */
    CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(h, rec, 2));
    INFO("callbacks:\n" << rec.dump());
    CPK_REQUIRE("CPL_RECV_011", rec.calls(1) == 0);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, kSecond, kFirst));
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(1, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RECV_002", COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, {kSecond}, 1);
    CPK_CHECK("CPL_RECV_006", cpk::check_pattern(buf, kSecond, kFirst) == kSecond);
}

} // namespace

TEST_CASE_METHOD(PortCase,
                 "recv readiness: an op added inside the callback of the previous recv op waits for new bytes",
                 "[CPL_RECV_011]") {
    cpk::SocketPair sp = unix_sockets();
    /* Static: a defective port may still call back after the test gave up. */
    static unsigned char first[kFirst + 1], second[kSecond + 1];
    static std::atomic<int> second_rc{-12345};
    static COMPLETION_PORT_INGRESS_DATA next;
    second_rc = -12345;
    next = rec.ingress(1, EPOLLIN, sp.a, second, sizeof second);
    COMPLETION_PORT_HANDLE h = p.handle;
    rec.op(0).hook = [h](cpk::Op&, const cpk::CallbackRecord&) { second_rc = completion_port_add(h, &next); };
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, kFirst));
    add(0, EPOLLIN, sp.a, first, sizeof first);
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op_finished(0, cpk::kWaitMs));
    CPK_REQUIRE("CPL_ADD_017", second_rc.load() == 0);
    check_second_waits(p.handle, rec, sp, second);
    finish(sp);
}

TEST_CASE_METHOD(PortCase,
                 "recv readiness: an op added while the worker runs a callback of its socket waits for new bytes",
                 "[CPL_RECV_011]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char first[kFirst + 1], second[kSecond + 1];
    cpk::Latch& held = cpk::hold_callback(rec, 0);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, kFirst));
    add(0, EPOLLIN, sp.a, first, sizeof first);
    /* The first op's callback has started and is held on the worker. */
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(0, cpk::kWaitMs));
    add(1, EPOLLIN, sp.a, second, sizeof second);
    held.open();
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op_finished(0, cpk::kWaitMs));
    check_second_waits(p.handle, rec, sp, second);
    finish(sp);
}
