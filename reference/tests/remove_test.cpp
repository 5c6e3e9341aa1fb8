/* completion_port_remove: closing completions, waiting, stale events. */
#include "unit.h"

#include <unistd.h>

#include <atomic>

using reftest::first;

TEST_CASE_METHOD(reftest::OnePort,
                 "remove: pending ops complete once as closing on the caller thread and DEL is called",
                 "[CPL_REMOVE_003][CPL_REMOVE_005]") {
    char buf[4];
    cpk::record_start();
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    auto watch_in = rec.ingress(1, EPOLLRDHUP, sp.a);
    REQUIRE(completion_port_add(port, &recv_in) == 0);
    REQUIRE(completion_port_add(port, &watch_in) == 0);
    completion_port_remove(port, sp.a);
    REQUIRE(rec.count() == 2);
    reftest::check_all_closed_here(rec);
    std::vector<cpk::CallRecord> calls = cpk::records(cpk::Fn::epoll_ctl);
    INFO(cpk::describe_calls(calls));
    REQUIRE(!calls.empty());
    CHECK(calls.back().op == EPOLL_CTL_DEL);
    CHECK(calls.back().target == sp.a);
    CHECK(cpl_test_pending_ops(port) == 0);
}

TEST_CASE_METHOD(reftest::OnePort, "remove: events after remove reach no op", "[CPL_REMOVE_004]") {
    char buf[4];
    auto in = rec.ingress(0, EPOLLIN | EPOLLRDHUP, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    completion_port_remove(port, sp.a);
    REQUIRE(cpk::write_all(sp.b, "late", 4));
    sp.b.close();
    REQUIRE(cpk::sentinel(port, rec, 1));
    CHECK(rec.calls(0) == 1);
    CHECK(first(rec, 0).action == COMPLETION_PORT_CLOSING);
}

TEST_CASE_METHOD(reftest::OnePair, "remove: waits for a running callback of that socket", "[CPL_REMOVE_006]") {
    char buf[1];
    cpk::Latch release;
    static std::atomic<bool> callback_done;
    callback_done = false;
    reftest::Port port;
    rec.op(0).hook = [&release](cpk::Op&, const cpk::CallbackRecord&) {
        (void)release.wait(cpk::kWaitMs);
        callback_done = true;
    };
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(cpk::write_all(sp.b, "r", 1));
    REQUIRE(rec.wait_op(0, cpk::kWaitMs)); /* the callback has started */

    static std::atomic<bool> done_when_remove_returned;
    done_when_remove_returned = false;
    COMPLETION_PORT_HANDLE h = port;
    const int socket = sp.a;
    /* remove must still be waiting after a while (bounded observation window). */
    cpk::HeldCall call = cpk::call_while_held(
        [h, socket] {
            completion_port_remove(h, socket);
            done_when_remove_returned = callback_done.load();
        },
        "completion_port_remove", release, cpk::kWaitMs);
    CHECK_FALSE(call.returned_early);
    CHECK(call.returned_after);
    CHECK(done_when_remove_returned);
}

TEST_CASE_METHOD(reftest::OnePair,
                 "remove: from inside its own callback it does not wait and closes the socket's other ops",
                 "[CPL_REMOVE_005][CPL_REMOVE_006]") {
    char buf[1];
    reftest::Port port;
    rec.op(0).hook = [&](cpk::Op&, const cpk::CallbackRecord&) { completion_port_remove(port, sp.a); };
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    auto watch_in = rec.ingress(1, EPOLLRDHUP, sp.a);
    REQUIRE(completion_port_add(port, &recv_in) == 0);
    REQUIRE(completion_port_add(port, &watch_in) == 0);
    REQUIRE(cpk::write_all(sp.b, "x", 1));
    REQUIRE(rec.wait_finished(2, cpk::kWaitMs));
    const std::vector<cpk::CallbackRecord> all = rec.all();
    CHECK(all[0].op == 0);
    CHECK(all[0].action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(all[1].op == 1);
    CHECK(all[1].action == COMPLETION_PORT_CLOSING);
    CHECK(all[1].tid == all[0].tid);
    CHECK(cpl_test_tracked_sockets(port) == 0);
}

TEST_CASE("remove: a socket that was never added is harmless", "[CPL_REMOVE_007]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    cpk::SocketPair sp = cpk::unix_pair(), never = cpk::unix_pair();
    REQUIRE((sp.ok() && never.ok()));
    char buf[1];
    reftest::Port port;
    completion_port_remove(port, never.a);
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(cpk::write_all(sp.b, "x", 1));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(rec.count() == 1);
}

TEST_CASE("remove: an event fetched before remove and re-add never reaches the new op", "[CPL_REMOVE_004]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    cpk::SocketPair gate = cpk::unix_pair(), one = cpk::unix_pair(), two = cpk::unix_pair();
    REQUIRE((gate.ok() && one.ok() && two.ok()));
    char gate_buf[1], one_buf[1], two_buf[1], fresh_buf[1], probe_buf[1];
    cpk::Latch gate_release, blocked_entered, blocked_release;
    std::atomic<int> blocked_op{-1};
    reftest::Port port;
    rec.op(0).hook = [&](cpk::Op&, const cpk::CallbackRecord&) { (void)gate_release.wait(cpk::kWaitMs); };
    for (size_t op : {1, 2})
        rec.op(op).hook = [&](cpk::Op&, const cpk::CallbackRecord& c) {
            int none = -1;
            if (!blocked_op.compare_exchange_strong(none, c.op)) return;
            blocked_entered.open();
            (void)blocked_release.wait(cpk::kWaitMs);
        };
    auto gate_in = rec.ingress(0, EPOLLIN, gate.a, gate_buf, 1);
    auto one_in = rec.ingress(1, EPOLLIN, one.a, one_buf, 1);
    auto two_in = rec.ingress(2, EPOLLIN, two.a, two_buf, 1);
    REQUIRE(completion_port_add(port, &gate_in) == 0);
    REQUIRE(completion_port_add(port, &one_in) == 0);
    REQUIRE(completion_port_add(port, &two_in) == 0);

    /* Hold the worker in the gate callback while both sockets become ready,
     * so that its next epoll_wait fetches both events in one batch. */
    REQUIRE(cpk::write_all(gate.b, "g", 1));
    REQUIRE(rec.wait_op(0, cpk::kWaitMs));
    REQUIRE(cpk::write_all(one.b, "1", 1));
    REQUIRE(cpk::write_all(two.b, "2", 1));
    gate_release.open();
    REQUIRE(blocked_entered.wait(cpk::kWaitMs));

    /* The worker is inside one callback; the other socket's event is fetched
     * and waiting. Remove that socket, drain it, and add a new recv on it. */
    cpk::SocketPair& stale = blocked_op.load() == 1 ? two : one;
    completion_port_remove(port, stale.a);
    char drained;
    REQUIRE(read(stale.a, &drained, 1) == 1);
    auto fresh_in = rec.ingress(3, EPOLLIN, stale.a, fresh_buf, 1);
    REQUIRE(completion_port_add(port, &fresh_in) == 0);
    blocked_release.open();

    /* The probe completes after the stale event was handled. */
    auto probe_in = rec.ingress(4, EPOLLIN, gate.a, probe_buf, 1);
    REQUIRE(completion_port_add(port, &probe_in) == 0);
    REQUIRE(cpk::write_all(gate.b, "p", 1));
    REQUIRE(rec.wait_op_finished(4, cpk::kWaitMs));
    CHECK(rec.calls(3) == 0); /* no spurious completion of the new op */
    completion_port_remove(port, stale.a);
    CHECK(rec.calls(3) == 1);
    CHECK(first(rec, 3).action == COMPLETION_PORT_CLOSING);
}

TEST_CASE_METHOD(reftest::OnePort, "remove: negative sockets and the port's own descriptors are ignored",
                 "[CPL_REMOVE_002][CPL_REMOVE_007][CPL_DECREF_009]") {
    char buf[1];
    REQUIRE(port.info.epfd >= 0);
    REQUIRE(port.wake_fd >= 0);
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);

    cpk::record_start();
    completion_port_remove(port, -2);
    completion_port_remove(port, port.wake_fd);
    completion_port_remove(port, port.info.epfd);
    CHECK(cpk::records(cpk::Fn::epoll_ctl).empty()); /* no EPOLL_CTL_DEL of anything */
    CHECK(rec.count() == 0);
    CHECK(cpl_test_pending_ops(port) == 1);

    /* The port still serves its socket, and the wake-up still ends it at once. */
    REQUIRE(cpk::write_all(sp.b, "x", 1));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(port.release() < cpk::ms_to_ns(100));
    CHECK(rec.count() == 1);
}
