/* Which (action, result) an op may report, given what happened on its socket.
 * Pure functions of the model's facts; the Model accumulates them while an op
 * is pending (an op may have seen any state it went through). */
#ifndef PT_RULES_H
#define PT_RULES_H

#include <cstdint>
#include <string>

#include "c_pal/completion_port_linux.h"

namespace pt {

enum class OpKind : uint8_t { Recv, Send, Watch };

/* The API's actions and results as ints, the type the recorder stores. */
constexpr int kAction_IN = COMPLETION_PORT_EPOLL_EPOLLIN;
constexpr int kAction_OUT = COMPLETION_PORT_EPOLL_EPOLLOUT;
constexpr int kAction_RDHUP = COMPLETION_PORT_EPOLL_EPOLLRDHUP;
constexpr int kResult_OK = COMPLETION_PORT_RESULT_OK;
constexpr int kResult_ERROR = COMPLETION_PORT_RESULT_ERROR;
constexpr int kResult_ABANDONED = COMPLETION_PORT_RESULT_ABANDONED;

/* One bit per (action, result); action 1..4, result 1..3 (CPL_ABI_002/003). */
inline uint32_t outcome_bit(int action, int result) {
    return (action >= 1 && action <= 4 && result >= 1 && result <= 3) ? 1u << (action * 4 + result) : 0u;
}
constexpr uint32_t kClosingBit = 1u << (COMPLETION_PORT_CLOSING * 4 + COMPLETION_PORT_RESULT_ABANDONED);

struct SocketFacts {
    bool tcp = false;
    bool shut_wr = false;     /* the peer shut down its sending side */
    bool closed = false;      /* the peer closed its end */
    bool err_pending = false; /* unix: the close left data unread, the next recv gives ECONNRESET */
    bool err_maybe = false;   /* unix: a send raced the close: a reset may or may not have happened */
    uint64_t waiting = 0;     /* bytes the peer sent that no op consumed yet */
};

/* The outcomes an event seen now may give the op; 0 when no event can complete
 * it now (an op asking EPOLLIN on an idle socket, a watch on an open peer).
 * Linux facts behind it (probed, see the model README section):
 * - a hang-up (shutdown or close of the peer) always sets EPOLLRDHUP for an op
 *   that asked for it, and then CPL_RDHUP_001/002 make it the only outcome;
 * - unix: recv gives the queued bytes, then ECONNRESET once when the peer
 *   closed with data unread, then 0; send to a closed peer gives EPIPE;
 * - tcp: after a reset the first recv or send takes ECONNRESET, later ones
 *   get 0 / EPIPE; the first send after a plain close still succeeds; the
 *   FIN may arrive late (queued behind data), so until it does the op may
 *   still complete as if the peer were open. */
uint32_t event_outcomes(OpKind kind, bool rdhup, uint32_t length, const SocketFacts& f);

/* Whether the event behind event_outcomes() surely reaches the socket. Not
 * for a TCP hang-up while bytes are still queued ahead of the FIN (a full
 * receive window holds it back). */
bool event_certain(OpKind kind, bool rdhup, const SocketFacts& f);

std::string outcomes_text(uint32_t bits);
const char* op_kind_name(OpKind k);

} // namespace pt

#endif
