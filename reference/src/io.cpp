// The recv and send loops the worker runs for one op, without the mutex.
// Plain libc recv/send (not raw syscalls), so that tests can interpose them.
#include <errno.h>
#include <sys/socket.h>

#include "cpl_internal.h"

namespace cpl
{
namespace
{

// The seed's "EAGAIN or EWOULDBLOCK" is one errno on Linux: one comparison
// tests both (a second would be a branch that can never decide).
static_assert(EAGAIN == EWOULDBLOCK, "EWOULDBLOCK is EAGAIN on Linux");

// CPL_ABI_002, CPL_ABI_003: every callback gets one of the header's named
// values (EPOLLIN = 2, EPOLLOUT = 3, ...; OK = 1, ERROR = 2, ABANDONED = 3),
// never an _INVALID 0.
IoOutcome finished(COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, uint32_t amount)
{
    // amount <= length <= INT32_MAX (CPL_ADD_014), so the cast is exact.
    return IoOutcome{false, action, result, static_cast<int32_t>(amount)};
}

}  // namespace

// CPL_RECV_001: recv into the op's buffer when its socket is readable.
IoOutcome run_recv(int fd, Op* op)
{
    uint32_t total = op->progress;
    while (total < op->length)
    {
        // CPL_RECV_006: always into the rest of the buffer, never past it.
        // CPL_RECV_010: MSG_DONTWAIT, so a blocking socket cannot block the
        // worker once the available bytes are taken.
        ssize_t n = recv(fd, op->buffer + total, op->length - total, MSG_DONTWAIT);
        if (n > 0)
        {
            // CPL_RECV_005: a short read is continued with another recv.
            total += static_cast<uint32_t>(n);
            continue;
        }
        if (n == 0)
        {
            // CPL_RECV_004: end of stream: OK with what this op received.
            return finished(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, total);
        }
        const int error = errno;
        if (error == EINTR)
        {
            continue;  // CPL_RECV_009: a signal is not a socket condition.
        }
        if (error == EAGAIN)
        {
            // CPL_RECV_002: EAGAIN/EWOULDBLOCK: nothing more for now: OK with
            // the bytes so far.
            return finished(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, total);
        }
        if (error == ECONNRESET)
        {
            // CPL_RECV_003, CPL_EVENT_002: ABANDONED with the bytes so far.
            return finished(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ABANDONED, total);
        }
        // CPL_RECV_008, CPL_EVENT_002: any other errno is an ERROR.
        return finished(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_ERROR, total);
    }
    // CPL_RECV_005: buffer full (a zero-length op needs no recv at all).
    return finished(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, total);
}

// CPL_SEND_001: send the whole buffer, looping over partial sends.
IoOutcome run_send(int fd, Op* op)
{
    op->sending = true;
    while (op->progress < op->length)
    {
        // CPL_SEND_004: MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE.
        // MSG_DONTWAIT: a blocking socket cannot block the worker.
        ssize_t n = send(fd, op->buffer + op->progress, op->length - op->progress, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
        {
            op->progress += static_cast<uint32_t>(n);
            continue;
        }
        if (n == 0)
        {
            // A stream socket never sends 0 of a non-empty buffer; should it
            // happen, wait for writability rather than spin here.
            return IoOutcome{true, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 0};
        }
        const int error = errno;
        if (error == EINTR)
        {
            continue;  // CPL_SEND_007
        }
        if (error == EAGAIN)
        {
            // CPL_SEND_006: EAGAIN/EWOULDBLOCK, the socket buffer is full:
            // suspend, keep the progress, and continue when EPOLLOUT comes
            // back (no busy loop).
            return IoOutcome{true, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, 0};
        }
        if (error == ECONNRESET)
        {
            // CPL_SEND_002, CPL_EVENT_002: ABANDONED with the bytes sent.
            return finished(COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ABANDONED, op->progress);
        }
        // CPL_SEND_003, CPL_EVENT_002: EPIPE and every other errno: ERROR.
        return finished(COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ERROR, op->progress);
    }
    // CPL_SEND_001: everything sent: OK with the full length.
    return finished(COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, op->progress);
}

}  // namespace cpl
