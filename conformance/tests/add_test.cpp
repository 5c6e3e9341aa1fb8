/* Section 5 of the spec: completion_port_add (CPL_ADD_*). */
#include "cpk_catch.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "harness.h"

namespace {

/* Every epoll_ctl on `fd`, as text, for failure messages. */
std::string ctl_calls(int fd) {
    std::string s = cpk::describe_calls(cpk::epoll_ctl_records(fd));
    return s.empty() ? std::string("(no epoll_ctl on the socket)") : s;
}

/* Adds recv op `op` (ingress `in`), which must be refused (`what` says why;
 * requirement `req`): add fails, the op gets no callback and the port still
 * completes a sentinel (op `sentinel_op`). A socket of such an op is made
 * readable first, so that a wrongly accepted op would complete. */
void check_refused(const char* req, COMPLETION_PORT_HANDLE port, cpk::Recorder& rec,
                   const COMPLETION_PORT_INGRESS_DATA& in, size_t op, size_t sentinel_op, const char* what) {
    INFO(what);
    int rc;
    {
        cpk::LsanIgnore lsan; /* a leak of the refused add is CPL_ADD_015's */
        rc = completion_port_add(port, &in);
    }
    bool sentinel_ok = cpk::sentinel(port, rec, sentinel_op);
    INFO("completion_port_add returned " << rc << "\n" << rec.dump());
    CPK_CHECK(req, rc != 0);
    CPK_CHECK(req, sentinel_ok);
    CPK_CHECK(req, rec.calls(op) == 0);
}

/* Every EPOLL_CTL_ADD of `fd` fails with `err` (a MOD goes through). */
cpk::Fault ctl_add_fails(int fd, int err) {
    cpk::Fault f = cpk::failing(cpk::Fn::epoll_ctl, fd, err, 1, 0);
    f.op = EPOLL_CTL_ADD;
    return f;
}

/* Adds op `op` with epoll_op `mask` on a fresh socket, recording: add must
 * succeed and its first epoll_ctl on the socket be EPOLL_CTL_MOD with `mask`
 * (EPOLLONESHOT aside), on `epfd` unless it is -1. Removes the op. */
void check_first_ctl_is_mod(COMPLETION_PORT_HANDLE port, cpk::Recorder& rec, size_t op, uint32_t mask, int epfd) {
    static char buf[8][8];
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, static_cast<int>(mask), sp.a, buf[op % 8], sizeof buf[0]);
    uint64_t mark = cpk::thread_ctl_mark();
    cpk::record_start();
    int rc = completion_port_add(port, &in);
    cpk::record_stop();
    std::vector<cpk::CallRecord> ctl = cpk::epoll_ctl_records(sp.a);
    INFO("epoll_op " << cpk::events_name(mask) << "; completion_port_add returned " << rc << "\n" << ctl_calls(sp.a));
    /* The first call is checked before the result: a wrong first call explains a failed add. */
    CPK_REQUIRE("CPL_ADD_005", !ctl.empty());
    CPK_CHECK("CPL_ADD_005", ctl[0].op == EPOLL_CTL_MOD);
    CPK_CHECK("CPL_ADD_005", (ctl[0].events & ~static_cast<uint32_t>(EPOLLONESHOT)) == mask);
    if (epfd >= 0) CPK_CHECK("CPL_ADD_005", ctl[0].fd == epfd);
    CPK_REQUIRE(rc == 0 ? "CPL_ADD_007" : cpk::add_failure_requirement(mark), rc == 0);
    completion_port_remove(port, sp.a);
}

/* An op that did not complete as the concurrency test expects, as recorded. */
std::string bad_op(size_t op, const std::vector<cpk::CallbackRecord>& v, const char* what) {
    std::string s = "op " + std::to_string(op) + ": " + what + ", " + std::to_string(v.size()) + " callback(s)";
    for (const cpk::CallbackRecord& c : v) s += "\n    " + cpk::describe(c);
    return s + "\n";
}

} // namespace

