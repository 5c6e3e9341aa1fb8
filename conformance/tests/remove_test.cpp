/* Section 6 of the spec: completion_port_remove (CPL_REMOVE_*). */
#include "cpk_catch.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "harness.h"

namespace {

bool event_driven(int action) {
    return action == COMPLETION_PORT_EPOLL_EPOLLRDHUP || action == COMPLETION_PORT_EPOLL_EPOLLIN ||
           action == COMPLETION_PORT_EPOLL_EPOLLOUT;
}

/* Ops whose event races a remove of their socket: the test writes the byte
 * and at once removes, so the worker and remove meet on the same op. */
struct RemoveRace {
    int ops = 0;
    bool create_failed = false;
    int add_failed = 0;
    int more_than_once = 0;
    int none = 0;
    int late_closing = 0; /* a closing completion that ended after remove returned */
    int late_event = 0;   /* an event-driven one that ended after remove returned */
    int wrong = 0;        /* neither (EPOLLIN, OK, 1) nor (CLOSING, ABANDONED, 0) */
    std::string first_problem;
    std::string first_wrong;
};

RemoveRace race_remove(int rounds) {
    RemoveRace r;
    cpk::Recorder& rec = cpk::persistent_recorder(static_cast<size_t>(rounds) + 1);
    static char bufs[256][1];
    cpk::PortInfo p = cpk::create_port();
    if (!p.handle) {
        r.create_failed = true;
        return r;
    }
    std::vector<int64_t> returned(static_cast<size_t>(rounds));
    int done = 0;
    for (int i = 0; i < rounds; ++i) {
        cpk::SocketPair sp = cpk::unix_pair();
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(static_cast<size_t>(i), EPOLLIN, sp.a, bufs[i % 256], 1);
        if (completion_port_add(p.handle, &in) != 0) {
            ++r.add_failed;
            break;
        }
        cpk::write_all(sp.b, "x", 1);
        completion_port_remove(p.handle, sp.a);
        returned[static_cast<size_t>(i)] = cpk::mono_ns();
        ++done;
    }
    cpk::sentinel(p.handle, rec, static_cast<size_t>(rounds));
    {
        cpk::PhaseScope phase("release");
        completion_port_dec_ref(p.handle);
    }
    for (int i = 0; i < done; ++i) {
        std::vector<cpk::CallbackRecord> v = rec.for_op(static_cast<size_t>(i));
        ++r.ops;
        if (v.size() > 1) ++r.more_than_once;
        if (v.empty()) ++r.none;
        for (const cpk::CallbackRecord& c : v) {
            bool late = c.end_ns == 0 || c.end_ns > returned[static_cast<size_t>(i)];
            if (late) ++(c.action == COMPLETION_PORT_CLOSING ? r.late_closing : r.late_event);
            bool in =
                c.action == COMPLETION_PORT_EPOLL_EPOLLIN && c.result == COMPLETION_PORT_RESULT_OK && c.amount == 1;
            bool closing =
                c.action == COMPLETION_PORT_CLOSING && c.result == COMPLETION_PORT_RESULT_ABANDONED && c.amount == 0;
            if (!in && !closing && r.wrong++ == 0) r.first_wrong = cpk::describe(c);
        }
        if (v.size() > 1 && r.first_problem.empty()) r.first_problem = "op " + std::to_string(i) + ":\n" + rec.dump();
    }
    return r;
}

/* Longer than the worker's 2 s epoll_wait timeout: a remove that stops waiting
 * for a running callback after a timeout of its own returns while it is held. */
constexpr int kHoldMs = 2500;

} // namespace

