/* What other threads and callbacks may do while the worker is busy: an add
 * during its unlocked I/O, a remove waiting for its callback, a final dec_ref
 * in the middle of a batch, and a re-arm that fails. */
#include "unit.h"

#include <atomic>
#include <cerrno>
#include <cstring>

using reftest::first;

namespace {

/* Holds the thread that calls it (the worker, from inside recv) until released. */
struct Blocker {
    cpk::Latch entered;
    cpk::Latch release;
    static void hold(void* arg) {
        Blocker* self = static_cast<Blocker*>(arg);
        self->entered.open();
        (void)self->release.wait(cpk::kWaitMs);
    }
};

/* Gives op `op` a callback that holds the worker until `release` opens: while
 * it is held, sockets made ready are all fetched by the worker's next
 * epoll_wait, in one batch. */
void hold_op(cpk::Recorder& rec, size_t op, cpk::Latch& release) {
    rec.op(op).hook = [&release](cpk::Op&, const cpk::CallbackRecord&) { (void)release.wait(cpk::kWaitMs); };
}

} // namespace

TEST_CASE_METHOD(reftest::OnePair,
                 "worker: an add during the worker's unlocked recv on that socket arms only the new op",
                 "[CPL_ADD_016][CPL_ADD_018]") {
    char in_buf[4];
    char out_buf[3] = {'o', 'u', 't'};
    Blocker blocker;
    reftest::Port port;
    cpk::inject(cpk::hooked(cpk::Fn::recv, sp.a, &Blocker::hold, &blocker));
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, in_buf, sizeof in_buf);
    REQUIRE(completion_port_add(port, &recv_in) == 0);
    REQUIRE(cpk::write_all(sp.b, "data", 4));
    const bool in_recv = blocker.entered.wait(cpk::kWaitMs);

    /* The worker is inside recv for sp.a, without the port's lock. */
    cpk::record_start();
    auto send_in = rec.ingress(1, EPOLLOUT, sp.a, out_buf, sizeof out_buf);
    const int added = completion_port_add(port, &send_in);
    std::vector<cpk::CallRecord> calls = cpk::records(cpk::Fn::epoll_ctl);
    blocker.release.open();

    REQUIRE(in_recv);
    REQUIRE(added == 0);
    /* The recv in flight needs no event: the registration asks for the send's only. */
    INFO(cpk::describe_calls(calls));
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].op == EPOLL_CTL_MOD);
    CHECK(calls[0].target == sp.a);
    CHECK(calls[0].events == (EPOLLOUT | EPOLLONESHOT));

    /* Both complete, once each, with their own results. */
    REQUIRE(rec.wait_finished(2, cpk::kWaitMs));
    CHECK(rec.calls(0) == 1);
    CHECK(rec.calls(1) == 1);
    CHECK(first(rec, 0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(first(rec, 0).amount == 4);
    CHECK(memcmp(in_buf, "data", 4) == 0);
    CHECK(first(rec, 1).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
    CHECK(first(rec, 1).amount == 3);
    char echo[3];
    REQUIRE(cpk::read_exact(sp.b, echo, sizeof echo));
    CHECK(memcmp(echo, "out", 3) == 0);
    CHECK(cpl_test_pending_ops(port) == 0);
}

TEST_CASE("worker: a remove waiting for a callback keeps the worker from the socket's next op",
          "[CPL_REMOVE_005][CPL_REMOVE_006]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    cpk::SocketPair gate = cpk::unix_pair(), sp = cpk::unix_pair();
    REQUIRE((gate.ok() && sp.ok()));
    char gate_buf[1], in_buf[1];
    char out_buf[3] = {'o', 'u', 't'};
    cpk::Latch gate_release, in_recv_callback;
    std::atomic<int> removing_before{-1};
    std::atomic<bool> saw_removing{false};
    reftest::Port port;
    hold_op(rec, 9, gate_release);
    rec.op(0).hook = [&](cpk::Op&, const cpk::CallbackRecord&) {
        removing_before = cpl_test_socket_removing(port, sp.a);
        in_recv_callback.open();
        /* Return only once the remove below is waiting for us. */
        saw_removing = cpk::eventually([&] { return cpl_test_socket_removing(port, sp.a) != 0; }, cpk::kWaitMs);
    };
    auto gate_in = rec.ingress(9, EPOLLIN, gate.a, gate_buf, sizeof gate_buf);
    REQUIRE(completion_port_add(port, &gate_in) == 0);
    REQUIRE(cpk::write_all(gate.b, "g", 1));
    REQUIRE(rec.wait_op(9, cpk::kWaitMs));

    /* While the worker is held: sp.a is readable and writable, with a recv
     * and a send pending, so one event carries both. */
    REQUIRE(cpk::write_all(sp.b, "x", 1));
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, in_buf, sizeof in_buf);
    auto send_in = rec.ingress(1, EPOLLOUT, sp.a, out_buf, sizeof out_buf);
    const int recv_added = completion_port_add(port, &recv_in);
    const int send_added = completion_port_add(port, &send_in);
    gate_release.open();
    REQUIRE(recv_added == 0);
    REQUIRE(send_added == 0);

    /* The recv op is handled first (its slot comes first); during its
     * callback, remove the socket from this thread. */
    REQUIRE(in_recv_callback.wait(cpk::kWaitMs));
    completion_port_remove(port, sp.a);

    CHECK(removing_before == 0);
    CHECK(saw_removing);
    CHECK(rec.calls(0) == 1);
    CHECK(first(rec, 0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    /* The send's event had been fetched, yet it completes once, as closing,
     * on this thread: the worker did not start it. */
    REQUIRE(rec.calls(1) == 1);
    const cpk::CallbackRecord closing = first(rec, 1);
    CHECK(closing.action == COMPLETION_PORT_CLOSING);
    CHECK(closing.result == COMPLETION_PORT_RESULT_ABANDONED);
    CHECK(closing.amount == 0);
    CHECK(closing.tid == cpk::current_tid());
    CHECK(cpk::readable_bytes(sp.b) == 0);            /* nothing was sent */
    CHECK(cpl_test_socket_removing(port, sp.a) == 0); /* no record left */
    CHECK(cpl_test_pending_ops(port) == 0);
}

TEST_CASE("worker: a final dec_ref in the first callback of a batch ends the batch",
          "[CPL_DECREF_006][CPL_DECREF_008][CPL_DECREF_010]") {
    cpk::Guard guard;
    /* Never freed: the worker that ends itself touches it last, unjoined. */
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::SocketPair gate = cpk::unix_pair();
        cpk::SocketPair pairs[2] = {cpk::unix_pair(), cpk::unix_pair()};
        REQUIRE((gate.ok() && pairs[0].ok() && pairs[1].ok()));
        char gate_buf[1], buf[2][1];
        cpk::Latch gate_release;
        std::atomic<int> releaser{-1};
        COMPLETION_PORT_HANDLE port = completion_port_create();
        REQUIRE(port != nullptr);
        hold_op(rec, 9, gate_release);
        for (size_t i = 0; i < 2; ++i)
            rec.op(i).hook = [&](cpk::Op&, const cpk::CallbackRecord& c) {
                if (c.action != COMPLETION_PORT_EPOLL_EPOLLIN) return;
                releaser = c.op;
                completion_port_dec_ref(port);
            };
        auto gate_in = rec.ingress(9, EPOLLIN, gate.a, gate_buf, sizeof gate_buf);
        REQUIRE(completion_port_add(port, &gate_in) == 0);
        for (size_t i = 0; i < 2; ++i) {
            auto in = rec.ingress(i, EPOLLIN, pairs[i].a, buf[i], 1);
            REQUIRE(completion_port_add(port, &in) == 0);
        }
        REQUIRE(cpk::write_all(gate.b, "g", 1));
        const bool held = rec.wait_op(9, cpk::kWaitMs);
        /* Both sockets become ready while the worker is held: one batch. */
        REQUIRE(cpk::write_all(pairs[0].b, "0", 1));
        REQUIRE(cpk::write_all(pairs[1].b, "1", 1));
        gate_release.open();
        REQUIRE(held);

        REQUIRE(rec.wait_finished(3, cpk::kWaitMs));
        REQUIRE(releaser >= 0);
        const int other = 1 - releaser;
        /* The other op's event was fetched with the first, but it completes
         * once, as closing, inside the dec_ref, on the worker. */
        CHECK(rec.calls(releaser) == 1);
        REQUIRE(rec.calls(other) == 1);
        const cpk::CallbackRecord closing = first(rec, other);
        CHECK(closing.action == COMPLETION_PORT_CLOSING);
        CHECK(closing.result == COMPLETION_PORT_RESULT_ABANDONED);
        CHECK(closing.tid == first(rec, releaser).tid);
        /* Its byte is still unread once the worker has gone: it never
         * started that recv. */
        CHECK(cpk::wait_thread_count(guard.threads_at_start(), cpk::kWaitMs));
        char left = 0;
        CHECK(recv(pairs[other].a, &left, 1, MSG_DONTWAIT) == 1);
        CHECK(left == static_cast<char>('0' + other));
    }
    CHECK(rec.count() == 3);
    CHECK(guard.finish() == "");
}

TEST_CASE_METHOD(reftest::OnePort,
                 "worker: a failed re-arm is not turned into a new registration; remove still closes the op",
                 "[CPL_ADD_004][CPL_REMOVE_005]") {
    char buf[1];
    auto recv_in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    auto watch_in = rec.ingress(1, EPOLLRDHUP, sp.a);
    REQUIRE(completion_port_add(port, &recv_in) == 0);
    REQUIRE(completion_port_add(port, &watch_in) == 0);

    /* The next epoll_ctl on sp.a is the worker's re-arm for the watcher
     * after the recv completes: it fails as if the socket had left epoll. */
    cpk::record_start();
    cpk::inject(cpk::failing(cpk::Fn::epoll_ctl, sp.a, ENOENT));
    REQUIRE(cpk::write_all(sp.b, "x", 1));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    /* The sentinel completes after the worker is done with that event. */
    REQUIRE(cpk::sentinel(port, rec, 2));

    std::vector<cpk::CallRecord> calls = cpk::epoll_ctl_records(sp.a);
    INFO(cpk::describe_calls(calls));
    int mods = 0, adds = 0;
    for (const cpk::CallRecord& c : calls) {
        mods += c.op == EPOLL_CTL_MOD ? 1 : 0;
        adds += c.op == EPOLL_CTL_ADD ? 1 : 0;
        CHECK(c.events == (EPOLLRDHUP | EPOLLONESHOT));
    }
    CHECK(mods == 1);
    CHECK(adds == 0); /* only add may register a socket */
    /* The watcher is still recorded, and remove finds and closes it. */
    CHECK(rec.calls(1) == 0);
    CHECK(cpl_test_pending_ops(port) == 1);
    completion_port_remove(port, sp.a);
    REQUIRE(rec.calls(1) == 1);
    CHECK(first(rec, 1).action == COMPLETION_PORT_CLOSING);
    CHECK(first(rec, 1).tid == cpk::current_tid());
    CHECK(cpl_test_pending_ops(port) == 0);
}
