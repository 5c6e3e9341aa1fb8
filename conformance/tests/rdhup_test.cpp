/* Spec section 8: epoll_worker_func, EPOLLRDHUP (CPL_RDHUP_001..003).
 * Linux facts used: a unix peer's close() reports RDHUP|HUP (plus IN/OUT when
 * asked), shutdown(SHUT_WR) reports RDHUP without HUP; a TCP FIN reports
 * RDHUP, a TCP reset RDHUP|HUP|ERR. RDHUP comes only when asked for. */
#include "cpk_catch.h"

#include "harness.h"

#include <atomic>
#include <iterator>
#include <poll.h>
#include <string>
#include <vector>

namespace {

using cpk::PortCase;
using cpk::Recorder;

/* How the peer hangs up. */
enum class Hangup { shut_wr, close, reset };

void hang_up(cpk::SocketPair& sp, Hangup how) {
    switch (how) {
    case Hangup::shut_wr: CPK_KIT_REQUIRE(cpk::shutdown_wr(sp.b)); break;
    case Hangup::close: sp.b.close(); break;
    case Hangup::reset: sp.b.reset_close(); break;
    }
}

/* Ops [0, n) were hung up: each completes (CPL_RDHUP_001) with one callback,
 * an EPOLLRDHUP one (once_req), whose result is ABANDONED (CPL_RDHUP_001), and
 * nothing else comes (a sentinel, op n, shows the worker went past them).
 * what(i) describes op i's case. */
template <class What>
void check_each_hung_up_once(COMPLETION_PORT_HANDLE port, Recorder& rec, size_t n, const char* once_req, What what) {
    {
        INFO("callbacks so far:\n" << rec.dump());
        CPK_CHECK("CPL_RDHUP_001", cpk::wait_all_ops(rec, 0, n, cpk::kWaitMs));
    }
    CPK_CHECK(once_req, cpk::sentinel(port, rec, n));
    for (size_t i = 0; i < n; ++i) {
        INFO("op " << i << ": " << what(i));
        const std::string once = cpk::one_callback(rec, i, COMPLETION_PORT_EPOLL_EPOLLRDHUP);
        CPK_CHECK(once_req, once == "");
        if (once != "") continue;
        const cpk::CallbackRecord r = rec.for_op(i)[0];
        INFO("its callback: " << cpk::describe(r));
        CPK_CHECK("CPL_RDHUP_001", r.result == COMPLETION_PORT_RESULT_ABANDONED);
        CPK_CHECK("CPL_RDHUP_001", r.amount >= 0);
    }
    INFO(rec.dump());
    CPK_CHECK(once_req, rec.count() == n + 1); /* one callback per op, and the sentinel's */
}

} // namespace

/* Catches: RDHUP ignored (op never completes), reported as OK/ERROR, under
 * another action, or handled as an error because HUP/ERR came along. */
TEST_CASE_METHOD(PortCase, "rdhup: a peer hang-up completes an EPOLLRDHUP op once with ABANDONED", "[CPL_RDHUP_001]") {
    struct Case {
        bool tcp;
        Hangup how;
        const char* what;
    };
    const Case cases[] = {
        {false, Hangup::shut_wr, "unix shutdown(SHUT_WR)"},
        {false, Hangup::close, "unix close"},
        {true, Hangup::shut_wr, "tcp shutdown(SHUT_WR)"},
        {true, Hangup::close, "tcp close (FIN)"},
        {true, Hangup::reset, "tcp reset"},
    };
    constexpr size_t kN = std::size(cases);
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = cases[i].tcp ? tcp_sockets() : unix_sockets();
        add(i, EPOLLRDHUP, sp[i].a);
    }
    for (size_t i = 0; i < kN; ++i) hang_up(sp[i], cases[i].how);
    check_each_hung_up_once(p.handle, rec, kN, "CPL_RDHUP_001", [&](size_t i) { return cases[i].what; });
    finish(sp);
}

/* A recv op (EPOLLIN only) is completed by the event of its peer's close
 * (IN|HUP); its callback adds a hang-up watcher on the same socket. The
 * watcher must complete as a hang-up on an event of its own, not as an error
 * from the HUP of the event fetched for the recv op. Catches a record that
 * takes back the socket's previous generation, so that the event being
 * handled reaches the op just added. */
