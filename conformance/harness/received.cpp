/* A recv op fed and checked in one step (received.h). */
#include "received.h"

#include <cstring>

#include "cpk_catch.h"
#include "expect.h"
#include "sockets.h"
#include "sync.h"
#include "verdict.h"

namespace cpk {

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

} // namespace cpk
