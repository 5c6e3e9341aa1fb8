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

#include <atomic>
#include <cstring>

namespace {

using cpk::Recorder;

constexpr size_t kFirst = 10; /* bytes waiting when the first op is added */
constexpr size_t kSecond = 6; /* bytes the peer sends once the second op waits */

/* After the first op (op 0 of rec) completed and the second (op 1) was added:
 * the second gets no callback while nothing arrives, then exactly the next
 * bytes the peer sends. `buf` is the second op's buffer (kSecond + 1 bytes). */
void check_second_waits(COMPLETION_PORT_HANDLE h, Recorder& rec, cpk::SocketPair& sp, const unsigned char* buf) {
    CPK_CHECK("CPL_RECV_002", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK,
                                                static_cast<long>(kFirst)) == "");
    /* The worker has gone past every event it fetched before: a sentinel op
     * on another socket completed, then quiet time for any late callback. */
    CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(h, rec, 2));
    INFO("callbacks:\n" << rec.dump());
    CPK_REQUIRE("CPL_RECV_011", rec.calls(1) == 0);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, kSecond, kFirst));
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(1, cpk::kWaitMs));
    CPK_CHECK("CPL_RECV_002", cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK,
                                                static_cast<long>(kSecond)) == "");
    CPK_CHECK("CPL_RECV_006", cpk::check_pattern(buf, kSecond, kFirst) == kSecond);
}

} // namespace

TEST_CASE("recv readiness: an op added inside the callback of the previous recv op waits for new bytes",
          "[CPL_RECV_011]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    /* Static: a defective port may still call back after the test gave up. */
    static unsigned char first[kFirst + 1], second[kSecond + 1];
    static std::atomic<int> second_rc{-12345};
    static COMPLETION_PORT_INGRESS_DATA next;
    second_rc = -12345;
    next = rec.ingress(1, EPOLLIN, sp.a, second, sizeof second);
    COMPLETION_PORT_HANDLE h = p.handle;
    rec.op(0).hook = [h](cpk::Op&, const cpk::CallbackRecord&) { second_rc = completion_port_add(h, &next); };
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, kFirst));
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, first, sizeof first);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op_finished(0, cpk::kWaitMs));
    CPK_REQUIRE("CPL_ADD_017", second_rc.load() == 0);
    check_second_waits(p.handle, rec, sp, second);
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

TEST_CASE("recv readiness: an op added while the worker runs a callback of its socket waits for new bytes",
          "[CPL_RECV_011]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    static unsigned char first[kFirst + 1], second[kSecond + 1];
    cpk::Latch& held = cpk::hold_callback(rec, 0);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, kFirst));
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, first, sizeof first);
    CPK_REQUIRE_ADD(p.handle, &in);
    /* The first op's callback has started and is held on the worker. */
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(0, cpk::kWaitMs));
    COMPLETION_PORT_INGRESS_DATA in2 = rec.ingress(1, EPOLLIN, sp.a, second, sizeof second);
    CPK_REQUIRE_ADD(p.handle, &in2);
    held.open();
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op_finished(0, cpk::kWaitMs));
    check_second_waits(p.handle, rec, sp, second);
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}
