// create, inc_ref, dec_ref: resources, teardown speed, closing completions.
#include "cpk_catch.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>

#include "test_hooks.h"
#include "test_util.h"

using namespace reftest;

TEST_CASE("lifecycle: create adds one descriptor pair and one thread and the final dec_ref takes them back",
          "[CPL_CREATE_001][CPL_CREATE_002][CPL_CREATE_003][CPL_CREATE_004][CPL_DECREF_002][CPL_DECREF_003]"
          "[CPL_DECREF_004]")
{
    ResourceSnapshot before;
    COMPLETION_PORT_HANDLE first = completion_port_create();
    COMPLETION_PORT_HANDLE second = completion_port_create();
    REQUIRE(first != nullptr);
    REQUIRE(second != nullptr);
    CHECK(first != second);
    // epoll + eventfd per port; one worker per port.
    CHECK(count_fds() == before.fds + 4);
    CHECK(wait_thread_count(before.threads + 2));
    completion_port_dec_ref(first);
    completion_port_dec_ref(second);
    CHECK(before.clean());
}

TEST_CASE("lifecycle: the final dec_ref of an idle port returns in well under 100 ms", "[CPL_DECREF_009]")
{
    auto worst = std::chrono::nanoseconds::zero();
    for (int i = 0; i < 20; ++i)
    {
        COMPLETION_PORT_HANDLE port = completion_port_create();
        REQUIRE(port != nullptr);
        const auto start = Clock::now();
        completion_port_dec_ref(port);
        worst = std::max(worst, std::chrono::nanoseconds(Clock::now() - start));
    }
    CHECK(worst < std::chrono::milliseconds(100));
}

