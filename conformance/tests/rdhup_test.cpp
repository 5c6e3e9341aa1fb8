/* Spec section 8: epoll_worker_func, EPOLLRDHUP (CPL_RDHUP_001..003).
 * Linux facts used: a unix peer's close() reports RDHUP|HUP (plus IN/OUT when
 * asked), shutdown(SHUT_WR) reports RDHUP without HUP; a TCP FIN reports
 * RDHUP, a TCP reset RDHUP|HUP|ERR. RDHUP comes only when asked for. */
#include <catch2/catch.hpp>

#include "harness.h"

#include <poll.h>
#include <string>
#include <vector>
#include <time.h>

namespace {

using cpk::Recorder;

constexpr long kAnyAmount = -1;  /* expect_one: any amount >= 0 */

template <class Pred>
bool eventually(Pred pred, int timeout_ms) {
    const int64_t end = cpk::mono_ns() + cpk::ms_to_ns(timeout_ms);
    for (;;) {
        if (pred()) return true;
        if (cpk::mono_ns() >= end) return false;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, nullptr);
    }
}

bool release(COMPLETION_PORT_HANDLE h) {
    cpk::AsyncCall call([h] { completion_port_dec_ref(h); }, "final completion_port_dec_ref");
    return call.wait(cpk::kTeardownMs);
}

std::string expect_one(const Recorder& rec, size_t i, int action, int result, long amount) {
    std::vector<cpk::CallbackRecord> v = rec.for_op(i);
    std::string why;
    if (v.size() != 1) {
        why = "op " + std::to_string(i) + ": " + std::to_string(v.size()) + " callbacks, want 1";
    } else if (v[0].action != action || v[0].result != result ||
               (amount == kAnyAmount ? v[0].amount < 0 : v[0].amount != amount)) {
        why = "op " + std::to_string(i) + ": want (" + cpk::action_name(action) + ", " +
              cpk::result_name(result) + ", " + (amount == kAnyAmount ? std::string(">= 0") : std::to_string(amount)) +
              "), got " + cpk::describe(v[0]);
    }
    if (!why.empty()) why += "\nall callbacks:\n" + rec.dump();
    return why;
}

/* "" when op i got exactly one callback, with this action, else why. */
std::string exactly_once(const Recorder& rec, size_t i, int action) {
    std::vector<cpk::CallbackRecord> v = rec.for_op(i);
    if (v.size() == 1 && v[0].action == action) return "";
    return "op " + std::to_string(i) + ": want exactly one " + cpk::action_name(action) + " callback\nall callbacks:\n" +
           rec.dump();
}

bool wait_ops(const Recorder& rec, size_t first, size_t n, int timeout_ms) {
    const int64_t end = cpk::mono_ns() + cpk::ms_to_ns(timeout_ms);
    bool all = true;
    for (size_t i = first; i < first + n; ++i) {
        int64_t left = (end - cpk::mono_ns()) / 1000000;
        if (!rec.wait_op(i, left > 0 ? static_cast<int>(left) : 0)) all = false;
    }
    return all;
}

/* How the peer hangs up. */
enum class Hangup { shut_wr, close, reset };

void hang_up(cpk::SocketPair& sp, Hangup how) {
    switch (how) {
    case Hangup::shut_wr: cpk::shutdown_wr(sp.b); break;
    case Hangup::close: sp.b.close(); break;
    case Hangup::reset: sp.b.reset_close(); break;
    }
}

} // namespace

/* Catches: RDHUP ignored (op never completes), reported as OK/ERROR, under
 * another action, or handled as an error because HUP/ERR came along. */
TEST_CASE("rdhup: a peer hang-up completes an EPOLLRDHUP op once with ABANDONED", "[CPL_RDHUP_001]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    REQUIRE(p.handle != nullptr);
    struct Case { bool tcp; Hangup how; const char* what; };
    const Case cases[] = {
        {false, Hangup::shut_wr, "unix shutdown(SHUT_WR)"},
        {false, Hangup::close, "unix close"},
        {true, Hangup::shut_wr, "tcp shutdown(SHUT_WR)"},
        {true, Hangup::close, "tcp close (FIN)"},
        {true, Hangup::reset, "tcp reset"},
    };
    constexpr size_t kN = sizeof cases / sizeof cases[0];
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = cases[i].tcp ? cpk::tcp_pair() : cpk::unix_pair();
        REQUIRE(sp[i].ok());
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLRDHUP, sp[i].a);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
    }
    for (size_t i = 0; i < kN; ++i) hang_up(sp[i], cases[i].how);
    CHECK(wait_ops(rec, 0, kN, cpk::kWaitMs));
    CHECK(cpk::sentinel(p.handle, rec, kN));
    CHECK(rec.count() == kN + 1);  /* one callback per op, and the sentinel's */
    for (size_t i = 0; i < kN; ++i) {
        INFO(cases[i].what);
        CHECK(expect_one(rec, i, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, kAnyAmount) == "");
    }
    REQUIRE(release(p.handle));
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Ops ask for EPOLLIN|EPOLLRDHUP with a buffer; every hang-up event also holds
 * EPOLLIN, some with data waiting. Catches the literal reading of the seed
 * (the RDHUP "if" then the EPOLLIN "if": two callbacks, a double free) and an
 * implementation that lets EPOLLIN win. */
