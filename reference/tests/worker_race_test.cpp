// What other threads and callbacks may do while the worker is busy: an add
// during its unlocked I/O, a remove waiting for its callback, a final dec_ref
// in the middle of a batch, and a re-arm that fails.
#include "cpk_catch.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "fault_injection.h"
#include "test_hooks.h"
#include "test_util.h"

using namespace reftest;

namespace
{

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

// Holds the thread that calls it (the worker, from inside recv) until released.
struct Blocker
{
    Latch entered;
    Latch release;
    static void hold(void* arg)
    {
        Blocker* self = static_cast<Blocker*>(arg);
        self->entered.open();
        (void)self->release.wait();
    }
};

// Polls a condition until it holds or the limit passes.
template <typename F>
bool eventually(F condition, std::chrono::milliseconds limit = WAIT_LIMIT)
{
    const auto deadline = Clock::now() + limit;
    while (!condition())
    {
        if (Clock::now() > deadline)
        {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

// A gate op whose callback holds the worker: while it is held, sockets made
// ready are all fetched by the worker's next epoll_wait, in one batch.
struct Gate
{
    SocketPair pair;
    OpContext ctx;
    char buf[1];
    Latch entered;
    Latch release;
    explicit Gate(Recorder* recorder, int id) : ctx{recorder, id}
    {
    }
    int add(COMPLETION_PORT_HANDLE port)
    {
        auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
        return completion_port_add(port, &in);
    }
    // Called from the recorder's on_completion for the gate's id.
    void hold()
    {
        entered.open();
        (void)release.wait();
    }
};

}  // namespace

TEST_CASE("worker: an add during the worker's unlocked recv on that socket arms only the new op",
          "[CPL_ADD_016][CPL_ADD_018]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext recv_ctx{&recorder, 0}, send_ctx{&recorder, 1};
    SocketPair pair;
    char in_buf[4];
    char out_buf[3] = {'o', 'u', 't'};
    PortGuard guard;
    Blocker blocker;
    fault::on_next_call(fault::RECV, pair.a, &Blocker::hold, &blocker);
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, in_buf, sizeof(in_buf));
    REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
    write_all(pair.b, "data", 4);
    const bool in_recv = blocker.entered.wait();

    // The worker is inside recv for pair.a, without the port's lock.
    fault::reset();
    auto send_in = make_ingress(EPOLLOUT, pair.a, &send_ctx, out_buf, sizeof(out_buf));
    const int added = completion_port_add(guard.port, &send_in);
    fault::CtlCall calls[4];
    const size_t n = fault::ctl_calls(calls, 4);
    blocker.release.open();

    REQUIRE(in_recv);
    REQUIRE(added == 0);
    // The recv in flight needs no event: the registration asks for the send's only.
    REQUIRE(n == 1);
    CHECK(calls[0].op == EPOLL_CTL_MOD);
    CHECK(calls[0].fd == pair.a);
    CHECK(calls[0].events == (EPOLLOUT | EPOLLONESHOT));

    // Both complete, once each, with their own results.
    REQUIRE(recorder.wait_for_count(2));
    CHECK(recorder.count_for(0) == 1);
    CHECK(recorder.count_for(1) == 1);
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(recorder.first_for(0).amount == 4);
    CHECK(memcmp(in_buf, "data", 4) == 0);
    CHECK(recorder.first_for(1).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(recorder.first_for(1).amount == 3);
    char echo[3];
    REQUIRE(read_exact(pair.b, echo, sizeof(echo)) == sizeof(echo));
    CHECK(memcmp(echo, "out", 3) == 0);
    CHECK(cpl_test_pending_ops(guard.port) == 0);
}

TEST_CASE("worker: a remove waiting for a callback keeps the worker from the socket's next op",
          "[CPL_REMOVE_005][CPL_REMOVE_006]")
{
    Recorder recorder;
    Gate gate(&recorder, 9);
    OpContext recv_ctx{&recorder, 0}, send_ctx{&recorder, 1};
    SocketPair pair;
    char in_buf[1];
    char out_buf[3] = {'o', 'u', 't'};
    PortGuard guard;
    Latch in_recv_callback;
    std::atomic<int> removing_before{-1};
    std::atomic<bool> saw_removing{false};
    recorder.on_completion = [&](const Completion& c) {
        if (c.id == 9)
        {
            gate.hold();
        }
        else if (c.id == 0)
        {
            removing_before = cpl_test_socket_removing(guard.port, pair.a);
            in_recv_callback.open();
            // Return only once the remove below is waiting for us.
            saw_removing = eventually([&] { return cpl_test_socket_removing(guard.port, pair.a) != 0; });
        }
    };
    REQUIRE(gate.add(guard.port) == 0);
    write_all(gate.pair.b, "g", 1);
    REQUIRE(gate.entered.wait());

    // While the worker is held: pair.a is readable and writable, with a recv
    // and a send pending, so one event carries both.
    write_all(pair.b, "x", 1);
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, in_buf, sizeof(in_buf));
    auto send_in = make_ingress(EPOLLOUT, pair.a, &send_ctx, out_buf, sizeof(out_buf));
    const int recv_added = completion_port_add(guard.port, &recv_in);
    const int send_added = completion_port_add(guard.port, &send_in);
    gate.release.open();
    REQUIRE(recv_added == 0);
    REQUIRE(send_added == 0);

    // The recv op is handled first (its slot comes first); during its
    // callback, remove the socket from this thread.
    REQUIRE(in_recv_callback.wait());
    completion_port_remove(guard.port, pair.a);

    CHECK(removing_before == 0);
    CHECK(saw_removing);
    CHECK(recorder.count_for(0) == 1);
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    // The send's event had been fetched, yet it completes once, as closing,
    // on this thread: the worker did not start it.
    REQUIRE(recorder.count_for(1) == 1);
    const Completion closing = recorder.first_for(1);
    CHECK(closing.action == COMPLETION_PORT_CLOSING);
    CHECK(closing.result == COMPLETION_PORT_RESULT_ABANDONED);
    CHECK(closing.amount == 0);
    CHECK(closing.tid == current_tid());
    char unexpected;
    CHECK(recv(pair.b, &unexpected, 1, MSG_DONTWAIT) == -1);  // nothing was sent
    CHECK(cpl_test_socket_removing(guard.port, pair.a) == 0);  // no record left
    CHECK(cpl_test_pending_ops(guard.port) == 0);
}

TEST_CASE("worker: a final dec_ref in the first callback of a batch ends the batch",
          "[CPL_DECREF_006][CPL_DECREF_008][CPL_DECREF_010]")
{
    ResourceSnapshot before;
    Recorder recorder;
    {
        Gate gate(&recorder, 9);
        SocketPair pairs[2];
        OpContext ctx[2] = {{&recorder, 0}, {&recorder, 1}};
        char buf[2][1];
        COMPLETION_PORT_HANDLE port = completion_port_create();
        REQUIRE(port != nullptr);
        std::atomic<int> releaser{-1};
        recorder.on_completion = [&](const Completion& c) {
            if (c.id == 9)
            {
                gate.hold();
            }
            else if (c.action == COMPLETION_PORT_EPOLL_EPOLLIN)
            {
                releaser = c.id;
                completion_port_dec_ref(port);
            }
        };
        REQUIRE(gate.add(port) == 0);
        for (int i = 0; i < 2; ++i)
        {
            auto in = make_ingress(EPOLLIN, pairs[i].a, &ctx[i], buf[i], 1);
            REQUIRE(completion_port_add(port, &in) == 0);
        }
        write_all(gate.pair.b, "g", 1);
        const bool held = gate.entered.wait();
        // Both sockets become ready while the worker is held: one batch.
        write_all(pairs[0].b, "0", 1);
        write_all(pairs[1].b, "1", 1);
        gate.release.open();
        REQUIRE(held);

        REQUIRE(recorder.wait_for_count(3));
        REQUIRE(releaser >= 0);
        const int other = 1 - releaser;
        // The other op's event was fetched with the first, but it completes
        // once, as closing, inside the dec_ref, on the worker.
        CHECK(recorder.count_for(releaser) == 1);
        REQUIRE(recorder.count_for(other) == 1);
        const Completion closing = recorder.first_for(other);
        CHECK(closing.action == COMPLETION_PORT_CLOSING);
        CHECK(closing.result == COMPLETION_PORT_RESULT_ABANDONED);
        CHECK(closing.tid == recorder.first_for(releaser).tid);
        // Its byte is still unread once the worker has gone: it never
        // started that recv.
        CHECK(wait_thread_count(before.threads));
        char left;
        CHECK(recv(pairs[other].a, &left, 1, MSG_DONTWAIT) == 1);
        CHECK(left == static_cast<char>('0' + other));
    }
    CHECK(recorder.count() == 3);
    CHECK(before.clean());
}

TEST_CASE("worker: a failed re-arm is not turned into a new registration; remove still closes the op",
          "[CPL_ADD_004][CPL_REMOVE_005]")
{
    FaultReset faults;
    Recorder recorder;
    OpContext recv_ctx{&recorder, 0}, watch_ctx{&recorder, 1}, probe_ctx{&recorder, 2};
    SocketPair pair, sentinel;
    char buf[1], probe_buf[1];
    PortGuard guard;
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, buf, sizeof(buf));
    auto watch_in = make_ingress(EPOLLRDHUP, pair.a, &watch_ctx);
    REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
    REQUIRE(completion_port_add(guard.port, &watch_in) == 0);

    // The next epoll_ctl on pair.a is the worker's re-arm for the watcher
    // after the recv completes: it fails as if the socket had left epoll.
    fault::reset();
    fault::fail_nth(fault::EPOLL_CTL, 1, ENOENT, pair.a);
    write_all(pair.b, "x", 1);
    REQUIRE(recorder.wait_for_id(0));
    // The probe completes after the worker is done with that event.
    auto probe = make_ingress(EPOLLIN, sentinel.a, &probe_ctx, probe_buf, sizeof(probe_buf));
    REQUIRE(completion_port_add(guard.port, &probe) == 0);
    write_all(sentinel.b, "s", 1);
    REQUIRE(recorder.wait_for_id(2));

    fault::CtlCall calls[16];
    const size_t n = fault::ctl_calls(calls, 16);
    int mods = 0, adds = 0;
    for (size_t i = 0; i < n; ++i)
    {
        if (calls[i].fd == pair.a)
        {
            mods += calls[i].op == EPOLL_CTL_MOD ? 1 : 0;
            adds += calls[i].op == EPOLL_CTL_ADD ? 1 : 0;
            CHECK(calls[i].events == (EPOLLRDHUP | EPOLLONESHOT));
        }
    }
    CHECK(mods == 1);
    CHECK(adds == 0);  // only add may register a socket
    // The watcher is still recorded, and remove finds and closes it.
    CHECK(recorder.count_for(1) == 0);
    CHECK(cpl_test_pending_ops(guard.port) == 1);
    completion_port_remove(guard.port, pair.a);
    REQUIRE(recorder.count_for(1) == 1);
    CHECK(recorder.first_for(1).action == COMPLETION_PORT_CLOSING);
    CHECK(recorder.first_for(1).tid == current_tid());
    CHECK(cpl_test_pending_ops(guard.port) == 0);
}