TEST_CASE_METHOD(PortCase,
                 "rdhup: a watcher added inside the callback of a recv op ended by the close completes as a hang-up",
                 "[CPL_RDHUP_001]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[8];
    static std::atomic<int> watcher_rc{-12345};
    static COMPLETION_PORT_INGRESS_DATA watcher;
    watcher_rc = -12345;
    watcher = rec.ingress(1, EPOLLRDHUP, sp.a);
    COMPLETION_PORT_HANDLE h = p.handle;
    rec.op(0).hook = [h](cpk::Op&, const cpk::CallbackRecord&) { watcher_rc = completion_port_add(h, &watcher); };
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "data", 4));
    sp.b.close();
    add(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_REQUIRE("CPL_RECV_004", rec.wait_op_finished(0, cpk::kWaitMs));
    CPK_REQUIRE("CPL_ADD_017", watcher_rc.load() == 0);
    CPK_CHECK("CPL_RDHUP_001", rec.wait_op(1, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RDHUP_001", COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED,
                        {cpk::kAnyAmount}, 1);
    rec.op(0).hook = nullptr;
    finish(sp);
}

/* Ops ask for EPOLLIN|EPOLLRDHUP with a buffer; every hang-up event also holds
 * EPOLLIN, some with data waiting. Catches the literal reading of the seed
 * (the RDHUP "if" then the EPOLLIN "if": two callbacks, a double free) and an
 * implementation that lets EPOLLIN win. */
TEST_CASE_METHOD(PortCase, "rdhup: a hang-up with EPOLLIN in the same event gives one RDHUP callback",
                 "[CPL_RDHUP_002][CPL_RDHUP_001]") {
    struct Case {
        bool tcp;
        bool data;
        bool before_add;
        Hangup how;
        const char* what;
    };
    const Case cases[] = {
        {false, true, true, Hangup::shut_wr, "unix: data then shutdown, both before add"},
        {false, false, false, Hangup::close, "unix: close after add"},
        {false, true, true, Hangup::close, "unix: data then close, both before add"},
        {true, true, true, Hangup::shut_wr, "tcp: data then FIN, both before add"},
        {true, false, false, Hangup::close, "tcp: FIN after add"},
        {true, false, false, Hangup::reset, "tcp: reset after add"},
    };
    constexpr size_t kN = std::size(cases);
    static char bufs[kN][64];
    static const char data[] = "hang-up data";
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = cases[i].tcp ? tcp_sockets() : unix_sockets();
        if (cases[i].before_add) {
            if (cases[i].data) CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, data, sizeof data));
            hang_up(sp[i], cases[i].how);
            /* the first event the port sees must already hold RDHUP and IN */
            CPK_KIT_REQUIRE((cpk::wait_poll(sp[i].a, POLLRDHUP, cpk::kWaitMs) & POLLRDHUP) != 0);
        }
        add(i, EPOLLIN | EPOLLRDHUP, sp[i].a, bufs[i], sizeof bufs[i]);
    }
    for (size_t i = 0; i < kN; ++i)
        if (!cases[i].before_add) hang_up(sp[i], cases[i].how);
    check_each_hung_up_once(p.handle, rec, kN, "CPL_RDHUP_002", [&](size_t i) { return cases[i].what; });
    finish(sp);
}

/* The hang-up stays reported (level-triggered) after the completion.
 * Catches: a registration left armed (a second callback on freed memory), a
 * closing completion from remove or from the final dec_ref for an op that
 * already completed. */
TEST_CASE_METHOD(PortCase, "rdhup: after its hang-up completion the op gets no other callback", "[CPL_RDHUP_003]") {
    cpk::SocketPair sp[2] = {unix_sockets(), unix_sockets()};
    for (size_t i = 0; i < 2; ++i) add(i, EPOLLRDHUP, sp[i].a);
    sp[0].b.close();                            /* op 0: RDHUP|HUP, stays reported */
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[1].b)); /* op 1: RDHUP, stays reported */
    {
        INFO("callbacks so far:\n" << rec.dump());
        CPK_REQUIRE("CPL_RDHUP_001", cpk::wait_all_ops(rec, 0, 2, cpk::kWaitMs));
    }
    /* neither op is pending: remove (op 0's socket) and the final dec_ref owe them nothing */
    cpk::check_stays_completed(*this, "CPL_RDHUP_003", 2, COMPLETION_PORT_EPOLL_EPOLLRDHUP, sp[0].a);
    finish(sp);
}

/* Re-adds an EPOLLRDHUP op on a socket whose peer has hung up: each op
 * completes at once. After a warm-up op, allocations are tracked over many
 * ops; once the worker is quiet none may remain. Catches: the per-op state
 * never freed after a hang-up completion. */
TEST_CASE_METHOD(PortCase, "rdhup: completed hang-up ops release their memory", "[CPL_RDHUP_003]") {
    cpk::SocketPair sp = unix_sockets();
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp.b));
    cpk::check_ops_free_memory(*this, EPOLLRDHUP, sp.a, nullptr, 0, -1, "CPL_RDHUP_001", "CPL_RDHUP_003");
    finish(sp);
}
