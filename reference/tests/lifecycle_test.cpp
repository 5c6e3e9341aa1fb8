/* create, inc_ref, dec_ref: resources, teardown speed, closing completions. */
#include "unit.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

using reftest::first;

TEST_CASE("lifecycle: create adds one descriptor pair and one thread and the final dec_ref takes them back",
          "[CPL_CREATE_001][CPL_CREATE_002][CPL_CREATE_003][CPL_CREATE_004][CPL_DECREF_002][CPL_DECREF_003]"
          "[CPL_DECREF_004]") {
    cpk::Guard guard;
    COMPLETION_PORT_HANDLE one = completion_port_create();
    COMPLETION_PORT_HANDLE two = completion_port_create();
    REQUIRE(one != nullptr);
    REQUIRE(two != nullptr);
    CHECK(one != two);
    /* epoll + eventfd per port; one worker per port. */
    CHECK(cpk::count_fds() == guard.fds_at_start().n + 4);
    CHECK(cpk::wait_thread_count(guard.threads_at_start() + 2, cpk::kWaitMs));
    completion_port_dec_ref(one);
    completion_port_dec_ref(two);
    CHECK(guard.finish() == "");
}

TEST_CASE("lifecycle: the final dec_ref of an idle port returns in well under 100 ms", "[CPL_DECREF_009]") {
    cpk::Guard guard;
    int64_t worst = 0;
    for (int i = 0; i < 20; ++i) {
        COMPLETION_PORT_HANDLE port = completion_port_create();
        REQUIRE(port != nullptr);
        worst = std::max(worst, cpk::timed_dec_ref(port));
    }
    CHECK(worst < cpk::ms_to_ns(100));
}

TEST_CASE_METHOD(reftest::OnePair, "lifecycle: inc_ref keeps the port working across one dec_ref",
                 "[CPL_INCREF_002][CPL_DECREF_001]") {
    char buf[1];
    COMPLETION_PORT_HANDLE port = completion_port_create();
    REQUIRE(port != nullptr);
    completion_port_inc_ref(port);
    completion_port_dec_ref(port); /* count back to 1: nothing closes */

    recv_from_peer(port, 7, buf, sizeof buf, "z");
    CHECK(first(rec, 7).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(first(rec, 7).result == COMPLETION_PORT_RESULT_OK);
    completion_port_dec_ref(port);
    sp = {};
    CHECK(guard.finish() == "");
}

TEST_CASE_METHOD(reftest::OnePair, "lifecycle: NULL handles are ignored everywhere",
                 "[CPL_INCREF_001][CPL_DECREF_007][CPL_ADD_001][CPL_ADD_002][CPL_REMOVE_001][CPL_REMOVE_002]") {
    char buf[1];
    completion_port_inc_ref(nullptr);
    completion_port_dec_ref(nullptr);
    auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    CHECK(completion_port_add(nullptr, &in) != 0);
    completion_port_remove(nullptr, sp.a);

    reftest::Port port;
    CHECK(completion_port_add(port, nullptr) != 0);
    REQUIRE(completion_port_add(port, &in) == 0);
    completion_port_remove(port, INVALID_SOCKET);
    CHECK(cpl_test_pending_ops(port) == 1);
    CHECK(rec.count() == 0);
}

TEST_CASE("lifecycle: ops pending at the final dec_ref complete once as closing on the caller thread",
          "[CPL_DECREF_008][CPL_DECREF_006]") {
    cpk::Guard guard;
    cpk::Recorder rec;
    {
        reftest::PairsWithOps ops(4, 2);
        reftest::Port port;
        ops.add_each(rec, port, 0, [](size_t i) -> int { return i % 2 == 0 ? EPOLLIN : EPOLLRDHUP; });
        port.release();
        REQUIRE(rec.count() == 4);
        reftest::check_all_closed_here(rec);
        /* Events after the release reach nobody. */
        for (cpk::SocketPair& sp : ops.pairs) {
            REQUIRE(cpk::write_all(sp.b, "ab", 2));
            sp.b.close();
        }
    }
    CHECK(rec.count() == 4);
    CHECK(guard.finish() == "");
}

TEST_CASE("lifecycle: a final dec_ref inside a callback releases the port once the callback returns",
          "[CPL_DECREF_010]") {
    cpk::Guard guard;
    /* Never freed: the worker that ends itself touches it last, unjoined. */
    cpk::Recorder& rec = cpk::persistent_recorder();
    cpk::SocketPair sp = cpk::unix_pair(), other = cpk::unix_pair();
    REQUIRE((sp.ok() && other.ok()));
    char buf[1], other_buf[1];
    COMPLETION_PORT_HANDLE port = completion_port_create();
    REQUIRE(port != nullptr);
    std::atomic<bool> dec_ref_returned{false};
    rec.op(0).hook = [&](cpk::Op&, const cpk::CallbackRecord&) {
        completion_port_dec_ref(port);
        dec_ref_returned = true;
    };
    /* A closing callback adds again: that op must complete as closing too. */
    auto again = rec.ingress(2, EPOLLIN, other.a, other_buf, sizeof other_buf);
    rec.op(1).hook = [&](cpk::Op&, const cpk::CallbackRecord&) { (void)completion_port_add(port, &again); };
    auto bystander = rec.ingress(1, EPOLLIN, other.a, other_buf, sizeof other_buf);
    REQUIRE(completion_port_add(port, &bystander) == 0);
    auto trigger = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    REQUIRE(completion_port_add(port, &trigger) == 0);
    REQUIRE(cpk::write_all(sp.b, "q", 1));

    REQUIRE(rec.wait_finished(3, cpk::kWaitMs));
    CHECK(dec_ref_returned.load());
    const std::vector<cpk::CallbackRecord> all = rec.all();
    REQUIRE(all.size() == 3);
    CHECK(all[0].op == 0);
    CHECK(all[0].action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(all[1].op == 1);
    CHECK(all[1].action == COMPLETION_PORT_CLOSING);
    CHECK(all[1].tid == all[0].tid); /* on the worker, inside dec_ref */
    CHECK(all[2].op == 2);
    CHECK(all[2].action == COMPLETION_PORT_CLOSING);
    /* The worker exits by itself and closes the port's descriptors. */
    sp = {};
    other = {};
    CHECK(cpk::wait_thread_count_at_most(guard.threads_at_start(), cpk::kTeardownMs));
    CHECK(guard.finish() == "");
    CHECK(rec.count() == 3);
}

TEST_CASE("lifecycle: create returns NULL and leaves nothing when descriptors run out",
          "[CPL_CREATE_005][CPL_CREATE_008]") {
    cpk::Guard guard;
    struct rlimit saved;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    /* Lowest free descriptor number: with the limit at n only n-1 more fit. */
    const int probe = dup(0);
    REQUIRE(probe >= 0);
    close(probe);
    /* Room for 0 and then 1 descriptor: epoll_create1, then eventfd, fail. */
    for (int room = 0; room < 2; ++room) {
        struct rlimit tight = saved;
        tight.rlim_cur = static_cast<rlim_t>(probe + room);
        REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
        COMPLETION_PORT_HANDLE port = completion_port_create();
        REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
        CHECK(port == nullptr);
        completion_port_dec_ref(port); /* a port created anyway must not leak into the guard's check */
    }
    CHECK(guard.finish() == "");
}
