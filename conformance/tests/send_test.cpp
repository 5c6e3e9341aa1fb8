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
using cpk::Recorder;

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

} // namespace

/* Op 1 sends at most 7 bytes per call. Catches: completing after the first
 * (partial) send, resending from the start, a wrong offset or length on the
 * next call, an amount other than the length, extra bytes on the wire. */
TEST_CASE("send: a send op sends its whole buffer and completes with OK and the length", "[CPL_SEND_001]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    static unsigned char out[65536];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair sp[3] = {cpk::unix_pair(), cpk::unix_pair(), cpk::tcp_pair()};
    for (auto& s : sp) CPK_KIT_REQUIRE(s.ok());
    const uint32_t len[3] = {1000, 1000, 65536};
    CPK_KIT_REQUIRE(cpk::cap_send(sp[1].a, 7) >= 0);
    cpk::record_start();
    for (size_t i = 0; i < 3; ++i) {
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLOUT, sp[i].a, out, len[i]);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    CPK_CHECK("CPL_SEND_001", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    CPK_REQUIRE("CPL_SEND_001", rec.wait_finished(3, cpk::kWaitMs));
    cpk::record_stop();
    for (size_t i = 0; i < 3; ++i) {
        INFO("op " << i);
        CPK_CHECK("CPL_SEND_001",
                  cpk::one_callback(rec, i, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, len[i]) == "");
    }
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
    CPK_RELEASE(p.handle);
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Op 0: a real TCP reset before the add (the event is OUT|HUP|ERR and the
 * first send gives ECONNRESET); op 1: injected. Catches: ECONNRESET reported
 * as ERROR or OK, or HUP|ERR handled as an error without calling send. */
TEST_CASE("send: ECONNRESET completes the op with ABANDONED", "[CPL_SEND_002]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair tcp = cpk::tcp_pair();
    cpk::SocketPair inj = cpk::unix_pair();
    CPK_KIT_REQUIRE(tcp.ok());
    CPK_KIT_REQUIRE(inj.ok());
    tcp.b.reset_close();
    CPK_KIT_REQUIRE((cpk::wait_poll(tcp.a, POLLOUT, cpk::kWaitMs) & POLLERR) != 0); /* the reset arrived */
    CPK_KIT_REQUIRE(cpk::fail_send(inj.a, ECONNRESET) >= 0);
    COMPLETION_PORT_INGRESS_DATA in[2] = {
        rec.ingress(0, EPOLLOUT, tcp.a, out, sizeof out),
        rec.ingress(1, EPOLLOUT, inj.a, out, sizeof out),
    };
    for (auto& i : in) CPK_REQUIRE_ADD(p.handle, &i);
    CPK_CHECK("CPL_SEND_002", cpk::wait_all_ops(rec, 0, 2, cpk::kWaitMs));
    CPK_CHECK("CPL_SEND_002", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT,
                                                COMPLETION_PORT_RESULT_ABANDONED, kAnyAmount) == "");
    CPK_CHECK("CPL_SEND_002", cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLOUT,
                                                COMPLETION_PORT_RESULT_ABANDONED, kAnyAmount) == "");
    CPK_RELEASE(p.handle);
    tcp = cpk::SocketPair();
    inj = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Injected errors (no real EPIPE here: see the SIGPIPE test).
 * Catches: other errnos reported as ABANDONED or OK, or the op left hanging. */
TEST_CASE("send: another send error completes the op with ERROR", "[CPL_SEND_003]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    const int errs[3] = {EIO, ENOBUFS, EPIPE};
    cpk::SocketPair sp[3];
    for (size_t i = 0; i < 3; ++i) {
        sp[i] = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp[i].ok());
        CPK_KIT_REQUIRE(cpk::fail_send(sp[i].a, errs[i]) >= 0);
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLOUT, sp[i].a, out, sizeof out);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    CPK_CHECK("CPL_SEND_003", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    for (size_t i = 0; i < 3; ++i) {
        INFO("injected errno " << errs[i] << " (" << strerror(errs[i]) << ")");
        CPK_CHECK("CPL_SEND_003", cpk::one_callback(rec, i, COMPLETION_PORT_EPOLL_EPOLLOUT,
                                                    COMPLETION_PORT_RESULT_ERROR, kAnyAmount) == "");
    }
    CPK_RELEASE(p.handle);
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* A real EPIPE: the unix peer is closed before the add.
 * Catches: send without MSG_NOSIGNAL (the process dies of SIGPIPE), EPIPE
 * reported as ABANDONED or OK. */
TEST_CASE("send: a send to a closed unix peer completes with ERROR and raises no SIGPIPE",
          "[CPL_SEND_004][CPL_SEND_003][sigpipe]") {
    cpk::Guard guard;
    INFO("the test needs the default SIGPIPE disposition, unblocked in the thread that creates the port");
    CPK_KIT_REQUIRE(cpk::sigpipe_at_default());

    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    static unsigned char out[100];
    cpk::fill_pattern(out, sizeof out);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    sp.b.close();
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_CHECK("CPL_SEND_004", rec.wait_op(0, cpk::kWaitMs));
    /* the result for EPIPE is CPL_SEND_003's */
    CPK_CHECK("CPL_SEND_003", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ERROR,
                                                kAnyAmount) == "");
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* The socket stays writable after the op completes.
 * Catches: a level-triggered EPOLLOUT registration left armed (a second
 * callback on freed memory, bytes sent twice), a closing completion from
 * remove or the final dec_ref for an op that already completed. */
TEST_CASE("send: after its completion the send op gets no other callback", "[CPL_SEND_005]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    const uint64_t bad_before = cpk::bad_context_callbacks();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    static unsigned char out[10];
    cpk::fill_pattern(out, sizeof out);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE("CPL_SEND_001", rec.wait_op(0, cpk::kWaitMs));
    CPK_CHECK("CPL_SEND_005", cpk::sentinel(p.handle, rec, 1));
    {
        INFO(rec.dump());
        CPK_CHECK("CPL_SEND_005", rec.calls(0) == 1);
    }
    CPK_CHECK("CPL_SEND_005", cpk::readable_bytes(sp.b) == 10); /* nothing sent after the completion */
    completion_port_remove(p.handle, sp.a);
    CPK_RELEASE(p.handle);
    CPK_CHECK("CPL_SEND_005", cpk::bad_context_callbacks() - bad_before == 0);
    CPK_CHECK("CPL_SEND_005", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT) == "");
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* One socket, one 1-byte send op after another, allocations tracked after a
 * warm-up op. Catches: the per-op state never freed after a send completion. */
TEST_CASE("send: completed send ops release their memory", "[CPL_SEND_005]") {
    cpk::Guard guard;
    constexpr size_t kCycles = 16;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    static unsigned char out[1] = {'x'};
    COMPLETION_PORT_INGRESS_DATA warm = rec.ingress(0, EPOLLOUT, sp.a, out, 1);
    CPK_REQUIRE_ADD(p.handle, &warm);
    CPK_REQUIRE("CPL_SEND_001", rec.wait_op_finished(0, cpk::kWaitMs));

    cpk::check_repeated_ops(cpk::repeated_ops(p.handle, rec, EPOLLOUT, sp.a, out, 1, -1, kCycles), "CPL_SEND_001",
                            "CPL_SEND_005");
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* 4 MB through a unix socketpair (about 200 KB fit) while the peer first
 * reads nothing, then reads in 64 KB chunks. Catches: EAGAIN ending the op
 * (OK with a partial amount, or ERROR), a busy loop on EAGAIN (send calls
 * counted in a window where the peer reads nothing), restarting from the
 * start of the buffer, the worker stuck on that socket. */
TEST_CASE("send: a full socket buffer suspends a large send until the peer drains it", "[CPL_SEND_006]") {
    cpk::Guard guard;
    /* An implementation that sends inside add (on this thread) and spins on
     * EAGAIN never returns from add: end with a message, not a timeout. */
    cpk::Watchdog dog(25, "send: completion_port_add or the 4 MB transfer blocked the test thread for 25 s");
    constexpr size_t kBig = 4u << 20, kChunk = 64u << 10;
    static unsigned char out[kBig], got[kBig];
    cpk::fill_pattern(out, kBig);
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    cpk::record_start();
    const uint64_t sends_before = cpk::calls_entered(cpk::Fn::send);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLOUT, sp.a, out, kBig);
    CPK_REQUIRE_ADD(p.handle, &in);
    auto saw_eagain = [&] {
        for (size_t i = 0; i < cpk::record_count(); ++i) {
            cpk::CallRecord r = cpk::record_at(i);
            if (r.fn == cpk::Fn::send && r.fd == sp.a && r.result < 0 && r.err == EAGAIN) return true;
        }
        return false;
    };
    const bool full = cpk::eventually(saw_eagain, cpk::kWaitMs);
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
    CPK_CHECK("CPL_SEND_006", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK,
                                                static_cast<long>(kBig)) == "");
    const uint64_t total_sends = cpk::calls_entered(cpk::Fn::send) - sends_before;
    {
        INFO("send calls for the whole transfer: " << total_sends);
        CPK_CHECK("CPL_SEND_006", total_sends <= 2000);
    }
    /* whatever the worker did on EAGAIN, what reached the peer is the buffer, in order, once */
    CPK_CHECK("CPL_SEND_001", cpk::check_pattern(got, done) == done);
    CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp.b) == 0);
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* The first two send calls fail with EINTR (injected).
 * Catches: EINTR reported as ERROR, or the op completed with nothing sent. */
TEST_CASE("send: EINTR from send is retried", "[CPL_SEND_007]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    static unsigned char out[500];
    cpk::fill_pattern(out, sizeof out);
    int id = cpk::fail_send(sp.a, EINTR, 1, 2);
    CPK_KIT_REQUIRE(id >= 0);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_CHECK("CPL_SEND_007", rec.wait_op(0, cpk::kWaitMs));
    CPK_REQUIRE("CPL_SEND_007", rec.wait_finished(1, cpk::kWaitMs));
    const std::string ok = cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 500);
    CPK_CHECK("CPL_SEND_007", ok == "");
    CPK_CHECK("CPL_SEND_007", cpk::fault_fired(id) == 2);
    /* an op that says it sent everything owes the peer exactly the buffer */
    if (ok == "") {
        CPK_CHECK("CPL_SEND_001", cpk::readable_bytes(sp.b) == 500);
        CPK_CHECK("CPL_SEND_001", peer_got_pattern(sp.b, 500) == "");
    }
    CPK_RELEASE(p.handle);
    sp = cpk::SocketPair();
    CPK_GUARD_END(guard);
}
