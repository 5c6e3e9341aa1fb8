// The recv or send loop the worker runs for one op, without the mutex.
// Plain libc recv/send (not raw syscalls), so that tests can interpose them.
#include <errno.h>
#include <sys/socket.h>

#include "cpl_internal.h"

// The seed's "EAGAIN or EWOULDBLOCK" is one errno on Linux: one comparison
// tests both (a second would be a branch that can never decide).
static_assert(EAGAIN == EWOULDBLOCK, "EWOULDBLOCK is EAGAIN on Linux");

// CPL_RECV_001: recv into the op's buffer when its socket is readable.
// CPL_SEND_001: send the whole buffer, looping over partial sends.
// Both go on from op->progress, which is the amount reported whatever the
// result (CPL_EVENT_002). Returns the result, or SUSPENDED.
COMPLETION_PORT_RESULT cpl::run_io(int fd, Op* op, bool sending) {
    if (sending) {
        op->action = COMPLETION_PORT_EPOLL_EPOLLOUT; // a started send can only finish as a send
    }
    while (op->progress < op->length) {
        uint8_t* const at = op->buffer + op->progress;
        const size_t left = op->length - op->progress;
        // CPL_RECV_006: always into the rest of the buffer, never past it.
        // CPL_RECV_010: MSG_DONTWAIT, so a blocking socket cannot block the
        // worker once the available bytes are taken (nor a send block it).
        // CPL_SEND_004: MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE.
        const ssize_t n = sending ? send(fd, at, left, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, at, left, MSG_DONTWAIT);
        if (n > 0) {
            op->progress += static_cast<uint32_t>(n); // CPL_RECV_005: a short read is continued
            continue;
        }
        if (n == 0 && !sending) {
            return COMPLETION_PORT_RESULT_OK; // CPL_RECV_004: end of stream: OK with the bytes so far
        }
        if (n < 0 && errno == EINTR) {
            continue; // CPL_RECV_009, CPL_SEND_007: a signal is not a socket condition
        }
        if (n == 0 || errno == EAGAIN) {
            // CPL_RECV_002: nothing more for now: OK with the bytes so far.
            // CPL_SEND_006: the socket buffer is full: keep the progress and
            // go on at EPOLLOUT (no busy loop). A stream socket never sends 0
            // of a non-empty buffer; should it, the send waits the same way.
            return sending ? SUSPENDED : COMPLETION_PORT_RESULT_OK;
        }
        // CPL_RECV_003, CPL_SEND_002: ECONNRESET is ABANDONED.
        // CPL_RECV_008, CPL_SEND_003: EPIPE and every other errno: ERROR.
        return errno == ECONNRESET ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR;
    }
    // CPL_RECV_005, CPL_SEND_001: the buffer is full or all sent (a zero-length
    // op needs no call at all).
    return COMPLETION_PORT_RESULT_OK;
}
