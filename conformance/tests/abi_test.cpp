/* Section 1 of the spec: the exposed API (CPL_ABI_001..004).
 * The header facts are pinned with static_assert; the tests check that the
 * implementation under test reads the structures and sends the enum values
 * exactly as the ABI lays them out. */
#include "cpk_catch.h"

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
                           int (*)(COMPLETION_PORT_HANDLE, const COMPLETION_PORT_INGRESS_DATA*)>::value,
              "add");
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
                  offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback_ctx),
              "order");
static_assert(offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback_ctx) <
                  offsetof(COMPLETION_PORT_INGRESS_DATA, buffer_data),
              "order");
static_assert(std::is_same<decltype(COMPLETION_PORT_INGRESS_DATA::epoll_op), int>::value, "epoll_op is int");
/* CPL_ABI_002 / CPL_ABI_003: MU_DEFINE_ENUM values. */
static_assert(COMPLETION_PORT_EPOLL_ACTION_INVALID == 0 && COMPLETION_PORT_EPOLL_EPOLLRDHUP == 1 &&
                  COMPLETION_PORT_EPOLL_EPOLLIN == 2 && COMPLETION_PORT_EPOLL_EPOLLOUT == 3 &&
                  COMPLETION_PORT_CLOSING == 4,
              "action values");
static_assert(COMPLETION_PORT_RESULT_INVALID == 0 && COMPLETION_PORT_RESULT_OK == 1 &&
                  COMPLETION_PORT_RESULT_ERROR == 2 && COMPLETION_PORT_RESULT_ABANDONED == 3,
              "result values");
/* CPL_ABI_004 */
static_assert(std::is_same<SOCKET_HANDLE, int>::value && INVALID_SOCKET == -1, "SOCKET_HANDLE");

namespace {

/* Op 0 (recv, 4 bytes on r), op 1 (send of 4 bytes on s) and op 2 (hang-up on
 * h) on `port`, each socket made ready: fails the test unless all three
 * complete. The send completes as `send_req` says (SEND_001 when it can
 * succeed, SEND_003 when a failure is injected). */
void complete_one_of_each(COMPLETION_PORT_HANDLE port, cpk::Recorder& rec, cpk::SocketPair& r, cpk::SocketPair& s,
                          cpk::SocketPair& h, const char* send_req) {
    CPK_KIT_REQUIRE((r.ok() && s.ok() && h.ok()));
    static char rbuf[4];
    static char sbuf[4] = {'a', 'b', 'c', 'd'};
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, r.a, rbuf, sizeof rbuf);
    COMPLETION_PORT_INGRESS_DATA out = rec.ingress(1, EPOLLOUT, s.a, sbuf, sizeof sbuf);
    COMPLETION_PORT_INGRESS_DATA hup = rec.ingress(2, EPOLLRDHUP, h.a);
    CPK_REQUIRE_ADD(port, &in);
    CPK_REQUIRE_ADD(port, &out);
    CPK_REQUIRE_ADD(port, &hup);
    CPK_KIT_REQUIRE(cpk::write_all(r.b, "wxyz", 4));
    CPK_KIT_REQUIRE(cpk::shutdown_wr(h.b));
    bool in_done = rec.wait_op(0, cpk::kWaitMs);
    bool out_done = rec.wait_op(1, cpk::kWaitMs);
    bool hup_done = rec.wait_op(2, cpk::kWaitMs);
    INFO(rec.dump());
    CPK_REQUIRE("CPL_RECV_005", in_done);
    CPK_REQUIRE(send_req, out_done);
    CPK_REQUIRE("CPL_RDHUP_001", hup_done);
}

} // namespace

