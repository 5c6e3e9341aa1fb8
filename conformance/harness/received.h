/* A recv op fed by its peer and checked in one step: the way most tests see a
 * recv complete. */
#ifndef CPK_RECEIVED_H
#define CPK_RECEIVED_H

#include <cstddef>

#include "recorder.h"

namespace cpk {

/* Writes `data` (its strlen bytes; the kit's precondition) on `peer`. Op `op`
 * of rec, a recv into `buf`, must then complete within kWaitMs (CPK_REQUIRE
 * req), once with (EPOLLIN, OK, that length), and leave those bytes in buf
 * (a CPK_CHECK of req each). */
void check_received(const char* req, Recorder& rec, size_t op, int peer, const void* buf, const char* data);

} // namespace cpk

#endif
