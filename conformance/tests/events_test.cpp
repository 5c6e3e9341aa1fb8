/* Spec section 11: events outside the seed's three cases (CPL_EVENT_001..002).
 * Both requirements are recommended. An EPOLLERR- or EPOLLHUP-only event is
 * made by rewriting, through the harness, the mask the real epoll_wait
 * returned for one socket; failures after a partial transfer by capping the
 * bytes each recv/send moves and failing a later call. */
#include "cpk_catch.h"

#include "harness.h"

#include <cstring>
#include <iterator>
#include <poll.h>
#include <string>
#include <vector>

namespace {

using cpk::kAnyAmount;
using cpk::PortCase;
using cpk::Recorder;

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
TEST_CASE_METHOD(PortCase, "events: EPOLLERR or EPOLLHUP alone completes the op with its action and ERROR",
                 "[CPL_EVENT_001]") {
    CPK_REQUIRE("CPL_CREATE_002", p.epfd >= 0);
    struct Case {
        int epoll_op;
        uint32_t seen;
        int action;
        const char* what;
    };
    const Case cases[] = {
        {EPOLLIN, EPOLLERR, COMPLETION_PORT_EPOLL_EPOLLIN, "recv op, EPOLLERR"},
        {EPOLLIN, EPOLLHUP, COMPLETION_PORT_EPOLL_EPOLLIN, "recv op, EPOLLHUP"},
        {EPOLLOUT, EPOLLERR, COMPLETION_PORT_EPOLL_EPOLLOUT, "send op, EPOLLERR"},
        {EPOLLOUT, EPOLLHUP, COMPLETION_PORT_EPOLL_EPOLLOUT, "send op, EPOLLHUP"},
        {EPOLLRDHUP, EPOLLERR, COMPLETION_PORT_EPOLL_EPOLLRDHUP, "hang-up op, EPOLLERR"},
        {EPOLLRDHUP, EPOLLHUP, COMPLETION_PORT_EPOLL_EPOLLRDHUP, "hang-up op, EPOLLHUP"},
    };
    constexpr size_t kN = std::size(cases);
    static unsigned char bufs[kN][16];
    int fault[kN];
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = unix_sockets();
        fault[i] = rewrite_event(p.epfd, sp[i].a, cases[i].seen);
        CPK_KIT_REQUIRE(fault[i] >= 0);
        const bool io = cases[i].epoll_op != EPOLLRDHUP;
        add(i, cases[i].epoll_op, sp[i].a, io ? bufs[i] : nullptr, io ? sizeof bufs[i] : 0);
    }
    /* make the recv and hang-up sockets ready (send sockets already are) */
    for (size_t i = 0; i < kN; ++i) {
        if (cases[i].epoll_op == EPOLLIN) CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, "e", 1));
        if (cases[i].epoll_op == EPOLLRDHUP) CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[i].b));
    }
    CPK_CHECK("CPL_EVENT_001", cpk::wait_all_ops(rec, 0, kN, cpk::kWaitMs));
    for (size_t i = 0; i < kN; ++i) {
        INFO(cases[i].what);
        CPK_CHECK("CPL_EVENT_001",
                  cpk::one_callback(rec, i, cases[i].action, COMPLETION_PORT_RESULT_ERROR, kAnyAmount) == "");
        CPK_CHECK("CPL_EVENT_001", cpk::fault_fired(fault[i]) == 1); /* the worker did get the rewritten event */
    }
    finish(sp);
}

/* Each op's outcome (action, result) is fixed by its own requirement, most of
 * them normative; only the amount is CPL_EVENT_002's, checked on the op's one
 * callback after its outcome, then the bytes that moved.
 * Catches: ABANDONED/ERROR amounts of 0 or -1 or the length after a partial
 * transfer, the last call's count instead of the op's total, a non-zero
 * amount for a hang-up, an error event or a closing completion. */
