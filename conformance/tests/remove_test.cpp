/* Section 6 of the spec: completion_port_remove (CPL_REMOVE_*). */
#include <catch2/catch.hpp>

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
    int more_than_once = 0;
    int none = 0;
    int late = 0;   /* a callback that ended after remove returned */
    int wrong = 0;  /* neither (EPOLLIN, OK, 1) nor (CLOSING, ABANDONED, 0) */
    std::string first_problem;
};

RemoveRace race_remove(int rounds) {
    RemoveRace r;
    cpk::Recorder& rec = cpk::persistent_recorder(static_cast<size_t>(rounds) + 1);
    static char bufs[256][1];
    cpk::PortInfo p = cpk::create_port();
    if (!p.handle) {
        r.first_problem = "create failed";
        return r;
    }
    std::vector<int64_t> returned(static_cast<size_t>(rounds));
    for (int i = 0; i < rounds; ++i) {
        cpk::SocketPair sp = cpk::unix_pair();
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(static_cast<size_t>(i), EPOLLIN, sp.a, bufs[i % 256], 1);
        if (completion_port_add(p.handle, &in) != 0) {
            r.first_problem = "add failed";
            break;
        }
        cpk::write_all(sp.b, "x", 1);
        completion_port_remove(p.handle, sp.a);
        returned[static_cast<size_t>(i)] = cpk::mono_ns();
    }
    cpk::sentinel(p.handle, rec, static_cast<size_t>(rounds));
    completion_port_dec_ref(p.handle);
    for (int i = 0; i < rounds; ++i) {
        std::vector<cpk::CallbackRecord> v = rec.for_op(static_cast<size_t>(i));
        ++r.ops;
        if (v.size() > 1) ++r.more_than_once;
        if (v.empty()) ++r.none;
        for (const cpk::CallbackRecord& c : v) {
            if (c.end_ns == 0 || c.end_ns > returned[static_cast<size_t>(i)]) ++r.late;
            bool in = c.action == COMPLETION_PORT_EPOLL_EPOLLIN && c.result == COMPLETION_PORT_RESULT_OK && c.amount == 1;
            bool closing = c.action == COMPLETION_PORT_CLOSING && c.result == COMPLETION_PORT_RESULT_ABANDONED && c.amount == 0;
            if (!in && !closing) ++r.wrong;
        }
        if (v.size() > 1 && r.first_problem.empty()) r.first_problem = "op " + std::to_string(i) + ":\n" + rec.dump();
    }
    return r;
}

} // namespace

