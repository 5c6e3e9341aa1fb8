/* The `internal` requirements, through the reference's test-only hooks. */
#include "unit.h"

using reftest::first;

TEST_CASE("internal: the worker entry point called with NULL returns at once", "[CPL_WORKER_001]") {
    cpk::Guard guard;
    const int64_t start = cpk::mono_ns();
    CHECK(cpl_test_epoll_worker_func(nullptr) == 0);
    CHECK(cpk::mono_ns() - start < cpk::ms_to_ns(100)); /* no 2 s epoll_wait */
    CHECK(guard.finish() == "");
}

TEST_CASE("internal: each pending op is recorded until it completes", "[CPL_ADD_004]") {
    cpk::Guard guard;
    {
        cpk::Recorder rec;
        reftest::PairsWithOps ops(3, 8);
        reftest::Port port;
        ops.add_each(rec, port);
        CHECK(cpl_test_pending_ops(port) == 3);
        CHECK(cpl_test_tracked_sockets(port) == 3);

        /* Completion drops the record (the seed's "remove from the list"). */
        REQUIRE(cpk::write_all(ops.pairs[0].b, "x", 1));
        REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
        CHECK(cpl_test_pending_ops(port) == 2);
        CHECK(cpl_test_tracked_sockets(port) == 2);

        /* remove finds the op by its socket and drops it. */
        completion_port_remove(port, ops.pairs[1].a);
        CHECK(rec.calls(1) == 1);
        CHECK(cpl_test_pending_ops(port) == 1);
        CHECK(cpl_test_tracked_sockets(port) == 1);

        /* The final dec_ref finds the last one. */
        port.release();
        CHECK(rec.calls(2) == 1);
        CHECK(first(rec, 2).action == COMPLETION_PORT_CLOSING);
    }
    CHECK(guard.finish() == "");
}

TEST_CASE_METHOD(reftest::OnePort, "internal: ops of one socket share one record and leave it when all are done",
                 "[CPL_ADD_004]") {
    char in_buf[4];
    char out_buf[4] = {'a', 'b', 'c', 'd'};

    /* Nothing to read yet: a recv and a watcher wait; then a send completes at once. */
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, in_buf, sizeof in_buf);
    auto watch_in = rec.ingress(2, EPOLLRDHUP, sp.a);
    REQUIRE(completion_port_add(port, &recv_in) == 0);
    REQUIRE(completion_port_add(port, &watch_in) == 0);
    CHECK(cpl_test_pending_ops(port) == 2);
    CHECK(cpl_test_tracked_sockets(port) == 1);

    auto send_in = rec.ingress(1, EPOLLOUT, sp.a, out_buf, sizeof out_buf);
    REQUIRE(completion_port_add(port, &send_in) == 0);
    REQUIRE(rec.wait_op_finished(1, cpk::kWaitMs));
    CHECK(cpl_test_pending_ops(port) == 2);

    /* The peer echoes and hangs up: recv and watcher complete, record empty. */
    char echo[4];
    REQUIRE(cpk::read_exact(sp.b, echo, sizeof echo));
    REQUIRE(cpk::write_all(sp.b, echo, sizeof echo));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    sp.b.close();
    REQUIRE(rec.wait_op_finished(2, cpk::kWaitMs));
    CHECK(cpl_test_pending_ops(port) == 0);
    CHECK(cpl_test_tracked_sockets(port) == 0);
    CHECK(first(rec, 2).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
}

TEST_CASE_METHOD(reftest::OnePort, "internal: a refused add leaves no record", "[CPL_ADD_004][CPL_ADD_015]") {
    char buf[4];

    /* A descriptor that is not open: epoll_ctl fails, nothing is recorded. */
    auto bad = rec.ingress(0, EPOLLIN, cpk::closed_fd_number(), buf, sizeof buf);
    CHECK(completion_port_add(port, &bad) != 0);
    CHECK(cpl_test_pending_ops(port) == 0);
    CHECK(cpl_test_tracked_sockets(port) == 0);

    /* A second recv on a socket with a pending recv is refused; the first stays. */
    auto first_in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &first_in) == 0);
    CHECK(completion_port_add(port, &first_in) != 0);
    CHECK(cpl_test_pending_ops(port) == 1);
    CHECK(cpl_test_tracked_sockets(port) == 1);

    port.release();
    CHECK(rec.count() == 1);
}
