/* Descriptor and memory exhaustion (CPL_CREATE_009, CPL_ADD_020): the
 * process's descriptor table full, then every allocation of every thread
 * failing for a while, on a port with ops pending. Between the start of the
 * shortage and its end the test makes no Catch2 assertion (they allocate, and
 * may need a descriptor): it collects what happened, then checks. Each test
 * prints one line "exhaustion: ..." (make faults). */
#include "cpk_catch.h"

#include <cstdio>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

namespace {

/* The lowest descriptor number not open: with RLIMIT_NOFILE set to it, the
 * next descriptor the process asks for fails with EMFILE. */
int lowest_free_fd(const cpk::FdList& fds) {
    int n = 0;
    while (fds.contains(n)) ++n;
    return n;
}

/* The re-arm a callback makes while memory is short. */
struct Rearm {
    COMPLETION_PORT_HANDLE port = nullptr;
    COMPLETION_PORT_INGRESS_DATA next{};
    int rc = -1;
    bool ran = false;
};
Rearm g_rearm;

void rearm_hook(cpk::Op&, const cpk::CallbackRecord&) {
    g_rearm.rc = completion_port_add(g_rearm.port, &g_rearm.next);
    g_rearm.ran = true;
}

char g_buf[16][4];

} // namespace

TEST_CASE_METHOD(cpk::PortCaseOf<64>,
                 "exhaustion: with no descriptor left create returns NULL and a live port keeps its promises",
                 "[CPL_CREATE_009][CPL_CREATE_008][CPL_ADD_020]") {
    CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, 0, 0));
    cpk::SocketPair pending = cpk::unix_pair();
    cpk::SocketPair fresh = cpk::unix_pair();
    CPK_KIT_REQUIRE(pending.ok());
    CPK_KIT_REQUIRE(fresh.ok());
    COMPLETION_PORT_INGRESS_DATA in1 = rec.ingress(1, EPOLLIN, pending.a, g_buf[1], 1);
    COMPLETION_PORT_INGRESS_DATA in2 = rec.ingress(2, EPOLLIN, fresh.a, g_buf[2], 1);
    CPK_REQUIRE_ADD(p.handle, &in1);

    cpk::FdList fds = cpk::list_fds();
    int threads = cpk::count_threads();
    struct rlimit old;
    CPK_KIT_REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    struct rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(lowest_free_fd(fds));

    /* The shortage: no assertion until the limit is back. */
    bool limited = setrlimit(RLIMIT_NOFILE, &low) == 0;
    int probe = dup(0);
    int probe_err = errno;
    limited = limited && probe < 0 && probe_err == EMFILE;
    if (probe >= 0) close(probe);
    cpk::alloc_track_start();
    COMPLETION_PORT_HANDLE h;
    {
        cpk::LsanIgnore lsan; /* what a failed create leaks is checked below */
        h = completion_port_create();
    }
    cpk::alloc_track_stop();
    bool create_freed = cpk::eventually([] { return cpk::live_tracked() == 0; }, 1000);
    int rc2 = completion_port_add(p.handle, &in2);
    bool wrote1 = cpk::write_all(pending.b, "x", 1);
    bool done1 = rec.wait_op(1, cpk::kWaitMs);
    bool wrote2 = cpk::write_all(fresh.b, "y", 1);
    bool done2 = rc2 == 0 && rec.wait_op(2, cpk::kWaitMs);
    bool restored = setrlimit(RLIMIT_NOFILE, &old) == 0;

    std::printf("exhaustion: descriptors: limit %ld, create %s, add on a live port %s, pending op %s\n",
                static_cast<long>(low.rlim_cur), h ? "returned a port" : "returned NULL",
                rc2 == 0 ? "returned 0" : "failed", done1 ? "completed" : "did not complete");
    std::fflush(stdout);
    CPK_KIT_REQUIRE(restored);
    CPK_KIT_REQUIRE(limited);
    CPK_KIT_REQUIRE(wrote1);
    CPK_KIT_REQUIRE(wrote2);
    {
        INFO("create with the descriptor table full");
        CPK_CHECK("CPL_CREATE_009", h == nullptr);
        /* What a failed create leaves behind is CPL_CREATE_008's. */
        if (!h) {
            CPK_CHECK("CPL_CREATE_008", create_freed);
            CPK_CHECK("CPL_CREATE_008", cpk::fd_diff(fds, cpk::list_fds()) == "");
            CPK_CHECK("CPL_CREATE_008", cpk::wait_thread_count_at_most(threads, 3000));
        }
    }
    if (h) CPK_RELEASE(h);
    {
        INFO("add returned " << rc2 << " with the descriptor table full\n" << rec.dump());
        CPK_CHECK("CPL_ADD_020", done1);
        CPK_CHECK("CPL_ADD_020",
                  cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 1) == "");
        if (rc2 == 0) {
            CPK_CHECK("CPL_ADD_020", done2);
            CPK_CHECK("CPL_ADD_020", cpk::one_callback(rec, 2, COMPLETION_PORT_EPOLL_EPOLLIN) == "");
        }
        /* Descriptors are back: the port and create work again. */
        CPK_CHECK("CPL_ADD_020", cpk::sentinel(p.handle, rec, 3, 20));
        if (rc2 != 0) CPK_CHECK("CPL_ADD_020", rec.calls(2) == 0);
    }
    COMPLETION_PORT_HANDLE again = completion_port_create();
    CPK_CHECK("CPL_CREATE_009", again != nullptr);
    if (again) {
        CPK_CHECK("CPL_CREATE_009", cpk::completes_a_recv(again, rec, 4));
        CPK_RELEASE(again);
    }
    completion_port_remove(p.handle, pending.a);
    completion_port_remove(p.handle, fresh.a);
    finish(pending, fresh);
}

