/* Section 1 of the spec: the exposed API (CPL_ABI_001..004).
 * The header facts are pinned with static_assert; the tests check that the
 * implementation under test reads the structures and sends the enum values
 * exactly as the ABI lays them out. */
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <type_traits>
#include <unistd.h>

#include "harness.h"

/* CPL_ABI_001: prototypes and structure layout (header side). */
static_assert(std::is_same<decltype(&completion_port_create), COMPLETION_PORT_HANDLE (*)(void)>::value, "create");
static_assert(std::is_same<decltype(&completion_port_inc_ref), void (*)(COMPLETION_PORT_HANDLE)>::value, "inc_ref");
static_assert(std::is_same<decltype(&completion_port_dec_ref), void (*)(COMPLETION_PORT_HANDLE)>::value, "dec_ref");
static_assert(std::is_same<decltype(&completion_port_add),
                           int (*)(COMPLETION_PORT_HANDLE, const COMPLETION_PORT_INGRESS_DATA*)>::value, "add");
static_assert(std::is_same<decltype(&completion_port_remove), void (*)(COMPLETION_PORT_HANDLE, SOCKET_HANDLE)>::value,
              "remove");
static_assert(std::is_same<ON_COMPLETION_PORT_EVENT_COMPLETE,
                           void (*)(void*, COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_RESULT, int32_t)>::value,
              "callback");
static_assert(offsetof(EPOLL_BUFFER_DATA, buffer) == 0, "buffer first");
static_assert(offsetof(EPOLL_BUFFER_DATA, length) == sizeof(void*), "length second");
static_assert(std::is_same<decltype(EPOLL_BUFFER_DATA::length), uint32_t>::value, "length type");
static_assert(offsetof(COMPLETION_PORT_INGRESS_DATA, epoll_op) == 0, "epoll_op first");
static_assert(offsetof(COMPLETION_PORT_INGRESS_DATA, socket) < offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback),
              "order");
static_assert(offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback) <
                  offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback_ctx), "order");
static_assert(offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback_ctx) <
                  offsetof(COMPLETION_PORT_INGRESS_DATA, buffer_data), "order");
static_assert(std::is_same<decltype(COMPLETION_PORT_INGRESS_DATA::epoll_op), int>::value, "epoll_op is int");
/* CPL_ABI_002 / CPL_ABI_003: MU_DEFINE_ENUM values. */
static_assert(COMPLETION_PORT_EPOLL_ACTION_INVALID == 0 && COMPLETION_PORT_EPOLL_EPOLLRDHUP == 1 &&
                  COMPLETION_PORT_EPOLL_EPOLLIN == 2 && COMPLETION_PORT_EPOLL_EPOLLOUT == 3 &&
                  COMPLETION_PORT_CLOSING == 4, "action values");
static_assert(COMPLETION_PORT_RESULT_INVALID == 0 && COMPLETION_PORT_RESULT_OK == 1 &&
                  COMPLETION_PORT_RESULT_ERROR == 2 && COMPLETION_PORT_RESULT_ABANDONED == 3, "result values");
/* CPL_ABI_004 */
static_assert(std::is_same<SOCKET_HANDLE, int>::value && INVALID_SOCKET == -1, "SOCKET_HANDLE");

namespace {

/* Op 0 (recv, 4 bytes on r), op 1 (send of 4 bytes on s) and op 2 (hang-up on
 * h) on `port`, each socket made ready: fails the test unless all three
 * complete. */
void complete_one_of_each(COMPLETION_PORT_HANDLE port, cpk::Recorder& rec, cpk::SocketPair& r, cpk::SocketPair& s,
                          cpk::SocketPair& h) {
    REQUIRE((r.ok() && s.ok() && h.ok()));
    static char rbuf[4];
    static char sbuf[4] = {'a', 'b', 'c', 'd'};
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, sbuf, sizeof sbuf);
    COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(2, EPOLLRDHUP, h.a);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(completion_port_add(port, &out) == 0);
    REQUIRE(completion_port_add(port, &hup) == 0);
    REQUIRE(cpk::write_all(r.b, "wxyz", 4));
    REQUIRE(cpk::shutdown_wr(h.b));
    bool all = rec.wait_op(0, cpk::kWaitMs) && rec.wait_op(1, cpk::kWaitMs) && rec.wait_op(2, cpk::kWaitMs);
    INFO(rec.dump());
    REQUIRE(all);
}

} // namespace

