/* Spec section 9: epoll_worker_func, EPOLLIN (CPL_RECV_001..010).
 * Short reads and recv errors are injected through the harness (a cap on the
 * bytes one recv moves, a failure of the Nth recv on a socket); resets are
 * also made for real (TCP SO_LINGER {1,0}; a unix close that leaves data
 * unread on the closing side). */
#include "cpk_catch.h"

#include "harness.h"

#include <cstring>
#include <poll.h>
#include <string>
#include <vector>

namespace {

using cpk::kAnyAmount;
using cpk::PortCase;

constexpr int kIn = COMPLETION_PORT_EPOLL_EPOLLIN;

const unsigned char kCanary = 0xA5;

/* First index in [from, to) of buf that is not the canary, or to. */
size_t canary_intact(const unsigned char* buf, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i)
        if (buf[i] != kCanary) return i;
    return to;
}

} // namespace

/* Catches: read(2)/recvmsg instead of recv, recv into a private buffer then
 * copied, a recv that reaches past the op's buffer. */
TEST_CASE_METHOD(PortCase, "recv: a readable socket is read with recv into the op buffer", "[CPL_RECV_001]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[64];
    cpk::record_start();
    add(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, 10));
    /* 10 bytes into 64: the recv that finds nothing more ends the op */
    CPK_REQUIRE("CPL_RECV_002", rec.wait_op(0, cpk::kWaitMs));
    cpk::record_stop();
    std::vector<cpk::CallRecord> rs = cpk::records(cpk::Fn::recv, sp.a);
    std::string bad;
    for (const cpk::CallRecord& r : rs) {
        const char* b = static_cast<const char*>(r.buf);
        if (b < buf || b >= buf + sizeof buf || b + r.length > buf + sizeof buf) bad += cpk::describe(r) + "\n";
    }
    INFO("op buffer " << static_cast<const void*>(buf) << " length " << sizeof buf << "; recv calls on the socket:\n"
                      << cpk::describe_calls(rs));
    CPK_REQUIRE_FALSE("CPL_RECV_001", rs.empty());
    CPK_CHECK("CPL_RECV_001", rs[0].buf == static_cast<const void*>(buf));
    CPK_CHECK("CPL_RECV_001", bad == "");
    finish(sp);
}

/* EWOULDBLOCK == EAGAIN on Linux, so one errno covers both.
 * Catches: EAGAIN reported as ERROR, the amount as 0 or -1 instead of the
 * bytes already received, a retry instead of the completion. */
TEST_CASE_METHOD(PortCase, "recv: EAGAIN completes the op with OK and the bytes received so far", "[CPL_RECV_002]") {
    static_assert(EAGAIN == EWOULDBLOCK, "one errno value on Linux");
    cpk::SocketPair sp[3] = {unix_sockets(), unix_sockets(), unix_sockets()};
    static unsigned char bufs[3][100];
    /* op 0: the first recv fails with EAGAIN (injected): OK, 0 */
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[0].a, EAGAIN) >= 0);
    /* op 1: 10 bytes arrive, the second recv finds nothing (real EAGAIN): OK, 10 */
    /* op 2: 4 bytes per recv, the second recv fails with EAGAIN (injected): OK, 4.
     * (An amount taken from the last recv of several is caught by the short
     * read tests of CPL_RECV_005/006; here it would need continued reads.) */
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[2].a, EAGAIN, 2) >= 0);
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[2].a, 4) >= 0);
    for (size_t i = 0; i < 3; ++i) {
        add(i, EPOLLIN, sp[i].a, bufs[i], sizeof bufs[i]);
        CPK_KIT_REQUIRE(cpk::send_pattern(sp[i].b, 10));
    }
    CPK_CHECK("CPL_RECV_002", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RECV_002", kIn, COMPLETION_PORT_RESULT_OK, {0, 10, 4});
    for (size_t i : {1, 2}) cpk::check_received_pattern(rec, i, bufs[i], sizeof bufs[i]);
    finish(sp);
}