TEST_CASE("remove: a NULL port is ignored", "[CPL_REMOVE_001]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        completion_port_remove(nullptr, sp.a);
        completion_port_remove(nullptr, INVALID_SOCKET);
        /* The op of the real port is untouched: it completes on its event. */
        REQUIRE(cpk::write_all(sp.b, "data", 4));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        INFO(rec.dump());
        CHECK(rec.at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(rec.at(0).amount == 4);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: INVALID_SOCKET is ignored and pending ops stay", "[CPL_REMOVE_002]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair r = cpk::unix_pair(), h = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, buf, sizeof buf);
        COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(1, EPOLLRDHUP, h.a);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(completion_port_add(p.handle, &hup) == 0);
        cpk::record_start();
        completion_port_remove(p.handle, INVALID_SOCKET);
        cpk::record_stop();
        CHECK(rec.count() == 0);
        std::vector<cpk::CallRecord> del = cpk::records(cpk::Fn::epoll_ctl);
        CHECK(del.empty());
        REQUIRE(cpk::write_all(r.b, "data", 4));
        REQUIRE(cpk::shutdown_wr(h.b));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        REQUIRE(rec.wait_op(1, cpk::kWaitMs));
        INFO(rec.dump());
        CHECK(rec.for_op(0).at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(rec.for_op(1).at(0).action == COMPLETION_PORT_EPOLL_EPOLLRDHUP);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: the socket is deleted from epoll with EPOLL_CTL_DEL", "[CPL_REMOVE_003]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        if (p.epfd >= 0) CHECK(cpk::epoll_registered(p.epfd, sp.a));
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
        INFO("epoll_ctl calls on the socket during remove:\n" << calls);
        CHECK(del);
        if (p.epfd >= 0) CHECK(!cpk::epoll_registered(p.epfd, sp.a));
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: removed ops get no event-driven completion for later events", "[CPL_REMOVE_004]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair r = cpk::unix_pair(), h = cpk::unix_pair(), w = cpk::unix_pair();
        cpk::set_send_buffer(w.a, 4096);
        REQUIRE(cpk::fill_send_buffer(w.a) > 0);
        static char rbuf[4];
        static char wbuf[64];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
        COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(1, EPOLLRDHUP, h.a);
        COMPLETION_PORT_INGRESS_DATA out = rec.ingress(2, EPOLLOUT, w.a, wbuf, sizeof wbuf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(completion_port_add(p.handle, &hup) == 0);
        REQUIRE(completion_port_add(p.handle, &out) == 0);
        completion_port_remove(p.handle, r.a);
        completion_port_remove(p.handle, h.a);
        completion_port_remove(p.handle, w.a);
        /* Each op's event now happens; the sentinel proves the worker saw them. */
        REQUIRE(cpk::write_all(r.b, "data", 4));
        REQUIRE(cpk::shutdown_wr(h.b));
        cpk::drain(w.b);
        CHECK(cpk::sentinel(p.handle, rec, 3));
        INFO(rec.dump());
        for (size_t op = 0; op < 3; ++op)
            for (const cpk::CallbackRecord& c : rec.for_op(op)) CHECK(!event_driven(c.action));
        /* The data is still there for whoever reads the socket next. */
        CHECK(cpk::readable_bytes(r.a) == 4);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: an op whose event races remove gets at most one callback", "[CPL_ADD_010]") {
    cpk::Guard guard;
    RemoveRace r = race_remove(64);
    INFO(r.first_problem);
    CHECK(r.ops == 64);
    CHECK(r.more_than_once == 0);
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: an op whose event races remove completes once before remove returns",
          "[CPL_REMOVE_005][CPL_REMOVE_006]") {
    cpk::Guard guard;
    RemoveRace r = race_remove(64);
    INFO(r.first_problem);
    CHECK(r.ops == 64);
    CHECK(r.more_than_once == 0);
    CHECK(r.none == 0);
    CHECK(r.late == 0);
    CHECK(r.wrong == 0);
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: pending ops complete once as closing on the caller before remove returns",
          "[CPL_REMOVE_005]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair warm = cpk::unix_pair(), r = cpk::unix_pair(), h = cpk::unix_pair();
        static char wbuf[4], rbuf[4];
        /* Warm-up add/remove: what the port allocates once for its bookkeeping stays. */
        COMPLETION_PORT_INGRESS_DATA w = rec.ingress(9, EPOLLIN, warm.a, wbuf, sizeof wbuf);
        REQUIRE(completion_port_add(p.handle, &w) == 0);
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
        REQUIRE(rc_in == 0);
        REQUIRE(rc_hup == 0);
        pid_t me = cpk::current_tid();
        /* Later events add nothing. */
        cpk::write_all(r.b, "late", 4);
        cpk::shutdown_wr(h.b);
        CHECK(cpk::sentinel(p.handle, rec, 2));
        INFO(rec.dump());
        for (size_t op = 0; op < 2; ++op) CHECK(cpk::closed_during_call(rec, op, me, called, returned) == "");
        INFO(live << " allocations made by add are still live after remove");
        CHECK(live == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: a pending recv and a pending send on one socket both complete as closing",
          "[CPL_REMOVE_005]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        cpk::set_send_buffer(sp.a, 4096);
        REQUIRE(cpk::fill_send_buffer(sp.a) > 0);
        static char rbuf[4];
        static char sbuf[64];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, rbuf, sizeof rbuf);
        COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(completion_port_add(p.handle, &out) == 0);
        completion_port_remove(p.handle, sp.a);
        int64_t returned = cpk::mono_ns();
        INFO(rec.dump());
        for (size_t op = 0; op < 2; ++op) {
            INFO("op " << op);
            std::vector<cpk::CallbackRecord> v = rec.for_op(op);
            REQUIRE(v.size() == 1);
            CHECK(v[0].action == COMPLETION_PORT_CLOSING);
            CHECK(v[0].result == COMPLETION_PORT_RESULT_ABANDONED);
            CHECK(v[0].amount == 0);
            CHECK(v[0].end_ns <= returned);
        }
        completion_port_dec_ref(p.handle);
        CHECK(rec.count() == 2);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: remove waits for a running callback of the socket", "[CPL_REMOVE_006]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[4];
        cpk::Latch& latch = cpk::hold_callback(rec, 0);
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(cpk::write_all(sp.b, "data", 4));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));  /* the callback is running, held by the latch */
        COMPLETION_PORT_HANDLE h = p.handle;
        int s = sp.a;
        cpk::HeldCall remove = cpk::call_while_held([h, s] { completion_port_remove(h, s); }, "completion_port_remove",
                                                    latch, cpk::kWaitMs);
        REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
        int64_t callback_end = rec.at(0).end_ns;
        INFO("remove returned while the socket's callback was still running");
        CHECK(!remove.returned_early);
        CHECK(remove.returned_after);
        CHECK(callback_end != 0);
        CHECK(remove.done_ns >= callback_end);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: remove inside a callback of the socket does not wait for itself", "[CPL_REMOVE_006]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_HANDLE h = p.handle;
        int s = sp.a;
        rec.op(0).hook = [h, s](cpk::Op&, const cpk::CallbackRecord&) { completion_port_remove(h, s); };
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(cpk::write_all(sp.b, "data", 4));
        /* A remove that waits for its own callback never returns: bounded wait. */
        REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
        /* The port still works. */
        CHECK(cpk::sentinel(p.handle, rec, 1));
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("remove: a socket that was never added is ignored", "[CPL_REMOVE_007]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair used = cpk::unix_pair(), unused = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, used.a, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        completion_port_remove(p.handle, unused.a);
        completion_port_remove(p.handle, cpk::closed_fd_number());
        CHECK(rec.count() == 0);
        REQUIRE(cpk::write_all(used.b, "data", 4));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        CHECK(rec.at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        /* The removed-but-unknown socket can be added afterwards. */
        COMPLETION_PORT_INGRESS_DATA later = rec.ingress(1, EPOLLIN, unused.a, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &later) == 0);
        REQUIRE(cpk::write_all(unused.b, "more", 4));
        CHECK(rec.wait_op(1, cpk::kWaitMs));
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}
