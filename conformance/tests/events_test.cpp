/* Spec section 11: events outside the seed's three cases (CPL_EVENT_001..002).
 * Both requirements are recommended. An EPOLLERR- or EPOLLHUP-only event is
 * made by rewriting, through the harness, the mask the real epoll_wait
 * returned for one socket; failures after a partial transfer by capping the
 * bytes each recv/send moves and failing a later call. */
#include <catch2/catch.hpp>

#include "harness.h"

#include <cstring>
#include <poll.h>
#include <string>
#include <vector>

namespace {

using cpk::Recorder;
using cpk::kAnyAmount;

/* The next event epoll_wait returns for `fd` on `epfd` carries exactly `events`. */
int rewrite_event(int epfd, int fd, uint32_t events) {
    cpk::Fault f;
    f.fn = cpk::Fn::epoll_any_wait;
    f.kind = cpk::FaultKind::rewrite;
    f.epfd = epfd;
    f.fd = fd;
    f.clear_events = ~0u;
    f.set_events = events;
    f.times = 1;
    return cpk::inject(f);
}

} // namespace

/* Each op's socket is made really ready, and the event the worker gets is
 * rewritten to EPOLLERR alone or EPOLLHUP alone. Catches the literal seed
 * (no "if" matches: the op never completes), such an event reported as OK or
 * ABANDONED or with another op kind's action, a recv/send attempted anyway. */
TEST_CASE("events: EPOLLERR or EPOLLHUP alone completes the op with its action and ERROR", "[CPL_EVENT_001]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    REQUIRE(p.handle != nullptr);
    REQUIRE(p.epfd >= 0);
    struct Case { int epoll_op; uint32_t seen; int action; const char* what; };
    const Case cases[] = {
        {EPOLLIN, EPOLLERR, COMPLETION_PORT_EPOLL_EPOLLIN, "recv op, EPOLLERR"},
        {EPOLLIN, EPOLLHUP, COMPLETION_PORT_EPOLL_EPOLLIN, "recv op, EPOLLHUP"},
        {EPOLLOUT, EPOLLERR, COMPLETION_PORT_EPOLL_EPOLLOUT, "send op, EPOLLERR"},
        {EPOLLOUT, EPOLLHUP, COMPLETION_PORT_EPOLL_EPOLLOUT, "send op, EPOLLHUP"},
        {EPOLLRDHUP, EPOLLERR, COMPLETION_PORT_EPOLL_EPOLLRDHUP, "hang-up op, EPOLLERR"},
        {EPOLLRDHUP, EPOLLHUP, COMPLETION_PORT_EPOLL_EPOLLRDHUP, "hang-up op, EPOLLHUP"},
    };
    constexpr size_t kN = sizeof cases / sizeof cases[0];
    static unsigned char bufs[kN][16];
    int fault[kN];
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = cpk::unix_pair();
        REQUIRE(sp[i].ok());
        fault[i] = rewrite_event(p.epfd, sp[i].a, cases[i].seen);
        REQUIRE(fault[i] >= 0);
        const bool io = cases[i].epoll_op != EPOLLRDHUP;
        COMPLETION_PORT_INGRESS_DATA in =
            rec.ingress(i, cases[i].epoll_op, sp[i].a, io ? bufs[i] : nullptr, io ? sizeof bufs[i] : 0);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
    }
    /* make the recv and hang-up sockets ready (send sockets already are) */
    for (size_t i = 0; i < kN; ++i) {
        if (cases[i].epoll_op == EPOLLIN) REQUIRE(cpk::write_all(sp[i].b, "e", 1));
        if (cases[i].epoll_op == EPOLLRDHUP) REQUIRE(cpk::shutdown_wr(sp[i].b));
    }
    CHECK(cpk::wait_all_ops(rec, 0, kN, cpk::kWaitMs));
    for (size_t i = 0; i < kN; ++i) {
        INFO(cases[i].what);
        CHECK(cpk::fault_fired(fault[i]) == 1);  /* the worker did get the rewritten event */
        CHECK(cpk::one_callback(rec, i, cases[i].action, COMPLETION_PORT_RESULT_ERROR, kAnyAmount) == "");
    }
    REQUIRE(cpk::release_port(p.handle));
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Catches: ABANDONED/ERROR amounts of 0 or -1 or the length after a partial
 * transfer, the last call's count instead of the op's total, a non-zero
 * amount for a hang-up, an error event or a closing completion. */
