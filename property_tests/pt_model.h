/* The model: runs a CaseSpec against a port and checks, after every step,
 * what the implementation did against what the spec allows.
 *
 * It keeps, per socket pair, the facts that decide what may happen (bytes the
 * peer sent and no op consumed, shutdown, close, reset) and, per op, the set
 * of (action, result) it may report, grown with every state the socket goes
 * through while the op is pending. After each step it waits (bounded) for
 * every op that MUST complete now, and checks every callback as it comes:
 * - each op completes at most once; an "eligible" op (see below) exactly once
 *   when its event happens; nothing completes without a reason;
 * - 0 <= amount <= length; the action and result are allowed for what
 *   happened; a recv op's buffer holds exactly the next bytes the peer sent
 *   and nothing past the amount; what the peer reads is exactly what send ops
 *   reported sent, in order;
 * - event-driven callbacks run on the port's worker thread, one at a time;
 *   closing callbacks where the spec says; nothing after the port is gone;
 * - with syscall recording on, each completion agrees with the worker's last
 *   recv/send on the socket (errno -> result, bytes -> amount, arguments).
 *
 * Eligible ops. Normative only: an op is eligible when it was added on a
 * socket with no other pending op and no op was added next to it since (a
 * literal implementation strands an op on a second add). Features.full_duplex
 * keeps a recv and a send on one socket eligible (CPL_ADD_016).
 *
 * Not thread-safe: one model per thread; several models may share a port. */
#ifndef PT_MODEL_H
#define PT_MODEL_H

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"
#include "nocopy.h"
#include "pt_port.h"
#include "pt_rules.h"
#include "pt_spec.h"

namespace pt {

/* Recommended behaviours a property demands on top of the normative ones. */
struct Features {
    bool full_duplex = false;           /* CPL_ADD_016 */
    bool closing = false;               /* CPL_REMOVE_005/006, CPL_DECREF_008: closing completions */
    bool exact_failure_amounts = false; /* CPL_EVENT_002 */
    bool suspend = false;               /* CPL_SEND_006: lazy peers take sends of any size */
    bool hooks = false;                 /* CPL_ADD_017: kRearm / kRemoveSelf / kSlow callbacks */
    bool eintr = false;                 /* CPL_RECV_009 / CPL_SEND_007: Interrupt steps */
};

/* Recorder op slots. Slots of ops that completed are reusable after the case;
 * slots of ops that may still be called back only after the port's release. */
class IndexPool {
public:
    explicit IndexPool(size_t n);
    int take(); /* -1 when none is left */
    void give_back(int i);
    void hold(int i);
    void release_held();
    size_t available() const { return free_.size(); }

private:
    std::vector<int> free_;
    std::vector<int> held_;
};

/* Buffers a port may still write into: freed only after its release. */
using Graveyard = std::vector<std::vector<uint8_t>>;

struct ModelEnv {
    PortCtx* port = nullptr;
    cpk::Recorder* rec = nullptr;
    IndexPool* pool = nullptr;
    Graveyard* graveyard = nullptr;
    Features feat;
    int wait_ms = cpk::kWaitMs; /* bound for an op that must complete */
    bool sys = false;           /* syscall recording runs during this case */
    bool faults = true;         /* SpuriousWake / Interrupt steps may inject faults */
    uint32_t serial_base = 0;   /* distinct per model: op and socket serials */
};

class Model : cpk::NoCopy {
public:
    Model(const ModelEnv& env, const CaseSpec& spec);
    ~Model();

    void setup();            /* on the thread that runs the steps */
    void run(const Step& s); /* one step, then wait for what must complete */

    /* Shared port: drain the peers, remove every socket, quiesce, final checks. */
    bool wind_down(const char* what);
    void end_shared();
    /* Per-case port: drain the peers and wait; then the release sequence. */
    void end_settle();
    void before_release(pid_t releaser_hint);
    void after_release();      /* reads PortCtx release fields */
    void poke_after_release(); /* events on every socket once the port is gone */
    void check_quiet_after_release();
    /* CPL_DECREF_010: the final dec_ref from inside a callback. */
    void release_from_callback();

    void drop_extra_refs(); /* dec_ref the references this model added */
    void close_sockets();
    void abandon(); /* after a failure: keep buffers, close sockets */
    std::vector<int> fds() const;
    std::string trace_tail(size_t lines = 80) const;
    size_t ops_run() const { return ops_.size(); }

private:
    struct Op;
    struct Sock;
    struct SysCall {
        int64_t end_ns;
        long result;
        int err;
        const void* buf;
        size_t length;
    };
    struct Segment {
        uint32_t serial;
        uint64_t pos;
        uint64_t end;
    };