TEST_CASE("add: a NULL port is refused without a callback", "[CPL_ADD_001]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::SocketPair sp = cpk::unix_pair();
        CPK_KIT_REQUIRE(cpk::write_all(sp.b, "data", 4));
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        CPK_CHECK("CPL_ADD_001", completion_port_add(nullptr, &in) != 0);
        /* A port that exists must not pick the op up either. */
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        CPK_CHECK("CPL_ADD_001", cpk::sentinel(p.handle, rec, 1));
        INFO(rec.dump());
        CPK_CHECK("CPL_ADD_001", rec.calls(0) == 0);
        CPK_RELEASE(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE_METHOD(cpk::PortCase, "add: NULL ingress data is refused and the port keeps working", "[CPL_ADD_002]") {
    CPK_CHECK("CPL_ADD_002", completion_port_add(p.handle, nullptr) != 0);
    CPK_CHECK("CPL_ADD_002", cpk::sentinel(p.handle, rec, 0));
    INFO(rec.dump());
    CPK_CHECK("CPL_ADD_002", rec.count() == 1);
    finish();
}

TEST_CASE_METHOD(cpk::PortCaseOf<512>, "add: a failed allocation makes add fail without a callback", "[CPL_ADD_003]") {
    static char buf[64][4];
    std::string wrong;
    int failed_allocs = 0;
    bool untouched_added = false;
    bool completed_untouched = false;
    for (unsigned nth = 1; nth <= 60; ++nth) {
        cpk::SocketPair sp = cpk::unix_pair();
        CPK_KIT_REQUIRE(cpk::write_all(sp.b, "data", 4));
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(nth, EPOLLIN, sp.a, buf[nth], 4);
        int id = cpk::inject(cpk::alloc_failure(nth));
        int rc;
        {
            cpk::LsanIgnore lsan; /* a leak of the failed add is CPL_ADD_015's */
            rc = completion_port_add(p.handle, &in);
        }
        bool fired = cpk::fault_fired(id) > 0;
        cpk::clear_faults();
        CPK_KIT_REQUIRE(id >= 0);
        if (!fired) {
            /* add made fewer allocations than nth: it ran untouched and must work */
            untouched_added = rc == 0;
            completed_untouched = untouched_added && rec.wait_op(nth, cpk::kWaitMs);
            break;
        }
        ++failed_allocs;
        bool sentinel_ok = cpk::sentinel(p.handle, rec, 100 + nth);
        if (rc == 0) wrong += "allocation #" + std::to_string(nth) + " failed but add returned 0\n";
        if (rec.calls(nth) != 0) wrong += "allocation #" + std::to_string(nth) + " failed but the op got a callback\n";
        if (!sentinel_ok) wrong += "after allocation #" + std::to_string(nth) + " failed the port stopped working\n";
        if (rc == 0) completion_port_remove(p.handle, sp.a);
    }
    INFO("allocations made by add and failed one at a time: " << failed_allocs);
    CPK_CHECK("CPL_ADD_003", wrong == "");
    CPK_CHECK("CPL_ADD_007", untouched_added);
    CPK_CHECK("CPL_ADD_007", completed_untouched);
    finish();
}

TEST_CASE_METHOD(cpk::PortCase, "add: the first epoll_ctl on a new socket is EPOLL_CTL_MOD with epoll_op",
                 "[CPL_ADD_005]") {
    const uint32_t masks[] = {EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLIN | EPOLLRDHUP};
    for (size_t i = 0; i < 4; ++i) check_first_ctl_is_mod(p.handle, rec, i, masks[i], p.epfd);
    finish();
}

TEST_CASE_METHOD(cpk::PortCase, "add: the first EPOLL_CTL_MOD keeps every bit of epoll_op including EPOLLET",
                 "[CPL_ADD_005]") {
    /* "events equal to epoll_op, optionally with EPOLLONESHOT added": the
     * trigger mode the caller chose is part of epoll_op. */
    const uint32_t masks[] = {EPOLLIN | EPOLLET, EPOLLOUT | EPOLLET, EPOLLIN | EPOLLRDHUP | EPOLLET};
    for (size_t i = 0; i < 3; ++i) check_first_ctl_is_mod(p.handle, rec, i, masks[i], -1);
    finish();
}

TEST_CASE_METHOD(cpk::PortCase, "add: ENOENT from EPOLL_CTL_MOD is followed by EPOLL_CTL_ADD with the same events",
                 "[CPL_ADD_006]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
    uint64_t mark = cpk::thread_ctl_mark();
    cpk::record_start();
    int rc = completion_port_add(p.handle, &in);
    cpk::record_stop();
    std::vector<cpk::CallRecord> ctl = cpk::epoll_ctl_records(sp.a);
    INFO("completion_port_add returned " << rc << "\n" << ctl_calls(sp.a));
    /* Without a first EPOLL_CTL_MOD there is no ENOENT to follow (CPL_ADD_005's failure). */
    CPK_REQUIRE("CPL_ADD_005", (!ctl.empty() && ctl[0].op == EPOLL_CTL_MOD));
    CPK_CHECK("CPL_ADD_006", ctl[0].result == -1);
    CPK_CHECK("CPL_ADD_006", ctl[0].err == ENOENT);
    CPK_REQUIRE("CPL_ADD_006", ctl.size() >= 2);
    CPK_CHECK("CPL_ADD_006", ctl[1].op == EPOLL_CTL_ADD);
    CPK_CHECK("CPL_ADD_006", ctl[1].fd == ctl[0].fd);
    CPK_CHECK("CPL_ADD_006", ctl[1].events == ctl[0].events);
    CPK_CHECK("CPL_ADD_006", ctl[1].result == 0);
    CPK_REQUIRE(rc == 0 ? "CPL_ADD_007" : cpk::add_failure_requirement(mark), rc == 0);
    /* The registration made by ADD delivers the op's event. */
    cpk::check_received("CPL_ADD_006", rec, 0, sp.b, buf, "abcd");
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a valid add returns 0 and its op completes", "[CPL_ADD_007]") {
    auto [r, s] = cpk::unix_pairs<2>();
    static char rbuf[3];
    static char sbuf[3] = {'x', 'y', 'z'};
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, sbuf, sizeof sbuf);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE_ADD(p.handle, &out);
    CPK_KIT_REQUIRE(cpk::write_all(r.b, "abc", 3));
    CPK_CHECK("CPL_ADD_007", rec.wait_op(0, cpk::kWaitMs));
    CPK_CHECK("CPL_ADD_007", rec.wait_op(1, cpk::kWaitMs));
    INFO(rec.dump());
    /* What the completions said, then what moved. */
    CPK_CHECK("CPL_RECV_005",
              cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 3) == "");
    CPK_CHECK("CPL_SEND_001",
              cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 3) == "");
    CPK_CHECK("CPL_RECV_006", memcmp(rbuf, "abc", 3) == 0);
    char got[3];
    CPK_CHECK("CPL_SEND_001", cpk::read_exact(s.b, got, 3));
    CPK_CHECK("CPL_SEND_001", memcmp(got, "xyz", 3) == 0);
    finish(r, s);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a closed descriptor is refused without a callback", "[CPL_ADD_008]") {
    static char buf[4];
    int bad = cpk::closed_fd_number();
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, bad, buf, sizeof buf);
    check_refused("CPL_ADD_008", p.handle, rec, in, 0, 1, "a closed descriptor");
    finish();
}

