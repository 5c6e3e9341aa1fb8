/* Section 2 of the spec: completion_port_create (CPL_CREATE_001..008). */
#include "cpk_catch.h"

#include <cstring>

#include "harness.h"

namespace {

/* Every epoll_create / epoll_create1 fails with EMFILE. */
cpk::Fault epoll_create_fails() { return cpk::failing(cpk::Fn::epoll_any_create, -1, EMFILE, 1, 0); }

/* Every pthread_create of the calling thread fails with EAGAIN. */
cpk::Fault thread_start_fails() {
    cpk::Fault f = cpk::failing(cpk::Fn::pthread_create, -1, EAGAIN, 1, 0);
    f.scope = cpk::Scope::caller;
    return f;
}

/* What one create call under a fault did (create_under). */
struct UnderFault {
    COMPLETION_PORT_HANDLE handle = nullptr;
    unsigned fired = 0;    /* calls the fault affected */
    bool injected = false; /* a fault slot was free */
};

/* One completion_port_create under fault f (removed afterwards). Nothing that
 * allocates runs between the inject and the create (Catch2 assertions do). */
UnderFault create_under(const cpk::Fault& f) {
    UnderFault r;
    int id = cpk::inject(f);
    {
        cpk::LsanIgnore lsan; /* a leak here is CPL_CREATE_008's */
        r.handle = completion_port_create();
    }
    r.fired = cpk::fault_fired(id);
    cpk::clear_faults();
    r.injected = id >= 0;
    return r;
}

/* One create under fault f must fire it and return NULL (requirement `req`);
 * `needs` names the call create must make for the fault to fire. */
void check_create_returns_null(const char* req, const cpk::Fault& f, const char* needs) {
    UnderFault r = create_under(f);
    CPK_KIT_REQUIRE(r.injected);
    INFO(needs << " (" << r.fired << " injected failures)");
    CPK_CHECK(req, r.fired >= 1);
    CPK_CHECK(req, r.handle == nullptr);
    /* A handle from a failed create is left alone: releasing a half-made port
     * may crash the test after the fact (its allocations are outside LSan's view). */
}

/* Facts about one create call that must fail, collected while armed. */
struct FailedCreate {
    bool returned_null = false;
    bool fired = false;
    size_t live = 0;
    std::string leaked_fds;
    bool threads_back = false;
};

/* The failure-path tests end with this instead of CPK_GUARD_END: what a failed
 * create leaves behind is CPL_CREATE_008's (recommended) business, which its
 * own test checks. A failure here would leave the normative requirement under
 * test without a verdict (not blamed), so it is only a warning. */
void finish_lenient(cpk::Guard& guard) {
    std::string left = guard.finish();
    if (!left.empty()) WARN("left behind by the failed create (CPL_CREATE_008 reports it): " << left);
}

} // namespace