TEST_CASE_METHOD(PortCase, "events: ABANDONED and ERROR report the bytes moved before the failure", "[CPL_EVENT_002]") {
    CPK_REQUIRE("CPL_CREATE_002", p.epfd >= 0);
    constexpr size_t kN = 9;
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) sp[i] = (i == 7) ? tcp_sockets() : unix_sockets();
    static unsigned char in_bufs[kN][200];
    static unsigned char out[1000];
    cpk::fill_pattern(out, sizeof out);
    /* op 0: recv 10 + 10, then ECONNRESET: ABANDONED, 20 */
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[0].a, ECONNRESET, 3) >= 0);
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[0].a, 10) >= 0);
    /* op 1: recv 10, then EIO: ERROR, 10 */
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[1].a, EIO, 2) >= 0);
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[1].a, 10) >= 0);
    /* op 2: send 100 + 100, then ECONNRESET: ABANDONED, 200 */
    CPK_KIT_REQUIRE(cpk::fail_send(sp[2].a, ECONNRESET, 3) >= 0);
    CPK_KIT_REQUIRE(cpk::cap_send(sp[2].a, 100) >= 0);
    /* op 3: send 100, then EIO: ERROR, 100 */
    CPK_KIT_REQUIRE(cpk::fail_send(sp[3].a, EIO, 2) >= 0);
    CPK_KIT_REQUIRE(cpk::cap_send(sp[3].a, 100) >= 0);
    /* op 4: hang-up: ABANDONED, 0 */
    /* op 5: an EPOLLERR-only event on a recv op: ERROR, 0 */
    CPK_KIT_REQUIRE(rewrite_event(p.epfd, sp[5].a, EPOLLERR) >= 0);
    /* op 6: real unix reset after data: 30 bytes, then ECONNRESET: ABANDONED, 30
     * (the op's socket left 5 bytes unread at the peer, which then closes) */
    CPK_KIT_REQUIRE(cpk::write_all(sp[6].a, "unrd!", 5));
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[6].b, 30));
    sp[6].b.close();
    /* op 7: real TCP reset after data: 30 bytes, then ECONNRESET: ABANDONED, 30 */
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[7].b, 30));
    CPK_KIT_REQUIRE((cpk::wait_poll(sp[7].a, POLLIN, cpk::kWaitMs) & POLLIN) != 0);
    sp[7].b.reset_close();
    const int tcp_fd = sp[7].a;
    CPK_KIT_REQUIRE(
        cpk::eventually([tcp_fd] { return (cpk::wait_poll(tcp_fd, POLLIN, 0) & POLLERR) != 0; }, cpk::kWaitMs));
    /* op 8: never ready; removed: no callback, or a closing one with 0 */

    for (size_t i : {0, 1, 5}) CPK_KIT_REQUIRE(cpk::send_pattern(sp[i].b, 100));
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
    cpk::record_start();
    for (auto& i : in) CPK_REQUIRE_ADD(p.handle, &i);
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[4].b));
    /* one deadline for all; an op that did not complete fails its own outcome below */
    const bool all_completed = cpk::wait_all_ops(rec, 0, 8, cpk::kWaitMs);
    cpk::record_stop();
    completion_port_remove(p.handle, sp[8].a);

    /* Ops 0-3, 6 and 7 fail only once their short transfers are continued: a
     * worker whose last recv or send on the socket still moved bytes stopped
     * short of the failure, which is the short-transfer requirement's
     * violation, not the outcome's (that op's outcome is then not judged). */
    const char* const continued_req[8] = {"CPL_RECV_005", "CPL_RECV_005", "CPL_SEND_001", "CPL_SEND_001",
                                          nullptr,        nullptr,        "CPL_RECV_005", "CPL_RECV_005"};
    bool reached[8];
    for (size_t i = 0; i < 8; ++i) {
        reached[i] = true;
        if (!continued_req[i]) continue;
        const std::vector<cpk::CallRecord> calls =
            cpk::records(i == 2 || i == 3 ? cpk::Fn::send : cpk::Fn::recv, sp[i].a);
        reached[i] = calls.empty() || calls.back().result <= 0;
        INFO("op " << i << ": its recv or send calls:\n" << cpk::describe_calls(calls));
        CPK_CHECK(continued_req[i], reached[i]);
    }
    /* the requirement that fixes each op's (action, result), then its amount */
    struct Want {
        int action;
        int result;
        int32_t amount;
        const char* outcome;
        const char* what;
    };
    const Want want[8] = {
        {COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 20, "CPL_RECV_003",
         "recv 20, then ECONNRESET"},
        {COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ERROR, 10, "CPL_RECV_008", "recv 10, then EIO"},
        {COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ABANDONED, 200, "CPL_SEND_002",
         "send 200, then ECONNRESET"},
        {COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ERROR, 100, "CPL_SEND_003", "send 100, then EIO"},
        {COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, 0, "CPL_RDHUP_001", "hang-up"},
        {COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ERROR, 0, "CPL_EVENT_001",
         "EPOLLERR alone on a recv op"},
        {COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 30, "CPL_RECV_003",
         "recv 30, then a unix reset"},
        {COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 30, "CPL_RECV_003",
         "recv 30, then a TCP reset"},
    };
    for (size_t i = 0; i < 8; ++i) {
        if (!reached[i]) continue;
        INFO("op " << i << " (" << want[i].what << "); every op completed in time: " << all_completed);
        const std::string outcome = cpk::one_callback(rec, i, want[i].action, want[i].result, kAnyAmount);
        CPK_CHECK(want[i].outcome, outcome == "");
        if (outcome != "") continue;
        const cpk::CallbackRecord got = rec.for_op(i)[0];
        INFO("its callback: " << cpk::describe(got));
        CPK_CHECK("CPL_EVENT_002", got.amount == want[i].amount);
    }
    for (const cpk::CallbackRecord& r : rec.for_op(8)) {
        INFO("op 8 (removed while pending): " << cpk::describe(r));
        CPK_CHECK("CPL_REMOVE_005", r.action == COMPLETION_PORT_CLOSING);
        CPK_CHECK("CPL_EVENT_002", r.amount == 0);
    }
    /* the bytes behind the amounts: the send ops looped over their partial sends */
    CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp[2].b) == 200);
    CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp[3].b) == 100);
    for (size_t i : {0, 1, 6, 7}) cpk::check_received_pattern(rec, i, in_bufs[i], sizeof in_bufs[i]);
    finish(sp);
}