TEST_CASE_METHOD(cpk::PortCase, "add: a regular file is refused without a callback", "[CPL_ADD_008]") {
    cpk::Fd file = cpk::regular_file();
    CPK_KIT_REQUIRE(file.valid());
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, file, buf, sizeof buf);
    check_refused("CPL_ADD_008", p.handle, rec, in, 0, 1, "a regular file");
    finish(file);
}

TEST_CASE_METHOD(cpk::PortCase, "add: any other epoll_ctl failure is refused without a callback", "[CPL_ADD_008]") {
    static char buf[3][4];
    /* MOD itself fails with ENOMEM: no ADD retry, no success. */
    cpk::SocketPair s1 = cpk::unix_pair();
    CPK_KIT_REQUIRE(cpk::write_all(s1.b, "data", 4));
    CPK_KIT_REQUIRE(cpk::inject(cpk::failing(cpk::Fn::epoll_ctl, s1.a, ENOMEM, 1, 0)) >= 0);
    COMPLETION_PORT_INGRESS_DATA in1 = rec.ingress(0, EPOLLIN, s1.a, buf[0], 4);
    check_refused("CPL_ADD_008", p.handle, rec, in1, 0, 2, "EPOLL_CTL_MOD fails with ENOMEM");
    cpk::clear_faults();
    /* MOD gives ENOENT, the ADD that follows fails with ENOSPC. */
    cpk::SocketPair s2 = cpk::unix_pair();
    CPK_KIT_REQUIRE(cpk::write_all(s2.b, "data", 4));
    CPK_KIT_REQUIRE(cpk::inject(ctl_add_fails(s2.a, ENOSPC)) >= 0);
    COMPLETION_PORT_INGRESS_DATA in2 = rec.ingress(1, EPOLLIN, s2.a, buf[1], 4);
    check_refused("CPL_ADD_008", p.handle, rec, in2, 1, 3,
                  "EPOLL_CTL_MOD gives ENOENT, EPOLL_CTL_ADD fails with ENOSPC");
    cpk::clear_faults();
    /* Only the first MOD fails, with ENOMEM: an add that falls back to
     * EPOLL_CTL_ADD on any error (not only ENOENT) would succeed here. */
    cpk::SocketPair s3 = cpk::unix_pair();
    CPK_KIT_REQUIRE(cpk::write_all(s3.b, "data", 4));
    cpk::Fault mod_once = cpk::failing(cpk::Fn::epoll_ctl, s3.a, ENOMEM, 1, 1);
    mod_once.op = EPOLL_CTL_MOD;
    CPK_KIT_REQUIRE(cpk::inject(mod_once) >= 0);
    COMPLETION_PORT_INGRESS_DATA in3 = rec.ingress(4, EPOLLIN, s3.a, buf[2], 4);
    check_refused("CPL_ADD_008", p.handle, rec, in3, 4, 5, "the first EPOLL_CTL_MOD fails with ENOMEM, once");
    cpk::clear_faults();
    release();
    /* Nothing came afterwards either (closing or otherwise). */
    INFO(rec.dump());
    CPK_CHECK("CPL_ADD_008", rec.calls(0) == 0);
    CPK_CHECK("CPL_ADD_008", rec.calls(1) == 0);
    CPK_CHECK("CPL_ADD_008", rec.calls(4) == 0);
    finish(s1, s2, s3);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a socket is added again after each completion", "[CPL_ADD_009]") {
    cpk::SocketPair sp = unix_sockets();
    static char buf[8];
    for (int i = 0; i < 8; ++i) {
        INFO("round " << i);
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(static_cast<size_t>(i), EPOLLIN, sp.a, &buf[i], 1);
        if (i == 0) {
            CPK_REQUIRE_ADD(p.handle, &in);
        } else {
            int rc = completion_port_add(p.handle, &in);
            INFO("completion_port_add returned " << rc << "\n" << ctl_calls(sp.a));
            CPK_REQUIRE("CPL_ADD_009", rc == 0);
        }
        char c = static_cast<char>('a' + i);
        CPK_KIT_REQUIRE(cpk::write_all(sp.b, &c, 1));
        CPK_REQUIRE("CPL_ADD_009", rec.wait_op(static_cast<size_t>(i), cpk::kWaitMs));
        CPK_CHECK("CPL_ADD_009", cpk::one_callback(rec, static_cast<size_t>(i), COMPLETION_PORT_EPOLL_EPOLLIN,
                                                   COMPLETION_PORT_RESULT_OK, 1) == "");
        CPK_CHECK("CPL_ADD_009", buf[i] == c);
    }
    /* Sends re-armed the same way. */
    static char out[4] = {'s', 'e', 'n', 'd'};
    for (int i = 0; i < 4; ++i) {
        INFO("send round " << i);
        size_t op = static_cast<size_t>(10 + i);
        COMPLETION_PORT_INGRESS_DATA o = rec.ingress(op, EPOLLOUT, sp.a, &out[i], 1);
        int rc = completion_port_add(p.handle, &o);
        INFO("completion_port_add returned " << rc << "\n" << ctl_calls(sp.a));
        CPK_REQUIRE("CPL_ADD_009", rc == 0);
        CPK_REQUIRE("CPL_ADD_009", rec.wait_op(op, cpk::kWaitMs));
        CPK_CHECK("CPL_ADD_009",
                  cpk::one_callback(rec, op, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 1) == "");
    }
    char got[4];
    CPK_CHECK("CPL_ADD_009", cpk::read_exact(sp.b, got, 4));
    CPK_CHECK("CPL_ADD_009", memcmp(got, out, 4) == 0);
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a level-triggered re-fire never reaches a completed op", "[CPL_ADD_010]") {
    cpk::SocketPair r = cpk::unix_pair(), s = cpk::unix_pair(), o = cpk::unix_pair(), both = cpk::unix_pair();
    CPK_KIT_REQUIRE((r.ok() && s.ok() && o.ok() && both.ok()));
    static char rbuf[4], obuf[4], bbuf[4];
    static char sbuf[4] = {'1', '2', '3', '4'};
    /* r: 8 bytes for a 4-byte recv: the socket stays readable after completion. */
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
    /* s: a send op; the socket stays writable after completion. */
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, sbuf, sizeof sbuf);
    /* o: explicit EPOLLONESHOT from the caller. */
    COMPLETION_PORT_INGRESS_DATA one = rec.ingress(2, EPOLLIN | EPOLLONESHOT, o.a, obuf, sizeof obuf);
    /* both: several bits at once on a readable, writable socket. */
    COMPLETION_PORT_INGRESS_DATA multi = rec.ingress(3, EPOLLIN | EPOLLOUT | EPOLLRDHUP, both.a, bbuf, sizeof bbuf);
    CPK_KIT_REQUIRE(cpk::write_all(r.b, "abcdefgh", 8));
    CPK_KIT_REQUIRE(cpk::write_all(o.b, "abcdefgh", 8));
    CPK_KIT_REQUIRE(cpk::write_all(both.b, "abcdefgh", 8));
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE_ADD(p.handle, &out);
    CPK_REQUIRE_ADD(p.handle, &one);
    bool multi_added = completion_port_add(p.handle, &multi) == 0;
    {
        INFO(rec.dump());
        CPK_REQUIRE("CPL_ADD_007", rec.wait_op(0, cpk::kWaitMs));
        CPK_REQUIRE("CPL_ADD_007", rec.wait_op(1, cpk::kWaitMs));
        CPK_REQUIRE("CPL_ADD_007", rec.wait_op(2, cpk::kWaitMs));
        if (multi_added) CPK_REQUIRE("CPL_ADD_007", rec.wait_op(3, cpk::kWaitMs));
    }
    /* More data arrives on the completed recv sockets. */
    CPK_KIT_REQUIRE(cpk::write_all(r.b, "more", 4));
    CPK_KIT_REQUIRE(cpk::write_all(o.b, "more", 4));
    CPK_CHECK("CPL_ADD_010", cpk::sentinel(p.handle, rec, 10));
    CPK_CHECK("CPL_ADD_010", cpk::sentinel(p.handle, rec, 11));
    {
        INFO(rec.dump());
        CPK_CHECK("CPL_ADD_010", rec.calls(0) == 1);
        CPK_CHECK("CPL_ADD_010", rec.calls(1) == 1);
        CPK_CHECK("CPL_ADD_010", rec.calls(2) == 1);
        CPK_CHECK("CPL_ADD_010", rec.calls(3) == (multi_added ? 1 : 0));
    }
    release();
    /* Completed ops get nothing from the release either. */
    INFO(rec.dump());
    CPK_CHECK("CPL_ADD_010", rec.calls(0) == 1);
    CPK_CHECK("CPL_ADD_010", rec.calls(1) == 1);
    CPK_CHECK("CPL_ADD_010", rec.calls(2) == 1);
    CPK_CHECK("CPL_ADD_010", rec.calls(3) == (multi_added ? 1 : 0));
    finish(r, s, o, both);
}

