/* Spec section 8: epoll_worker_func, EPOLLRDHUP (CPL_RDHUP_001..003).
 * Linux facts used: a unix peer's close() reports RDHUP|HUP (plus IN/OUT when
 * asked), shutdown(SHUT_WR) reports RDHUP without HUP; a TCP FIN reports
 * RDHUP, a TCP reset RDHUP|HUP|ERR. RDHUP comes only when asked for. */
#include "cpk_catch.h"

#include "harness.h"

#include <iterator>
#include <poll.h>
#include <string>
#include <vector>

namespace {

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
TEST_CASE("rdhup: a peer hang-up completes an EPOLLRDHUP op once with ABANDONED", "[CPL_RDHUP_001]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
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
        sp[i] = cases[i].tcp ? cpk::tcp_pair() : cpk::unix_pair();
        CPK_KIT_REQUIRE(sp[i].ok());
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLRDHUP, sp[i].a);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    for (size_t i = 0; i < kN; ++i) hang_up(sp[i], cases[i].how);
    check_each_hung_up_once(p.handle, rec, kN, "CPL_RDHUP_001", [&](size_t i) { return cases[i].what; });
    CPK_RELEASE(p.handle);
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Ops ask for EPOLLIN|EPOLLRDHUP with a buffer; every hang-up event also holds
 * EPOLLIN, some with data waiting. Catches the literal reading of the seed
 * (the RDHUP "if" then the EPOLLIN "if": two callbacks, a double free) and an
 * implementation that lets EPOLLIN win. */
TEST_CASE("rdhup: a hang-up with EPOLLIN in the same event gives one RDHUP callback",
          "[CPL_RDHUP_002][CPL_RDHUP_001]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
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
        sp[i] = cases[i].tcp ? cpk::tcp_pair() : cpk::unix_pair();
        CPK_KIT_REQUIRE(sp[i].ok());
        if (cases[i].before_add) {
            if (cases[i].data) CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, data, sizeof data));
            hang_up(sp[i], cases[i].how);
            /* the first event the port sees must already hold RDHUP and IN */
            CPK_KIT_REQUIRE((cpk::wait_poll(sp[i].a, POLLRDHUP, cpk::kWaitMs) & POLLRDHUP) != 0);
        }
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLIN | EPOLLRDHUP, sp[i].a, bufs[i], sizeof bufs[i]);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    for (size_t i = 0; i < kN; ++i)
        if (!cases[i].before_add) hang_up(sp[i], cases[i].how);
    check_each_hung_up_once(p.handle, rec, kN, "CPL_RDHUP_002", [&](size_t i) { return cases[i].what; });
    CPK_RELEASE(p.handle);
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* The hang-up stays reported (level-triggered) after the completion.
 * Catches: a registration left armed (a second callback on freed memory), a
 * closing completion from remove or from the final dec_ref for an op that
 * already completed. */
TEST_CASE("rdhup: after its hang-up completion the op gets no other callback", "[CPL_RDHUP_003]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    const uint64_t bad_before = cpk::bad_context_callbacks();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp[2] = {cpk::unix_pair(), cpk::unix_pair()};
    for (size_t i = 0; i < 2; ++i) {
        CPK_KIT_REQUIRE(sp[i].ok());
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLRDHUP, sp[i].a);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    sp[0].b.close();                            /* op 0: RDHUP|HUP, stays reported */
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[1].b)); /* op 1: RDHUP, stays reported */
    {
        INFO("callbacks so far:\n" << rec.dump());
        CPK_REQUIRE("CPL_RDHUP_001", cpk::wait_all_ops(rec, 0, 2, cpk::kWaitMs));
    }
    CPK_CHECK("CPL_RDHUP_003", cpk::sentinel(p.handle, rec, 2));
    {
        INFO(rec.dump());
        CPK_CHECK("CPL_RDHUP_003", rec.calls(0) == 1);
    }
    completion_port_remove(p.handle, sp[0].a); /* op 0 is no longer pending */
    CPK_RELEASE(p.handle);                     /* nor is op 1 */
    CPK_CHECK("CPL_RDHUP_003", cpk::bad_context_callbacks() - bad_before == 0);
    CPK_CHECK("CPL_RDHUP_003", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLRDHUP) == "");
    CPK_CHECK("CPL_RDHUP_003", cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLRDHUP) == "");
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Re-adds an EPOLLRDHUP op on a socket whose peer has hung up: each op
 * completes at once. After a warm-up op, allocations are tracked over many
 * ops; once the worker is quiet none may remain. Catches: the per-op state
 * never freed after a hang-up completion. */
TEST_CASE("rdhup: completed hang-up ops release their memory", "[CPL_RDHUP_003]") {
    cpk::Guard guard;
    constexpr size_t kCycles = 16;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp.b));
    COMPLETION_PORT_INGRESS_DATA warm = rec.ingress(0, EPOLLRDHUP, sp.a);
    CPK_REQUIRE_ADD(p.handle, &warm);
    CPK_REQUIRE("CPL_RDHUP_001", rec.wait_op_finished(0, cpk::kWaitMs));

    cpk::check_repeated_ops(cpk::repeated_ops(p.handle, rec, EPOLLRDHUP, sp.a, nullptr, 0, -1, kCycles),
                            "CPL_RDHUP_001", "CPL_RDHUP_003");
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}
