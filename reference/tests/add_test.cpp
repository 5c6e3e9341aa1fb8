/* completion_port_add: validation, registration, re-arming, failure paths. */
#include "unit.h"

#include <atomic>
#include <cerrno>
#include <cstdint>

using reftest::first;

TEST_CASE("add: invalid arguments are refused without a callback",
          "[CPL_ADD_011][CPL_ADD_012][CPL_ADD_013][CPL_ADD_014]") {
    cpk::Recorder rec;
    cpk::SocketPair sp = cpk::unix_pair();
    REQUIRE(sp.ok());
    char buf[4];
    reftest::Port port;

    auto invalid_socket = rec.ingress(0, EPOLLIN, INVALID_SOCKET, buf, sizeof buf);
    CHECK(completion_port_add(port, &invalid_socket) != 0);

    auto no_callback = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    no_callback.event_callback = nullptr;
    CHECK(completion_port_add(port, &no_callback) != 0);

    auto null_recv_buffer = rec.ingress(0, EPOLLIN, sp.a, nullptr, 4);
    CHECK(completion_port_add(port, &null_recv_buffer) != 0);
    auto null_send_buffer = rec.ingress(0, EPOLLOUT, sp.a, nullptr, 4);
    CHECK(completion_port_add(port, &null_send_buffer) != 0);

    auto too_long = rec.ingress(0, EPOLLIN, sp.a, buf, static_cast<uint32_t>(INT32_MAX) + 1u);
    CHECK(completion_port_add(port, &too_long) != 0);

    /* Accepted on the edge: a NULL buffer of length 0, and a watcher. */
    auto empty = rec.ingress(0, EPOLLIN, sp.a, nullptr, 0);
    CHECK(completion_port_add(port, &empty) == 0);
    CHECK(cpl_test_pending_ops(port) == 1);
    port.release();
    CHECK(rec.count() == 1); /* the closing completion of `empty` only */
}

TEST_CASE_METHOD(reftest::OnePort, "add: the first registration of a fresh socket is MOD with epoll_op then ADD",
                 "[CPL_ADD_005][CPL_ADD_006][CPL_ADD_007]") {
    char buf[4];
    cpk::record_start();
    auto in = rec.ingress(0, EPOLLIN | EPOLLRDHUP, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &in) == 0);
    std::vector<cpk::CallRecord> calls = cpk::records(cpk::Fn::epoll_ctl);
    INFO(cpk::describe_calls(calls));
    REQUIRE(calls.size() == 2);
    CHECK(calls[0].op == EPOLL_CTL_MOD);
    CHECK(calls[0].target == sp.a);
    CHECK(calls[0].events == (EPOLLIN | EPOLLRDHUP | EPOLLONESHOT));
    CHECK(calls[1].op == EPOLL_CTL_ADD);
    CHECK(calls[1].events == calls[0].events);
    REQUIRE(cpk::write_all(sp.b, "abcd", 4));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(first(rec, 0).amount == 4);
}

TEST_CASE_METHOD(reftest::OnePort, "add: a socket is re-armed with MOD alone many times", "[CPL_ADD_009]") {
    char buf[1];
    for (size_t i = 0; i < 50; ++i) {
        cpk::record_start();
        auto in = rec.ingress(i, EPOLLIN, sp.a, buf, sizeof buf);
        REQUIRE(completion_port_add(port, &in) == 0);
        REQUIRE(cpk::records(cpk::Fn::epoll_ctl).size() == (i == 0 ? 2u : 1u));
        REQUIRE(cpk::write_all(sp.b, "k", 1));
        REQUIRE(rec.wait_op_finished(i, cpk::kWaitMs));
    }
    CHECK(rec.count() == 50);
}

TEST_CASE("add: epoll_ctl failures other than ENOENT fail the add and leave nothing", "[CPL_ADD_008][CPL_ADD_015]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    char buf[4];
    {
        cpk::SocketPair sp = cpk::unix_pair();
        REQUIRE(sp.ok());
        reftest::Port port;
        /* A regular file: epoll refuses it with EPERM. */
        cpk::Fd file = cpk::regular_file();
        REQUIRE(file.valid());
        auto on_file = rec.ingress(0, EPOLLIN, file, buf, sizeof buf);
        int result = 0;
        reftest::HeapRun heap = reftest::heap_run(0, [&] { result = completion_port_add(port, &on_file); });
        CHECK(result != 0);
        CHECK(heap.live == 0);
        file.close();

        /* An injected failure of the MOD on a socket that already has an op:
         * the existing op keeps its slot and still completes. */
        auto recv_in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        REQUIRE(completion_port_add(port, &recv_in) == 0);
        auto send_in = rec.ingress(1, EPOLLOUT, sp.a, buf, sizeof buf);
        int fault = cpk::inject(cpk::failing(cpk::Fn::epoll_ctl, sp.a, ENOMEM));
        CHECK(completion_port_add(port, &send_in) != 0);
        cpk::remove_fault(fault);
        CHECK(cpl_test_pending_ops(port) == 1);
        REQUIRE(cpk::write_all(sp.b, "1234", 4));
        REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
        CHECK(rec.count() == 1);
    }
    CHECK(guard.finish() == "");
}