/* ---- recommended argument checks ---- */

TEST_CASE_METHOD(cpk::PortCase, "add: INVALID_SOCKET is refused without a callback", "[CPL_ADD_011]") {
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, INVALID_SOCKET, buf, sizeof buf);
    check_refused("CPL_ADD_011", p.handle, rec, in, 0, 1, "INVALID_SOCKET");
    release();
    INFO(rec.dump());
    CPK_CHECK("CPL_ADD_011", rec.calls(0) == 0);
    finish();
}

TEST_CASE("add: a NULL event_callback is refused", "[CPL_ADD_012]") {
    cpk::Guard guard;
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        /* No event ever happens on this socket, so a wrongly accepted op is never
         * called through NULL; the port is released only when add refused. */
        cpk::SocketPair sp = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp.ok());
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = cpk::make_ingress(EPOLLIN, sp.a, nullptr, buf, buf, sizeof buf);
        CPK_REQUIRE("CPL_ADD_012", completion_port_add(p.handle, &in) != 0);
        CPK_RELEASE(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a NULL buffer with a non-zero length is refused", "[CPL_ADD_013]") {
    auto [r, s] = cpk::unix_pairs<2>();
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, nullptr, 16);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, nullptr, 16);
    CPK_CHECK("CPL_ADD_013", completion_port_add(p.handle, &in) != 0);
    CPK_CHECK("CPL_ADD_013", completion_port_add(p.handle, &out) != 0);
    /* A zero length with a NULL buffer is not concerned: an RDHUP-only op has no buffer. */
    cpk::SocketPair h = unix_sockets();
    COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(2, EPOLLRDHUP, h.a, nullptr, 0);
    CPK_REQUIRE_ADD(p.handle, &hup);
    CPK_KIT_REQUIRE(cpk::shutdown_wr(h.b));
    CPK_CHECK("CPL_RDHUP_001", rec.wait_op(2, cpk::kWaitMs));
    finish(r, s, h);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a length above INT32_MAX is refused", "[CPL_ADD_014]") {
    /* No data ever arrives: a wrongly accepted op never touches the small buffer,
     * and the release gives it at most a closing completion. */
    cpk::SocketPair sp = unix_sockets();
    static char buf[8];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, 0x80000000u);
    CPK_CHECK("CPL_ADD_014", completion_port_add(p.handle, &in) != 0);
    COMPLETION_PORT_INGRESS_DATA max = rec.ingress(1, EPOLLIN, sp.a, buf, 0xFFFFFFFFu);
    CPK_CHECK("CPL_ADD_014", completion_port_add(p.handle, &max) != 0);
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCaseOf<512>, "add: a failed add leaves no allocation descriptor or registration behind",
                 "[CPL_ADD_015]") {
    CPK_REQUIRE("CPL_CREATE_002", p.epfd >= 0);
    static char buf[4];
    /* Warm-up: whatever the port allocates once for its first socket stays. */
    CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, 0, 0));

    struct Outcome {
        std::string what;
        int rc;
        size_t live;
        bool registered;
        std::string fds;
    };
    std::vector<Outcome> out;
    out.reserve(128);
    auto attempt = [&](const std::string& what, int fd, const cpk::Fault* f, size_t op) {
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, fd, buf, sizeof buf);
        cpk::FdList fds = cpk::list_fds();
        cpk::alloc_track_start();
        int id = f ? cpk::inject(*f) : -1;
        int rc = completion_port_add(p.handle, &in);
        bool fired = f ? cpk::fault_fired(id) > 0 : true;
        cpk::clear_faults();
        cpk::alloc_track_stop();
        Outcome o{what, rc, cpk::live_tracked(), fd >= 0 && cpk::epoll_registered(p.epfd, fd),
                  cpk::fd_diff(fds, cpk::list_fds())};
        if (rc == 0) completion_port_remove(p.handle, fd);
        out.push_back(o);
        return fired;
    };
    attempt("closed descriptor", cpk::closed_fd_number(), nullptr, 1);
    {
        cpk::Fd file = cpk::regular_file();
        attempt("regular file", file, nullptr, 2);
    }
    {
        cpk::SocketPair sp = cpk::unix_pair();
        cpk::Fault f = ctl_add_fails(sp.a, ENOSPC);
        attempt("EPOLL_CTL_ADD fails with ENOSPC", sp.a, &f, 3);
    }
    for (unsigned nth = 1; nth <= 60; ++nth) {
        cpk::SocketPair sp = cpk::unix_pair();
        cpk::Fault f = cpk::alloc_failure(nth);
        if (!attempt("allocation #" + std::to_string(nth) + " fails", sp.a, &f, 10 + nth)) {
            out.pop_back(); /* add ran untouched */
            break;
        }
    }
    for (const Outcome& o : out) {
        INFO(o.what);
        if (o.rc == 0) continue; /* not a failed add: CPL_ADD_003/008 report it */
        INFO(o.live << " allocation(s) of the failed add still live; descriptors left: " << o.fds);
        CPK_CHECK("CPL_ADD_015", o.live == 0);
        CPK_CHECK("CPL_ADD_015", !o.registered);
        CPK_CHECK("CPL_ADD_015", o.fds == "");
    }
    finish();
}

