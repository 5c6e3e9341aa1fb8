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

namespace {

/* Two sockets become readable while the worker is held in a callback, so one
 * epoll_wait fetches both events. The callback of whichever op completes
 * first removes the other socket, takes its bytes and adds a new recv op
 * (op 3) on it: the other socket's event, still in the fetched batch, was
 * fetched for the removed op and must not complete the new one. */
struct SameBatch {
    COMPLETION_PORT_HANDLE port = nullptr;
    int fds[2] = {-1, -1};
    COMPLETION_PORT_INGRESS_DATA next[2] = {}; /* op 3 on the other socket */
    std::atomic<int> first{-1};                /* which of ops 0 and 1 ran first */
    std::atomic<int> rc{-12345};               /* op 3's add */
};
SameBatch g_batch;

void remove_other_and_add(size_t self) {
    SameBatch& b = g_batch;
    int expected = -1;
    if (!b.first.compare_exchange_strong(expected, static_cast<int>(self))) return;
    const size_t other = 1 - self;
    completion_port_remove(b.port, b.fds[other]);
    (void)cpk::drain(b.fds[other]);
    b.rc = completion_port_add(b.port, &b.next[other]);
}

} // namespace

TEST_CASE_METHOD(PortCase,
                 "recv readiness: an op added on a socket removed while its event waits in the same batch waits for "
                 "new bytes",
                 "[CPL_RECV_011]") {
    cpk::SocketPair sp[3] = {unix_sockets(), unix_sockets(), unix_sockets()};
    static unsigned char bufs[3][kFirst + 1], added[kSecond + 1];
    SameBatch& b = g_batch;
    b.port = p.handle;
    b.first = -1;
    b.rc = -12345;
    for (size_t k = 0; k < 2; ++k) {
        b.fds[k] = sp[k].a;
        b.next[k] = rec.ingress(3, EPOLLIN, sp[k].a, added, sizeof added);
        rec.op(k).hook = [k](cpk::Op&, const cpk::CallbackRecord&) { remove_other_and_add(k); };
        add(k, EPOLLIN, sp[k].a, bufs[k], sizeof bufs[k]);
    }
    /* Op 2's callback holds the worker while both sockets become readable. */
    cpk::Latch& held = cpk::hold_callback(rec, 2);
    add(2, EPOLLIN, sp[2].a, bufs[2], sizeof bufs[2]);
    CPK_KIT_REQUIRE(cpk::write_all(sp[2].b, "z", 1));
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(2, cpk::kWaitMs));
    for (size_t k = 0; k < 2; ++k) CPK_KIT_REQUIRE(cpk::send_pattern(sp[k].b, kFirst));
    held.open();
    /* The sentinel's event comes after the batch: once it completed, the
     * worker has handled both events. */
    CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, 4));
    INFO("callbacks:\n" << rec.dump());
    CPK_REQUIRE("CPL_RECV_001", b.first.load() >= 0);
    const size_t first = static_cast<size_t>(b.first.load()), other = 1 - first;
    INFO("op " << first << " ran first");
    CPK_REQUIRE("CPL_ADD_017", b.rc.load() == 0);
    CPK_REQUIRE("CPL_RECV_011", rec.calls(3) == 0);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[other].b, kSecond, kFirst));
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(3, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RECV_002", COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, {kSecond}, 3);
    CPK_CHECK("CPL_RECV_006", cpk::check_pattern(added, kSecond, kFirst) == kSecond);
    for (size_t k = 0; k < 2; ++k) rec.op(k).hook = nullptr;
    finish(sp);
}
