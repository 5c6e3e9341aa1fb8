// The `internal` requirements, through the reference's test-only hooks.
#include "cpk_catch.h"

#include <sys/epoll.h>
#include <unistd.h>

#include "test_hooks.h"
#include "test_util.h"

using namespace reftest;

TEST_CASE("internal: the worker entry point called with NULL returns at once", "[CPL_WORKER_001]")
{
    ResourceSnapshot before;
    const auto start = Clock::now();
    CHECK(cpl_test_epoll_worker_func(nullptr) == 0);
    CHECK(Clock::now() - start < std::chrono::milliseconds(100));  // no 2 s epoll_wait
    CHECK(before.clean());
}

TEST_CASE("internal: each pending op is recorded until it completes", "[CPL_ADD_004]")
{
    ResourceSnapshot before;
    {
        Recorder recorder;
        OpContext ctx[3] = {{&recorder, 0}, {&recorder, 1}, {&recorder, 2}};
        SocketPair pairs[3];
        char buffers[3][8];
        PortGuard guard;

        for (int i = 0; i < 3; ++i)
        {
            auto in = make_ingress(EPOLLIN, pairs[i].a, &ctx[i], buffers[i], sizeof(buffers[i]));
            REQUIRE(completion_port_add(guard.port, &in) == 0);
        }
        CHECK(cpl_test_pending_ops(guard.port) == 3);
        CHECK(cpl_test_tracked_sockets(guard.port) == 3);

        // Completion drops the record (the seed's "remove from the list").
        write_all(pairs[0].b, "x", 1);
        REQUIRE(recorder.wait_for_id(0));
        CHECK(cpl_test_pending_ops(guard.port) == 2);
        CHECK(cpl_test_tracked_sockets(guard.port) == 2);

        // remove finds the op by its socket and drops it.
        completion_port_remove(guard.port, pairs[1].a);
        CHECK(recorder.count_for(1) == 1);
        CHECK(cpl_test_pending_ops(guard.port) == 1);
        CHECK(cpl_test_tracked_sockets(guard.port) == 1);

        // The final dec_ref finds the last one.
        guard.release();
        CHECK(recorder.count_for(2) == 1);
        CHECK(recorder.first_for(2).action == COMPLETION_PORT_CLOSING);
    }
    CHECK(before.clean());
}

TEST_CASE("internal: ops of one socket share one record and leave it when all are done", "[CPL_ADD_004]")
{
    Recorder recorder;
    OpContext recv_ctx{&recorder, 0}, send_ctx{&recorder, 1}, watch_ctx{&recorder, 2};
    SocketPair pair;
    char in_buf[4];
    char out_buf[4] = {'a', 'b', 'c', 'd'};
    PortGuard guard;

    // Fill nothing yet: a recv and a watcher wait; then a send completes at once.
    auto recv_in = make_ingress(EPOLLIN, pair.a, &recv_ctx, in_buf, sizeof(in_buf));
    auto watch_in = make_ingress(EPOLLRDHUP, pair.a, &watch_ctx);
    REQUIRE(completion_port_add(guard.port, &recv_in) == 0);
    REQUIRE(completion_port_add(guard.port, &watch_in) == 0);
    CHECK(cpl_test_pending_ops(guard.port) == 2);
    CHECK(cpl_test_tracked_sockets(guard.port) == 1);

    auto send_in = make_ingress(EPOLLOUT, pair.a, &send_ctx, out_buf, sizeof(out_buf));
    REQUIRE(completion_port_add(guard.port, &send_in) == 0);
    REQUIRE(recorder.wait_for_id(1));
    CHECK(cpl_test_pending_ops(guard.port) == 2);

    // The peer echoes and hangs up: recv and watcher complete, record empty.
    char echo[4];
    REQUIRE(read_exact(pair.b, echo, sizeof(echo)) == sizeof(echo));
    write_all(pair.b, echo, sizeof(echo));
    REQUIRE(recorder.wait_for_id(0));
    pair.close_b();
    REQUIRE(recorder.wait_for_id(2));
    CHECK(cpl_test_pending_ops(guard.port) == 0);
    CHECK(cpl_test_tracked_sockets(guard.port) == 0);
    CHECK(recorder.first_for(2).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
}

TEST_CASE("internal: a refused add leaves no record", "[CPL_ADD_004][CPL_ADD_015]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[4];
    PortGuard guard;

    // A descriptor that is not open: epoll_ctl fails, nothing is recorded.
    int closed_fd = dup(pair.a);
    REQUIRE(closed_fd >= 0);
    close(closed_fd);
    auto bad = make_ingress(EPOLLIN, closed_fd, &ctx, buf, sizeof(buf));
    CHECK(completion_port_add(guard.port, &bad) != 0);
    CHECK(cpl_test_pending_ops(guard.port) == 0);
    CHECK(cpl_test_tracked_sockets(guard.port) == 0);

    // A second recv on a socket with a pending recv is refused; the first stays.
    auto first = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(guard.port, &first) == 0);
    CHECK(completion_port_add(guard.port, &first) != 0);
    CHECK(cpl_test_pending_ops(guard.port) == 1);
    CHECK(cpl_test_tracked_sockets(guard.port) == 1);

    guard.release();
    CHECK(recorder.count() == 1);
}
