/* Spec section 10: epoll_worker_func, EPOLLOUT (CPL_SEND_001..007).
 * Partial sends and send errors are injected through the harness (a cap on
 * the bytes one send moves, a failure of the Nth send on a socket); a reset is
 * also made for real (TCP SO_LINGER {1,0}), and EPIPE by a closed unix peer.
 * The test process keeps the default SIGPIPE disposition: a send without
 * MSG_NOSIGNAL to a closed peer kills it. */
#include "cpk_catch.h"

#include "harness.h"

#include <cstring>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <vector>

namespace {

using cpk::kAnyAmount;
using cpk::PortCase;

constexpr int kOut = COMPLETION_PORT_EPOLL_EPOLLOUT;

/* Reads exactly n bytes from fd and checks them against the pattern at
 * `offset`; "" when they match. */
std::string peer_got_pattern(int fd, size_t n, size_t offset = 0) {
    std::vector<unsigned char> got(n);
    size_t k = 0;
    if (!cpk::read_exact(fd, got.data(), n, cpk::kWaitMs, &k))
        return "peer read " + std::to_string(k) + " of " + std::to_string(n) + " bytes";
    size_t bad = cpk::check_pattern(got.data(), n, offset);
    if (bad != n) return "peer byte " + std::to_string(bad) + " differs from what the op sent";
    return "";
}

/* While recording: true once a send on `fd` failed with EAGAIN (its socket
 * buffer is full and the op must wait), within kWaitMs. */
bool send_hits_eagain(int fd) {
    return cpk::eventually(
        [fd] {
            for (size_t i = 0; i < cpk::record_count(); ++i) {
                cpk::CallRecord r = cpk::record_at(i);
                if (r.fn == cpk::Fn::send && r.fd == fd && r.result < 0 && r.err == EAGAIN) return true;
            }
            return false;
        },
        cpk::kWaitMs);
}

} // namespace

/* Op 1 sends at most 7 bytes per call. Catches: completing after the first
 * (partial) send, resending from the start, a wrong offset or length on the
 * next call, an amount other than the length, extra bytes on the wire. */
TEST_CASE_METHOD(PortCase, "send: a send op sends its whole buffer and completes with OK and the length",
                 "[CPL_SEND_001]") {
    static unsigned char out[65536];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair sp[3] = {unix_sockets(), unix_sockets(), tcp_sockets()};
    const uint32_t len[3] = {1000, 1000, 65536};
    CPK_KIT_REQUIRE(cpk::cap_send(sp[1].a, 7) >= 0);
    cpk::record_start();
    for (size_t i = 0; i < 3; ++i) add(i, EPOLLOUT, sp[i].a, out, len[i]);
    CPK_CHECK("CPL_SEND_001", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    CPK_REQUIRE("CPL_SEND_001", rec.wait_finished(3, cpk::kWaitMs));
    cpk::record_stop();
    cpk::check_outcomes(rec, "CPL_SEND_001", kOut, COMPLETION_PORT_RESULT_OK, {len[0], len[1], len[2]});
    CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp[0].b) == 1000); /* all sent before the completion, once */
    CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp[1].b) == 1000);
    for (size_t i = 0; i < 3; ++i) {
        INFO("op " << i);
        CPK_CHECK("CPL_SEND_001", peer_got_pattern(sp[i].b, len[i]) == "");
    }
    /* op 1's send calls: each continues where the previous one stopped */
    std::vector<cpk::CallRecord> ss = cpk::records(cpk::Fn::send, sp[1].a);
    INFO("send calls of op 1 (buffer " << static_cast<const void*>(out) << "):\n" << cpk::describe_calls(ss));
    CPK_CHECK("CPL_SEND_001", cpk::discontinuous_calls(ss, out, len[1]) == "");
    finish(sp);
}

/* The seed's send branch is taken on the event, not on the op's epoll_op: an
 * op asking for both whose socket is writable with nothing to read sends its
 * buffer. Catches: the completion reported with the EPOLLIN action, or a recv
 * attempted on the writable-only event. */