TEST_CASE("lifecycle: inc_ref keeps the port working across one dec_ref",
          "[CPL_INCREF_002][CPL_DECREF_001]")
{
    ResourceSnapshot before;
    Recorder recorder;
    OpContext ctx{&recorder, 7};
    SocketPair pair;
    char buf[1];
    COMPLETION_PORT_HANDLE port = completion_port_create();
    REQUIRE(port != nullptr);
    completion_port_inc_ref(port);
    completion_port_dec_ref(port);  // count back to 1: nothing closes

    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    REQUIRE(completion_port_add(port, &in) == 0);
    write_all(pair.b, "z", 1);
    REQUIRE(recorder.wait_for_id(7));
    CHECK(recorder.first_for(7).action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(recorder.first_for(7).result == COMPLETION_PORT_RESULT_OK);
    completion_port_dec_ref(port);
    pair.close_a();
    pair.close_b();
    CHECK(before.clean());
}

TEST_CASE("lifecycle: NULL handles are ignored everywhere",
          "[CPL_INCREF_001][CPL_DECREF_007][CPL_ADD_001][CPL_ADD_002][CPL_REMOVE_001][CPL_REMOVE_002]")
{
    Recorder recorder;
    OpContext ctx{&recorder, 0};
    SocketPair pair;
    char buf[1];
    completion_port_inc_ref(nullptr);
    completion_port_dec_ref(nullptr);
    auto in = make_ingress(EPOLLIN, pair.a, &ctx, buf, sizeof(buf));
    CHECK(completion_port_add(nullptr, &in) != 0);
    completion_port_remove(nullptr, pair.a);

    PortGuard guard;
    CHECK(completion_port_add(guard.port, nullptr) != 0);
    REQUIRE(completion_port_add(guard.port, &in) == 0);
    completion_port_remove(guard.port, INVALID_SOCKET);
    CHECK(cpl_test_pending_ops(guard.port) == 1);
    CHECK(recorder.count() == 0);
}

TEST_CASE("lifecycle: ops pending at the final dec_ref complete once as closing on the caller thread",
          "[CPL_DECREF_008][CPL_DECREF_006]")
{
    ResourceSnapshot before;
    Recorder recorder;
    {
        SocketPair pairs[4];
        OpContext ctx[4];
        char buf[4][2];
        PortGuard guard;
        for (int i = 0; i < 4; ++i)
        {
            ctx[i] = OpContext{&recorder, i};
            auto in = make_ingress(i % 2 == 0 ? EPOLLIN : EPOLLRDHUP, pairs[i].a, &ctx[i], buf[i], sizeof(buf[i]));
            REQUIRE(completion_port_add(guard.port, &in) == 0);
        }
        guard.release();
        REQUIRE(recorder.count() == 4);
        for (const Completion& c : recorder.snapshot())
        {
            CHECK(c.action == COMPLETION_PORT_CLOSING);
            CHECK(c.result == COMPLETION_PORT_RESULT_ABANDONED);
            CHECK(c.amount == 0);
            CHECK(c.tid == current_tid());
        }
        // Events after the release reach nobody.
        for (auto& pair : pairs)
        {
            write_all(pair.b, "ab", 2);
            pair.close_b();
        }
    }
    CHECK(recorder.count() == 4);
    CHECK(before.clean());
}

TEST_CASE("lifecycle: a final dec_ref inside a callback releases the port once the callback returns",
          "[CPL_DECREF_010]")
{
    ResourceSnapshot before;
    Recorder recorder;
    OpContext trigger{&recorder, 0}, bystander{&recorder, 1}, late{&recorder, 2};
    SocketPair pair, other;
    char buf[1], other_buf[1];
    COMPLETION_PORT_HANDLE port = completion_port_create();
    REQUIRE(port != nullptr);
    std::atomic<bool> dec_ref_returned{false};
    recorder.on_completion = [&](const Completion& c) {
        if (c.id == 0)
        {
            completion_port_dec_ref(port);
            dec_ref_returned = true;
        }
        else if (c.id == 1)
        {
            // A closing callback adds again: that op must complete as closing too.
            auto again = make_ingress(EPOLLIN, other.a, &late, other_buf, sizeof(other_buf));
            (void)completion_port_add(port, &again);
        }
    };
    auto by = make_ingress(EPOLLIN, other.a, &bystander, other_buf, sizeof(other_buf));
    REQUIRE(completion_port_add(port, &by) == 0);
    auto in = make_ingress(EPOLLIN, pair.a, &trigger, buf, sizeof(buf));
    REQUIRE(completion_port_add(port, &in) == 0);
    write_all(pair.b, "q", 1);

    REQUIRE(recorder.wait_for_count(3));
    CHECK(dec_ref_returned.load());
    const auto all = recorder.snapshot();
    REQUIRE(all.size() == 3);
    CHECK(all[0].id == 0);
    CHECK(all[0].action == COMPLETION_PORT_EPOLL_EPOLLIN);
    CHECK(all[1].id == 1);
    CHECK(all[1].action == COMPLETION_PORT_CLOSING);
    CHECK(all[1].tid == all[0].tid);  // on the worker, inside dec_ref
    CHECK(all[2].id == 2);
    CHECK(all[2].action == COMPLETION_PORT_CLOSING);
    // The worker exits by itself and closes the port's descriptors.
    pair.close_a();
    pair.close_b();
    other.close_a();
    other.close_b();
    CHECK(before.clean());
    CHECK(recorder.count() == 3);
}

TEST_CASE("lifecycle: create returns NULL and leaves nothing when descriptors run out",
          "[CPL_CREATE_005][CPL_CREATE_008]")
{
    ResourceSnapshot before;
    struct rlimit saved;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    // Lowest free descriptor number: with the limit at n only n-1 more fit.
    const int probe = dup(0);
    REQUIRE(probe >= 0);
    close(probe);
    // Room for 0 and then 1 descriptor: epoll_create1, then eventfd, fail.
    for (int room = 0; room < 2; ++room)
    {
        struct rlimit tight = saved;
        tight.rlim_cur = static_cast<rlim_t>(probe + room);
        REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
        COMPLETION_PORT_HANDLE port = completion_port_create();
        REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
        CHECK(port == nullptr);
        if (port != nullptr)
        {
            completion_port_dec_ref(port);
        }
    }
    CHECK(before.clean());
}