TEST_CASE_METHOD(cpk::PortCase, "remove: a NULL port is ignored", "[CPL_REMOVE_001]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_REQUIRE_ADD(p.handle, &in);
    completion_port_remove(nullptr, sp.a);
    completion_port_remove(nullptr, INVALID_SOCKET);
    /* The op of the real port is untouched: it completes on its event. */
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "data", 4));
    CPK_REQUIRE("CPL_REMOVE_001", rec.wait_op(0, cpk::kWaitMs));
    CPK_CHECK("CPL_REMOVE_001",
              cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 4) == "");
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: INVALID_SOCKET is ignored and pending ops stay", "[CPL_REMOVE_002]") {
    auto [r, h] = cpk::unix_pairs<2>();
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, buf, sizeof buf);
    COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(1, EPOLLRDHUP, h.a);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE_ADD(p.handle, &hup);
    cpk::record_start();
    completion_port_remove(p.handle, INVALID_SOCKET);
    cpk::record_stop();
    std::vector<cpk::CallRecord> del = cpk::records(cpk::Fn::epoll_ctl);
    {
        INFO(rec.dump() << "epoll_ctl calls during remove(INVALID_SOCKET):\n" << cpk::describe_calls(del));
        CPK_CHECK("CPL_REMOVE_002", rec.count() == 0);
        CPK_CHECK("CPL_REMOVE_002", del.empty());
    }
    CPK_KIT_REQUIRE(cpk::write_all(r.b, "data", 4));
    CPK_KIT_REQUIRE(cpk::shutdown_wr(h.b));
    CPK_REQUIRE("CPL_REMOVE_002", rec.wait_op(0, cpk::kWaitMs));
    CPK_REQUIRE("CPL_REMOVE_002", rec.wait_op(1, cpk::kWaitMs));
    CPK_CHECK("CPL_REMOVE_002", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN) == "");
    CPK_CHECK("CPL_REMOVE_002", cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLRDHUP) == "");
    finish(r, h);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: the socket is deleted from epoll with EPOLL_CTL_DEL", "[CPL_REMOVE_003]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_REQUIRE_ADD(p.handle, &in);
    /* The add registered the socket (EPOLL_CTL_ADD after MOD's ENOENT). */
    if (p.epfd >= 0) CPK_CHECK("CPL_ADD_006", cpk::epoll_registered(p.epfd, sp.a));
    cpk::record_start();
    completion_port_remove(p.handle, sp.a);
    cpk::record_stop();
    std::vector<cpk::CallRecord> ctl = cpk::epoll_ctl_records(sp.a);
    bool del = false;
    std::string calls;
    for (const cpk::CallRecord& r : ctl) {
        calls += cpk::describe(r) + "\n";
        if (r.op == EPOLL_CTL_DEL && r.result == 0 && (p.epfd < 0 || r.fd == p.epfd)) del = true;
    }
    INFO("epoll_ctl calls on the socket during remove:\n" << (calls.empty() ? std::string("none\n") : calls));
    CPK_CHECK("CPL_REMOVE_003", del);
    if (p.epfd >= 0) CPK_CHECK("CPL_REMOVE_003", !cpk::epoll_registered(p.epfd, sp.a));
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: removed ops get no event-driven completion for later events",
                 "[CPL_REMOVE_004]") {
    auto [r, h, w] = cpk::unix_pairs<3>();
    cpk::set_send_buffer(w.a, 4096);
    CPK_KIT_REQUIRE(cpk::fill_send_buffer(w.a) > 0);
    static char rbuf[4];
    static char wbuf[64];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(1, EPOLLRDHUP, h.a);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(2, EPOLLOUT, w.a, wbuf, sizeof wbuf);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE_ADD(p.handle, &hup);
    CPK_REQUIRE_ADD(p.handle, &out);
    completion_port_remove(p.handle, r.a);
    completion_port_remove(p.handle, h.a);
    completion_port_remove(p.handle, w.a);
    /* Each op's event now happens; the sentinel proves the worker saw them. */
    CPK_KIT_REQUIRE(cpk::write_all(r.b, "data", 4));
    CPK_KIT_REQUIRE(cpk::shutdown_wr(h.b));
    cpk::drain(w.b);
    CPK_CHECK("CPL_REMOVE_004", cpk::sentinel(p.handle, rec, 3));
    INFO(rec.dump());
    for (size_t op = 0; op < 3; ++op)
        for (const cpk::CallbackRecord& c : rec.for_op(op)) {
            INFO(cpk::describe(c));
            CPK_CHECK("CPL_REMOVE_004", !event_driven(c.action));
        }
    /* The data is still there for whoever reads the socket next. */
    CPK_CHECK("CPL_REMOVE_004", cpk::readable_bytes(r.a) == 4);
    finish(r, h, w);
}

