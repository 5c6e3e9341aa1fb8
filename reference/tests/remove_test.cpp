// completion_port_remove: closing completions, waiting, stale events.
#include "cpk_catch.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fault_injection.h"
#include "test_hooks.h"
#include "test_util.h"

using namespace reftest;

TEST_CASE("remove: pending ops complete once as closing on the caller thread and DEL is called",
          "[CPL_REMOVE_003][CPL_REMOVE_005]")
{
    fault::reset();
    Recorder recorder;
    OpContext recv_ctx{&recorder, 0}, watch_ctx{&recorder, 1};
    SocketPair pair;
    char buf[4];
    PortGuard guard;
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, buf, sizeof(buf));
    auto watch_in = make_ingress(EPOLLRDHUP, pair.a, &watch_ctx);
    REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
    REQUIRE(completion_port_add(guard.port, &watch_in) == 0);
    completion_port_remove(guard.port, pair.a);
    REQUIRE(recorder.count() == 2);
    for (const Completion& c : recorder.snapshot())
    {
        CHECK(c.action == COMPLETION_PORT_CLOSING);
        CHECK(c.result == COMPLETION_PORT_RESULT_ABANDONED);
        CHECK(c.amount == 0);
        CHECK(c.tid == current_tid());
    }
    fault::CtlCall calls[8];
    const size_t n = fault::ctl_calls(calls, 8);
    REQUIRE(n >= 1);
    CHECK(calls[n - 1].op == EPOLL_CTL_DEL);
    CHECK(calls[n - 1].fd == pair.a);
    CHECK(cpl_test_pending_ops(guard.port) == 0);
}

TEST_CASE("remove: events after remove reach no op", "[CPL_REMOVE_004]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0}, sentinel_ctx{&recorder, 1};
    SocketPair pair, sentinel;
    char buf[4], sentinel_buf[1];
    PortGuard guard;
    auto in = make_ingress(EPOLLIN | EPOLLRDHUP, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    completion_port_remove(guard.port, pair.a);
    write_all(pair.b, "late", 4);
    pair.close_b();
    auto probe = make_ingress(EPOLLIN, sentinel.a, &sentinel_ctx, sentinel_buf, sizeof(sentinel_buf));
    REQUIRE(completion_port_add(guard.port, &probe) == 0);
    write_all(sentinel.b, "s", 1);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(recorder.count_for(0) == 1);
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_CLOSING);
}

TEST_CASE("remove: waits for a running callback of that socket", "[CPL_REMOVE_006]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[1];
    PortGuard guard;
    Latch started, release;
    std::atomic<bool> callback_done{false};
    recorder.on_completion = [&](const Completion&) {
        started.open();
        (void)release.wait();
        callback_done = true;
    };
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "r", 1);
    REQUIRE(started.wait());

    std::atomic<bool> remove_returned{false};
    bool done_when_remove_returned = false;
    Latch removed;
    std::thread remover([&] {
        completion_port_remove(guard.port, pair.a);
        done_when_remove_returned = callback_done.load();
        remove_returned = true;
        removed.open();
    });
    // remove must still be waiting after a while (bounded observation window).
    CHECK_FALSE(removed.wait(std::chrono::milliseconds(100)));
    release.open();
    CHECK(removed.wait());
    remover.join();
    CHECK(remove_returned.load());
    CHECK(done_when_remove_returned);
}

TEST_CASE("remove: from inside its own callback it does not wait and closes the socket's other ops",
          "[CPL_REMOVE_005][CPL_REMOVE_006]")
{
    Recorder recorder;
    OpContext recv_ctx{&recorder, 0}, watch_ctx{&recorder, 1};
    SocketPair pair;
    char buf[1];
    PortGuard guard;
    recorder.on_completion = [&](const Completion& c) {
        if (c.id == 0)
        {
            completion_port_remove(guard.port, pair.a);
        }
    };
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, buf, sizeof(buf));
    auto watch_in = make_ingress(EPOLLRDHUP, pair.a, &watch_ctx);
    REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
    REQUIRE(completion_port_add(guard.port, &watch_in) == 0);
    write_all(pair.b, "x", 1);
    REQUIRE(recorder.wait_for_count(2));
    const auto all = recorder.snapshot();
    CHECK(all[0].id == 0);
    CHECK(all[0].action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(all[1].id == 1);
    CHECK(all[1].action == COMPLETION_PORT_CLOSING);
    CHECK(all[1].tid == all[0].tid);
    CHECK(cpl_test_tracked_sockets(guard.port) == 0);
}

