/* What a generated test case is: K socket pairs, optional worker-side faults,
 * and a list of steps over them. Pure data (no port, no descriptor): rapidcheck
 * generates and shrinks it, showValue() prints it as readable steps, and the
 * Model (pt_model.h) runs it against an implementation. */
#ifndef PT_SPEC_H
#define PT_SPEC_H

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace pt {

enum class SockKind : uint8_t {
    UnixDefault, /* AF_UNIX stream pair, kernel default buffers */
    UnixSmall,   /* AF_UNIX stream pair, SO_SNDBUF 4096 on both ends */
    TcpSmall     /* TCP over 127.0.0.1, SO_SNDBUF 4096 on both ends */
};

struct SockSpec {
    SockKind kind = SockKind::UnixDefault;
    bool lazy = false;     /* the peer reads only on PeerRead steps (else: whenever the test waits) */
    bool blocking = false; /* the port's end of the pair is in blocking mode */
};

enum class StepKind : uint8_t {
    AddRecv,      /* add an op with EPOLLIN and a buffer */
    AddSend,      /* add an op with EPOLLOUT and a buffer of pattern bytes */
    AddWatch,     /* add an op with EPOLLRDHUP only */
    PeerWrite,    /* the peer writes a chunk (one non-blocking write) */
    PeerRead,     /* the peer reads what is there */
    PeerShutdown, /* the peer shuts down its sending side */
    PeerClose,    /* the peer closes (a reset when it leaves data unread) */
    Remove,       /* completion_port_remove of the socket */
    IncRef,       /* completion_port_inc_ref */
    DecRef,       /* completion_port_dec_ref of an extra reference (never the last) */
    SpuriousWake, /* the worker's next epoll_wait returns 0 (or fails with EINTR) */
    Interrupt,    /* the worker's next recv (or send) fails with EINTR */
    Count_
};

/* Step::flags. kAlt has a meaning per step kind (see describe()). */
enum StepFlag : uint8_t {
    kOneshot = 1,    /* add: EPOLLONESHOT in epoll_op */
    kRdhup = 2,      /* add recv/send: EPOLLRDHUP in epoll_op */
    kRearm = 4,      /* add: its callback adds the next op of the same kind on the socket */
    kRemoveSelf = 8, /* add: its callback removes its own socket */
    kSlow = 16,      /* add: its callback lasts about a millisecond */
    kAlt = 32        /* PeerClose: TCP reset (SO_LINGER 0); PeerRead: keep reading until the
                        socket's pending send completed; Remove: the peer writes a byte just
                        before (races the worker); SpuriousWake: EINTR instead of 0;
                        Interrupt: send instead of recv */
};

struct Step {
    StepKind kind = StepKind::AddRecv;
    uint8_t sock = 0;  /* socket pair index, modulo the case's pair count */
    uint16_t size = 0; /* per mille of the socket's buffer (ops up to 3000, writes up to 2000) */
    uint8_t flags = 0;
};

struct CaseSpec {
    std::vector<SockSpec> socks; /* at least one */
    uint16_t recv_cap = 0;       /* 0: none; else every worker recv moves at most this many bytes */
    uint16_t send_cap = 0;       /* same for send */
    std::vector<Step> steps;
};

const char* sock_kind_name(SockKind k);
const char* step_kind_name(StepKind k);
std::string describe(const Step& s);
std::string describe(const SockSpec& s);

/* rapidcheck prints counterexamples with this (found by ADL). */
void showValue(const CaseSpec& c, std::ostream& os);

} // namespace pt

#endif