/* Catches: ECONNRESET reported as ERROR or OK, or the HUP|ERR that come with
 * a reset handled as an error before recv is even called. */
TEST_CASE_METHOD(PortCase, "recv: ECONNRESET completes the op with ABANDONED", "[CPL_RECV_003]") {
    static unsigned char bufs[3][64];
    /* op 0: TCP peer resets (SO_LINGER {1,0} + close); op 1: unix peer closes
     * with data it never read: recv gives ECONNRESET; op 2: injected
     * ECONNRESET on the first recv */
    cpk::SocketPair sp[3] = {tcp_sockets(), unix_sockets(), unix_sockets()};
    CPK_KIT_REQUIRE(cpk::write_all(sp[1].a, "unread", 6));
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[2].a, ECONNRESET) >= 0);
    for (size_t i = 0; i < 3; ++i) add(i, EPOLLIN, sp[i].a, bufs[i], sizeof bufs[i]);
    sp[0].b.reset_close();
    sp[1].b.close();
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[2].b, 5));
    CPK_CHECK("CPL_RECV_003", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RECV_003", kIn, COMPLETION_PORT_RESULT_ABANDONED,
                        {kAnyAmount, kAnyAmount, kAnyAmount});
    finish(sp);
}

/* Catches: recv == 0 reported as ABANDONED/ERROR, or with amount 0 (the last
 * recv) when data came before the end of stream. */
TEST_CASE_METHOD(PortCase, "recv: end of stream completes the op with OK and the total received", "[CPL_RECV_004]") {
    static unsigned char bufs[4][100];
    cpk::SocketPair sp[4] = {unix_sockets(), unix_sockets(), unix_sockets(), tcp_sockets()};
    /* op 0: 5 bytes then shutdown, before add: OK, 5 */
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[0].b, 5));
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[0].b));
    /* op 3: TCP, 7 bytes then FIN, before add: OK, 7 */
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[3].b, 7));
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[3].b));
    CPK_KIT_REQUIRE((cpk::wait_poll(sp[3].a, POLLRDHUP, cpk::kWaitMs) & POLLRDHUP) != 0);
    for (size_t i = 0; i < 4; ++i) add(i, EPOLLIN, sp[i].a, bufs[i], sizeof bufs[i]);
    /* op 1: shutdown after add, no data: OK, 0; op 2: close after add: OK, 0 */
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[1].b));
    sp[2].b.close();
    CPK_CHECK("CPL_RECV_004", cpk::wait_all_ops(rec, 0, 4, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RECV_004", kIn, COMPLETION_PORT_RESULT_OK, {5, 0, 0, 7});
    for (size_t i : {0, 3}) cpk::check_received_pattern(rec, i, bufs[i], sizeof bufs[i]);
    finish(sp);
}

/* Every recv moves at most 3 (op 0) or 5 (ops 1, 2) bytes.
 * Catches: completing after the first recv, a second recv into the start of
 * the buffer or with the full length, reading past the op's length. */
TEST_CASE_METHOD(PortCase, "recv: short reads continue into the rest of the buffer until it is full",
                 "[CPL_RECV_005]") {
    cpk::SocketPair sp[2] = {unix_sockets(), unix_sockets()};
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[0].a, 3) >= 0);
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[1].a, 5) >= 0);
    static unsigned char buf0[64], buf1[40], buf2[24];
    cpk::record_start();
    /* op 0: 64 bytes into a 64-byte buffer */
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[0].b, 64));
    add(0, EPOLLIN, sp[0].a, buf0, sizeof buf0);
    /* op 1: 64 bytes offered to a 40-byte buffer: 24 must stay in the socket */
    CPK_KIT_REQUIRE(cpk::send_pattern(sp[1].b, 64));
    add(1, EPOLLIN, sp[1].a, buf1, sizeof buf1);
    CPK_CHECK("CPL_RECV_005", cpk::wait_all_ops(rec, 0, 2, cpk::kWaitMs));
    CPK_REQUIRE("CPL_RECV_005", rec.wait_op_finished(1, cpk::kWaitMs));
    cpk::check_outcomes(rec, "CPL_RECV_005", kIn, COMPLETION_PORT_RESULT_OK, {64, 40});
    CPK_CHECK("CPL_RECV_005", cpk::readable_bytes(sp[1].a) == 24); /* nothing read past the buffer */
    /* op 2: the next op on that socket gets the remaining 24 bytes */
    add(2, EPOLLIN, sp[1].a, buf2, sizeof buf2);
    CPK_CHECK("CPL_RECV_005", rec.wait_op(2, cpk::kWaitMs));
    cpk::record_stop();
    cpk::check_outcomes(rec, "CPL_RECV_005", kIn, COMPLETION_PORT_RESULT_OK, {24}, 2);

    /* op 0's recv calls: each continues where the previous one stopped */
    std::vector<cpk::CallRecord> rs = cpk::records(cpk::Fn::recv, sp[0].a);
    {
        INFO("recv calls of op 0 (buffer " << static_cast<const void*>(buf0) << "):\n" << cpk::describe_calls(rs));
        CPK_CHECK("CPL_RECV_005", rs.size() >= 22);
        CPK_CHECK("CPL_RECV_005", cpk::discontinuous_calls(rs, buf0, sizeof buf0) == "");
    }
    cpk::check_received_pattern(rec, 0, buf0, sizeof buf0);
    cpk::check_received_pattern(rec, 1, buf1, sizeof buf1);
    /* op 2's bytes follow those op 1 took from the same socket */
    cpk::check_received_pattern(rec, 2, buf2, sizeof buf2, cpk::reported_bytes(rec, 1, sizeof buf1));
    finish(sp);
}