TEST_CASE_METHOD(reftest::OnePort, "add: every allocation failure makes add fail cleanly and the port keeps working",
                 "[CPL_ADD_003][CPL_ADD_015]") {
    char buf[2];
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    if (!reftest::heap_visible()) {
        WARN("the allocator is not the harness's (valgrind?): no allocation to fail");
        return;
    }
    int failed = 0;
    for (unsigned nth = 1; nth < 10; ++nth) {
        int result = 0;
        reftest::HeapRun heap = reftest::heap_run(nth, [&] { result = completion_port_add(port, &in); });
        if (nth > heap.allocations) {
            REQUIRE(result == 0); /* every allocation of add has been failed once */
            break;
        }
        CHECK(result != 0);
        CHECK(heap.live == 0);
        CHECK(cpl_test_pending_ops(port) == 0);
        failed++;
    }
    CHECK(failed >= 2); /* the op and the socket's map node */
    REQUIRE(cpk::write_all(sp.b, "ok", 2));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(rec.count() == 1);
}

TEST_CASE_METHOD(reftest::OnePair, "add: re-arming from inside the callback works", "[CPL_ADD_017]") {
    reftest::Port port;
    constexpr size_t kOps = 5;
    char buf[1];
    COMPLETION_PORT_INGRESS_DATA in[kOps];
    for (size_t i = 0; i < kOps; ++i) in[i] = rec.ingress(i, EPOLLIN, sp.a, buf, sizeof buf);
    std::atomic<int> add_failures{0};
    for (size_t i = 0; i + 1 < kOps; ++i)
        rec.op(i).hook = [&, i](cpk::Op&, const cpk::CallbackRecord&) {
            if (completion_port_add(port, &in[i + 1]) != 0) add_failures++;
        };
    REQUIRE(completion_port_add(port, &in[0]) == 0);
    REQUIRE(cpk::write_all(sp.b, "12345", 5));
    REQUIRE(rec.wait_finished(kOps, cpk::kWaitMs));
    CHECK(add_failures == 0);
    for (const cpk::CallbackRecord& c : rec.all()) {
        CHECK(c.amount == 1);
        CHECK(c.result == COMPLETION_PORT_RESULT_OK);
    }
}

TEST_CASE_METHOD(reftest::OnePort, "add: a level-triggered re-fire never reaches a completed op", "[CPL_ADD_010]") {
    char buf[2];
    /* No EPOLLONESHOT asked; more data than the buffer holds stays readable. */
    recv_from_peer(port, 0, buf, sizeof buf, "0123456789");
    REQUIRE(cpk::write_all(sp.b, "more", 4));
    /* The sentinel's completion proves the worker went past any re-fire. */
    REQUIRE(cpk::sentinel(port, rec, 1));
    CHECK(rec.calls(0) == 1);
}

TEST_CASE_METHOD(reftest::OnePort, "add: a second op of the same kind on one socket is refused", "[CPL_ADD_016]") {
    char buf[1];
    auto first_in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    auto second_in = rec.ingress(1, EPOLLIN | EPOLLRDHUP, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &first_in) == 0);
    CHECK(completion_port_add(port, &second_in) != 0);
    REQUIRE(cpk::write_all(sp.b, "x", 1));
    REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
    CHECK(completion_port_add(port, &second_in) == 0); /* slot free again */
}

TEST_CASE("add: negative sockets and the port's own descriptors are refused without touching epoll",
          "[CPL_ADD_011][CPL_ADD_015][CPL_DECREF_009]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    char buf[4];
    reftest::Port port;
    REQUIRE(port.info.epfd >= 0);
    REQUIRE(port.wake_fd >= 0);

    cpk::record_start();
    for (int socket : {-2, INT32_MIN, port.wake_fd, port.info.epfd}) {
        auto in = rec.ingress(0, EPOLLIN, socket, buf, sizeof buf);
        CHECK(completion_port_add(port, &in) != 0);
    }
    CHECK(cpk::records(cpk::Fn::epoll_ctl).empty()); /* no registration was made or changed */
    CHECK(cpl_test_pending_ops(port) == 0);
    /* The wake-up descriptor still works: the final dec_ref is immediate. */
    CHECK(port.release() < cpk::ms_to_ns(100));
    CHECK(rec.count() == 0);
}