TEST_CASE_METHOD(cpk::PortCase,
                 "add: an op refused by epoll_ctl on a socket with a pending op leaves that op as it was",
                 "[CPL_ADD_015]") {
    cpk::SocketPair sp = unix_sockets();
    static char rbuf[4];
    static char sbuf[4] = {'d', 'a', 't', 'a'};
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, rbuf, sizeof rbuf);
    CPK_REQUIRE_ADD(p.handle, &in);
    /* The send's registration fails once: the socket must still carry the
     * recv's, and the refused op must not linger in the port's record. */
    cpk::Fault mod_once = cpk::failing(cpk::Fn::epoll_ctl, sp.a, ENOMEM, 1, 1);
    mod_once.op = EPOLL_CTL_MOD;
    CPK_KIT_REQUIRE(cpk::inject(mod_once) >= 0);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
    check_refused("CPL_ADD_008", p.handle, rec, out, 1, 2, "EPOLL_CTL_MOD of the second op fails with ENOMEM");
    cpk::clear_faults();
    cpk::check_received("CPL_ADD_015", rec, 0, sp.b, rbuf, "abcd");
    completion_port_remove(p.handle, sp.a);
    release();
    INFO(rec.dump());
    CPK_CHECK("CPL_ADD_015", rec.calls(1) == 0);
    CPK_CHECK("CPL_ADD_015", rec.calls(0) == 1);
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a send added while a recv is pending on the socket both complete",
                 "[CPL_ADD_016]") {
    cpk::SocketPair sp = unix_sockets();
    static char rbuf[4];
    static char sbuf[5] = {'h', 'e', 'l', 'l', 'o'};
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_REQUIRE_ADD(p.handle, &out);
    {
        INFO(rec.dump());
        CPK_REQUIRE("CPL_ADD_016", rec.wait_op(1, cpk::kWaitMs));
    }
    CPK_CHECK("CPL_ADD_016",
              cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 5) == "");
    char got[5];
    CPK_CHECK("CPL_ADD_016", cpk::read_exact(sp.b, got, 5));
    CPK_CHECK("CPL_ADD_016", memcmp(got, "hello", 5) == 0);
    cpk::check_received("CPL_ADD_016", rec, 0, sp.b, rbuf, "abcd");
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a recv added while a send is pending on the socket both complete",
                 "[CPL_ADD_016]") {
    cpk::SocketPair sp = unix_sockets();
    cpk::set_send_buffer(sp.a, 4096);
    size_t filled = cpk::fill_send_buffer(sp.a);
    CPK_KIT_REQUIRE(filled > 0);
    static char sbuf[64];
    cpk::fill_pattern(sbuf, sizeof sbuf, filled);
    static char rbuf[4];
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(0, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(1, EPOLLIN, sp.a, rbuf, sizeof rbuf);
    CPK_REQUIRE_ADD(p.handle, &out);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "wxyz", 4));
    bool recv_done = rec.wait_op(1, cpk::kWaitMs);
    {
        INFO(rec.dump());
        CPK_REQUIRE("CPL_ADD_016", recv_done);
    }
    CPK_CHECK("CPL_ADD_016",
              cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 4) == "");
    CPK_CHECK("CPL_ADD_016", memcmp(rbuf, "wxyz", 4) == 0);
    /* Drain the peer: the send finishes with its whole buffer. */
    std::unique_ptr<char[]> all(new char[filled + sizeof sbuf]);
    size_t got = 0;
    bool read_all = cpk::read_exact(sp.b, all.get(), filled + sizeof sbuf, 5000, &got);
    bool send_done = rec.wait_op(0, cpk::kWaitMs);
    INFO(rec.dump() << "the peer read " << got << " of " << filled + sizeof sbuf << " bytes");
    CPK_REQUIRE("CPL_ADD_016", send_done);
    CPK_CHECK("CPL_ADD_016", cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK,
                                               static_cast<long>(sizeof sbuf)) == "");
    CPK_CHECK("CPL_ADD_016", read_all);
    CPK_CHECK("CPL_ADD_016", cpk::check_pattern(all.get(), got) == got);
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "add: add called inside a callback re-arms the socket", "[CPL_ADD_017]") {
    cpk::SocketPair sp = unix_sockets();
    static char b0[2], b1[2];
    static std::atomic<int> rearm_rc{-12345};
    rearm_rc = -12345;
    static COMPLETION_PORT_INGRESS_DATA next;
    next = rec.ingress(1, EPOLLIN, sp.a, b1, sizeof b1);
    COMPLETION_PORT_HANDLE h = p.handle;
    rec.op(0).hook = [h](cpk::Op&, const cpk::CallbackRecord&) { rearm_rc = completion_port_add(h, &next); };
    COMPLETION_PORT_INGRESS_DATA first = rec.ingress(0, EPOLLIN, sp.a, b0, sizeof b0);
    CPK_REQUIRE_ADD(p.handle, &first);
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "12", 2));
    /* A deadlocked add inside the callback never lets it return. */
    {
        INFO(rec.dump());
        CPK_REQUIRE("CPL_ADD_017", rec.wait_op_finished(0, cpk::kWaitMs));
    }
    INFO("completion_port_add inside the callback returned " << rearm_rc.load());
    CPK_REQUIRE("CPL_ADD_017", rearm_rc.load() == 0);
    cpk::check_received("CPL_ADD_017", rec, 1, sp.b, b1, "34");
    finish(sp);
}

