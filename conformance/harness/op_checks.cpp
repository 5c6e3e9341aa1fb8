#include "op_checks.h"

#include <cstring>
#include <string>
#include <vector>

#include "cpk_catch.h"
#include "expect.h"
#include "port.h"
#include "sockets.h"
#include "sync.h"
#include "verdict.h"

namespace cpk {

void check_outcomes(const Recorder& rec, const char* req, int action, int result, std::initializer_list<long> amounts,
                    size_t first) {
    size_t op = first;
    for (long amount : amounts) {
        INFO("op " << op);
        CPK_CHECK(req, one_callback(rec, op, action, result, amount) == "");
        ++op;
    }
}

void check_received(const char* req, Recorder& rec, size_t op, int peer, const void* buf, const char* data) {
    const size_t n = strlen(data);
    CPK_KIT_REQUIRE(write_all(peer, data, n));
    const bool done = rec.wait_op(op, kWaitMs);
    INFO(rec.dump());
    CPK_REQUIRE(req, done);
    /* The recorded completion (action, result, amount) before the bytes it moved. */
    CPK_CHECK(req, one_callback(rec, op, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK,
                                static_cast<long>(n)) == "");
    CPK_CHECK(req, memcmp(buf, data, n) == 0);
}

size_t reported_bytes(const Recorder& rec, size_t op, size_t length) {
    std::vector<CallbackRecord> v = rec.for_op(op);
    if (v.size() != 1 || v[0].amount <= 0) return 0;
    return static_cast<size_t>(v[0].amount) < length ? static_cast<size_t>(v[0].amount) : length;
}

void check_received_pattern(const Recorder& rec, size_t op, const void* buf, size_t length, size_t offset) {
    const size_t n = reported_bytes(rec, op, length);
    INFO("op " << op << " reported " << n << " bytes");
    CPK_CHECK("CPL_RECV_006", check_pattern(buf, n, offset) == n);
}

void check_stays_completed(PortCase& t, const char* req, size_t n, int action, int removed_fd,
                           const std::function<bool()>& untouched) {
    CPK_CHECK(req, sentinel(t.p.handle, t.rec, n));
    {
        INFO(t.rec.dump());
        for (size_t i = 0; i < n; ++i) CPK_CHECK(req, t.rec.calls(i) == 1);
    }
    if (untouched) CPK_CHECK(req, untouched());
    completion_port_remove(t.p.handle, removed_fd);
    t.release();
    CPK_CHECK(req, bad_context_callbacks() - t.bad_context_before == 0);
    for (size_t i = 0; i < n; ++i) CPK_CHECK(req, one_callback(t.rec, i, action) == "");
}

void check_ops_free_memory(PortCase& t, int epoll_op, int fd, void* buf, uint32_t length, int peer,
                           const char* completes, const char* frees) {
    constexpr size_t kCycles = 16;
    t.add(0, epoll_op, fd, buf, length);
    if (peer >= 0) CPK_KIT_REQUIRE(write_all(peer, "w", 1));
    CPK_REQUIRE(completes, t.rec.wait_op_finished(0, kWaitMs));
    check_repeated_ops(repeated_ops(t.p.handle, t.rec, epoll_op, fd, buf, length, peer, kCycles), completes, frees);
}

} // namespace cpk
