/* Checks several tests share: the outcome of a row of ops, a recv fed and
 * checked in one step, the bytes a recv op placed, an op that stays
 * completed, completed ops that free their memory. Each names the requirement it is given or the one it checks. */
#ifndef CPK_OP_CHECKS_H
#define CPK_OP_CHECKS_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>

#include "port_case.h"
#include "recorder.h"

namespace cpk {

/* `req`: op first + i got exactly one callback (action, result, amounts[i]);
 * an amount kAnyAmount takes any amount >= 0. */
void check_outcomes(const Recorder& rec, const char* req, int action, int result, std::initializer_list<long> amounts,
                    size_t first = 0);

/* Writes `data` (its strlen bytes; the kit's precondition) on `peer`. Op `op`
 * of rec, a recv into `buf`, must then complete within kWaitMs (CPK_REQUIRE
 * req), once with (EPOLLIN, OK, that length), and leave those bytes in buf
 * (a CPK_CHECK of req each). */
void check_received(const char* req, Recorder& rec, size_t op, int peer, const void* buf, const char* data);

/* The bytes op `op` says it placed in its buffer of `length` bytes: the
 * amount of its only callback, at most `length` (0 when it has none, several
 * or a negative amount). */
size_t reported_bytes(const Recorder& rec, size_t op, size_t length);

/* CPL_RECV_006: the bytes op `op` reported (reported_bytes) are the test
 * pattern from `offset` on. */
void check_received_pattern(const Recorder& rec, size_t op, const void* buf, size_t length, size_t offset = 0);

/* `req`, once ops [0, n) of t.rec each completed with `action` and their
 * socket stays ready: none gets another callback before a sentinel (op n)
 * has gone through the worker, `untouched` (if given) still holds, and
 * neither completion_port_remove(removed_fd) nor the final dec_ref (made
 * here) gives one a closing completion or calls back a bad context. */
void check_stays_completed(PortCase& t, const char* req, size_t n, int action, int removed_fd,
                           const std::function<bool()>& untouched = nullptr);

/* A warm-up op 0 (ingress(0, epoll_op, fd, buf, length); when peer >= 0 it
 * writes one byte) that must finish (`completes`), then repeated_ops over
 * 16 more: check_repeated_ops(`completes`, `frees`). */
void check_ops_free_memory(PortCase& t, int epoll_op, int fd, void* buf, uint32_t length, int peer,
                           const char* completes, const char* frees);

} // namespace cpk

#endif
