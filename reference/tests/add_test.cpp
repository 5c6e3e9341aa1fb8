// completion_port_add: validation, registration, re-arming, failure paths.
#include "cpk_catch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "fault_injection.h"
#include "test_hooks.h"
#include "test_util.h"

using namespace reftest;

TEST_CASE("add: invalid arguments are refused without a callback",
          "[CPL_ADD_011][CPL_ADD_012][CPL_ADD_013][CPL_ADD_014]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[4];
    PortGuard guard;

    auto invalid_socket = make_ingress(EPOLLIN, INVALID_SOCKET, &ctx, buf, sizeof(buf));
    CHECK(completion_port_add(guard.port, &invalid_socket) != 0);

    auto no_callback = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    no_callback.event_callback = nullptr;
    CHECK(completion_port_add(guard.port, &no_callback) != 0);

    auto null_recv_buffer = make_ingress(EPOLLIN, pair.a, &ctx, nullptr, 4);
    CHECK(completion_port_add(guard.port, &null_recv_buffer) != 0);
    auto null_send_buffer = make_ingress(EPOLLOUT, pair.a, &ctx, nullptr, 4);
    CHECK(completion_port_add(guard.port, &null_send_buffer) != 0);

    auto too_long = make_ingress(EPOLLIN, pair.a, &ctx, buf, static_cast<uint32_t>(INT32_MAX) + 1u);
    CHECK(completion_port_add(guard.port, &too_long) != 0);

    // Accepted on the edge: a NULL buffer of length 0, and a watcher.
    auto empty = make_ingress(EPOLLIN, pair.a, &ctx, nullptr, 0);
    CHECK(completion_port_add(guard.port, &empty) == 0);
    CHECK(cpl_test_pending_ops(guard.port) == 1);
    guard.release();
    CHECK(recorder.count() == 1);  // the closing completion of `empty` only
}

TEST_CASE("add: the first registration of a fresh socket is MOD with epoll_op then ADD",
          "[CPL_ADD_005][CPL_ADD_006][CPL_ADD_007]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[4];
    PortGuard guard;
    fault::reset();
    auto in = make_ingress(EPOLLIN | EPOLLRDHUP, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    fault::CtlCall calls[8];
    const size_t n = fault::ctl_calls(calls, 8);
    REQUIRE(n == 2);
    CHECK(calls[0].op == EPOLL_CTL_MOD);
    CHECK(calls[0].fd == pair.a);
    CHECK(calls[0].events == (EPOLLIN | EPOLLRDHUP | EPOLLONESHOT));
    CHECK(calls[1].op == EPOLL_CTL_ADD);
    CHECK(calls[1].events == calls[0].events);
    write_all(pair.b, "abcd", 4);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.first_for(0).amount == 4);
}

TEST_CASE("add: a socket is re-armed with MOD alone many times", "[CPL_ADD_009]")
{
    Recorder recorder;
    SocketPair pair;
    PortGuard guard;
    std::vector<OpContext> ctx(50);
    char buf[1];
    for (int i = 0; i < 50; ++i)
    {
        ctx[i] = OpContext{&recorder, i};
        fault::reset();
        auto in = make_ingress(EPOLLIN, pair.a, &ctx[i], buf, sizeof(buf));
        REQUIRE(completion_port_add(guard.port, &in) == 0);
        fault::CtlCall calls[4];
        REQUIRE(fault::ctl_calls(calls, 4) == 1u + (i == 0 ? 1u : 0u));
        write_all(pair.b, "k", 1);
        REQUIRE(recorder.wait_for_id(i));
    }
    CHECK(recorder.count() == 50);
}

TEST_CASE("add: epoll_ctl failures other than ENOENT fail the add and leave nothing", "[CPL_ADD_008][CPL_ADD_015]")
{
    ResourceSnapshot before;
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    char buf[4];
    {
        PortGuard guard;
        // A regular file: epoll refuses it with EPERM.
        char path[] = "/tmp/cpl_reference_testXXXXXX";
        const int file = mkstemp(path);
        REQUIRE(file >= 0);
        unlink(path);
        auto on_file = make_ingress(EPOLLIN, file, &ctx, buf, sizeof(buf));
        int result = 0;
        long live = -1;
        {
            // Facts are collected inside the scope, asserted outside it.
            fault::AllocScope scope;
            result = completion_port_add(guard.port, &on_file);
            live = scope.live();
        }
        CHECK(result != 0);
        CHECK(live == 0);
        close(file);

        // An injected failure of the MOD on a socket that already has an op:
        // the existing op keeps its slot and still completes.
        SocketPair pair;
        auto recv_in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
        REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
        OpContext send_ctx{&recorder, 1};
        auto send_in = make_ingress(EPOLLOUT, pair.a, &send_ctx, buf, sizeof(buf));
        fault::reset();
        fault::fail_nth(fault::EPOLL_CTL, 1, ENOMEM, pair.a);
        CHECK(completion_port_add(guard.port, &send_in) != 0);
        fault::reset();
        CHECK(cpl_test_pending_ops(guard.port) == 1);
        write_all(pair.b, "1234", 4);
        REQUIRE(recorder.wait_for_id(0));
        CHECK(recorder.count() == 1);
    }
    CHECK(before.clean());
}