TEST_CASE("events: ABANDONED and ERROR report the bytes moved before the failure", "[CPL_EVENT_002]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    REQUIRE(p.handle != nullptr);
    REQUIRE(p.epfd >= 0);
    constexpr size_t kN = 9;
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = (i == 7) ? cpk::tcp_pair() : cpk::unix_pair();
        REQUIRE(sp[i].ok());
    }
    static unsigned char in_bufs[kN][200];
    static unsigned char out[1000];
    cpk::fill_pattern(out, sizeof out);
    /* op 0: recv 10 + 10, then ECONNRESET: ABANDONED, 20 */
    REQUIRE(cpk::fail_recv(sp[0].a, ECONNRESET, 3) >= 0);
    REQUIRE(cpk::cap_recv(sp[0].a, 10) >= 0);
    /* op 1: recv 10, then EIO: ERROR, 10 */
    REQUIRE(cpk::fail_recv(sp[1].a, EIO, 2) >= 0);
    REQUIRE(cpk::cap_recv(sp[1].a, 10) >= 0);
    /* op 2: send 100 + 100, then ECONNRESET: ABANDONED, 200 */
    REQUIRE(cpk::fail_send(sp[2].a, ECONNRESET, 3) >= 0);
    REQUIRE(cpk::cap_send(sp[2].a, 100) >= 0);
    /* op 3: send 100, then EIO: ERROR, 100 */
    REQUIRE(cpk::fail_send(sp[3].a, EIO, 2) >= 0);
    REQUIRE(cpk::cap_send(sp[3].a, 100) >= 0);
    /* op 4: hang-up: ABANDONED, 0 */
    /* op 5: an EPOLLERR-only event on a recv op: ERROR, 0 */
    REQUIRE(rewrite_event(p.epfd, sp[5].a, EPOLLERR) >= 0);
    /* op 6: real unix reset after data: 30 bytes, then ECONNRESET: ABANDONED, 30
     * (the op's socket left 5 bytes unread at the peer, which then closes) */
    REQUIRE(cpk::write_all(sp[6].a, "unrd!", 5));
    REQUIRE(cpk::send_pattern(sp[6].b, 30));
    sp[6].b.close();
    /* op 7: real TCP reset after data: 30 bytes, then ECONNRESET: ABANDONED, 30 */
    REQUIRE(cpk::send_pattern(sp[7].b, 30));
    REQUIRE((cpk::wait_poll(sp[7].a, POLLIN, cpk::kWaitMs) & POLLIN) != 0);
    sp[7].b.reset_close();
    const int tcp_fd = sp[7].a;
    REQUIRE(cpk::eventually([tcp_fd] { return (cpk::wait_poll(tcp_fd, POLLIN, 0) & POLLERR) != 0; }, cpk::kWaitMs));
    /* op 8: never ready; removed: no callback, or a closing one with 0 */

    for (size_t i : {0, 1, 5}) REQUIRE(cpk::send_pattern(sp[i].b, 100));
    COMPLETION_PORT_INGRESS_DATA in[kN] = {
        rec.ingress(0, EPOLLIN, sp[0].a, in_bufs[0], 200),
        rec.ingress(1, EPOLLIN, sp[1].a, in_bufs[1], 200),
        rec.ingress(2, EPOLLOUT, sp[2].a, out, 1000),
        rec.ingress(3, EPOLLOUT, sp[3].a, out, 1000),
        rec.ingress(4, EPOLLRDHUP, sp[4].a),
        rec.ingress(5, EPOLLIN, sp[5].a, in_bufs[5], 200),
        rec.ingress(6, EPOLLIN, sp[6].a, in_bufs[6], 200),
        rec.ingress(7, EPOLLIN, sp[7].a, in_bufs[7], 200),
        rec.ingress(8, EPOLLIN, sp[8].a, in_bufs[8], 200),
    };
    for (auto& i : in) REQUIRE(completion_port_add(p.handle, &i) == 0);
    REQUIRE(cpk::shutdown_wr(sp[4].b));
    CHECK(cpk::wait_all_ops(rec, 0, 8, cpk::kWaitMs));
    completion_port_remove(p.handle, sp[8].a);

    CHECK(cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 20) == "");
    CHECK(cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ERROR, 10) == "");
    CHECK(cpk::one_callback(rec, 2, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ABANDONED, 200) == "");
    CHECK(cpk::one_callback(rec, 3, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ERROR, 100) == "");
    CHECK(cpk::one_callback(rec, 4, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, 0) == "");
    CHECK(cpk::one_callback(rec, 5, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ERROR, 0) == "");
    CHECK(cpk::one_callback(rec, 6, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 30) == "");
    CHECK(cpk::one_callback(rec, 7, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 30) == "");
    for (const cpk::CallbackRecord& r : rec.for_op(8)) {
        INFO("op 8 (removed while pending): " << cpk::describe(r));
        CHECK(r.action == COMPLETION_PORT_CLOSING);
        CHECK(r.amount == 0);
    }
    CHECK(cpk::readable_bytes(sp[2].b) == 200);
    CHECK(cpk::readable_bytes(sp[3].b) == 100);
    CHECK(cpk::check_pattern(in_bufs[0], 20) == 20);
    CHECK(cpk::check_pattern(in_bufs[6], 30) == 30);
    CHECK(cpk::check_pattern(in_bufs[7], 30) == 30);
    REQUIRE(cpk::release_port(p.handle));
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}