/* Buffers sit between canary bytes. Catches: a terminating NUL at buf[N], a
 * buffer cleared or padded past N, a recv into a bounce buffer copied back
 * whole, bytes lost or reordered across short reads and ops. */
TEST_CASE_METHOD(PortCase, "recv: the buffer holds exactly the peer bytes and nothing past the amount",
                 "[CPL_RECV_006]") {
    constexpr size_t kGuard = 32, kLen = 256, kRegion = kGuard + kLen + kGuard;
    static unsigned char region[4][kRegion];
    memset(region, kCanary, sizeof region);
    cpk::SocketPair sp[3] = {unix_sockets(), unix_sockets(), unix_sockets()};
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[2].a, 7) >= 0);
    /* op 0: 100 bytes; op 1: 300 bytes offered, 256 taken; op 2: the 44 left
     * on op 1's socket; op 3: 100 bytes in 7-byte reads */
    const size_t sent[4] = {100, 300, 0, 100};
    const size_t want[4] = {100, 256, 44, 100};
    /* what fixes each op's outcome: nothing more to read (EAGAIN), or a full buffer */
    const char* const outcome[4] = {"CPL_RECV_002", "CPL_RECV_005", "CPL_RECV_002", "CPL_RECV_002"};
    const int sock[4] = {sp[0].a, sp[1].a, sp[1].a, sp[2].a};
    const int peer[4] = {sp[0].b, sp[1].b, -1, sp[2].b};
    cpk::record_start();
    for (size_t i = 0; i < 4; ++i) {
        if (peer[i] >= 0) CPK_KIT_REQUIRE(cpk::send_pattern(peer[i], sent[i]));
        add(i, EPOLLIN, sock[i], region[i] + kGuard, kLen);
        CPK_REQUIRE(outcome[i], rec.wait_op_finished(i, cpk::kWaitMs)); /* ops 1 and 2 share a socket */
    }
    cpk::record_stop();
    /* op 3 ends only when a recv finds nothing more: a last recv that still
     * moved bytes is a short read never continued */
    const std::vector<cpk::CallRecord> op3_calls = cpk::records(cpk::Fn::recv, sp[2].a);
    const bool op3_continued = op3_calls.empty() || op3_calls.back().result <= 0;
    {
        INFO("recv calls of op 3:\n" << cpk::describe_calls(op3_calls));
        CPK_CHECK("CPL_RECV_005", op3_continued);
    }
    /* op 2's bytes follow those op 1 took from the same socket */
    const size_t offset[4] = {0, 0, cpk::reported_bytes(rec, 1, kLen), 0};
    for (size_t i = 0; i < 4; ++i) {
        if (i != 3 || op3_continued)
            cpk::check_outcomes(rec, outcome[i], kIn, COMPLETION_PORT_RESULT_OK, {static_cast<long>(want[i])}, i);
        cpk::check_received_pattern(rec, i, region[i] + kGuard, kLen, offset[i]);
        const size_t n = cpk::reported_bytes(rec, i, kLen);
        INFO("op " << i << " reported " << n << " bytes");
        CPK_CHECK("CPL_RECV_006", canary_intact(region[i], 0, kGuard) == kGuard);
        CPK_CHECK("CPL_RECV_006", canary_intact(region[i], kGuard + n, kRegion) == kRegion);
    }
    finish(sp);
}