TEST_CASE("add: concurrent add remove inc_ref and dec_ref keep exactly-once completions", "[CPL_ADD_018]") {
    cpk::Guard guard;
    constexpr int kThreads = 4;
    constexpr int kIters = 40;
    constexpr int kShown = 5; /* bad ops described in full; the rest are counted */
    cpk::Recorder& rec = cpk::persistent_recorder(2 * kThreads * kIters + 8, 16384);
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        CPK_REQUIRE("CPL_CREATE_003", p.worker != 0);
        static char bufs[2 * kThreads * kIters][1];
        struct Result {
            int add_failed = 0;
            int not_completed = 0;
        };
        /* Shared with the threads; static so that a thread left hanging in the
         * implementation after a failure never touches a dead stack frame. */
        static Result results[kThreads];
        static cpk::SocketPair main_sp[kThreads], side_sp[kThreads];
        for (int t = 0; t < kThreads; ++t) {
            results[t] = Result();
            main_sp[t] = cpk::unix_pair();
            side_sp[t] = cpk::unix_pair();
            CPK_KIT_REQUIRE((main_sp[t].ok() && side_sp[t].ok()));
        }
        COMPLETION_PORT_HANDLE h = p.handle;
        {
            std::vector<std::unique_ptr<cpk::AsyncCall>> threads;
            for (int t = 0; t < kThreads; ++t) {
                threads.emplace_back(new cpk::AsyncCall(
                    [&rec, h, t] {
                        for (int i = 0; i < kIters; ++i) {
                            size_t op = static_cast<size_t>(t * kIters + i);
                            size_t side = op + kThreads * kIters;
                            completion_port_inc_ref(h);
                            COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, main_sp[t].a, bufs[op], 1);
                            COMPLETION_PORT_INGRESS_DATA s = rec.ingress(side, EPOLLIN, side_sp[t].a, bufs[side], 1);
                            if (completion_port_add(h, &in) != 0) {
                                ++results[t].add_failed;
                            } else {
                                char c = static_cast<char>(i);
                                cpk::write_all(main_sp[t].b, &c, 1);
                            }
                            /* A side op that is removed before anything happens to it. */
                            if (completion_port_add(h, &s) == 0) completion_port_remove(h, side_sp[t].a);
                            if (!rec.wait_op(op, cpk::kWaitMs)) ++results[t].not_completed;
                            completion_port_dec_ref(h);
                        }
                    },
                    "concurrent add/remove thread"));
            }
            bool all_done = true;
            for (auto& th : threads) all_done = th->wait(60000) && all_done;
            CPK_REQUIRE("CPL_ADD_018", all_done);
        }
        /* The reference count is exact: the port still works, one dec_ref releases it. */
        CPK_CHECK("CPL_ADD_018", cpk::sentinel(h, rec, 2 * kThreads * kIters + 1));
        CPK_CHECK("CPL_ADD_018", cpk::thread_alive(p.worker));
        CPK_RELEASE(h);
        CPK_CHECK("CPL_ADD_018", cpk::wait_thread_gone(p.worker, cpk::kTeardownMs));
        /* Each bad op once, as recorded: the first few in full, then a count. A
         * 0-byte completion leaves its byte to the next op of the thread, so the
         * first bad op of a thread is usually the cause of the others. */
        std::string failed_adds, repeated, wrong;
        int n_repeated = 0, n_wrong = 0;
        for (int t = 0; t < kThreads; ++t) {
            if (results[t].add_failed)
                failed_adds +=
                    "thread " + std::to_string(t) + ": " + std::to_string(results[t].add_failed) + " add(s) failed\n";
            for (int i = 0; i < kIters; ++i) {
                size_t op = static_cast<size_t>(t * kIters + i);
                size_t side = op + kThreads * kIters;
                std::vector<cpk::CallbackRecord> v = rec.for_op(op);
                if (v.size() > 1) {
                    if (n_repeated++ < kShown) repeated += bad_op(op, v, "more than one callback");
                } else if (v.empty()) {
                    if (n_wrong++ < kShown)
                        wrong += bad_op(op, v, results[t].not_completed ? "never completed" : "no callback");
                } else if (v[0].action != COMPLETION_PORT_EPOLL_EPOLLIN || v[0].result != COMPLETION_PORT_RESULT_OK ||
                           v[0].amount != 1 || bufs[op][0] != static_cast<char>(i)) {
                    if (n_wrong++ < kShown) {
                        std::string what = "want (EPOLLIN, OK, 1) with byte " + std::to_string(i) + ", buffer holds " +
                                           std::to_string(static_cast<int>(bufs[op][0]));
                        wrong += bad_op(op, v, what.c_str());
                    }
                }
                std::vector<cpk::CallbackRecord> sv = rec.for_op(side);
                if (sv.size() > 1 && n_repeated++ < kShown)
                    repeated += bad_op(side, sv, "removed op, more than one callback");
            }
        }
        if (n_repeated > kShown) repeated += "... and " + std::to_string(n_repeated - kShown) + " more\n";
        if (n_wrong > kShown) wrong += "... and " + std::to_string(n_wrong - kShown) + " more\n";
        CPK_CHECK("CPL_ADD_018", failed_adds == "");
        CPK_CHECK("CPL_ADD_010", repeated == "");
        CPK_CHECK("CPL_ADD_018", wrong == "");
        CPK_CHECK("CPL_WORKER_005", cpk::bad_context_callbacks() == 0);
        for (int t = 0; t < kThreads; ++t) {
            main_sp[t] = cpk::SocketPair();
            side_sp[t] = cpk::SocketPair();
        }
    }
    CPK_GUARD_END(guard);
}