TEST_CASE_METHOD(cpk::PortCaseOf<64>,
                 "exhaustion: while every allocation fails the port completes each op once and recovers",
                 "[CPL_ADD_020]") {
    CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, 0, 0));
    /* Ops 1..6 pending on sp[0..5]; op 7 is added during the shortage on
     * `extra`; op 1's callback re-arms its socket with op 8. */
    constexpr int kPairs = 6;
    cpk::SocketPair sp[kPairs];
    for (int i = 0; i < kPairs; ++i) {
        sp[i] = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp[i].ok());
    }
    cpk::SocketPair extra = unix_sockets();
    g_rearm = Rearm{};
    g_rearm.port = p.handle;
    g_rearm.next = rec.ingress(8, EPOLLIN, sp[0].a, g_buf[8], 4);
    rec.op(1).hook = rearm_hook;
    for (int i = 0; i < kPairs; ++i) {
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(1 + i, EPOLLIN, sp[i].a, g_buf[1 + i], 4);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    COMPLETION_PORT_INGRESS_DATA in7 = rec.ingress(7, EPOLLIN, extra.a, g_buf[7], 4);

    /* The shortage: every allocation of every thread fails; no assertion. */
    int id = cpk::inject(cpk::failing(cpk::Fn::alloc, -1, ENOMEM, 1, 0));
    bool wrote = cpk::write_all(sp[0].b, "abcd", 4) && cpk::write_all(sp[1].b, "efgh", 4);
    bool shut = cpk::shutdown_wr(sp[2].b);
    bool done = rec.wait_op_finished(1, cpk::kWaitMs) && rec.wait_op(2, cpk::kWaitMs) && rec.wait_op(3, cpk::kWaitMs);
    int rc7 = completion_port_add(p.handle, &in7);
    completion_port_remove(p.handle, sp[3].a);
    unsigned failed_allocs = cpk::fault_fired(id);
    cpk::clear_faults();

    std::printf("exhaustion: memory: %u allocation(s) failed during the shortage; add %s, re-arm from a callback %s\n",
                failed_allocs, rc7 == 0 ? "returned 0" : "failed",
                !g_rearm.ran      ? "did not run"
                : g_rearm.rc == 0 ? "returned 0"
                                  : "failed");
    std::fflush(stdout);
    CPK_KIT_REQUIRE(id >= 0);
    CPK_KIT_REQUIRE(wrote);
    CPK_KIT_REQUIRE(shut);
    INFO(failed_allocs << " allocation(s) failed during the shortage; add returned " << rc7
                       << ", the re-arm from op 1's callback "
                       << (g_rearm.ran ? std::to_string(g_rearm.rc) : std::string("did not run")));
    {
        INFO("ops pending when memory ran out complete once\n" << rec.dump());
        CPK_CHECK("CPL_ADD_020", done);
        CPK_CHECK("CPL_ADD_020",
                  cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 4) == "");
        CPK_CHECK("CPL_ADD_020",
                  cpk::one_callback(rec, 2, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 4) == "");
        CPK_CHECK("CPL_ADD_020", cpk::one_callback(rec, 3, COMPLETION_PORT_EPOLL_EPOLLIN) == "");
        CPK_CHECK("CPL_ADD_020", rec.calls(4) <= 1);
    }
    /* Memory is back: what was added completes, what failed never calls back. */
    CPK_KIT_REQUIRE(cpk::write_all(extra.b, "ijkl", 4));
    CPK_KIT_REQUIRE(cpk::write_all(sp[0].b, "mnop", 4));
    CPK_KIT_REQUIRE(cpk::write_all(sp[4].b, "qrst", 4));
    {
        INFO("after memory came back\n" << rec.dump());
        CPK_CHECK("CPL_ADD_020", rec.wait_op(5, cpk::kWaitMs));
        CPK_CHECK("CPL_ADD_020",
                  cpk::one_callback(rec, 5, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 4) == "");
        if (rc7 == 0) CPK_CHECK("CPL_ADD_020", rec.wait_op(7, cpk::kWaitMs));
        if (g_rearm.ran && g_rearm.rc == 0) CPK_CHECK("CPL_ADD_020", rec.wait_op(8, cpk::kWaitMs));
        CPK_CHECK("CPL_ADD_020", cpk::sentinel(p.handle, rec, 9, 50));
        CPK_CHECK("CPL_ADD_020", rec.calls(7) == (rc7 == 0 ? 1 : 0));
        CPK_CHECK("CPL_ADD_020", rec.calls(8) == (g_rearm.ran && g_rearm.rc == 0 ? 1 : 0));
        /* A new add on a socket whose add failed during the shortage works. */
        if (rc7 != 0) {
            COMPLETION_PORT_INGRESS_DATA again = rec.ingress(10, EPOLLIN, extra.a, g_buf[10], 4);
            CPK_CHECK("CPL_ADD_020", completion_port_add(p.handle, &again) == 0);
            CPK_CHECK("CPL_ADD_020", rec.wait_op(10, cpk::kWaitMs));
        }
    }
    for (int i = 0; i < kPairs; ++i) completion_port_remove(p.handle, sp[i].a);
    completion_port_remove(p.handle, extra.a);
    release();
    INFO(rec.dump());
    for (size_t op = 1; op <= 10; ++op) CPK_CHECK("CPL_ADD_020", rec.calls(op) <= 1);
    finish(sp, extra);
}
