/* The worker's I/O: recv and send loops, hang-ups, other events, threading. */
#include "unit.h"

#include <poll.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <vector>

using reftest::check_first;
using reftest::first;

TEST_CASE_METHOD(reftest::OnePort, "recv: the buffer holds exactly the peer's bytes and nothing past the amount",
                 "[CPL_RECV_001][CPL_RECV_002][CPL_RECV_006]") {
    unsigned char buf[64];
    memset(buf, 0xAA, sizeof buf);
    recv_from_peer(port, 0, buf, sizeof buf, "0123456789");
    const cpk::CallbackRecord c = first(rec, 0);
    CHECK(c.action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(c.result == COMPLETION_PORT_RESULT_OK);
    CHECK(c.amount == 10);
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    for (size_t i = 10; i < sizeof buf; ++i) CHECK(buf[i] == 0xAA);
}

TEST_CASE_METHOD(reftest::OnePort, "recv: short reads are continued until the buffer is full", "[CPL_RECV_005]") {
    char buf[16];
    REQUIRE(cpk::write_all(sp.b, "abcdefghijklmnopqrstuvwxyz", 26));
    cpk::cap_recv(sp.a, 3);
    cpk::record_start();
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).amount == 16);
    CHECK(memcmp(buf, "abcdefghijklmnop", 16) == 0);
    std::vector<cpk::CallRecord> calls = cpk::records(cpk::Fn::recv, sp.a);
    INFO(cpk::describe_calls(calls));
    CHECK(calls.size() == 6); /* 3+3+3+3+3+1 */
    CHECK(cpk::discontinuous_calls(calls, buf, sizeof buf) == "");
}

TEST_CASE_METHOD(reftest::OnePort, "recv: end of stream completes with OK and the bytes received", "[CPL_RECV_004]") {
    char buf[10];
    REQUIRE(cpk::write_all(sp.b, "xyz", 3));
    REQUIRE(cpk::shutdown_wr(sp.b));
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(first(rec, 0).amount == 3);
}

TEST_CASE_METHOD(reftest::OnePort, "recv: a connection reset completes with ABANDONED", "[CPL_RECV_003]") {
    char buf[10];
    /* A unix peer closing with unread data makes our recv fail with ECONNRESET. */
    REQUIRE(cpk::write_all(sp.a, "unread", 6));
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    sp.b.close();
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    check_first(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, 0);
}

TEST_CASE_METHOD(reftest::OnePort, "recv: EINTR is retried and another errno is an ERROR with the bytes so far",
                 "[CPL_RECV_008][CPL_RECV_009][CPL_EVENT_002]") {
    char buf[8];

    int eintr = cpk::fail_recv(sp.a, EINTR);
    recv_from_peer(port, 0, buf, sizeof buf, "12345678");
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(first(rec, 0).amount == 8);
    CHECK(cpk::fault_fired(eintr) == 1);

    /* The failure first: the first matching fault wins. */
    cpk::fail_recv(sp.a, EIO, 2);
    cpk::cap_recv(sp.a, 2);
    recv_from_peer(port, 1, buf, sizeof buf, "abcdefgh");
    CHECK(first(rec, 1).result == COMPLETION_PORT_RESULT_ERROR);
    CHECK(first(rec, 1).amount == 2);
}

TEST_CASE("recv: a blocking socket never blocks the worker", "[CPL_RECV_010]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    cpk::SocketPair blocking = cpk::unix_pair(false), second = cpk::unix_pair();
    REQUIRE((blocking.ok() && second.ok()));
    char buf[100], other_buf[1];
    reftest::Port port;
    auto in = rec.ingress(0, EPOLLIN, blocking.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(cpk::write_all(blocking.b, "short", 5));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).amount == 5);
    auto probe = rec.ingress(1, EPOLLIN, second.a, other_buf, sizeof other_buf);
    REQUIRE(completion_port_add(port, &probe) == 0);
    REQUIRE(cpk::write_all(second.b, "!", 1));
    CHECK(rec.wait_op_finished(1, cpk::kWaitMs));
}

