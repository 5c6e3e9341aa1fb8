// The worker's I/O: recv and send loops, hang-ups, other events, threading.
#include "cpk_catch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "fault_injection.h"
#include "test_util.h"

using namespace reftest;

namespace
{

// Resets the interposer before and after each test that arms it.
struct FaultReset
{
    FaultReset()
    {
        fault::reset();
    }
    ~FaultReset()
    {
        fault::reset();
    }
};

}  // namespace

TEST_CASE("recv: the buffer holds exactly the peer's bytes and nothing past the amount",
          "[CPL_RECV_001][CPL_RECV_002][CPL_RECV_006]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    unsigned char buf[64];
    memset(buf, 0xAA, sizeof(buf));
    PortGuard guard;
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "0123456789", 10);
    REQUIRE(recorder.wait_for_id(0));
    const Completion c = recorder.first_for(0);
    CHECK(c.action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(c.result == COMPLETION_PORT_RESULT_OK);
    CHECK(c.amount == 10);
    CHECK(memcmp(buf, "0123456789", 10) == 0);
    for (size_t i = 10; i < sizeof(buf); ++i)
    {
        CHECK(buf[i] == 0xAA);
    }
}

TEST_CASE("recv: short reads are continued until the buffer is full", "[CPL_RECV_005]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[16];
    PortGuard guard;
    write_all(pair.b, "abcdefghijklmnopqrstuvwxyz", 26);
    fault::limit_transfer(fault::RECV, pair.a, 3);
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).amount == 16);
    CHECK(memcmp(buf, "abcdefghijklmnop", 16) == 0);
    CHECK(fault::calls(fault::RECV) == 6);  // 3+3+3+3+3+1
}

TEST_CASE("recv: end of stream completes with OK and the bytes received", "[CPL_RECV_004]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[10];
    PortGuard guard;
    write_all(pair.b, "xyz", 3);
    REQUIRE(shutdown(pair.b, SHUT_WR) == 0);
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(recorder.first_for(0).amount == 3);
}

TEST_CASE("recv: a connection reset completes with ABANDONED", "[CPL_RECV_003]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[10];
    PortGuard guard;
    // A unix peer closing with unread data makes our recv fail with ECONNRESET.
    write_all(pair.a, "unread", 6);
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    pair.close_b();
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_ABANDONED);
    CHECK(recorder.first_for(0).amount == 0);
}

TEST_CASE("recv: EINTR is retried and another errno is an ERROR with the bytes so far",
          "[CPL_RECV_008][CPL_RECV_009][CPL_EVENT_002]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext first{&recorder, 0}, second{&recorder, 1};
    SocketPair pair;
    char buf[8];
    PortGuard guard;

    fault::fail_nth(fault::RECV, 1, EINTR, pair.a);
    auto in = make_ingress(EPOLLIN, pair.a, &first, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "12345678", 8);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(recorder.first_for(0).amount == 8);

    fault::limit_transfer(fault::RECV, pair.a, 2);
    fault::fail_nth(fault::RECV, 2, EIO, pair.a);
    auto again = make_ingress(EPOLLIN, pair.a, &second, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &again) == 0);
    write_all(pair.b, "abcdefgh", 8);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(recorder.first_for(1).result == COMPLETION_PORT_RESULT_ERROR);
    CHECK(recorder.first_for(1).amount == 2);
}

TEST_CASE("recv: a blocking socket never blocks the worker", "[CPL_RECV_010]")
{
    Recorder recorder;
    OpContext slow{&recorder, 0}, other{&recorder, 1};
    SocketPair blocking(false), second;
    char buf[100], other_buf[1];
    PortGuard guard;
    auto in = make_ingress(EPOLLIN, blocking.a, &slow, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(blocking.b, "short", 5);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).amount == 5);
    auto probe = make_ingress(EPOLLIN, second.a, &other, other_buf, sizeof(other_buf));
    REQUIRE(completion_port_add(guard.port, &probe) == 0);
    write_all(second.b, "!", 1);
    CHECK(recorder.wait_for_id(1));
}