TEST_CASE_METHOD(cpk::PortCase, "abi: every ingress field is read from its declared place", "[CPL_ABI_001]") {
    cpk::SocketPair sp = unix_sockets();
    /* 5-byte window inside a canary-filled buffer: a wrong offset for buffer or
     * length shows as bytes outside the window or a wrong amount. */
    static unsigned char mem[64];
    memset(mem, 0xEE, sizeof mem);
    unsigned char payload[10];
    cpk::fill_pattern(payload, sizeof payload);
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, mem + 8, 5);
    CPK_REQUIRE_ADD(p.handle, &in);
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, payload, sizeof payload));
    CPK_REQUIRE("CPL_ABI_001", rec.wait_op(0, cpk::kWaitMs));
    cpk::CallbackRecord r = rec.at(0);
    INFO(rec.dump());
    /* What was recorded first (context, action, result, amount), then the bytes. */
    CPK_CHECK("CPL_ABI_001", r.context == &rec.op(0));
    CPK_CHECK("CPL_ABI_001",
              cpk::one_callback(rec, 0, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 5) == "");
    CPK_CHECK("CPL_ABI_001", memcmp(mem + 8, payload, 5) == 0);
    std::string outside;
    for (size_t i = 0; i < sizeof mem; ++i)
        if ((i < 8 || i >= 13) && mem[i] != 0xEE) outside += " " + std::to_string(i);
    INFO("bytes written outside the 5-byte window at offsets:" << outside);
    CPK_CHECK("CPL_ABI_001", outside == "");
    /* epoll_op is an event mask: EPOLLOUT (4) is "send", not COMPLETION_PORT_CLOSING (4). */
    static unsigned char out[7];
    cpk::fill_pattern(out, sizeof out, 100);
    COMPLETION_PORT_INGRESS_DATA o = rec.ingress(1, EPOLLOUT, sp.a, out, sizeof out);
    CPK_REQUIRE_ADD(p.handle, &o);
    CPK_REQUIRE("CPL_ABI_001", rec.wait_op(1, cpk::kWaitMs));
    CPK_CHECK("CPL_ABI_001",
              cpk::one_callback(rec, 1, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 7) == "");
    unsigned char got[7];
    CPK_CHECK("CPL_ABI_001", cpk::read_exact(sp.b, got, sizeof got));
    CPK_CHECK("CPL_ABI_001", memcmp(got, out, sizeof out) == 0);
    CPK_CHECK("CPL_ABI_001", cpk::bad_context_callbacks() == 0);
    finish(sp);
}

TEST_CASE_METHOD(cpk::PortCase, "abi: callbacks carry the MU_DEFINE_ENUM action numbers", "[CPL_ABI_002]") {
    cpk::SocketPair r = cpk::unix_pair(), s = cpk::unix_pair(), h = cpk::unix_pair();
    complete_one_of_each(p.handle, rec, r, s, h, "CPL_SEND_001");
    INFO(rec.dump());
    CPK_CHECK("CPL_ABI_002", rec.for_op(0).at(0).action == 2);
    CPK_CHECK("CPL_ABI_002", rec.for_op(1).at(0).action == 3);
    CPK_CHECK("CPL_ABI_002", rec.for_op(2).at(0).action == 1);
    for (const cpk::CallbackRecord& c : rec.all()) CPK_CHECK("CPL_ABI_002", c.action != 0);
    release();
    for (const cpk::CallbackRecord& c : rec.all()) CPK_CHECK("CPL_ABI_002", (c.action >= 1 && c.action <= 4));
    finish(r, s, h);
}

TEST_CASE_METHOD(cpk::PortCase, "abi: callbacks carry the MU_DEFINE_ENUM result numbers", "[CPL_ABI_003]") {
    cpk::SocketPair ok = cpk::unix_pair(), err = cpk::unix_pair(), hup = cpk::unix_pair();
    /* OK: a recv that fills its buffer. ERROR: a send failing with EIO (injected).
     * ABANDONED: a hang-up. */
    CPK_KIT_REQUIRE(cpk::fail_send(err.a, EIO, 1, 0) >= 0);
    complete_one_of_each(p.handle, rec, ok, err, hup, "CPL_SEND_003");
    INFO(rec.dump());
    CPK_CHECK("CPL_ABI_003", rec.for_op(0).at(0).result == 1);
    CPK_CHECK("CPL_ABI_003", rec.for_op(1).at(0).result == 2);
    CPK_CHECK("CPL_ABI_003", rec.for_op(2).at(0).result == 3);
    release();
    cpk::clear_faults();
    for (const cpk::CallbackRecord& c : rec.all()) CPK_CHECK("CPL_ABI_003", (c.result >= 1 && c.result <= 3));
    finish(ok, err, hup);
}

TEST_CASE_METHOD(cpk::PortCase, "abi: SOCKET_HANDLE is a plain int descriptor of any number", "[CPL_ABI_004]") {
    cpk::SocketPair sp = unix_sockets();
    /* A descriptor number above 255 and above 65535 would be truncated by any
     * narrower handle type. */
    int high = fcntl(sp.a, F_DUPFD_CLOEXEC, 700);
    CPK_KIT_REQUIRE(high >= 700);
    cpk::Fd high_fd(high);
    sp.a.close();
    static char buf[3];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, high, buf, sizeof buf);
    CPK_REQUIRE_ADD(p.handle, &in);
    /* INVALID_SOCKET (-1) is the "no socket" value: remove ignores it. */
    completion_port_remove(p.handle, INVALID_SOCKET);
    cpk::check_received("CPL_ABI_004", rec, 0, sp.b, buf, "abc");
    finish(sp, high_fd);
}