TEST_CASE_METHOD(reftest::OnePort, "rdhup: a hang-up with data gives one ABANDONED hang-up callback and nothing more",
                 "[CPL_RDHUP_001][CPL_RDHUP_002][CPL_RDHUP_003]") {
    char buf[4];
    auto in = rec.ingress(0, EPOLLIN | EPOLLRDHUP, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(cpk::write_all(sp.b, "data", 4));
    /* Both arrive before the worker can look (the op was not yet armed for
     * this data alone): IN and RDHUP in one event in most runs. */
    sp.b.close();
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    REQUIRE(cpk::sentinel(port, rec, 1));
    CHECK(rec.calls(0) == 1);
    const cpk::CallbackRecord c = first(rec, 0);
    /* Either the data was read before the hang-up was seen, or the hang-up won. */
    if (c.action == COMPLETION_PORT_EPOLL_EPOLLRDHUP) {
        CHECK(c.result == COMPLETION_PORT_RESULT_ABANDONED);
    } else {
        CHECK(c.action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(c.amount == 4);
    }
}

TEST_CASE_METHOD(reftest::OnePort, "rdhup: RDHUP and IN in one event give exactly the hang-up callback",
                 "[CPL_RDHUP_002]") {
    char buf[4];
    /* The data and the hang-up are both there before the op is added. */
    REQUIRE(cpk::write_all(sp.b, "data", 4));
    REQUIRE(cpk::shutdown_wr(sp.b));
    auto in = rec.ingress(0, EPOLLIN | EPOLLRDHUP, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    port.release(); /* anything still queued would have run before this returns */
    REQUIRE(rec.count() == 1);
    CHECK(first(rec, 0).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_ABANDONED);
}

TEST_CASE_METHOD(reftest::OnePair, "send: the whole buffer is sent across short sends",
                 "[CPL_SEND_001][CPL_SEND_005]") {
    char out[100], got[100];
    cpk::fill_pattern(out, sizeof out);
    reftest::Port port;
    cpk::cap_send(sp.a, 7);
    cpk::record_start();
    auto in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    check_first(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 100);
    REQUIRE(cpk::read_exact(sp.b, got, sizeof got));
    CHECK(cpk::check_pattern(got, sizeof got) == sizeof got);
    std::vector<cpk::CallRecord> calls = cpk::records(cpk::Fn::send, sp.a);
    INFO(cpk::describe_calls(calls));
    CHECK(calls.size() == 15);
    CHECK(cpk::discontinuous_calls(calls, out, sizeof out) == "");
}

TEST_CASE_METHOD(reftest::OnePort, "send: a send that moves nothing waits for writability and then finishes the buffer",
                 "[CPL_SEND_001]") {
    char out[20] = "0123456789abcdefghi";
    char got[20];
    /* 5 bytes, then 0 (a cap of 0 bytes on the second call), then 5 at a time. */
    cpk::Fault nothing = cpk::capped(cpk::Fn::send, sp.a, 0);
    nothing.nth = 2;
    nothing.times = 1;
    cpk::inject(nothing);
    cpk::cap_send(sp.a, 5);
    cpk::record_start();
    auto in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(rec.calls(0) == 1);
    check_first(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 20);
    REQUIRE(cpk::read_exact(sp.b, got, sizeof got));
    CHECK(memcmp(out, got, sizeof out) == 0);
    std::vector<cpk::CallRecord> sends = cpk::records(cpk::Fn::send, sp.a);
    INFO(cpk::describe_calls(sends));
    CHECK(sends.size() == 5); /* 5, 0, 5, 5, 5: no retry loop on 0 */
    /* After the 0 the worker re-armed for EPOLLOUT and went back to epoll_wait. */
    std::vector<cpk::CallRecord> calls = cpk::epoll_ctl_records(sp.a);
    INFO(cpk::describe_calls(calls));
    const size_t n = calls.size();
    REQUIRE(n >= 3); /* add: MOD, ADD; the worker: MOD */
    CHECK(calls[n - 3].op == EPOLL_CTL_MOD);
    CHECK(calls[n - 2].op == EPOLL_CTL_ADD);
    CHECK(calls[n - 1].op == EPOLL_CTL_MOD);
    CHECK(calls[n - 1].events == (EPOLLOUT | EPOLLONESHOT));
}

TEST_CASE_METHOD(reftest::OnePair, "send: a full socket buffer suspends the send until the peer drains it",
                 "[CPL_SEND_006][CPL_SEND_001]") {
    const size_t size = 4u << 20;
    std::vector<unsigned char> out(size), got(size);
    cpk::fill_pattern(out.data(), size);
    reftest::Port port;
    cpk::record_start();
    auto in = rec.ingress(0, EPOLLOUT, sp.a, out.data(), static_cast<uint32_t>(size));
    REQUIRE(completion_port_add(port, &in) == 0);
    /* The peer reads nothing for a while: the op must wait, not spin or end. */
    CHECK_FALSE(rec.wait_op(0, 100));
    CHECK(cpk::records(cpk::Fn::send, sp.a).size() < 64);
    REQUIRE(cpk::read_exact(sp.b, got.data(), size, 20000));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(first(rec, 0).amount == static_cast<int32_t>(size));
    CHECK(got == out);
}

TEST_CASE("send: a closed peer gives ERROR and no SIGPIPE", "[CPL_SEND_003][CPL_SEND_004][sigpipe]") {
    cpk::Guard guard;
    struct sigaction previous;
    struct sigaction default_action = {};
    default_action.sa_handler = SIG_DFL;
    REQUIRE(sigaction(SIGPIPE, &default_action, &previous) == 0);
    REQUIRE(cpk::sigpipe_at_default());
    cpk::Recorder rec;
    cpk::SocketPair sp = cpk::unix_pair();
    REQUIRE(sp.ok());
    char out[16] = {};
    reftest::Port port;
    sp.b.close();
    auto in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_ERROR);
    REQUIRE(sigaction(SIGPIPE, &previous, nullptr) == 0);
}

TEST_CASE_METHOD(reftest::OnePort, "send: ECONNRESET is ABANDONED with the bytes sent and EINTR is retried",
                 "[CPL_SEND_002][CPL_SEND_007][CPL_EVENT_002]") {
    char out[20] = "0123456789abcdefghi";
    char sink[64];

    int eintr = cpk::fail_send(sp.a, EINTR);
    auto in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(first(rec, 0).amount == 20);
    CHECK(cpk::fault_fired(eintr) == 1);
    REQUIRE(cpk::read_exact(sp.b, sink, 20));

    /* The failure first: the first matching fault wins. */
    cpk::fail_send(sp.a, ECONNRESET, 2);
    cpk::cap_send(sp.a, 5);
    auto again = rec.ingress(1, EPOLLOUT, sp.a, out, sizeof out);
    REQUIRE(completion_port_add(port, &again) == 0);
    REQUIRE(rec.wait_op_finished(1, cpk::kWaitMs));
    CHECK(first(rec, 1).result == COMPLETION_PORT_RESULT_ABANDONED);
    CHECK(first(rec, 1).amount == 5);
}

TEST_CASE_METHOD(reftest::OnePort, "events: a hang-up alone completes a watcher that asked for nothing with ERROR",
                 "[CPL_EVENT_001]") {
    auto in = rec.ingress(0, 0, sp.a);
    REQUIRE(completion_port_add(port, &in) == 0);
    sp.b.close(); /* IN|OUT|RDHUP|HUP: only HUP concerns this op */
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    check_first(rec, 0, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ERROR, 0);
}

TEST_CASE_METHOD(reftest::OnePort, "events: a suspended send whose peer closes reports ERROR with the bytes sent",
                 "[CPL_EVENT_002]") {
    std::vector<char> out(4u << 20, 'x');
    auto in = rec.ingress(0, EPOLLOUT, sp.a, out.data(), static_cast<uint32_t>(out.size()));
    REQUIRE(completion_port_add(port, &in) == 0);
    /* Wait until the first bytes reach the peer: the send has started. */
    REQUIRE((cpk::wait_poll(sp.b, POLLIN, cpk::kWaitMs) & POLLIN) != 0);
    CHECK(rec.count() == 0);
    sp.b.close();
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    const cpk::CallbackRecord c = first(rec, 0);
    CHECK(c.action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(c.result == COMPLETION_PORT_RESULT_ERROR);
    CHECK(c.amount > 0);
    CHECK(c.amount < static_cast<int32_t>(out.size()));
}

TEST_CASE_METHOD(reftest::OnePort, "full duplex: a pending recv and a send on one socket both complete",
                 "[CPL_ADD_016]") {
    char in_buf[3], out_buf[3] = {'o', 'u', 't'}, echo[3];
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, in_buf, sizeof in_buf);
    auto send_in = rec.ingress(1, EPOLLOUT, sp.a, out_buf, sizeof out_buf);
    REQUIRE(completion_port_add(port, &recv_in) == 0);
    REQUIRE(completion_port_add(port, &send_in) == 0);
    REQUIRE(rec.wait_op_finished(1, cpk::kWaitMs));
    CHECK(first(rec, 1).amount == 3);
    CHECK(rec.calls(0) == 0);
    REQUIRE(cpk::read_exact(sp.b, echo, 3));
    REQUIRE(cpk::write_all(sp.b, echo, 3));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(memcmp(in_buf, "out", 3) == 0);
}

TEST_CASE("worker: callbacks run on the worker one at a time with their own context",
          "[CPL_WORKER_004][CPL_WORKER_005]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    constexpr size_t kCount = 16;
    reftest::PairsWithOps ops(kCount, 1);
    reftest::Port port;
    ops.add_each(rec, port);
    for (size_t i = 0; i < kCount; ++i) {
        const char byte = static_cast<char>('A' + i);
        REQUIRE(cpk::write_all(ops.pairs[i].b, &byte, 1));
    }
    REQUIRE(rec.wait_finished(kCount, cpk::kWaitMs));
    const std::vector<cpk::CallbackRecord> all = rec.all();
    for (const cpk::CallbackRecord& c : all) {
        CHECK(c.tid == port.info.worker);
        CHECK_FALSE(c.overlapped);
        CHECK(ops.buf(c.op)[0] == static_cast<char>('A' + c.op));
        CHECK(rec.calls(c.op) == 1);
    }
    CHECK(cpk::bad_context_callbacks() == 0);
}

TEST_CASE_METHOD(reftest::OnePair,
                 "worker: every epoll_wait has a 2 s timeout and timeouts or EINTR do not end the worker",
                 "[CPL_WORKER_002][CPL_WORKER_003]") {
    char buf[1];
    /* Armed before create: the worker's first waits return 0 three times,
     * then EINTR; it must go on waiting and serve the op below. */
    cpk::Fault timeouts;
    timeouts.fn = cpk::Fn::epoll_any_wait;
    timeouts.kind = cpk::FaultKind::zero;
    timeouts.times = 3;
    cpk::inject(timeouts);
    cpk::inject(cpk::failing(cpk::Fn::epoll_any_wait, -1, EINTR, 4));
    cpk::record_start();
    reftest::Port port;
    recv_from_peer(port, 0, buf, sizeof buf, "w");
    port.release();
    std::vector<cpk::CallRecord> waits = cpk::records(cpk::Fn::epoll_any_wait);
    INFO(cpk::describe_calls(waits));
    CHECK(waits.size() >= 5);
    for (const cpk::CallRecord& w : waits) CHECK(w.timeout == 2000);
}

TEST_CASE_METHOD(reftest::OnePort, "events: a requested bit that no step handles does not make the worker spin",
                 "[no-spin]") {
    auto in = rec.ingress(0, EPOLLPRI | EPOLLRDHUP, sp.a);
    REQUIRE(completion_port_add(port, &in) == 0);
    /* Out-of-band data raises EPOLLPRI, which completes nothing here. */
    const char urgent = '!';
    if (send(sp.b, &urgent, 1, MSG_OOB) != 1) {
        WARN("unix sockets without MSG_OOB support: nothing to check");
        return;
    }
    const uint64_t before = cpk::calls_entered(cpk::Fn::epoll_any_wait);
    CHECK_FALSE(rec.wait_op(0, 100));
    CHECK(cpk::calls_entered(cpk::Fn::epoll_any_wait) - before < 10);
    sp.b.close();
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
    CHECK(first(rec, 0).result == COMPLETION_PORT_RESULT_ABANDONED);
}
