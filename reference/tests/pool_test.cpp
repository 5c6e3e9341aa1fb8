/* The reference's reuse of op memory and socket records: steady re-arming
 * allocates nothing, and what is reused still behaves like new. */
#include "unit.h"

#include <unistd.h>

#include <string>
#include <vector>

using reftest::first;

TEST_CASE_METHOD(reftest::OnePort, "pool: re-arming a socket or adding a new one after the first op allocates nothing",
                 "[CPL_ADD_003][CPL_ADD_009]") {
    if (!reftest::heap_visible()) {
        WARN("the allocator is not the harness's (valgrind?): no allocation to count");
        return;
    }
    char buf[1];
    for (size_t i = 0; i < 20; ++i) {
        auto in = rec.ingress(i, EPOLLIN, sp.a, buf, sizeof buf);
        int result = -1;
        reftest::HeapRun heap = reftest::heap_run(0, [&] { result = completion_port_add(port, &in); });
        REQUIRE(result == 0);
        /* The first add makes the op and the socket's record; later ones reuse both. */
        if (i > 0) CHECK(heap.allocations == 0u);
        REQUIRE(cpk::write_all(sp.b, "r", 1));
        REQUIRE(rec.wait_op_finished(i, cpk::kWaitMs));
        CHECK(first(rec, i).result == COMPLETION_PORT_RESULT_OK);
        CHECK(first(rec, i).amount == 1);
    }
    CHECK(cpl_test_tracked_sockets(port) == 0);

    /* Another socket takes the record the first one left. */
    cpk::SocketPair other = cpk::unix_pair();
    REQUIRE(other.ok());
    auto in = rec.ingress(20, EPOLLIN, other.a, buf, sizeof buf);
    int result = -1;
    reftest::HeapRun heap = reftest::heap_run(0, [&] { result = completion_port_add(port, &in); });
    REQUIRE(result == 0);
    CHECK(heap.allocations == 0u);
    CHECK(cpl_test_tracked_sockets(port) == 1);
    REQUIRE(cpk::write_all(other.b, "s", 1));
    REQUIRE(rec.wait_op_finished(20, cpk::kWaitMs));
    CHECK(first(rec, 20).amount == 1);
}

TEST_CASE_METHOD(reftest::OnePort, "pool: a reused op starts afresh", "[CPL_SEND_006][CPL_RECV_002]") {
    /* A send that moved bytes, then a recv from the same memory: the recv's
     * progress starts at 0 and its amount is its own. */
    char out[3] = {'a', 'b', 'c'};
    auto send_in = rec.ingress(0, EPOLLOUT, sp.a, out, sizeof out);
    REQUIRE(completion_port_add(port, &send_in) == 0);
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).amount == 3);

    char in[8];
    recv_from_peer(port, 1, in, sizeof in, "xy");
    CHECK(first(rec, 1).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(first(rec, 1).amount == 2);
}

TEST_CASE_METHOD(reftest::OnePort, "pool: a failed add with a reused op leaves the port working",
                 "[CPL_ADD_008][CPL_ADD_015]") {
    char buf[2];
    recv_from_peer(port, 0, buf, sizeof buf, "a");

    auto in1 = rec.ingress(1, EPOLLIN, sp.a, buf, sizeof buf);
    int fault = cpk::inject(cpk::failing(cpk::Fn::epoll_ctl, sp.a, ENOMEM));
    int result = 0;
    reftest::HeapRun heap = reftest::heap_run(0, [&] { result = completion_port_add(port, &in1); });
    cpk::remove_fault(fault);
    CHECK(result != 0);
    CHECK(heap.live == 0);
    CHECK(cpl_test_pending_ops(port) == 0);

    recv_from_peer(port, 2, buf, sizeof buf, "b");
    CHECK(rec.calls(1) == 0);
    CHECK(first(rec, 2).amount == 1);
}

TEST_CASE_METHOD(reftest::OnePort, "pool: a descriptor closed without remove and reused for a new socket can be added",
                 "[CPL_ADD_006][CPL_ADD_009]") {
    char buf[4];
    recv_from_peer(port, 0, buf, sizeof buf, "a");

    /* The old socket closes without a remove (epoll drops it) and a new one
     * takes its number: the port's EPOLL_CTL_MOD fails with ENOENT. */
    const int number = sp.a;
    cpk::SocketPair other = cpk::unix_pair();
    REQUIRE(other.ok());
    REQUIRE(dup2(other.a, number) == number); /* closes the old socket */

    cpk::record_start();
    auto in1 = rec.ingress(1, EPOLLIN, number, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in1) == 0);
    std::vector<cpk::CallRecord> calls = cpk::records(cpk::Fn::epoll_ctl);
    INFO(cpk::describe_calls(calls));
    REQUIRE(calls.size() == 2);
    CHECK(calls[0].op == EPOLL_CTL_MOD);
    CHECK(calls[1].op == EPOLL_CTL_ADD);
    REQUIRE(cpk::write_all(other.b, "new", 3));
    REQUIRE(rec.wait_op_finished(1, cpk::kWaitMs));
    CHECK(first(rec, 1).amount == 3);
    CHECK(std::string(buf, 3) == "new");
}

TEST_CASE("pool: more sockets going idle at once than records kept are all freed", "[CPL_ADD_004][CPL_DECREF_005]") {
    cpk::Guard guard;
    {
        constexpr size_t kSockets = 80; /* more than the port keeps for reuse */
        cpk::Recorder rec;
        reftest::PairsWithOps ops(kSockets, 1);
        reftest::Port port;
        ops.add_each(rec, port);
        for (size_t i = 0; i < kSockets; ++i) REQUIRE(cpk::write_all(ops.pairs[i].b, "z", 1));
        for (size_t i = 0; i < kSockets; ++i) REQUIRE(rec.wait_op_finished(i, cpk::kWaitMs));
        CHECK(cpl_test_tracked_sockets(port) == 0);

        /* Every socket is added again, from kept records and new ones alike. */
        for (size_t i = 0; i < kSockets; ++i) {
            auto in = rec.ingress(kSockets + i, EPOLLIN, ops.pairs[i].a, ops.buf(i), 1);
            REQUIRE(completion_port_add(port, &in) == 0);
            REQUIRE(cpk::write_all(ops.pairs[i].b, "y", 1));
        }
        for (size_t i = 0; i < kSockets; ++i) REQUIRE(rec.wait_op_finished(kSockets + i, cpk::kWaitMs));
        CHECK(rec.count() == 2 * kSockets);
    }
    CHECK(guard.finish() == "");
}