TEST_CASE("rdhup: a hang-up with data gives one ABANDONED hang-up callback and nothing more",
          "[CPL_RDHUP_001][CPL_RDHUP_002][CPL_RDHUP_003]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0}, sentinel_ctx{&recorder, 1};
    SocketPair pair, sentinel;
    char buf[4], sentinel_buf[1];
    PortGuard guard;
    auto in = make_ingress(EPOLLIN | EPOLLRDHUP, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "data", 4);
    // Both arrive before the worker can look (the op was not yet armed for
    // this data alone): IN and RDHUP in one event in most runs.
    pair.close_b();
    REQUIRE(recorder.wait_for_id(0));
    auto probe = make_ingress(EPOLLIN, sentinel.a, &sentinel_ctx, sentinel_buf, sizeof(sentinel_buf));
    REQUIRE(completion_port_add(guard.port, &probe) == 0);
    write_all(sentinel.b, "s", 1);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(recorder.count_for(0) == 1);
    const Completion c = recorder.first_for(0);
    // Either the data was read before the hang-up was seen, or the hang-up won.
    if (c.action == COMPLETION_PORT_EPOLL_EPOLLRDHUP)
    {
        CHECK(c.result == COMPLETION_PORT_RESULT_ABANDONED);
    }
    else
    {
        CHECK(c.action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(c.amount == 4);
    }
}

TEST_CASE("rdhup: RDHUP and IN in one event give exactly the hang-up callback", "[CPL_RDHUP_002]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[4];
    PortGuard guard;
    // The data and the hang-up are both there before the op is added.
    write_all(pair.b, "data", 4);
    REQUIRE(shutdown(pair.b, SHUT_WR) == 0);
    auto in = make_ingress(EPOLLIN | EPOLLRDHUP, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    guard.release();  // anything still queued would have run before this returns
    REQUIRE(recorder.count() == 1);
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_ABANDONED);
}

TEST_CASE("send: the whole buffer is sent across short sends", "[CPL_SEND_001][CPL_SEND_005]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char out[100], got[100];
    for (size_t i = 0; i < sizeof(out); ++i)
    {
        out[i] = static_cast<char>(i * 7);
    }
    PortGuard guard;
    fault::limit_transfer(fault::SEND, pair.a, 7);
    auto in = make_ingress(EPOLLOUT, pair.a, &ctx, out, sizeof(out));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(recorder.first_for(0).amount == 100);
    REQUIRE(read_exact(pair.b, got, sizeof(got)) == sizeof(got));
    CHECK(memcmp(out, got, sizeof(out)) == 0);
    CHECK(fault::calls(fault::SEND) == 15);
}

TEST_CASE("send: a send that moves nothing waits for writability and then finishes the buffer", "[CPL_SEND_001]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char out[20] = "0123456789abcdefghi";
    char got[20];
    PortGuard guard;
    fault::limit_transfer(fault::SEND, pair.a, 5);
    fault::zero_nth(fault::SEND, 2, pair.a);  // 5 bytes, then 0
    auto in = make_ingress(EPOLLOUT, pair.a, &ctx, out, sizeof(out));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.count_for(0) == 1);
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(recorder.first_for(0).amount == 20);
    REQUIRE(read_exact(pair.b, got, sizeof(got)) == sizeof(got));
    CHECK(memcmp(out, got, sizeof(out)) == 0);
    CHECK(fault::calls(fault::SEND) == 5);  // 5, 0, 5, 5, 5: no retry loop on 0
    // After the 0 the worker re-armed for EPOLLOUT and went back to epoll_wait.
    fault::CtlCall calls[8];
    const size_t n = fault::ctl_calls(calls, 8);
    REQUIRE(n >= 3);  // add: MOD, ADD; the worker: MOD
    CHECK(calls[n - 3].op == EPOLL_CTL_MOD);
    CHECK(calls[n - 2].op == EPOLL_CTL_ADD);
    CHECK(calls[n - 1].op == EPOLL_CTL_MOD);
    CHECK(calls[n - 1].fd == pair.a);
    CHECK(calls[n - 1].events == (EPOLLOUT | EPOLLONESHOT));
}