TEST_CASE("add: every allocation failure makes add fail cleanly and the port keeps working", "[CPL_ADD_003][CPL_ADD_015]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[2];
    PortGuard guard;
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    int failed = 0;
    for (int nth = 1; nth < 10; ++nth)
    {
        int result = 0, allocations = 0;
        long live = -1;
        {
            fault::AllocScope scope(nth);
            result = completion_port_add(guard.port, &in);
            allocations = scope.allocations();
            live = scope.live();
        }
        if (nth > allocations)
        {
            REQUIRE(result == 0);  // every allocation of add has been failed once
            break;
        }
        CHECK(result != 0);
        CHECK(live == 0);
        CHECK(cpl_test_pending_ops(guard.port) == 0);
        failed++;
    }
    CHECK(failed >= 2);  // the op and the socket's map node
    write_all(pair.b, "ok", 2);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(recorder.count() == 1);
}

TEST_CASE("add: re-arming from inside the callback works", "[CPL_ADD_017]")
{
    Recorder recorder;
    SocketPair pair;
    PortGuard guard;
    OpContext ctx[5];
    char buf[1];
    for (int i = 0; i < 5; ++i)
    {
        ctx[i] = OpContext{&recorder, i};
    }
    std::atomic<int> add_failures{0};
    recorder.on_completion = [&](const Completion& c) {
        if (c.id + 1 < 5)
        {
            auto next = make_ingress(EPOLLIN, pair.a, &ctx[c.id + 1], buf, sizeof(buf));
            if (completion_port_add(guard.port, &next) != 0)
            {
                add_failures++;
            }
        }
    };
    auto first = make_ingress(EPOLLIN, pair.a, &ctx[0], buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &first) == 0);
    write_all(pair.b, "12345", 5);
    REQUIRE(recorder.wait_for_count(5));
    CHECK(add_failures == 0);
    for (const Completion& c : recorder.snapshot())
    {
        CHECK(c.amount == 1);
        CHECK(c.result == COMPLETION_PORT_RESULT_OK);
    }
}

TEST_CASE("add: a level-triggered re-fire never reaches a completed op", "[CPL_ADD_010]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0}, sentinel_ctx{&recorder, 1};
    SocketPair pair, sentinel;
    char buf[2], sentinel_buf[1];
    PortGuard guard;
    // No EPOLLONESHOT asked; more data than the buffer holds stays readable.
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    write_all(pair.b, "0123456789", 10);
    REQUIRE(recorder.wait_for_id(0));
    write_all(pair.b, "more", 4);
    // The sentinel's completion proves the worker went past any re-fire.
    auto probe = make_ingress(EPOLLIN, sentinel.a, &sentinel_ctx, sentinel_buf, sizeof(sentinel_buf));
    REQUIRE(completion_port_add(guard.port, &probe) == 0);
    write_all(sentinel.b, "s", 1);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(recorder.count_for(0) == 1);
}

TEST_CASE("add: a second op of the same kind on one socket is refused", "[CPL_ADD_016]")
{
    Recorder recorder;
    OpContext a{&recorder, 0}, b{&recorder, 1};
    SocketPair pair;
    char buf[1];
    PortGuard guard;
    auto first = make_ingress(EPOLLIN, pair.a, &a, buf, sizeof(buf));
    auto second = make_ingress(EPOLLIN | EPOLLRDHUP, pair.a, &b, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &first) == 0);
    CHECK(completion_port_add(guard.port, &second) != 0);
    write_all(pair.b, "x", 1);
    REQUIRE(recorder.wait_for_id(0));
    CHECK(completion_port_add(guard.port, &second) == 0);  // slot free again
}

TEST_CASE("add: negative sockets and the port's own descriptors are refused without touching epoll",
          "[CPL_ADD_011][CPL_ADD_015][CPL_DECREF_009]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    char buf[4];
    const std::vector<int> before = open_fds();
    PortGuard guard;
    const int epoll_fd = new_fd_linked_to(before, "anon_inode:[eventpoll]");
    const int wake_fd = new_fd_linked_to(before, "anon_inode:[eventfd]");
    REQUIRE(epoll_fd >= 0);
    REQUIRE(wake_fd >= 0);

    fault::reset();
    for (int socket : {-2, INT32_MIN, wake_fd, epoll_fd})
    {
        auto in = make_ingress(EPOLLIN, socket, &ctx, buf, sizeof(buf));
        CHECK(completion_port_add(guard.port, &in) != 0);
    }
    fault::CtlCall calls[4];
    CHECK(fault::ctl_calls(calls, 4) == 0);  // no registration was made or changed
    CHECK(cpl_test_pending_ops(guard.port) == 0);
    // The wake-up descriptor still works: the final dec_ref is immediate.
    const auto start = Clock::now();
    guard.release();
    CHECK(Clock::now() - start < std::chrono::milliseconds(100));
    CHECK(recorder.count() == 0);
}