TEST_CASE("rdhup: a hang-up with EPOLLIN in the same event gives one RDHUP callback", "[CPL_RDHUP_002][CPL_RDHUP_001]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    REQUIRE(p.handle != nullptr);
    struct Case { bool tcp; bool data; bool before_add; Hangup how; const char* what; };
    const Case cases[] = {
        {false, true, true, Hangup::shut_wr, "unix: data then shutdown, both before add"},
        {false, false, false, Hangup::close, "unix: close after add"},
        {false, true, true, Hangup::close, "unix: data then close, both before add"},
        {true, true, true, Hangup::shut_wr, "tcp: data then FIN, both before add"},
        {true, false, false, Hangup::close, "tcp: FIN after add"},
        {true, false, false, Hangup::reset, "tcp: reset after add"},
    };
    constexpr size_t kN = sizeof cases / sizeof cases[0];
    static char bufs[kN][64];
    static const char data[] = "hang-up data";
    cpk::SocketPair sp[kN];
    for (size_t i = 0; i < kN; ++i) {
        sp[i] = cases[i].tcp ? cpk::tcp_pair() : cpk::unix_pair();
        REQUIRE(sp[i].ok());
        if (cases[i].before_add) {
            if (cases[i].data) REQUIRE(cpk::write_all(sp[i].b, data, sizeof data));
            hang_up(sp[i], cases[i].how);
            /* the first event the port sees must already hold RDHUP and IN */
            REQUIRE((cpk::wait_poll(sp[i].a, POLLRDHUP, cpk::kWaitMs) & POLLRDHUP) != 0);
        }
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLIN | EPOLLRDHUP, sp[i].a, bufs[i], sizeof bufs[i]);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
    }
    for (size_t i = 0; i < kN; ++i)
        if (!cases[i].before_add) hang_up(sp[i], cases[i].how);
    CHECK(wait_ops(rec, 0, kN, cpk::kWaitMs));
    CHECK(cpk::sentinel(p.handle, rec, kN));
    CHECK(rec.count() == kN + 1);  /* one callback per op, and the sentinel's */
    for (size_t i = 0; i < kN; ++i) {
        INFO(cases[i].what);
        CHECK(expect_one(rec, i, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, kAnyAmount) == "");
    }
    REQUIRE(release(p.handle));
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
    REQUIRE(p.handle != nullptr);
    cpk::SocketPair sp[2] = {cpk::unix_pair(), cpk::unix_pair()};
    for (size_t i = 0; i < 2; ++i) {
        REQUIRE(sp[i].ok());
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLRDHUP, sp[i].a);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
    }
    sp[0].b.close();             /* op 0: RDHUP|HUP, stays reported */
    cpk::shutdown_wr(sp[1].b);   /* op 1: RDHUP, stays reported */
    REQUIRE(wait_ops(rec, 0, 2, cpk::kWaitMs));
    CHECK(cpk::sentinel(p.handle, rec, 2));
    CHECK(rec.calls(0) == 1);
    completion_port_remove(p.handle, sp[0].a);  /* op 0 is no longer pending */
    REQUIRE(release(p.handle));                 /* nor is op 1 */
    CHECK(cpk::bad_context_callbacks() - bad_before == 0);
    CHECK(exactly_once(rec, 0, COMPLETION_PORT_EPOLL_EPOLLRDHUP) == "");
    CHECK(exactly_once(rec, 1, COMPLETION_PORT_EPOLL_EPOLLRDHUP) == "");
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
    REQUIRE(p.handle != nullptr);
    cpk::SocketPair sp = cpk::unix_pair();
    REQUIRE(sp.ok());
    REQUIRE(cpk::shutdown_wr(sp.b));
    COMPLETION_PORT_INGRESS_DATA warm = rec.ingress(0, EPOLLRDHUP, sp.a);
    REQUIRE(completion_port_add(p.handle, &warm) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));

    /* Armed: no allocation and no REQUIRE/CHECK until alloc_track_stop. */
    int add_failed = 0;
    int not_completed = 0;
    cpk::alloc_track_start();
    for (size_t i = 1; i <= kCycles; ++i) {
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLRDHUP, sp.a);
        if (completion_port_add(p.handle, &in) != 0) { ++add_failed; continue; }
        if (!rec.wait_op_finished(i, cpk::kWaitMs)) ++not_completed;
    }
    cpk::alloc_track_stop();
    /* the worker may free an op just after its callback returns */
    bool quiet = eventually([] { return cpk::live_tracked() == 0; }, 2000);
    const size_t live = cpk::live_tracked();

    CHECK(add_failed == 0);
    CHECK(not_completed == 0);
    CHECK_FALSE(cpk::alloc_track_overflow());
    INFO(live << " allocations (" << cpk::live_tracked_bytes() << " bytes) still live after " << kCycles
              << " completed ops");
    CHECK(quiet);
    REQUIRE(release(p.handle));
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}