TEST_CASE("send: a full socket buffer suspends the send until the peer drains it", "[CPL_SEND_006][CPL_SEND_001]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    const size_t size = 4u << 20;
    std::vector<unsigned char> out(size), got(size);
    for (size_t i = 0; i < size; ++i)
    {
        out[i] = static_cast<unsigned char>((i * 131u) >> 3);
    }
    PortGuard guard;
    auto in = make_ingress(EPOLLOUT, pair.a, &ctx, out.data(), static_cast<uint32_t>(size));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    // The peer reads nothing for a while: the op must wait, not spin or end.
    CHECK_FALSE(recorder.wait_for_id(0, std::chrono::milliseconds(100)));
    const int sends_while_blocked = fault::calls(fault::SEND);
    CHECK(sends_while_blocked < 64);
    REQUIRE(read_exact(pair.b, got.data(), size, std::chrono::milliseconds(20000)) == size);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(recorder.first_for(0).amount == static_cast<int32_t>(size));
    CHECK(got == out);
}

TEST_CASE("send: a closed peer gives ERROR and no SIGPIPE", "[CPL_SEND_003][CPL_SEND_004][sigpipe]")
{
    struct sigaction previous;
    struct sigaction default_action = {};
    default_action.sa_handler = SIG_DFL;
    REQUIRE(sigaction(SIGPIPE, &default_action, &previous) == 0);
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char out[16] = {};
    PortGuard guard;
    pair.close_b();
    auto in = make_ingress(EPOLLOUT, pair.a, &ctx, out, sizeof(out));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_ERROR);
    REQUIRE(sigaction(SIGPIPE, &previous, nullptr) == 0);
}

TEST_CASE("send: ECONNRESET is ABANDONED with the bytes sent and EINTR is retried",
          "[CPL_SEND_002][CPL_SEND_007][CPL_EVENT_002]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext first{&recorder, 0}, second{&recorder, 1};
    SocketPair pair;
    char out[20] = "0123456789abcdefghi";
    char sink[64];
    PortGuard guard;

    fault::fail_nth(fault::SEND, 1, EINTR, pair.a);
    auto in = make_ingress(EPOLLOUT, pair.a, &first, out, sizeof(out));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_OK);
    CHECK(recorder.first_for(0).amount == 20);
    REQUIRE(read_exact(pair.b, sink, 20) == 20);

    fault::limit_transfer(fault::SEND, pair.a, 5);
    fault::fail_nth(fault::SEND, 2, ECONNRESET, pair.a);
    auto again = make_ingress(EPOLLOUT, pair.a, &second, out, sizeof(out));
    REQUIRE(completion_port_add(guard.port, &again) == 0);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(recorder.first_for(1).result == COMPLETION_PORT_RESULT_ABANDONED);
    CHECK(recorder.first_for(1).amount == 5);
}

TEST_CASE("events: a hang-up alone completes a watcher that asked for nothing with ERROR", "[CPL_EVENT_001]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    PortGuard guard;
    auto in = make_ingress(0, pair.a, &ctx);
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    pair.close_b();  // IN|OUT|RDHUP|HUP: only HUP concerns this op
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_ERROR);
    CHECK(recorder.first_for(0).amount == 0);
}

