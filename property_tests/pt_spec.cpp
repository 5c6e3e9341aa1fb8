/* Readable text for generated cases: a shrunk counterexample is printed as
 * numbered steps a person can replay by hand. */
#include "pt_spec.h"

#include <cstdio>
#include <ostream>

#include "pt_names.h"

namespace pt {

const char* sock_kind_name(SockKind k) {
    static const char* const names[] = {"unix", "unix-small-buffers", "tcp-small-buffers"}; /* SockKind's order */
    return name_in(names, k);
}

const char* step_kind_name(StepKind k) {
    switch (k) {
    case StepKind::AddRecv: return "add recv";
    case StepKind::AddSend: return "add send";
    case StepKind::AddWatch: return "add watch";
    case StepKind::PeerWrite: return "peer write";
    case StepKind::PeerRead: return "peer read";
    case StepKind::PeerShutdown: return "peer shutdown(SHUT_WR)";
    case StepKind::PeerClose: return "peer close";
    case StepKind::Remove: return "remove";
    case StepKind::IncRef: return "inc_ref";
    case StepKind::DecRef: return "dec_ref";
    case StepKind::SpuriousWake: return "spurious epoll_wait return";
    case StepKind::Interrupt: return "EINTR";
    case StepKind::Count_: break;
    }
    return "?";
}

static std::string per_mille(unsigned pm) {
    char b[48];
    snprintf(b, sizeof b, "%u.%u%% of the buffer", pm / 10, pm % 10);
    return b;
}

std::string describe(const Step& s) {
    std::string t = step_kind_name(s.kind);
    char b[32];
    const bool on_socket = s.kind != StepKind::IncRef && s.kind != StepKind::DecRef &&
                           s.kind != StepKind::SpuriousWake && s.kind != StepKind::Interrupt;
    if (on_socket) {
        snprintf(b, sizeof b, " s%u", static_cast<unsigned>(s.sock));
        t += b;
    }
    switch (s.kind) {
    case StepKind::AddRecv:
    case StepKind::AddSend:
    case StepKind::AddWatch:
        if (s.kind != StepKind::AddWatch) t += ", " + per_mille(s.size);
        t += s.kind == StepKind::AddRecv ? ", EPOLLIN" : s.kind == StepKind::AddSend ? ", EPOLLOUT" : ", EPOLLRDHUP";
        if ((s.flags & kRdhup) && s.kind != StepKind::AddWatch) t += "|EPOLLRDHUP";
        if (s.flags & kOneshot) t += "|EPOLLONESHOT";
        if (s.flags & kRearm) t += ", callback re-adds";
        if (s.flags & kRemoveSelf) t += ", callback removes the socket";
        if (s.flags & kSlow) t += ", slow callback";
        break;
    case StepKind::PeerWrite: t += ", " + per_mille(s.size); break;
    case StepKind::PeerRead:
        if (s.flags & kAlt) t += " until its pending send completed";
        break;
    case StepKind::PeerClose:
        if (s.flags & kAlt) t += " with reset (SO_LINGER 0 on TCP)";
        break;
    case StepKind::Remove:
        if (s.flags & kAlt) t += " right after the peer wrote a byte";
        break;
    case StepKind::SpuriousWake: t += (s.flags & kAlt) ? " (EINTR)" : " (0)"; break;
    case StepKind::Interrupt:
        t += (s.flags & kAlt) ? " on the worker's next send" : " on the worker's next recv";
        break;
    default: break;
    }
    return t;
}

std::string describe(const SockSpec& s) {
    std::string t = sock_kind_name(s.kind);
    t += s.lazy ? ", lazy peer" : ", reading peer";
    if (s.blocking) t += ", blocking";
    return t;
}

void showValue(const CaseSpec& c, std::ostream& os) {
    os << c.socks.size() << " socket pair(s):";
    for (size_t i = 0; i < c.socks.size(); ++i) os << "\n    s" << i << ": " << describe(c.socks[i]);
    if (c.recv_cap) os << "\n  the worker's recv moves at most " << c.recv_cap << " bytes per call";
    if (c.send_cap) os << "\n  the worker's send moves at most " << c.send_cap << " bytes per call";
    os << "\n  " << c.steps.size() << " step(s):";
    for (size_t i = 0; i < c.steps.size(); ++i) {
        Step s = c.steps[i];
        s.sock = static_cast<uint8_t>(c.socks.empty() ? 0 : s.sock % c.socks.size());
        os << "\n    " << (i + 1) << ". " << describe(s);
    }
    os << "\n";
}

} // namespace pt