TEST_CASE("remove: an op whose event races remove gets at most one callback", "[CPL_ADD_010]") {
    cpk::Guard guard;
    RemoveRace r = race_remove(64);
    INFO(r.first_problem);
    CPK_REQUIRE("CPL_CREATE_004", !r.create_failed);
    CPK_REQUIRE("CPL_ADD_007", r.add_failed == 0);
    CPK_CHECK("CPL_ADD_010", r.more_than_once == 0);
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: an op whose event races remove completes once before remove returns",
          "[CPL_REMOVE_005][CPL_REMOVE_006]") {
    cpk::Guard guard;
    RemoveRace r = race_remove(64);
    INFO(r.first_problem);
    CPK_REQUIRE("CPL_CREATE_004", !r.create_failed);
    CPK_REQUIRE("CPL_ADD_007", r.add_failed == 0);
    CPK_CHECK("CPL_ADD_010", r.more_than_once == 0);
    CPK_CHECK("CPL_REMOVE_005", r.none == 0);
    CPK_CHECK("CPL_REMOVE_005", r.late_closing == 0);
    CPK_CHECK("CPL_REMOVE_006", r.late_event == 0);
    INFO("first wrong callback: " << r.first_wrong);
    CPK_CHECK("CPL_REMOVE_005", r.wrong == 0);
    CPK_GUARD_END(guard);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: pending ops complete once as closing on the caller before remove returns",
                 "[CPL_REMOVE_005]") {
    auto [warm, r, h] = cpk::unix_pairs<3>();
    static char wbuf[4], rbuf[4];
    /* Warm-up add/remove: what the port allocates once for its bookkeeping stays. */
    COMPLETION_PORT_INGRESS_DATA w = rec.ingress(9, EPOLLIN, warm.a, wbuf, sizeof wbuf);
    CPK_REQUIRE_ADD(p.handle, &w);
    completion_port_remove(p.handle, warm.a);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(1, EPOLLRDHUP, h.a);
    cpk::alloc_track_start();
    int rc_in = completion_port_add(p.handle, &in);
    int rc_hup = completion_port_add(p.handle, &hup);
    int64_t called = cpk::mono_ns();
    completion_port_remove(p.handle, r.a);
    completion_port_remove(p.handle, h.a);
    int64_t returned = cpk::mono_ns();
    cpk::alloc_track_stop();
    size_t live = cpk::live_tracked();
    CPK_REQUIRE("CPL_ADD_007", rc_in == 0);
    CPK_REQUIRE("CPL_ADD_007", rc_hup == 0);
    pid_t me = cpk::current_tid();
    /* Later events add nothing. */
    cpk::write_all(r.b, "late", 4);
    cpk::shutdown_wr(h.b);
    CPK_CHECK("CPL_REMOVE_005", cpk::sentinel(p.handle, rec, 2));
    INFO(rec.dump());
    for (size_t op = 0; op < 2; ++op)
        CPK_CHECK("CPL_REMOVE_005", cpk::closed_during_call(rec, op, me, called, returned) == "");
    INFO(live << " allocations made by add are still live after remove");
    CPK_CHECK("CPL_REMOVE_005", live == 0);
    finish(warm, r, h);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: a pending recv and a pending send on one socket both complete as closing",
                 "[CPL_REMOVE_005]") {
    cpk::SocketPair sp = unix_sockets();
    cpk::set_send_buffer(sp.a, 4096);
    CPK_KIT_REQUIRE(cpk::fill_send_buffer(sp.a) > 0);
    static char rbuf[4];
    static char sbuf[64];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE_ADD(p.handle, &out);
    completion_port_remove(p.handle, sp.a);
    int64_t returned = cpk::mono_ns();
    INFO(rec.dump());
    for (size_t op = 0; op < 2; ++op) {
        CPK_REQUIRE("CPL_REMOVE_005",
                    cpk::one_callback(rec, op, COMPLETION_PORT_CLOSING, COMPLETION_PORT_RESULT_ABANDONED, 0) == "");
        cpk::CallbackRecord c = rec.for_op(op).at(0);
        INFO(cpk::describe(c) << " ended " << (c.end_ns - returned) / 1000 << " us after remove returned");
        CPK_CHECK("CPL_REMOVE_005", c.end_ns != 0);
        CPK_CHECK("CPL_REMOVE_005", c.end_ns <= returned);
    }
    release();
    /* Each op had its one completion: the release adds none. */
    CPK_CHECK("CPL_ADD_010", rec.count() == 2);
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: remove waits for a running callback of the socket", "[CPL_REMOVE_006]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[4];
    cpk::Latch& latch = cpk::hold_callback(rec, 0, kHoldMs + cpk::kWaitMs);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "data", 4));
    CPK_REQUIRE("CPL_RECV_005", rec.wait_op(0, cpk::kWaitMs)); /* the callback is running, held by the latch */
    COMPLETION_PORT_HANDLE h = p.handle;
    int s = sp.a;
    cpk::HeldCall remove = cpk::call_while_held([h, s] { completion_port_remove(h, s); }, "completion_port_remove",
                                                latch, cpk::kWaitMs, kHoldMs);
    bool callback_returned = rec.wait_op_finished(0, cpk::kWaitMs);
    int64_t callback_end = rec.at(0).end_ns;
    INFO("callback held " << kHoldMs << " ms; " << rec.dump());
    CPK_CHECK("CPL_REMOVE_006", !remove.returned_early);
    CPK_REQUIRE("CPL_REMOVE_006", remove.returned_after);
    CPK_REQUIRE("CPL_REMOVE_006", callback_returned);
    INFO("the callback returned at " << callback_end << " ns, remove at " << remove.done_ns << " ns");
    CPK_CHECK("CPL_REMOVE_006", remove.done_ns >= callback_end);
    finish(sp);
}