TEST_CASE("events: a suspended send whose peer closes reports ERROR with the bytes sent", "[CPL_EVENT_002]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    std::vector<char> out(4u << 20, 'x');
    PortGuard guard;
    auto in = make_ingress(EPOLLOUT, pair.a, &ctx, out.data(), static_cast<uint32_t>(out.size()));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    // Wait until the first bytes reach the peer: the send has started.
    struct pollfd readable = {pair.b, POLLIN, 0};
    REQUIRE(poll(&readable, 1, 5000) == 1);
    CHECK(recorder.count() == 0);
    pair.close_b();
    REQUIRE(recorder.wait_for_id(0));
    const Completion c = recorder.first_for(0);
    CHECK(c.action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(c.result == COMPLETION_PORT_RESULT_ERROR);
    CHECK(c.amount > 0);
    CHECK(c.amount < static_cast<int32_t>(out.size()));
}

TEST_CASE("full duplex: a pending recv and a send on one socket both complete", "[CPL_ADD_016]")
{
    Recorder recorder;
    OpContext recv_ctx{&recorder, 0}, send_ctx{&recorder, 1};
    SocketPair pair;
    char in_buf[3], out_buf[3] = {'o', 'u', 't'}, echo[3];
    PortGuard guard;
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, in_buf, sizeof(in_buf));
    auto send_in = make_ingress(EPOLLOUT, pair.a, &send_ctx, out_buf, sizeof(out_buf));
    REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
    REQUIRE(completion_port_add(guard.port, &send_in) == 0);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(recorder.first_for(1).amount == 3);
    CHECK(recorder.count_for(0) == 0);
    REQUIRE(read_exact(pair.b, echo, 3) == 3);
    write_all(pair.b, echo, 3);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(memcmp(in_buf, "out", 3) == 0);
}

TEST_CASE("worker: callbacks run on the worker one at a time with their own context",
          "[CPL_WORKER_004][CPL_WORKER_005]")
{
    Recorder recorder;
    constexpr int count = 16;
    SocketPair pairs[count];
    OpContext ctx[count];
    char buf[count][1];
    PortGuard guard;
    for (int i = 0; i < count; ++i)
    {
        ctx[i] = OpContext{&recorder, i};
        auto in = make_ingress(EPOLLIN, pairs[i].a, &ctx[i], buf[i], 1);
        REQUIRE(completion_port_add(guard.port, &in) == 0);
    }
    for (int i = 0; i < count; ++i)
    {
        const char byte = static_cast<char>('A' + i);
        write_all(pairs[i].b, &byte, 1);
    }
    REQUIRE(recorder.wait_for_count(count));
    const auto all = recorder.snapshot();
    for (const Completion& c : all)
    {
        CHECK(c.tid == all[0].tid);
        CHECK(c.tid != current_tid());
        CHECK_FALSE(c.overlapped);
        CHECK(buf[c.id][0] == static_cast<char>('A' + c.id));
        CHECK(recorder.count_for(c.id) == 1);
    }
}

TEST_CASE("worker: every epoll_wait has a 2 s timeout and timeouts or EINTR do not end the worker",
          "[CPL_WORKER_002][CPL_WORKER_003]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[1];
    // Armed before create: the worker's first waits return 0 three times,
    // then EINTR; it must go on waiting and serve the op below.
    fault::fake_timeouts(3);
    fault::fail_nth(fault::EPOLL_WAIT, 4, EINTR);
    PortGuard guard;
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "w", 1);
    REQUIRE(recorder.wait_for_id(0));
    guard.release();
    CHECK(fault::calls(fault::EPOLL_WAIT) >= 5);
    CHECK(fault::min_wait_timeout() == 2000);
    CHECK(fault::max_wait_timeout() == 2000);
}

TEST_CASE("events: a requested bit that no step handles does not make the worker spin", "[no-spin]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    PortGuard guard;
    auto in = make_ingress(EPOLLPRI | EPOLLRDHUP, pair.a, &ctx);
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    // Out-of-band data raises EPOLLPRI, which completes nothing here.
    const char urgent = '!';
    if (send(pair.b, &urgent, 1, MSG_OOB) != 1)
    {
        WARN("unix sockets without MSG_OOB support: nothing to check");
        return;
    }
    const int before = fault::calls(fault::EPOLL_WAIT);
    CHECK_FALSE(recorder.wait_for_id(0, std::chrono::milliseconds(100)));
    CHECK(fault::calls(fault::EPOLL_WAIT) - before < 10);
    pair.close_b();
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
    CHECK(recorder.first_for(0).result == COMPLETION_PORT_RESULT_ABANDONED);
}