TEST_CASE_METHOD(PortCase, "send: an op asking for EPOLLIN and EPOLLOUT on a socket with nothing to read is sent",
                 "[CPL_SEND_001]") {
    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair sp = unix_sockets();
    add(0, EPOLLIN | EPOLLOUT, sp.a, out, sizeof out);
    CPK_REQUIRE("CPL_SEND_001", rec.wait_op_finished(0, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_SEND_001", kOut, COMPLETION_PORT_RESULT_OK, {sizeof out});
    CPK_CHECK("CPL_SEND_001", peer_got_pattern(sp.b, sizeof out) == "");
    finish(sp);
}

/* Op 0: a real TCP reset before the add (the event is OUT|HUP|ERR and the
 * first send gives ECONNRESET); op 1: injected. Catches: ECONNRESET reported
 * as ERROR or OK, or HUP|ERR handled as an error without calling send. */
TEST_CASE_METHOD(PortCase, "send: ECONNRESET completes the op with ABANDONED", "[CPL_SEND_002]") {
    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair sp[2] = {tcp_sockets(), unix_sockets()};
    sp[0].b.reset_close();
    CPK_KIT_REQUIRE((cpk::wait_poll(sp[0].a, POLLOUT, cpk::kWaitMs) & POLLERR) != 0); /* the reset arrived */
    CPK_KIT_REQUIRE(cpk::fail_send(sp[1].a, ECONNRESET) >= 0);
    for (size_t i = 0; i < 2; ++i) add(i, EPOLLOUT, sp[i].a, out, sizeof out);
    CPK_CHECK("CPL_SEND_002", cpk::wait_all_ops(rec, 0, 2, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_SEND_002", kOut, COMPLETION_PORT_RESULT_ABANDONED, {kAnyAmount, kAnyAmount});
    finish(sp);
}

/* Injected errors (no real EPIPE here: see the SIGPIPE test).
 * Catches: other errnos reported as ABANDONED or OK, or the op left hanging. */
TEST_CASE_METHOD(PortCase, "send: another send error completes the op with ERROR", "[CPL_SEND_003]") {
    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    const int errs[3] = {EIO, ENOBUFS, EPIPE};
    cpk::SocketPair sp[3];
    for (size_t i = 0; i < 3; ++i) {
        sp[i] = unix_sockets();
        CPK_KIT_REQUIRE(cpk::fail_send(sp[i].a, errs[i]) >= 0);
        add(i, EPOLLOUT, sp[i].a, out, sizeof out);
    }
    CPK_CHECK("CPL_SEND_003", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    for (size_t i = 0; i < 3; ++i) {
        INFO("injected errno " << errs[i] << " (" << strerror(errs[i]) << ")");
        cpk::check_outcomes(rec, "CPL_SEND_003", kOut, COMPLETION_PORT_RESULT_ERROR, {kAnyAmount}, i);
    }
    finish(sp);
}

/* A real EPIPE: the unix peer is closed before the add.
 * Catches: send without MSG_NOSIGNAL (the process dies of SIGPIPE), EPIPE
 * reported as ABANDONED or OK. */
TEST_CASE_METHOD(PortCase, "send: a send to a closed unix peer completes with ERROR and raises no SIGPIPE",
                 "[CPL_SEND_004][CPL_SEND_003][sigpipe]") {
    INFO("the test needs the default SIGPIPE disposition, unblocked in the thread that creates the port");
    CPK_KIT_REQUIRE(cpk::sigpipe_at_default());

    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair sp = unix_sockets();
    sp.b.close();
    add(0, EPOLLOUT, sp.a, out, sizeof out);
    CPK_CHECK("CPL_SEND_004", rec.wait_op(0, cpk::kWaitMs));
    /* the result for EPIPE is CPL_SEND_003's */
    cpk::check_outcomes(rec, "CPL_SEND_003", kOut, COMPLETION_PORT_RESULT_ERROR, {kAnyAmount});
    finish(sp);
}

/* The socket stays writable after the op completes.
 * Catches: a level-triggered EPOLLOUT registration left armed (a second
 * callback on freed memory, bytes sent twice), a closing completion from
 * remove or the final dec_ref for an op that already completed. */
TEST_CASE_METHOD(PortCase, "send: after its completion the send op gets no other callback", "[CPL_SEND_005]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char out[10];
    cpk::fill_pattern(out, sizeof out);
    add(0, EPOLLOUT, sp.a, out, sizeof out);
    CPK_REQUIRE("CPL_SEND_001", rec.wait_op(0, cpk::kWaitMs));
    const int peer = sp.b;
    /* nothing sent after the completion */
    cpk::check_stays_completed(*this, "CPL_SEND_005", 1, kOut, sp.a,
                               [peer] { return cpk::readable_bytes(peer) == 10; });
    finish(sp);
}

/* One socket, one 1-byte send op after another, allocations tracked after a
 * warm-up op. Catches: the per-op state never freed after a send completion. */
TEST_CASE_METHOD(PortCase, "send: completed send ops release their memory", "[CPL_SEND_005]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char out[1] = {'x'};
    cpk::check_ops_free_memory(*this, EPOLLOUT, sp.a, out, 1, -1, "CPL_SEND_001", "CPL_SEND_005");
    finish(sp);
}

/* 4 MB through a unix socketpair (about 200 KB fit) while the peer first
 * reads nothing, then reads in 64 KB chunks. Catches: EAGAIN ending the op
 * (OK with a partial amount, or ERROR), a busy loop on EAGAIN (send calls
 * counted in a window where the peer reads nothing), restarting from the
 * start of the buffer, the worker stuck on that socket. */
TEST_CASE_METHOD(PortCase, "send: a full socket buffer suspends a large send until the peer drains it",
                 "[CPL_SEND_006]") {
    /* An implementation that sends inside add (on this thread) and spins on
     * EAGAIN never returns from add: end with a message, not a timeout. */
    cpk::Watchdog dog(25, "send: completion_port_add or the 4 MB transfer blocked the test thread for 25 s");
    constexpr size_t kBig = 4u << 20, kChunk = 64u << 10;
    static unsigned char out[kBig], got[kBig];
    cpk::fill_pattern(out, kBig);
    cpk::SocketPair sp = unix_sockets();
    cpk::record_start();
    const uint64_t sends_before = cpk::calls_entered(cpk::Fn::send);
    add(0, EPOLLOUT, sp.a, out, kBig);
    const bool full = send_hits_eagain(sp.a);
    cpk::record_stop();
    CPK_CHECK("CPL_SEND_006", full);
    {
        INFO(rec.dump());
        CPK_CHECK("CPL_SEND_006", rec.calls(0) == 0); /* 4 MB cannot be sent yet */
    }

    /* The peer reads nothing for kQuietMs: a waiting worker makes no send call. */
    const uint64_t s0 = cpk::calls_entered(cpk::Fn::send);
    CPK_CHECK_FALSE("CPL_SEND_006", rec.wait_op(0, cpk::kQuietMs));
    const uint64_t idle_sends = cpk::calls_entered(cpk::Fn::send) - s0;
    {
        INFO("send calls while the peer read nothing for " << cpk::kQuietMs << " ms: " << idle_sends);
        CPK_CHECK("CPL_SEND_006", idle_sends <= 4);
    }
    CPK_CHECK("CPL_SEND_006", cpk::sentinel(p.handle, rec, 1)); /* and the worker still serves other sockets */

    size_t done = 0;
    bool read_ok = true;
    while (done < kBig && read_ok) {
        size_t n = kBig - done < kChunk ? kBig - done : kChunk;
        read_ok = cpk::read_exact(sp.b, got + done, n, cpk::kWaitMs);
        if (read_ok) done += n;
    }
    INFO("peer read " << done << " of " << kBig << " bytes");
    CPK_CHECK("CPL_SEND_006", read_ok);
    CPK_CHECK("CPL_SEND_006", rec.wait_op(0, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_SEND_006", kOut, COMPLETION_PORT_RESULT_OK, {static_cast<long>(kBig)});
    const uint64_t total_sends = cpk::calls_entered(cpk::Fn::send) - sends_before;
    {
        INFO("send calls for the whole transfer: " << total_sends);
        CPK_CHECK("CPL_SEND_006", total_sends <= 2000);
    }
    /* whatever the worker did on EAGAIN, what reached the peer is the buffer, in order, once */
    CPK_CHECK("CPL_SEND_001", cpk::check_pattern(got, done) == done);
    CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp.b) == 0);
    finish(sp);
}

/* The first two send calls fail with EINTR (injected).
 * Catches: EINTR reported as ERROR, or the op completed with nothing sent. */
/* While a send waits for writability, the op still waits for the hang-up it
 * asked for: the peer shuts down without reading and the op completes once
 * as a hang-up. Catches a suspended send that waits for EPOLLOUT alone and
 * so never completes. */
TEST_CASE_METHOD(PortCase,
                 "send: a suspended send that asked for EPOLLRDHUP completes as a hang-up when the peer shuts down",
                 "[CPL_SEND_006]") {
    cpk::Watchdog dog(25, "send: completion_port_add or the suspended send blocked the test thread for 25 s");
    constexpr size_t kBig = 1u << 20;
    static unsigned char out[kBig];
    cpk::fill_pattern(out, kBig);
    cpk::SocketPair sp = unix_sockets();
    cpk::record_start();
    add(0, EPOLLOUT | EPOLLRDHUP, sp.a, out, kBig);
    const bool full = send_hits_eagain(sp.a);
    cpk::record_stop();
    CPK_REQUIRE("CPL_SEND_006", full);
    CPK_KIT_REQUIRE(::shutdown(sp.b, SHUT_WR) == 0);
    CPK_CHECK("CPL_SEND_006", rec.wait_op(0, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_SEND_006", COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED,
                        {kAnyAmount});
    finish(sp);
}

/* An op that asked for EPOLLIN and EPOLLOUT and started as a send stays a
 * send while it waits: bytes arriving meanwhile are not received into its
 * buffer, and it completes once with the full length when the peer drains.
 * Catches a suspended send that still answers EPOLLIN. */
TEST_CASE_METHOD(PortCase, "send: a suspended send that also asked for EPOLLIN ignores incoming bytes",
                 "[CPL_SEND_006]") {
    cpk::Watchdog dog(25, "send: completion_port_add or the suspended send blocked the test thread for 25 s");
    constexpr size_t kBig = 1u << 20;
    static unsigned char out[kBig], got[kBig];
    cpk::fill_pattern(out, kBig);
    cpk::SocketPair sp = unix_sockets();
    cpk::record_start();
    add(0, EPOLLIN | EPOLLOUT, sp.a, out, kBig);
    const bool full = send_hits_eagain(sp.a);
    cpk::record_stop();
    CPK_REQUIRE("CPL_SEND_001", full); /* the op was sent at all (the test above) */
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "incoming", 8));
    CPK_CHECK("CPL_SEND_006", cpk::sentinel(p.handle, rec, 1));
    {
        INFO(rec.dump());
        CPK_CHECK("CPL_SEND_006", rec.calls(0) == 0);
    }
    CPK_CHECK("CPL_SEND_006", cpk::read_exact(sp.b, got, kBig, cpk::kWaitMs));
    CPK_CHECK("CPL_SEND_006", rec.wait_op(0, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_SEND_006", kOut, COMPLETION_PORT_RESULT_OK, {static_cast<long>(kBig)});
    CPK_CHECK("CPL_SEND_001", cpk::check_pattern(got, kBig) == kBig);
    finish(sp);
}

TEST_CASE_METHOD(PortCase, "send: EINTR from send is retried", "[CPL_SEND_007]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char out[500];
    cpk::fill_pattern(out, sizeof out);
    int id = cpk::fail_send(sp.a, EINTR, 1, 2);
    CPK_KIT_REQUIRE(id >= 0);
    add(0, EPOLLOUT, sp.a, out, sizeof out);
    CPK_CHECK("CPL_SEND_007", rec.wait_op(0, cpk::kWaitMs));
    CPK_REQUIRE("CPL_SEND_007", rec.wait_finished(1, cpk::kWaitMs));
    const std::string ok = cpk::one_callback(rec, 0, kOut, COMPLETION_PORT_RESULT_OK, 500);
    CPK_CHECK("CPL_SEND_007", ok == "");
    CPK_CHECK("CPL_SEND_007", cpk::fault_fired(id) == 2);
    /* an op that says it sent everything owes the peer exactly the buffer */
    if (ok == "") {
        CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp.b) == 500);
        CPK_CHECK("CPL_SEND_001", peer_got_pattern(sp.b, 500) == "");
    }
    finish(sp);
}