/* The socket stays readable after the op completes (90 bytes left).
 * Catches: a level-triggered registration left armed (a second callback on
 * freed memory, or reads nobody asked for), a closing completion from remove
 * or the final dec_ref for an op that already completed. */
TEST_CASE_METHOD(PortCase, "recv: after its completion the recv op gets no other callback", "[CPL_RECV_007]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char buf[10];
    add(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, 100));
    CPK_REQUIRE("CPL_RECV_005", rec.wait_op(0, cpk::kWaitMs)); /* 100 bytes for a 10-byte buffer */
    const int fd = sp.a;
    /* no read after the completion */
    cpk::check_stays_completed(*this, "CPL_RECV_007", 1, kIn, fd, [fd] { return cpk::readable_bytes(fd) == 90; });
    finish(sp);
}

/* One socket, one recv op after another, allocations tracked after a warm-up
 * op. Catches: the per-op state never freed after a recv completion. */
TEST_CASE_METHOD(PortCase, "recv: completed recv ops release their memory", "[CPL_RECV_007]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char buf[1]; /* 1 byte: a full buffer completes each op */
    cpk::check_ops_free_memory(*this, EPOLLIN, sp.a, buf, 1, sp.b, "CPL_RECV_005", "CPL_RECV_007");
    finish(sp);
}

/* Catches the seed's gap: an errno other than EAGAIN/ECONNRESET leaves the op
 * hanging; also ERROR with an amount other than the bytes received. */
TEST_CASE_METHOD(PortCase, "recv: another recv error completes the op with ERROR and the total", "[CPL_RECV_008]") {
    cpk::SocketPair sp[3] = {unix_sockets(), unix_sockets(), unix_sockets()};
    static unsigned char bufs[3][100];
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[0].a, EIO) >= 0);       /* op 0: ERROR, 0 */
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[1].a, ENOMEM, 2) >= 0); /* op 1: 4 bytes, then ERROR, 4 */
    CPK_KIT_REQUIRE(cpk::cap_recv(sp[1].a, 4) >= 0);
    CPK_KIT_REQUIRE(cpk::fail_recv(sp[2].a, EINVAL) >= 0); /* op 2: ERROR, 0 */
    cpk::record_start();
    for (size_t i = 0; i < 3; ++i) {
        add(i, EPOLLIN, sp[i].a, bufs[i], sizeof bufs[i]);
        CPK_KIT_REQUIRE(cpk::send_pattern(sp[i].b, 10));
    }
    /* CPL_RECV_008 fixes the whole outcome, the amount (the total) included */
    CPK_CHECK("CPL_RECV_008", cpk::wait_all_ops(rec, 0, 3, cpk::kWaitMs));
    cpk::record_stop();
    cpk::check_outcomes(rec, "CPL_RECV_008", kIn, COMPLETION_PORT_RESULT_ERROR, {0});
    {
        /* Op 1 meets its error only if its short read is continued (CPL_RECV_005). */
        std::vector<cpk::CallRecord> rs = cpk::records(cpk::Fn::recv, sp[1].a);
        const bool reached = !rs.empty() && rs.back().result < 0;
        INFO("op 1's recv calls:\n" << cpk::describe_calls(rs));
        CPK_CHECK("CPL_RECV_005", reached);
        if (reached) cpk::check_outcomes(rec, "CPL_RECV_008", kIn, COMPLETION_PORT_RESULT_ERROR, {4}, 1);
    }
    cpk::check_outcomes(rec, "CPL_RECV_008", kIn, COMPLETION_PORT_RESULT_ERROR, {0}, 2);
    cpk::check_received_pattern(rec, 1, bufs[1], sizeof bufs[1]);
    finish(sp);
}