TEST_CASE("remove: a socket that was never added is harmless", "[CPL_REMOVE_007]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair, never;
    char buf[1];
    PortGuard guard;
    completion_port_remove(guard.port, never.a);
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "x", 1);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.count() == 1);
}

TEST_CASE("remove: an event fetched before remove and re-add never reaches the new op", "[CPL_REMOVE_004]")
{
    Recorder recorder;
    SocketPair gate, first, second;
    OpContext gate_ctx{&recorder, 0}, first_ctx{&recorder, 1}, second_ctx{&recorder, 2};
    OpContext fresh_ctx{&recorder, 3}, probe_ctx{&recorder, 4};
    char gate_buf[1], first_buf[1], second_buf[1], fresh_buf[1], probe_buf[1];
    PortGuard guard;
    Latch gate_entered, gate_release, blocked_entered, blocked_release;
    std::atomic<int> blocked_id{-1};
    recorder.on_completion = [&](const Completion& c) {
        if (c.id == 0)
        {
            gate_entered.open();
            (void)gate_release.wait();
        }
        else if ((c.id == 1 || c.id == 2) && blocked_id.load() < 0)
        {
            blocked_id = c.id;
            blocked_entered.open();
            (void)blocked_release.wait();
        }
    };
    auto gate_in = make_ingress(EPOLLIN, gate.a, &gate_ctx, gate_buf, 1);
    auto first_in = make_ingress(EPOLLIN, first.a, &first_ctx, first_buf, 1);
    auto second_in = make_ingress(EPOLLIN, second.a, &second_ctx, second_buf, 1);
    REQUIRE(completion_port_add(guard.port, &gate_in) == 0);
    REQUIRE(completion_port_add(guard.port, &first_in) == 0);
    REQUIRE(completion_port_add(guard.port, &second_in) == 0);

    // Hold the worker in the gate callback while both sockets become ready,
    // so that its next epoll_wait fetches both events in one batch.
    write_all(gate.b, "g", 1);
    REQUIRE(gate_entered.wait());
    write_all(first.b, "1", 1);
    write_all(second.b, "2", 1);
    gate_release.open();
    REQUIRE(blocked_entered.wait());

    // The worker is inside one callback; the other socket's event is fetched
    // and waiting. Remove that socket, drain it, and add a new recv on it.
    SocketPair& stale = blocked_id.load() == 1 ? second : first;
    completion_port_remove(guard.port, stale.a);
    char drained;
    REQUIRE(read(stale.a, &drained, 1) == 1);
    auto fresh_in = make_ingress(EPOLLIN, stale.a, &fresh_ctx, fresh_buf, 1);
    REQUIRE(completion_port_add(guard.port, &fresh_in) == 0);
    blocked_release.open();

    // The probe completes after the stale event was handled.
    auto probe_in = make_ingress(EPOLLIN, gate.a, &probe_ctx, probe_buf, 1);
    REQUIRE(completion_port_add(guard.port, &probe_in) == 0);
    write_all(gate.b, "p", 1);
    REQUIRE(recorder.wait_for_id(4));
    CHECK(recorder.count_for(3) == 0);  // no spurious completion of the new op
    completion_port_remove(guard.port, stale.a);
    CHECK(recorder.count_for(3) == 1);
    CHECK(recorder.first_for(3).action == COMPLETION_PORT_CLOSING);
}

TEST_CASE("remove: negative sockets and the port's own descriptors are ignored",
          "[CPL_REMOVE_002][CPL_REMOVE_007][CPL_DECREF_009]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[1];
    const std::vector<int> before = open_fds();
    PortGuard guard;
    const int epoll_fd = new_fd_linked_to(before, "anon_inode:[eventpoll]");
    const int wake_fd = new_fd_linked_to(before, "anon_inode:[eventfd]");
    REQUIRE(epoll_fd >= 0);
    REQUIRE(wake_fd >= 0);
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);

    fault::reset();
    completion_port_remove(guard.port, -2);
    completion_port_remove(guard.port, wake_fd);
    completion_port_remove(guard.port, epoll_fd);
    fault::CtlCall calls[4];
    CHECK(fault::ctl_calls(calls, 4) == 0);  // no EPOLL_CTL_DEL of anything
    CHECK(recorder.count() == 0);
    CHECK(cpl_test_pending_ops(guard.port) == 1);

    // The port still serves its socket, and the wake-up still ends it at once.
    write_all(pair.b, "x", 1);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    const auto start = Clock::now();
    guard.release();
    CHECK(Clock::now() - start < std::chrono::milliseconds(100));
    CHECK(recorder.count() == 1);
}
