/* Section 5 of the spec: completion_port_add (CPL_ADD_*). */
#include <catch2/catch.hpp>

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

/* Adds recv op `op` (ingress `in`), which must be refused (`what` says why):
 * add fails, the op gets no callback and the port still completes a sentinel
 * (op `sentinel_op`). A socket of such an op is made readable first, so that
 * a wrongly accepted op would complete. */
void check_refused(COMPLETION_PORT_HANDLE port, cpk::Recorder& rec, const COMPLETION_PORT_INGRESS_DATA& in, size_t op,
                   size_t sentinel_op, const char* what) {
    INFO(what);
    int rc;
    {
        cpk::LsanIgnore lsan;  /* a leak of the refused add is CPL_ADD_015's */
        rc = completion_port_add(port, &in);
    }
    bool sentinel_ok = cpk::sentinel(port, rec, sentinel_op);
    CHECK(rc != 0);
    CHECK(sentinel_ok);
    CHECK(rec.calls(op) == 0);
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
    REQUIRE(sp.ok());
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, static_cast<int>(mask), sp.a, buf[op % 8], sizeof buf[0]);
    cpk::record_start();
    int rc = completion_port_add(port, &in);
    cpk::record_stop();
    std::vector<cpk::CallRecord> ctl = cpk::epoll_ctl_records(sp.a);
    INFO("epoll_op " << cpk::events_name(mask) << "\n" << ctl_calls(sp.a));
    REQUIRE(rc == 0);
    REQUIRE(!ctl.empty());
    CHECK(ctl[0].op == EPOLL_CTL_MOD);
    CHECK((ctl[0].events & ~static_cast<uint32_t>(EPOLLONESHOT)) == mask);
    if (epfd >= 0) CHECK(ctl[0].fd == epfd);
    completion_port_remove(port, sp.a);
}

} // namespace