TEST_CASE("create: each call returns a distinct independent port", "[CPL_CREATE_001]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        COMPLETION_PORT_HANDLE a = completion_port_create();
        COMPLETION_PORT_HANDLE b = completion_port_create();
        CPK_REQUIRE("CPL_CREATE_004", a != nullptr);
        CPK_REQUIRE("CPL_CREATE_004", b != nullptr);
        CPK_CHECK("CPL_CREATE_001", a != b);
        CPK_CHECK("CPL_CREATE_001", cpk::completes_a_recv(a, rec, 0));
        CPK_CHECK("CPL_CREATE_001", cpk::completes_a_recv(b, rec, 1));
        /* Releasing a must not release or disturb b. */
        CPK_RELEASE(a);
        CPK_CHECK("CPL_CREATE_001", cpk::completes_a_recv(b, rec, 2));
        CPK_RELEASE(b);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("create: one epoll instance is created per port", "[CPL_CREATE_002]") {
    cpk::Guard guard;
    int epolls_before = cpk::count_epoll_fds();
    cpk::record_start();
    COMPLETION_PORT_HANDLE h = completion_port_create();
    cpk::record_stop();
    int epolls_after = cpk::count_epoll_fds();
    CPK_REQUIRE("CPL_CREATE_004", h != nullptr);
    std::vector<cpk::CallRecord> creates = cpk::records(cpk::Fn::epoll_any_create);
    int ok_creates = 0;
    for (const cpk::CallRecord& r : creates)
        if (r.result >= 0) ++ok_creates;
    {
        INFO("epoll_create/epoll_create1 calls during create:\n" << cpk::describe_calls(creates));
        CPK_CHECK("CPL_CREATE_002", creates.size() == 1);
        CPK_CHECK("CPL_CREATE_002", ok_creates == 1);
        CPK_CHECK("CPL_CREATE_002", epolls_after == epolls_before + 1);
    }
    CPK_RELEASE(h);
    CPK_GUARD_END(guard);
}

TEST_CASE("create: one worker thread is started and runs the event callbacks", "[CPL_CREATE_003]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        int threads_before = cpk::count_threads();
        cpk::TaskList tasks_before = cpk::list_tasks();
        cpk::record_start();
        COMPLETION_PORT_HANDLE h = completion_port_create();
        cpk::record_stop();
        CPK_REQUIRE("CPL_CREATE_004", h != nullptr);
        cpk::TaskList tasks_after = cpk::list_tasks();
        pid_t fresh[8];
        int n_new = cpk::new_threads(tasks_before, tasks_after, fresh, 8);
        std::vector<cpk::CallRecord> pc = cpk::records(cpk::Fn::pthread_create);
        /* pthread_create may be reached through a thread library the interposer cannot
         * see (0 calls); more than one is never right. */
        INFO("pthread_create calls during create:\n" << cpk::describe_calls(pc));
        CPK_CHECK("CPL_CREATE_003", pc.size() <= 1);
        CPK_CHECK("CPL_CREATE_003", n_new == 1);
        CPK_CHECK("CPL_CREATE_003", tasks_after.n == threads_before + 1);
        if (n_new == 1) {
            CPK_REQUIRE("CPL_CREATE_001", cpk::completes_a_recv(h, rec, 0));
            INFO(rec.dump() << "the new thread: " << fresh[0] << ", the test's thread: " << cpk::current_tid());
            CPK_CHECK("CPL_CREATE_003", rec.at(0).tid == fresh[0]);
            CPK_CHECK("CPL_CREATE_003", rec.at(0).tid != cpk::current_tid());
        }
        CPK_RELEASE(h);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("create: success returns a non-NULL handle", "[CPL_CREATE_004]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        COMPLETION_PORT_HANDLE h = completion_port_create();
        CPK_REQUIRE("CPL_CREATE_004", h != nullptr);
        /* The handle designates a working port. */
        CPK_CHECK("CPL_CREATE_001", cpk::completes_a_recv(h, rec, 0));
        CPK_RELEASE(h);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("create: returns NULL when epoll_create fails", "[CPL_CREATE_005]") {
    cpk::Guard guard;
    check_create_returns_null("CPL_CREATE_005", epoll_create_fails(), "create must call epoll_create or epoll_create1");
    /* Afterwards create works again. */
    COMPLETION_PORT_HANDLE again = completion_port_create();
    CPK_CHECK("CPL_CREATE_004", again != nullptr);
    if (again) CPK_RELEASE(again);
    finish_lenient(guard);
}

TEST_CASE("create: returns NULL when the worker thread cannot start", "[CPL_CREATE_006]") {
    cpk::Guard guard;
    check_create_returns_null("CPL_CREATE_006", thread_start_fails(),
                              "create must start its thread with pthread_create");
    finish_lenient(guard);
}

TEST_CASE("create: returns NULL when any one of its allocations fails", "[CPL_CREATE_007]") {
    cpk::Guard guard;
    /* Fail the 1st, 2nd, ... allocation create makes on the calling thread until a
     * create makes fewer allocations than the index (then it succeeded untouched). */
    int tried = 0;
    std::string wrong;
    for (unsigned nth = 1; nth <= 200; ++nth) {
        UnderFault r = create_under(cpk::alloc_failure(nth));
        CPK_KIT_REQUIRE(r.injected);
        if (!r.fired) {
            /* create made fewer allocations than nth: it ran untouched and must succeed */
            CPK_CHECK("CPL_CREATE_004", r.handle != nullptr);
            if (r.handle) CPK_RELEASE(r.handle);
            break;
        }
        ++tried;
        if (r.handle) wrong += "allocation #" + std::to_string(nth) + " failed but create returned non-NULL\n";
    }
    INFO("allocations failed one at a time: " << tried);
    CPK_CHECK("CPL_CREATE_007", wrong == "");
    finish_lenient(guard);
}

TEST_CASE("create: failed creates leave no descriptor thread or allocation behind", "[CPL_CREATE_008]") {
    cpk::Guard guard;
    /* Each failure mode, then every single allocation failure, with tracking armed
     * only around the create call (no test allocation in between). */
    auto attempt = [](const cpk::Fault& f) {
        FailedCreate r;
        cpk::FdList fds = cpk::list_fds();
        int threads = cpk::count_threads();
        cpk::alloc_track_start();
        int id = cpk::inject(f);
        COMPLETION_PORT_HANDLE h = completion_port_create();
        r.fired = cpk::fault_fired(id) > 0;
        cpk::clear_faults();
        cpk::alloc_track_stop();
        r.returned_null = h == nullptr;
        if (h && !r.fired) completion_port_dec_ref(h); /* a half-made port is left alone */
        r.threads_back = cpk::wait_thread_count_at_most(threads, 3000);
        r.live = cpk::live_tracked();
        r.leaked_fds = cpk::fd_diff(fds, cpk::list_fds());
        return r;
    };
    std::vector<std::string> what;
    std::vector<FailedCreate> res;
    what.push_back("epoll_create fails");
    res.push_back(attempt(epoll_create_fails()));
    what.push_back("pthread_create fails");
    res.push_back(attempt(thread_start_fails()));
    for (unsigned nth = 1; nth <= 200; ++nth) {
        FailedCreate r = attempt(cpk::alloc_failure(nth));
        if (!r.fired) break;
        what.push_back("allocation #" + std::to_string(nth) + " fails");
        res.push_back(r);
    }
    for (size_t i = 0; i < res.size(); ++i) {
        INFO(what[i]);
        if (!res[i].fired || !res[i].returned_null) continue; /* CPL_CREATE_005..007 report these */
        CPK_CHECK("CPL_CREATE_008", res[i].leaked_fds == "");
        CPK_CHECK("CPL_CREATE_008", res[i].threads_back);
        INFO(res[i].live << " allocation(s) made by the failed create still live");
        CPK_CHECK("CPL_CREATE_008", res[i].live == 0);
    }
    CPK_GUARD_END_AS(guard, "CPL_CREATE_008", "CPL_CREATE_008");
}
