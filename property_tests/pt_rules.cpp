#include "pt_rules.h"

#include "pt_names.h"
#include "recorder.h"

namespace pt {

uint32_t event_outcomes(OpKind kind, bool rdhup, uint32_t length, const SocketFacts& f) {
    const bool hangup = f.shut_wr || f.closed;
    if (f.tcp && hangup) {
        /* Before the FIN or reset arrives the socket still looks open; once
         * a closed peer gets data it answers with a reset. */
        uint32_t early = 0;
        if (kind == OpKind::Recv && f.waiting > 0)
            early = outcome_bit(kAction_IN, kResult_OK) | (f.closed ? outcome_bit(kAction_IN, kResult_ABANDONED) : 0u);
        if (kind == OpKind::Send)
            early =
                outcome_bit(kAction_OUT, kResult_OK) |
                (f.closed ? outcome_bit(kAction_OUT, kResult_ERROR) | outcome_bit(kAction_OUT, kResult_ABANDONED) : 0u);
        uint32_t late = 0;
        if (rdhup)
            late = outcome_bit(kAction_RDHUP, kResult_ABANDONED);
        else if (kind == OpKind::Recv)
            late = outcome_bit(kAction_IN, kResult_OK) | (f.closed ? outcome_bit(kAction_IN, kResult_ABANDONED) : 0u);
        else if (kind == OpKind::Send)
            late = early;
        return early | late;
    }
    if (rdhup && hangup) return outcome_bit(kAction_RDHUP, kResult_ABANDONED); /* CPL_RDHUP_001, CPL_RDHUP_002 */
    switch (kind) {
    case OpKind::Watch: return 0; /* asked only EPOLLRDHUP (handled above) */
    case OpKind::Recv:
        if (!hangup && f.waiting == 0) return 0;
        if ((f.tcp || f.err_maybe) && f.closed)
            return outcome_bit(kAction_IN, kResult_OK) | outcome_bit(kAction_IN, kResult_ABANDONED);
        /* unix reset: ECONNRESET unless the buffer fills first (or asks 0 bytes) */
        if (f.closed && f.err_pending && length > 0 && f.waiting < length)
            return outcome_bit(kAction_IN, kResult_ABANDONED);
        return outcome_bit(kAction_IN, kResult_OK); /* data, end of stream: CPL_RECV_002/004/005 */
    case OpKind::Send:
        if (!f.closed) return outcome_bit(kAction_OUT, kResult_OK); /* CPL_SEND_001 */
        if (f.tcp)
            return outcome_bit(kAction_OUT, kResult_OK) | outcome_bit(kAction_OUT, kResult_ERROR) |
                   outcome_bit(kAction_OUT, kResult_ABANDONED);
        /* unix: EPIPE (CPL_SEND_003); nothing to send is trivially all sent */
        return outcome_bit(kAction_OUT, kResult_ERROR) | (length == 0 ? outcome_bit(kAction_OUT, kResult_OK) : 0u);
    }
    return 0;
}

bool event_certain(OpKind kind, bool rdhup, const SocketFacts& f) {
    const bool hangup = f.shut_wr || f.closed;
    if (!f.tcp || !hangup) return true;
    if (kind == OpKind::Send) return true;
    if (kind == OpKind::Recv && f.waiting > 0) return true; /* data comes first */
    (void)rdhup;
    return f.waiting == 0; /* nothing queued ahead of the FIN */
}

std::string outcomes_text(uint32_t bits) {
    std::string s;
    for (int a = 1; a <= 4; ++a) {
        for (int r = 1; r <= 3; ++r) {
            if (!(bits & outcome_bit(a, r))) continue;
            if (!s.empty()) s += " or ";
            s += std::string("(") + cpk::action_name(a) + ", " + cpk::result_name(r) + ")";
        }
    }
    return s.empty() ? std::string("no completion") : s;
}

const char* op_kind_name(OpKind k) {
    static const char* const names[] = {"recv", "send", "watch"}; /* OpKind's order */
    return name_in(names, k);
}

} // namespace pt
