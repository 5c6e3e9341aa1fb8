/* The model's per-op and per-socket records (private to pt_model*.cpp). */
#ifndef PT_MODEL_TYPES_H
#define PT_MODEL_TYPES_H

#include <atomic>
#include <climits>
#include <cstdint>
#include <deque>
#include <memory>
#include <sys/epoll.h>
#include <vector>

#include "pt_model.h"

namespace pt {

constexpr int kHookNotRun = INT_MIN;

/* What an op's callback hook needs and reports, owned jointly by the op and
 * the hook: the hook never touches the model, so a callback that comes late
 * (after a failed case was abandoned, or from a defective port) finds valid
 * memory and, the model's stop flag set, does nothing. */
struct HookState {
    COMPLETION_PORT_HANDLE port = nullptr;
    uint8_t flags = 0;
    SOCKET_HANDLE socket = -1;
    bool has_successor = false;
    COMPLETION_PORT_INGRESS_DATA successor{}; /* a copy: its buffer outlives a failed case */
    std::atomic<int> add_rc{kHookNotRun};
    std::atomic<bool> removed{false};
    std::atomic<bool> skipped{false}; /* ran after the case ended: did nothing */
    std::atomic<int64_t> remove_call_ns{0};
    std::atomic<int64_t> remove_ret_ns{0};
    std::atomic<bool> release{false}; /* the final dec_ref from this callback (CPL_DECREF_010) */
    std::atomic<int64_t> release_ret_ns{0};
};

struct Model::Op {
    /* Unused: prepared (a successor) but not added; Dead: removed or released
     * without a callback (a late closing completion is still accepted). */
    enum State { Unused, Pending, Done, Dead, Failed };

    uint32_t serial = 0;
    int index = -1; /* recorder op slot */
    Sock* sock = nullptr;
    OpKind kind = OpKind::Recv;
    uint32_t epoll_op = 0;
    uint32_t length = 0;
    std::vector<uint8_t> buf; /* recv: canary; send: its stream */
    COMPLETION_PORT_INGRESS_DATA ingress{};
    State state = Unused;
    bool eligible = false; /* must complete when its event happens */
    bool frozen = false;   /* removed or released: its allowed outcomes stop growing */
    bool closing_allowed = false;
    const char* closing_req = nullptr; /* the requirement its closing completion answers to */
    bool in_removal = false;           /* added by a callback a remove or release waited for */
    uint32_t allowed = 0;              /* outcome bits it may report */
    bool sure = false;                 /* an event that completes it surely came */
    int done_action = 0;               /* the action of its (first) completion */
    bool nonatomic = false;            /* a write of several kernel buffers came while it was pending */
    bool had_neighbour = false;        /* another op was added on its socket while it was pending */
    pid_t add_tid = 0;
    int64_t add_call_ns = 0;   /* its add was called ... */
    int64_t add_ret_ns = 0;    /* ... and returned */
    pid_t closer_tid = 0;      /* closing completion must run there (0: anywhere) */
    int64_t closing_by_ns = 0; /* and must have ended by then (0: no bound) */
    bool sentinel = false;

    /* send stream */
    uint64_t peer_seen = 0;         /* bytes of it the peer read */
    uint64_t peer_max = UINT64_MAX; /* it moved at most this many */

    /* callback hooks (written before the add, run on the callback's thread) */
    uint8_t hook_flags = 0;
    Op* successor = nullptr;
    Op* parent = nullptr;
    bool is_successor = false;
    std::shared_ptr<HookState> hs = std::make_shared<HookState>();

    bool rdhup() const { return (epoll_op & EPOLLRDHUP) != 0; }
};

struct Model::Sock {
    int id = 0; /* s<id> in traces; the sentinel is spec.size() */
    bool is_sentinel = false;
    SockSpec spec;
    uint32_t serial = 0;
    cpk::Fd a;            /* the port's end */
    cpk::Fd b;            /* the peer (invalid once closed) */
    uint32_t bufsize = 0; /* the port end's SO_SNDBUF */

    bool shut_wr = false;
    bool closed = false;
    bool err_pending = false;
    bool err_maybe = false;  /* a send raced the peer's close: reset or not */
    bool registered = false; /* an add succeeded since the last remove */
    bool removed_ever = false;
    bool force_drain = false; /* PeerRead until its send completed */

    uint64_t in_written = 0; /* peer -> port */
    uint64_t in_consumed = 0;
    bool in_ended = false;

    std::deque<Segment> out_segments; /* port -> peer, completed sends not yet read */
    Op* out_prov = nullptr;           /* pending send, or the last send that ended unknown */
    bool out_tail_unknown = false;    /* a send ended without telling how much it moved */
    uint64_t out_read = 0;
    std::vector<uint8_t> unread_match; /* read by the peer, not yet matched to a send op */

    std::vector<Op*> pending;
    std::vector<SysCall> recv_calls;
    std::vector<SysCall> send_calls;
};

} // namespace pt

#endif