TEST_CASE("remove: remove inside a callback of the socket does not wait for itself", "[CPL_REMOVE_006]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::SocketPair sp = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp.ok());
        static char buf[4], next_buf[4];
        static COMPLETION_PORT_HANDLE h = nullptr;
        static std::atomic<int> rearm_rc{-12345};
        rearm_rc = -12345;
        /* The callback re-arms the socket, then removes it: the remove has a
         * pending op of its own socket to dispose of while inside the callback. */
        static COMPLETION_PORT_INGRESS_DATA next;
        next = rec.ingress(2, EPOLLIN, sp.a, next_buf, sizeof next_buf);
        int s = sp.a;
        rec.op(0).hook = [s](cpk::Op&, const cpk::CallbackRecord&) {
            rearm_rc = completion_port_add(h, &next);
            completion_port_remove(h, s);
        };
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        /* From create to the final dec_ref the port's allocations are tracked:
         * what the remove inside the callback took over must be freed by the
         * release at the latest (no test allocation in between; facts first). */
        cpk::alloc_track_start();
        cpk::PortInfo p = cpk::create_port();
        h = p.handle;
        bool created = p.handle != nullptr;
        bool added = created && completion_port_add(p.handle, &in) == 0;
        bool written = added && cpk::write_all(sp.b, "data", 4);
        /* A remove that waits for its own callback never returns: bounded wait. */
        bool hook_returned = written && rec.wait_op_finished(0, cpk::kWaitMs);
        /* The port still works. */
        bool works = hook_returned && cpk::sentinel(p.handle, rec, 1);
        bool released = true;
        if (hook_returned) {
            cpk::PhaseScope phase("release");
            completion_port_dec_ref(p.handle);
        } else {
            released = false;
        }
        const cpk::Tracked tracked = cpk::stop_tracking();
        CPK_REQUIRE("CPL_CREATE_004", created);
        CPK_REQUIRE("CPL_ADD_007", added);
        CPK_KIT_REQUIRE(written);
        INFO(rec.dump());
        CPK_REQUIRE("CPL_REMOVE_006", hook_returned);
        INFO("completion_port_add inside the callback returned " << rearm_rc.load());
        CPK_CHECK("CPL_ADD_017", rearm_rc.load() == 0);
        CPK_CHECK("CPL_REMOVE_006", works);
        CPK_KIT_REQUIRE(released);
        CPK_KIT_REQUIRE(!tracked.overflow);
        INFO(tracked.live << " allocation(s) (" << tracked.bytes
                          << " bytes) made since create are still live after the final dec_ref");
        CPK_CHECK("CPL_DECREF_005", tracked.live == 0);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE_METHOD(cpk::PortCase, "remove: a socket that was never added is ignored", "[CPL_REMOVE_007]") {
    auto [used, unused] = cpk::unix_pairs<2>();
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, used.a, buf, sizeof buf);
    CPK_REQUIRE_ADD(p.handle, &in);
    completion_port_remove(p.handle, unused.a);
    completion_port_remove(p.handle, cpk::closed_fd_number());
    CPK_CHECK("CPL_REMOVE_007", rec.count() == 0);
    CPK_KIT_REQUIRE(cpk::write_all(used.b, "data", 4));
    CPK_REQUIRE("CPL_REMOVE_007", rec.wait_op(0, cpk::kWaitMs));
    CPK_CHECK("CPL_REMOVE_007", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN) == "");
    /* The removed-but-unknown socket can be added afterwards. */
    COMPLETION_PORT_INGRESS_DATA later = rec.ingress(1, EPOLLIN, unused.a, buf, sizeof buf);
    CPK_REQUIRE_ADD(p.handle, &later);
    CPK_KIT_REQUIRE(cpk::write_all(unused.b, "more", 4));
    CPK_CHECK("CPL_REMOVE_007", rec.wait_op(1, cpk::kWaitMs));
    finish(used, unused);
}