/* The first two recv calls fail with EINTR (injected).
 * Catches: EINTR reported as ERROR, or as OK with 0 bytes. */
TEST_CASE_METHOD(PortCase, "recv: EINTR from recv is retried", "[CPL_RECV_009]") {
    cpk::SocketPair sp = unix_sockets();
    static unsigned char buf[20];
    int id = cpk::fail_recv(sp.a, EINTR, 1, 2);
    CPK_KIT_REQUIRE(id >= 0);
    cpk::record_start();
    add(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_KIT_REQUIRE(cpk::send_pattern(sp.b, 20));
    CPK_CHECK("CPL_RECV_009", rec.wait_op(0, cpk::kWaitMs));
    cpk::record_stop();
    INFO("recv calls:\n" << cpk::describe_calls(cpk::records(cpk::Fn::recv, sp.a)));
    cpk::check_outcomes(rec, "CPL_RECV_009", kIn, COMPLETION_PORT_RESULT_OK, {20});
    CPK_CHECK("CPL_RECV_009", cpk::fault_fired(id) == 2);
    cpk::check_received_pattern(rec, 0, buf, sizeof buf);
    finish(sp);
}

/* Op 0's socket is in blocking mode and gets 10 bytes for a 100-byte buffer.
 * Catches: a plain blocking recv for the rest of the buffer (the worker hangs:
 * op 0 and the other socket's op 1 never complete). When that happens the
 * test shuts the peer down to free the worker before tearing down. */
TEST_CASE_METHOD(PortCase, "recv: a blocking socket does not block the worker", "[CPL_RECV_010]") {
    cpk::SocketPair blocking = unix_sockets(false);
    cpk::SocketPair other = unix_sockets();
    static unsigned char buf0[100], buf1[8];
    add(0, EPOLLIN, blocking.a, buf0, sizeof buf0);
    add(1, EPOLLIN, other.a, buf1, sizeof buf1);
    CPK_KIT_REQUIRE(cpk::send_pattern(blocking.b, 10));
    const bool op0_in_time = rec.wait_op(0, cpk::kWaitMs);
    CPK_KIT_REQUIRE(cpk::write_all(other.b, "o", 1));
    const bool op1_in_time = rec.wait_op(1, cpk::kWaitMs);
    if (!op0_in_time || !op1_in_time) cpk::shutdown_wr(blocking.b); /* free a stuck worker */
    CPK_CHECK("CPL_RECV_010", op0_in_time);
    CPK_CHECK("CPL_RECV_010", op1_in_time);
    cpk::check_outcomes(rec, "CPL_RECV_010", kIn, COMPLETION_PORT_RESULT_OK, {10});
    CPK_CHECK("CPL_RECV_010", cpk::one_callback(rec, 1, kIn) == "");
    cpk::check_received_pattern(rec, 0, buf0, sizeof buf0);
    finish(blocking, other);
}