TEST_CASE("abi: every ingress field is read from its declared place", "[CPL_ABI_001]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        REQUIRE(sp.ok());
        /* 5-byte window inside a canary-filled buffer: a wrong offset for buffer or
         * length shows as bytes outside the window or a wrong amount. */
        static unsigned char mem[64];
        memset(mem, 0xEE, sizeof mem);
        unsigned char payload[10];
        cpk::fill_pattern(payload, sizeof payload);
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, mem + 8, 5);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        REQUIRE(cpk::write_all(sp.b, payload, sizeof payload));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        cpk::CallbackRecord r = rec.at(0);
        INFO(rec.dump());
        CHECK(r.context == &rec.op(0));
        CHECK(r.action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(r.amount == 5);
        CHECK(memcmp(mem + 8, payload, 5) == 0);
        for (size_t i = 0; i < sizeof mem; ++i)
            if (i < 8 || i >= 13) CHECK(mem[i] == 0xEE);
        /* epoll_op is an event mask: EPOLLOUT (4) is "send", not COMPLETION_PORT_CLOSING (4). */
        static unsigned char out[7];
        cpk::fill_pattern(out, sizeof out, 100);
        COMPLETION_PORT_INGRESS_DATA o = rec.ingress(1, EPOLLOUT, sp.a, out, sizeof out);
        REQUIRE(completion_port_add(p.handle, &o) == 0);
        REQUIRE(rec.wait_op(1, cpk::kWaitMs));
        unsigned char got[7];
        CHECK(cpk::read_exact(sp.b, got, sizeof got));
        CHECK(memcmp(got, out, sizeof out) == 0);
        CHECK(rec.for_op(1).at(0).action == COMPLETION_PORT_EPOLL_EPOLLOUT);
        CHECK(rec.for_op(1).at(0).amount == 7);
        CHECK(cpk::bad_context_callbacks() == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("abi: callbacks carry the MU_DEFINE_ENUM action numbers", "[CPL_ABI_002]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair r = cpk::unix_pair(), s = cpk::unix_pair(), h = cpk::unix_pair();
        complete_one_of_each(p.handle, rec, r, s, h);
        INFO(rec.dump());
        CHECK(rec.for_op(0).at(0).action == 2);
        CHECK(rec.for_op(1).at(0).action == 3);
        CHECK(rec.for_op(2).at(0).action == 1);
        for (const cpk::CallbackRecord& c : rec.all()) CHECK(c.action != 0);
        completion_port_dec_ref(p.handle);
        for (const cpk::CallbackRecord& c : rec.all()) CHECK((c.action >= 1 && c.action <= 4));
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("abi: callbacks carry the MU_DEFINE_ENUM result numbers", "[CPL_ABI_003]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair ok = cpk::unix_pair(), err = cpk::unix_pair(), hup = cpk::unix_pair();
        /* OK: a recv that fills its buffer. ERROR: a send failing with EIO (injected).
         * ABANDONED: a hang-up. */
        REQUIRE(cpk::fail_send(err.a, EIO, 1, 0) >= 0);
        complete_one_of_each(p.handle, rec, ok, err, hup);
        INFO(rec.dump());
        CHECK(rec.for_op(0).at(0).result == 1);
        CHECK(rec.for_op(1).at(0).result == 2);
        CHECK(rec.for_op(2).at(0).result == 3);
        completion_port_dec_ref(p.handle);
        cpk::clear_faults();
        for (const cpk::CallbackRecord& r : rec.all()) CHECK((r.result >= 1 && r.result <= 3));
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("abi: SOCKET_HANDLE is a plain int descriptor of any number", "[CPL_ABI_004]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::PortInfo p = cpk::create_port();
        REQUIRE(p.handle != nullptr);
        cpk::SocketPair sp = cpk::unix_pair();
        REQUIRE(sp.ok());
        /* A descriptor number above 255 and above 65535 would be truncated by any
         * narrower handle type. */
        int high = fcntl(sp.a, F_DUPFD_CLOEXEC, 700);
        REQUIRE(high >= 700);
        cpk::Fd high_fd(high);
        sp.a.close();
        static char buf[3];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, high, buf, sizeof buf);
        REQUIRE(completion_port_add(p.handle, &in) == 0);
        /* INVALID_SOCKET (-1) is the "no socket" value: remove ignores it. */
        completion_port_remove(p.handle, INVALID_SOCKET);
        REQUIRE(cpk::write_all(sp.b, "abc", 3));
        REQUIRE(rec.wait_op(0, cpk::kWaitMs));
        INFO(rec.dump());
        CHECK(rec.at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN);
        CHECK(rec.at(0).amount == 3);
        CHECK(memcmp(buf, "abc", 3) == 0);
        completion_port_dec_ref(p.handle);
    }
    CPK_GUARD_END(guard);
}