    /* steps */
    void step_add(const Step& s, OpKind kind);
    void step_peer_write(Sock& s, uint32_t bytes);
    void step_peer_read(Sock& s, bool until_sent);
    void step_peer_shutdown(Sock& s);
    void step_peer_close(Sock& s, bool hard);
    void step_remove(Sock& s, bool race);
    void remove_socket(Sock& s, bool race, bool quiesce_after);
    void bury(Sock& s, bool all = false);
    void await_sent_bytes();
    void stop_hooks();
    void wait_done(const std::vector<Op*>& ops, const char* req, const char* why);
    size_t raw_peer_write(Sock& s, size_t bytes);
    Sock& sentinel();
    void step_inc_ref();
    void step_dec_ref();
    void step_spurious_wake(bool eintr);
    void step_interrupt(bool on_send);
    bool inject_on_worker(cpk::Fault f); /* false (noted) when no slot is left */

    /* ops */
    Op* new_op(Sock& s, OpKind kind, uint32_t epoll_op, uint32_t length, uint8_t hook_flags, int chain);
    bool submit(Op* op, bool from_step, int hook_rc = 0);
    void set_hook(Op* op);
    void retire(Op* op, bool reusable);
    void refresh(Sock& s);
    SocketFacts facts(const Sock& s) const;
    bool must_complete(const Op& op) const;
    bool drains(const Sock& s) const;
    const char* missing_requirement(const Op& op, std::string* why) const;
    const char* outcome_requirement(const Op& op, const cpk::CallbackRecord& r, const SocketFacts& f) const;
    const char* closing_requirement(const Op& op) const;

    /* waiting and callbacks */
    void settle(const char* why);
    void quiesce(const char* why);
    void absorb();
    void settle_released(const std::vector<Op*>& pending, const char* running_req, const char* running_msg,
                         const char* unclosed_req, const char* unclosed_what);
    void handle(const cpk::CallbackRecord& r);
    void check_values(const Op& op, const cpk::CallbackRecord& r);
    void check_closing(const Op& op, const cpk::CallbackRecord& r);
    void check_event(const Op& op, Sock& s, const cpk::CallbackRecord& r);
    void handle_recv(Op& op, Sock& s, const cpk::CallbackRecord& r);
    void handle_send(Op& op, Sock& s, const cpk::CallbackRecord& r);
    void after_hooks(Op& op, const cpk::CallbackRecord& r);
    bool find_finished(const Op& op, int64_t by_ns, cpk::CallbackRecord* out) const;

    /* peer side */
    void drain_peer(Sock& s);
    void drain_all(bool only_draining);
    void on_peer_bytes(Sock& s, const uint8_t* p, size_t n);
    void match_peer_bytes(Sock& s);
    uint64_t out_unread(const Sock& s) const;

    /* syscall recording */
    bool sys_ok() const;
    void pull_sys();
    void check_sys(Op& op, Sock& s, const cpk::CallbackRecord& r);
    uint64_t check_call_sequence(const Op& op, const std::vector<SysCall>& calls);
    void check_last_call(const Op& op, const cpk::CallbackRecord& r, const std::vector<SysCall>& calls, uint64_t total);
    void check_add_ctl(const Op& op, size_t from, bool fresh);
    void check_remove_ctl(const Sock& s, size_t from);
    std::string sys_history(int fd) const;

    Sock& sock_of(const Step& s);
    Sock* sock_by_fd(int fd);
    uint32_t length_for(const Sock& s, uint16_t per_mille) const;
    std::string op_name(const Op& op) const;
    /* Throws a Failure naming `requirement` (one spec ID, or cpk::kKit for the
     * kit's own trouble) with `what` and the model's last lines. */
    [[noreturn]] void violated(const char* requirement, const std::string& what) const;
    void note(const std::string& line);

    ModelEnv env_;
    CaseSpec spec_;
    std::vector<std::unique_ptr<Sock>> socks_; /* spec pairs, then the sentinel */
    std::vector<std::unique_ptr<Op>> ops_;
    /* Buffers of the last completed ops, kept alive a while: a defective port that
     * calls back twice (CPL_ADD_010, CPL_RDHUP_002) then writes into live memory and
     * the model reports the second callback, instead of a use-after-free crash that
     * names no requirement. */
    std::deque<std::vector<uint8_t>> quarantine_;
    static constexpr size_t kQuarantine = 64;
    std::vector<Op*> by_index_;
    size_t absorbed_ = 0;
    int64_t last_event_end_ns_ = 0;
    pid_t me_ = 0;
    pid_t worker_ = 0;
    size_t sys_cursor_ = 0;
    uint64_t bad_ctx_base_ = 0;
    int extra_refs_ = 0;
    uint32_t next_serial_ = 0;
    std::vector<int> faults_;
    /* Set at the end of a case: callbacks stop adding and removing, so that no
     * chain outlives the case (hooks hold a copy: it outlives the model). */
    std::shared_ptr<std::atomic<bool>> hooks_off_ = std::make_shared<std::atomic<bool>>(false);
    std::vector<uint8_t> scratch_;
    std::string trace_;
    int step_no_ = 0;
};

} // namespace pt

#endif