TEST_CASE("add: a NULL port is refused without a callback", "[CPL_ADD_001]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::SocketPair sp = cpk::unix_pair();
        REQUIRE(cpk::write_all(sp.b, "data", 4));
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        CHECK(completion_port_add(nullptr, &in) != 0);
        /* A port that exists must not pick the op up either. */
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        CHECK(cpk::sentinel(p.handle, rec, 1));
        CHECK(rec.calls(0) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: NULL ingress data is refused and the port keeps working", "[CPL_ADD_002]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        CHECK(completion_port_add(p.handle, nullptr) != 0);
        CHECK(cpk::sentinel(p.handle, rec, 0));
        CHECK(rec.count() == 1);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a failed allocation makes add fail without a callback", "[CPL_ADD_003]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(512);
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        static char buf[64][4];
        std::string wrong;
        int failed_allocs = 0;
        bool completed_untouched = false;
        for (unsigned nth = 1; nth <= 60; ++nth) {
            cpk::SocketPair sp = cpk::unix_pair();
            REQUIRE(cpk::write_all(sp.b, "data", 4));
            COMPLETION_PORT_INGRESS_DATA in = rec.ingress(nth, EPOLLIN, sp.a, buf[nth], 4);
            int id = cpk::inject(cpk::alloc_failure(nth));
            int rc;
            {
                cpk::LsanIgnore lsan;  /* a leak of the failed add is CPL_ADD_015's */
                rc = completion_port_add(p.handle, &in);
            }
            bool fired = cpk::fault_fired(id) > 0;
            cpk::clear_faults();
            REQUIRE(id >= 0);
            if (!fired) {
                /* add made fewer allocations than nth: it ran untouched and must work */
                CHECK(rc == 0);
                completed_untouched = rc == 0 && rec.wait_op(nth, cpk::kWaitMs);
                break;
            }
            ++failed_allocs;
            bool sentinel_ok = cpk::sentinel(p.handle, rec, 100 + nth);
            if (rc == 0) wrong += "allocation #" + std::to_string(nth) + " failed but add returned 0\n";
            if (rec.calls(nth) != 0)
                wrong += "allocation #" + std::to_string(nth) + " failed but the op got a callback\n";
            if (!sentinel_ok) wrong += "after allocation #" + std::to_string(nth) + " failed the port stopped working\n";
            if (rc == 0) completion_port_remove(p.handle, sp.a);
        }
        INFO("allocations made by add and failed one at a time: " << failed_allocs);
        CHECK(wrong == "");
        CHECK(completed_untouched);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: the first epoll_ctl on a new socket is EPOLL_CTL_MOD with epoll_op", "[CPL_ADD_005]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        const uint32_t masks[] = {EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLIN | EPOLLRDHUP};
        for (size_t i = 0; i < 4; ++i) check_first_ctl_is_mod(p.handle, rec, i, masks[i], p.epfd);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: the first EPOLL_CTL_MOD keeps every bit of epoll_op including EPOLLET", "[CPL_ADD_005]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        /* "events equal to epoll_op, optionally with EPOLLONESHOT added": the
         * trigger mode the caller chose is part of epoll_op. */
        const uint32_t masks[] = {EPOLLIN | EPOLLET, EPOLLOUT | EPOLLET, EPOLLIN | EPOLLRDHUP | EPOLLET};
        for (size_t i = 0; i < 3; ++i) check_first_ctl_is_mod(p.handle, rec, i, masks[i], -1);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: ENOENT from EPOLL_CTL_MOD is followed by EPOLL_CTL_ADD with the same events",
          "[CPL_ADD_006]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
        cpk::record_start();
        int rc = completion_port_add(p.handle, &in);
        cpk::record_stop();
        std::vector<cpk::CallRecord> ctl = cpk::epoll_ctl_records(sp.a);
        INFO(ctl_calls(sp.a));
        REQUIRE(rc == 0);
        REQUIRE(ctl.size() >= 2);
        CHECK(ctl[0].op == EPOLL_CTL_MOD);
        CHECK(ctl[0].result == -1);
        CHECK(ctl[0].err == ENOENT);
        CHECK(ctl[1].op == EPOLL_CTL_ADD);
        CHECK(ctl[1].fd == ctl[0].fd);
        CHECK(ctl[1].events == ctl[0].events);
        CHECK(ctl[1].result == 0);
        /* The registration made by ADD delivers the op's event. */
        REQUIRE(cpk::write_all(sp.b, "abcd", 4));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        CHECK(rec.at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(memcmp(buf, "abcd", 4) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a valid add returns 0 and its op completes", "[CPL_ADD_007]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair r = cpk::unix_pair(), s = cpk::unix_pair();
        static char rbuf[3];
        static char sbuf[3] = {'x', 'y', 'z'};
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
        COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, sbuf, sizeof sbuf);
        CHECK(completion_port_add(p.handle, &in) == 0);
        CHECK(completion_port_add(p.handle, &out) == 0);
        REQUIRE(cpk::write_all(r.b, "abc", 3));
        CHECK(rec.wait_op(0, cpk::kWaitMs));
        CHECK(rec.wait_op(1, cpk::kWaitMs));
        char got[3];
        CHECK(cpk::read_exact(s.b, got, 3));
        CHECK(memcmp(got, "xyz", 3) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a closed descriptor is refused without a callback", "[CPL_ADD_008]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        static char buf[4];
        int bad = cpk::closed_fd_number();
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, bad, buf, sizeof buf);
        check_refused(p.handle, rec, in, 0, 1, "a closed descriptor");
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a regular file is refused without a callback", "[CPL_ADD_008]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::Fd file = cpk::regular_file();
        REQUIRE(file.valid());
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, file, buf, sizeof buf);
        check_refused(p.handle, rec, in, 0, 1, "a regular file");
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: any other epoll_ctl failure is refused without a callback", "[CPL_ADD_008]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        static char buf[2][4];
        /* MOD itself fails with ENOMEM: no ADD retry, no success. */
        cpk::SocketPair s1 = cpk::unix_pair();
        REQUIRE(cpk::write_all(s1.b, "data", 4));
        REQUIRE(cpk::inject(cpk::failing(cpk::Fn::epoll_ctl, s1.a, ENOMEM, 1, 0)) >= 0);
        COMPLETION_PORT_INGRESS_DATA in1 = rec.ingress(0, EPOLLIN, s1.a, buf[0], 4);
        check_refused(p.handle, rec, in1, 0, 2, "EPOLL_CTL_MOD fails with ENOMEM");
        cpk::clear_faults();
        /* MOD gives ENOENT, the ADD that follows fails with ENOSPC. */
        cpk::SocketPair s2 = cpk::unix_pair();
        REQUIRE(cpk::write_all(s2.b, "data", 4));
        REQUIRE(cpk::inject(ctl_add_fails(s2.a, ENOSPC)) >= 0);
        COMPLETION_PORT_INGRESS_DATA in2 = rec.ingress(1, EPOLLIN, s2.a, buf[1], 4);
        check_refused(p.handle, rec, in2, 1, 3, "EPOLL_CTL_MOD gives ENOENT, EPOLL_CTL_ADD fails with ENOSPC");
        cpk::clear_faults();
        completion_port_dec_ref(p.handle);
        /* Nothing came afterwards either (closing or otherwise). */
        CHECK(rec.calls(0) == 0);
        CHECK(rec.calls(1) == 0);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a socket is added again after each completion", "[CPL_ADD_009]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[8];
        for (int i = 0; i < 8; ++i) {
            INFO("round " << i);
            COMPLETION_PORT_INGRESS_DATA in = rec.ingress(static_cast<size_t>(i), EPOLLIN, sp.a, &buf[i], 1);
            REQUIRE(completion_port_add(p.handle, &in) == 0);
            char c = static_cast<char>('a' + i);
            REQUIRE(cpk::write_all(sp.b, &c, 1));
            REQUIRE(rec.wait_op(static_cast<size_t>(i), cpk::kWaitMs));
            CHECK(buf[i] == c);
        }
        /* Sends re-armed the same way. */
        static char out[4] = {'s', 'e', 'n', 'd'};
        for (int i = 0; i < 4; ++i) {
            INFO("send round " << i);
            COMPLETION_PORT_INGRESS_DATA o = rec.ingress(static_cast<size_t>(10 + i), EPOLLOUT, sp.a, &out[i], 1);
            REQUIRE(completion_port_add(p.handle, &o) == 0);
            REQUIRE(rec.wait_op(static_cast<size_t>(10 + i), cpk::kWaitMs));
        }
        char got[4];
        CHECK(cpk::read_exact(sp.b, got, 4));
        CHECK(memcmp(got, out, 4) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a level-triggered re-fire never reaches a completed op", "[CPL_ADD_010]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair r = cpk::unix_pair(), s = cpk::unix_pair(), o = cpk::unix_pair(), both = cpk::unix_pair();
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
        REQUIRE(cpk::write_all(r.b, "abcdefgh", 8));
        REQUIRE(cpk::write_all(o.b, "abcdefgh", 8));
        REQUIRE(cpk::write_all(both.b, "abcdefgh", 8));
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(completion_port_add(p.handle, &out) == 0);
        REQUIRE(completion_port_add(p.handle, &one) == 0);
        bool multi_added = completion_port_add(p.handle, &multi) == 0;
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        REQUIRE(rec.wait_op(1, cpk::kWaitMs));
        REQUIRE(rec.wait_op(2, cpk::kWaitMs));
        if (multi_added) REQUIRE(rec.wait_op(3, cpk::kWaitMs));
        /* More data arrives on the completed recv sockets. */
        REQUIRE(cpk::write_all(r.b, "more", 4));
        REQUIRE(cpk::write_all(o.b, "more", 4));
        CHECK(cpk::sentinel(p.handle, rec, 10));
        CHECK(cpk::sentinel(p.handle, rec, 11));
        INFO(rec.dump());
        CHECK(rec.calls(0) == 1);
        CHECK(rec.calls(1) == 1);
        CHECK(rec.calls(2) == 1);
        CHECK(rec.calls(3) == (multi_added ? 1 : 0));
        completion_port_dec_ref(p.handle);
        /* Completed ops get nothing from the release either. */
        CHECK(rec.calls(0) == 1);
        CHECK(rec.calls(1) == 1);
        CHECK(rec.calls(2) == 1);
        CHECK(rec.calls(3) == (multi_added ? 1 : 0));
    }
    CPK_GUARD_END(guard);
}

/* ---- recommended argument checks ---- */

TEST_CASE("add: INVALID_SOCKET is refused without a callback", "[CPL_ADD_011]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, INVALID_SOCKET, buf, sizeof buf);
        check_refused(p.handle, rec, in, 0, 1, "INVALID_SOCKET");
        completion_port_dec_ref(p.handle);
        CHECK(rec.calls(0) == 0);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a NULL event_callback is refused", "[CPL_ADD_012]") {
    cpk::Guard guard;
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        /* No event ever happens on this socket, so a wrongly accepted op is never
         * called through NULL; the port is released only when add refused. */
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = cpk::make_ingress(EPOLLIN, sp.a, nullptr, buf, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) != 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a NULL buffer with a non-zero length is refused", "[CPL_ADD_013]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair r = cpk::unix_pair(), s = cpk::unix_pair();
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, nullptr, 16);
        COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, nullptr, 16);
        CHECK(completion_port_add(p.handle, &in) != 0);
        CHECK(completion_port_add(p.handle, &out) != 0);
        /* A zero length with a NULL buffer is not concerned: an RDHUP-only op has no buffer. */
        cpk::SocketPair h = cpk::unix_pair();
        COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(2, EPOLLRDHUP, h.a, nullptr, 0);
        CHECK(completion_port_add(p.handle, &hup) == 0);
        CHECK(cpk::shutdown_wr(h.b));
        CHECK(rec.wait_op(2, cpk::kWaitMs));
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a length above INT32_MAX is refused", "[CPL_ADD_014]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        /* No data ever arrives: a wrongly accepted op never touches the small buffer. */
        cpk::SocketPair sp = cpk::unix_pair();
        static char buf[8];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, 0x80000000u);
        REQUIRE(completion_port_add(p.handle, &in) != 0);
        COMPLETION_PORT_INGRESS_DATA max = rec.ingress(1, EPOLLIN, sp.a, buf, 0xFFFFFFFFu);
        REQUIRE(completion_port_add(p.handle, &max) != 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a failed add leaves no allocation descriptor or registration behind", "[CPL_ADD_015]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(512);
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        REQUIRE(p.epfd >= 0);
        static char buf[4];
        /* Warm-up: whatever the port allocates once for its first socket stays. */
        REQUIRE(cpk::sentinel(p.handle, rec, 0, 0));

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
                out.pop_back();  /* add ran untouched */
                break;
            }
        }
        for (const Outcome& o : out) {
            INFO(o.what);
            if (o.rc == 0) continue;  /* not a failed add: CPL_ADD_003/008 report it */
            CHECK(o.live == 0);
            CHECK(!o.registered);
            CHECK(o.fds == "");
        }
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a send added while a recv is pending on the socket both complete", "[CPL_ADD_016]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char rbuf[4];
        static char sbuf[5] = {'h', 'e', 'l', 'l', 'o'};
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, rbuf, sizeof rbuf);
        COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(completion_port_add(p.handle, &out) == 0);
        REQUIRE(rec.wait_op(1, cpk::kWaitMs));
        char got[5];
        CHECK(cpk::read_exact(sp.b, got, 5));
        CHECK(memcmp(got, "hello", 5) == 0);
        REQUIRE(cpk::write_all(sp.b, "abcd", 4));
        bool recv_done = rec.wait_op(0, cpk::kWaitMs);
        INFO(rec.dump());
        REQUIRE(recv_done);
        CHECK(rec.for_op(1).at(0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
        CHECK(rec.for_op(1).at(0).result == COMPLETION_PORT_RESULT_OK);
        CHECK(rec.for_op(1).at(0).amount == 5);
        CHECK(rec.for_op(0).at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(rec.for_op(0).at(0).result == COMPLETION_PORT_RESULT_OK);
        CHECK(rec.for_op(0).at(0).amount == 4);
        CHECK(memcmp(rbuf, "abcd", 4) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: a recv added while a send is pending on the socket both complete", "[CPL_ADD_016]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        cpk::set_send_buffer(sp.a, 4096);
        size_t filled = cpk::fill_send_buffer(sp.a);
        REQUIRE(filled > 0);
        static char sbuf[64];
        cpk::fill_pattern(sbuf, sizeof sbuf, filled);
        static char rbuf[4];
        COMPLETION_PORT_INGRESS_DATA out = rec.ingress(0, EPOLLOUT, sp.a, sbuf, sizeof sbuf);
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(1, EPOLLIN, sp.a, rbuf, sizeof rbuf);
        REQUIRE(completion_port_add(p.handle, &out) == 0);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(cpk::write_all(sp.b, "wxyz", 4));
        bool recv_done = rec.wait_op(1, cpk::kWaitMs);
        INFO(rec.dump());
        REQUIRE(recv_done);
        CHECK(rec.for_op(1).at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(memcmp(rbuf, "wxyz", 4) == 0);
        /* Drain the peer: the send finishes with its whole buffer. */
        std::unique_ptr<char[]> all(new char[filled + sizeof sbuf]);
        CHECK(cpk::read_exact(sp.b, all.get(), filled + sizeof sbuf));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        CHECK(rec.for_op(0).at(0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
        CHECK(rec.for_op(0).at(0).result == COMPLETION_PORT_RESULT_OK);
        CHECK(rec.for_op(0).at(0).amount == static_cast<int32_t>(sizeof sbuf));
        CHECK(cpk::check_pattern(all.get(), filled + sizeof sbuf) == filled + sizeof sbuf);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: add called inside a callback re-arms the socket", "[CPL_ADD_017]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        static char b0[2], b1[2];
        static std::atomic<int> rearm_rc{-12345};
        rearm_rc = -12345;
        static COMPLETION_PORT_INGRESS_DATA next;
        next = rec.ingress(1, EPOLLIN, sp.a, b1, sizeof b1);
        COMPLETION_PORT_HANDLE h = p.handle;
        rec.op(0).hook = [h](cpk::Op&, const cpk::CallbackRecord&) { rearm_rc = completion_port_add(h, &next); };
        COMPLETION_PORT_INGRESS_DATA first = rec.ingress(0, EPOLLIN, sp.a, b0, sizeof b0);
        REQUIRE(completion_port_add(p.handle, &first) == 0);
        REQUIRE(cpk::write_all(sp.b, "12", 2));
        /* A deadlocked add inside the callback never lets it return. */
        REQUIRE(rec.wait_op_finished(0, cpk::kWaitMs));
        CHECK(rearm_rc.load() == 0);
        REQUIRE(cpk::write_all(sp.b, "34", 2));
        REQUIRE(rec.wait_op(1, cpk::kWaitMs));
        CHECK(rec.for_op(1).at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(memcmp(b1, "34", 2) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("add: concurrent add remove inc_ref and dec_ref keep exactly-once completions",
          "[CPL_ADD_018]") {
    cpk::Guard guard;
    constexpr int kThreads = 4;
    constexpr int kIters = 40;
    cpk::Recorder& rec = cpk::persistent_recorder(2 * kThreads * kIters + 8, 16384);
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        REQUIRE(p.worker != 0);
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
            REQUIRE((main_sp[t].ok() && side_sp[t].ok()));
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
            REQUIRE(all_done);
        }
        /* The reference count is exact: the port still works, one dec_ref releases it. */
        CHECK(cpk::sentinel(h, rec, 2 * kThreads * kIters + 1));
        CHECK(cpk::thread_alive(p.worker));
        completion_port_dec_ref(h);
        CHECK(cpk::wait_thread_gone(p.worker, cpk::kTeardownMs));
        std::string wrong;
        for (int t = 0; t < kThreads; ++t) {
            if (results[t].add_failed) wrong += "thread " + std::to_string(t) + ": add failed\n";
            if (results[t].not_completed) wrong += "thread " + std::to_string(t) + ": op never completed\n";
            for (int i = 0; i < kIters; ++i) {
                size_t op = static_cast<size_t>(t * kIters + i);
                size_t side = op + kThreads * kIters;
                if (rec.calls(op) != 1)
                    wrong += "op " + std::to_string(op) + ": " + std::to_string(rec.calls(op)) + " callbacks\n";
                else if (rec.for_op(op).at(0).action != COMPLETION_PORT_EPOLL_EPOLLIN || bufs[op][0] != static_cast<char>(i))
                    wrong += "op " + std::to_string(op) + ": wrong completion or data\n";
                if (rec.calls(side) > 1)
                    wrong += "removed op " + std::to_string(side) + ": " + std::to_string(rec.calls(side)) + " callbacks\n";
            }
        }
        CHECK(wrong == "");
        CHECK(cpk::bad_context_callbacks() == 0);
        for (int t = 0; t < kThreads; ++t) {
            main_sp[t] = cpk::SocketPair();
            side_sp[t] = cpk::SocketPair();
        }
    }
    CPK_GUARD_END(guard);
}
