/* Model core: setup, steps that add ops, waiting for what must complete, and
 * the check of every callback. Peer-side steps: pt_model_peer.cpp; remove and
 * release: pt_model_end.cpp; syscall correlation: pt_model_sys.cpp. */
#include "pt_model.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <poll.h>
#include <sys/socket.h>

#include "pt_content.h"
#include "pt_failure.h"
#include "pt_model_types.h"
#include "pt_track.h"

namespace pt {

namespace {

/* Ops whose coexistence on one socket CPL_ADD_016 promises. */
bool duplex_pair(OpKind a, OpKind b) {
    return (a == OpKind::Recv && b == OpKind::Send) || (a == OpKind::Send && b == OpKind::Recv);
}

/* Keeps memory a misbehaving implementation may still touch reachable, so a
 * late callback lands in valid memory and LeakSanitizer stays quiet. */
std::vector<void*>& kept_alive() {
    static std::vector<void*>* v = new std::vector<void*>();
    return *v;
}

} // namespace

/* ---- IndexPool --------------------------------------------------------- */

IndexPool::IndexPool(size_t n) {
    for (size_t i = n; i-- > 0;) free_.push_back(static_cast<int>(i));
}

int IndexPool::take() {
    if (free_.empty()) return -1;
    const int i = free_.back();
    free_.pop_back();
    return i;
}

void IndexPool::give_back(int i) { free_.push_back(i); }
void IndexPool::hold(int i) { held_.push_back(i); }

void IndexPool::release_held() {
    for (int i : held_) free_.push_back(i);
    held_.clear();
}

/* ---- construction ------------------------------------------------------- */

Model::Model(const ModelEnv& env, const CaseSpec& spec)
    : env_(env), spec_(spec), by_index_(env.rec->max_ops(), nullptr), scratch_(65536) {
    next_serial_ = env.serial_base;
}

Model::~Model() {
    hooks_off_->store(true);
    for (auto& o : ops_) {
        if (!o) continue;
        Op& op = *o;
        if (op.index < 0) continue;
        const bool unused_for_good = op.state == Op::Unused && op.parent && op.parent->state == Op::Done &&
                                     op.parent->hs->add_rc.load() == kHookNotRun;
        if (op.state == Op::Done || unused_for_good) {
            /* no callback of it can be running: its hook may go */
            env_.rec->op(static_cast<size_t>(op.index)).hook = nullptr;
            env_.pool->give_back(op.index);
        } else {
            env_.pool->hold(op.index);
            if (!op.buf.empty() && env_.graveyard) env_.graveyard->push_back(std::move(op.buf));
        }
    }
}

void Model::setup() {
    me_ = cpk::current_tid();
    worker_ = env_.port->info.worker;
    bad_ctx_base_ = cpk::bad_context_callbacks();
    sys_cursor_ = env_.sys ? cpk::record_count() : 0;
    const size_t k = spec_.socks.size();
    if (spec_.recv_cap) note("the worker's recv calls move at most " + std::to_string(spec_.recv_cap) + " bytes");
    if (spec_.send_cap) note("the worker's send calls move at most " + std::to_string(spec_.send_cap) + " bytes");
    for (size_t i = 0; i <= k; ++i) {
        auto s = std::make_unique<Sock>();
        s->id = static_cast<int>(i);
        s->is_sentinel = i == k;
        if (i < k) s->spec = spec_.socks[i];
        s->serial = next_serial_++;
        const bool tcp = s->spec.kind == SockKind::TcpSmall;
        cpk::SocketPair p = tcp ? cpk::tcp_pair(!s->spec.blocking) : cpk::unix_pair(!s->spec.blocking);
        if (!p.ok()) violated(cpk::kKit, "test environment: could not create a socket pair");
        /* Small send buffers make partial sends and EAGAIN common. Receive
         * buffers keep their default: a tiny TCP window stalls the stream on
         * zero-window probes (hundreds of ms), which tests nothing here. */
        if (s->spec.kind != SockKind::UnixDefault) {
            cpk::set_send_buffer(p.a, 4096);
            cpk::set_send_buffer(p.b, 4096);
        }
        cpk::set_nonblocking(p.b, true);
        int v = 0;
        socklen_t len = sizeof v;
        getsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &v, &len);
        s->bufsize = static_cast<uint32_t>(v > 0 ? v : 4096);
        s->a = std::move(p.a);
        s->b = std::move(p.b);
        char line[160];
        snprintf(line, sizeof line, "s%d: %s, fds %d (port) / %d (peer), SO_SNDBUF %u%s", s->id,
                 s->is_sentinel ? "sentinel" : describe(s->spec).c_str(), s->a.get(), s->b.get(), s->bufsize,
                 s->is_sentinel ? " (the model's own, for quiescing)" : "");
        note(line);
        socks_.push_back(std::move(s));
    }
}

/* ---- steps -------------------------------------------------------------- */

void Model::run(const Step& st) {
    ++step_no_;
    Step shown = st;
    shown.sock = static_cast<uint8_t>(st.sock % spec_.socks.size());
    note("step " + std::to_string(step_no_) + ": " + describe(shown));
    if (!env_.port->alive) {
        note("  skipped: the port is released");
        return;
    }
    Sock& s = sock_of(st);
    switch (st.kind) {
    case StepKind::AddRecv: step_add(st, OpKind::Recv); break;
    case StepKind::AddSend: step_add(st, OpKind::Send); break;
    case StepKind::AddWatch: step_add(st, OpKind::Watch); break;
    case StepKind::PeerWrite: step_peer_write(s, length_for(s, st.size)); break;
    case StepKind::PeerRead: step_peer_read(s, (st.flags & kAlt) != 0); break;
    case StepKind::PeerShutdown: step_peer_shutdown(s); break;
    case StepKind::PeerClose: step_peer_close(s, (st.flags & kAlt) != 0); break;
    case StepKind::Remove: step_remove(s, (st.flags & kAlt) != 0); break;
    case StepKind::IncRef: step_inc_ref(); break;
    case StepKind::DecRef: step_dec_ref(); break;
    case StepKind::SpuriousWake: step_spurious_wake((st.flags & kAlt) != 0); break;
    case StepKind::Interrupt: step_interrupt((st.flags & kAlt) != 0); break;
    case StepKind::Count_: break;
    }
}

void Model::step_add(const Step& st, OpKind kind) {
    Sock& s = sock_of(st);
    if (kind == OpKind::Send && s.out_tail_unknown) {
        note("  skipped: an earlier send on this socket ended without saying how much it moved");
        return;
    }
    for (Op* p : s.pending) {
        if (p->kind == kind) {
            note("  skipped: the socket already has a pending " + std::string(op_kind_name(kind)) + " op");
            return;
        }
    }
    uint32_t len = kind == OpKind::Watch ? 0 : length_for(s, st.size);
    /* Without CPL_SEND_006 a send may spin on a full buffer: a lazy peer only
     * gets what surely fits (about 278 one-byte messages fill a unix pair). */
    if (kind == OpKind::Send && s.spec.lazy && !drains(s) && !env_.feat.suspend) {
        len = std::min<uint32_t>(len, 4096);
        if (out_unread(s) + len > 32768 || s.out_segments.size() >= 16) {
            note("  skipped: the lazy peer has too much unread for a send that must not block");
            return;
        }
    }
    uint32_t ev = kind == OpKind::Recv ? EPOLLIN : kind == OpKind::Send ? EPOLLOUT : EPOLLRDHUP;
    if (kind != OpKind::Watch && (st.flags & kRdhup)) ev |= EPOLLRDHUP;
    if (st.flags & kOneshot) ev |= EPOLLONESHOT;
    const uint8_t hooks = env_.feat.hooks ? static_cast<uint8_t>(st.flags & (kRearm | kRemoveSelf | kSlow)) : 0;
    const int chain = (hooks & kRearm) ? 1 + st.size % 2 : 0;
    Op* op = new_op(s, kind, ev, len, hooks, chain);
    if (!op) {
        note("  skipped: no recorder slot left");
        return;
    }
    submit(op, true);
    settle("after the add");
}

Model::Op* Model::new_op(Sock& s, OpKind kind, uint32_t epoll_op, uint32_t length, uint8_t hook_flags, int chain) {
    const int idx = env_.pool->take();
    if (idx < 0) return nullptr;
    auto o = std::make_unique<Op>();
    Op* op = o.get();
    op->serial = next_serial_++;
    op->index = idx;
    op->sock = &s;
    op->kind = kind;
    op->epoll_op = epoll_op;
    op->length = length;
    op->hook_flags = hook_flags;
    void* buffer = nullptr;
    if (kind == OpKind::Recv) {
        op->buf.assign(length ? length : 1, kCanary);
        buffer = op->buf.data();
    } else if (kind == OpKind::Send) {
        op->buf.resize(length ? length : 1);
        fill_stream(op->buf.data(), length, send_stream_id(op->serial), 0);
        buffer = op->buf.data();
    }
    op->ingress = env_.rec->ingress(static_cast<size_t>(idx), static_cast<int>(epoll_op), s.a.get(), buffer, length);
    cpk::Op& rop = env_.rec->op(static_cast<size_t>(idx));
    rop.id = static_cast<int>(op->serial);
    rop.hook = nullptr;
    by_index_[static_cast<size_t>(idx)] = op;
    ops_.push_back(std::move(o));
    if (chain > 0) {
        const uint8_t next_flags = chain > 1 ? hook_flags : static_cast<uint8_t>(hook_flags & ~kRearm);
        op->successor = new_op(s, kind, epoll_op, length, next_flags, chain - 1);
        if (op->successor) {
            op->successor->is_successor = true;
            op->successor->parent = op;
        }
    }
    if (hook_flags) set_hook(op);
    return op;
}

/* The hook runs inside the op's callback, on the callback's thread: no
 * allocation, only API calls (CPL_ADD_017) and a short pause for kSlow. It
 * reads and writes only its HookState and the stop flag (see HookState). */
void Model::set_hook(Op* op) {
    std::shared_ptr<HookState> hs = op->hs;
    hs->port = env_.port->h;
    hs->flags = op->hook_flags;
    hs->socket = op->ingress.socket;
    hs->has_successor = op->successor != nullptr;
    if (op->successor) hs->successor = op->successor->ingress;
    std::shared_ptr<std::atomic<bool>> off = hooks_off_;
    env_.rec->op(static_cast<size_t>(op->index)).hook = [hs, off](cpk::Op&, const cpk::CallbackRecord& r) {
        InHook in_hook;
        if (off->load()) { /* the case is ending or was abandoned: add or remove nothing more */
            hs->skipped.store(true);
            return;
        }
        if (hs->release.load()) {
            api_dec_ref(hs->port);
            hs->release_ret_ns.store(cpk::mono_ns());
            return;
        }
        if (hs->flags & kSlow) {
            struct timespec ts = {0, 1000 * 1000}; /* work that lasts, so that a remove can race it */
            nanosleep(&ts, nullptr);
        }
        const bool event_ok = r.action != COMPLETION_PORT_CLOSING && r.result == COMPLETION_PORT_RESULT_OK;
        if ((hs->flags & kRearm) && hs->has_successor && event_ok) hs->add_rc.store(api_add(hs->port, &hs->successor));
        if ((hs->flags & kRemoveSelf) && r.action != COMPLETION_PORT_CLOSING) {
            hs->remove_call_ns.store(cpk::mono_ns());
            api_remove(hs->port, hs->socket);
            hs->remove_ret_ns.store(cpk::mono_ns());
            hs->removed.store(true);
        }
    };
}

/* Adds the op (from a step, or registers one its parent's callback added).
 * Returns false when add failed (allowed only for an op the spec does not
 * promise to take). */
bool Model::submit(Op* op, bool from_step, int hook_rc) {
    Sock& s = *op->sock;
    bool promised = true;
    for (Op* p : s.pending) {
        if (p == op) continue;
        p->had_neighbour = op->had_neighbour = true;
        const bool keeps = env_.feat.full_duplex && duplex_pair(p->kind, op->kind);
        if (!keeps) {
            promised = false;
            p->eligible = false; /* a literal add re-registers the socket for the new op only */
        }
    }
    op->eligible = promised;
    int rc = 0;
    if (from_step) {
        const size_t from = env_.sys ? cpk::record_count() : 0;
        const bool fresh = !s.registered;
        op->add_tid = me_;
        op->add_call_ns = cpk::mono_ns();
        rc = api_add(env_.port->h, &op->ingress);
        op->add_ret_ns = cpk::mono_ns();
        char line[200];
        snprintf(line, sizeof line, "  add %s -> %d%s", op_name(*op).c_str(), rc,
                 rc == 0 ? (promised ? "" : " (not the only op on its socket: may be stranded)") : "");
        note(line);
        /* With callbacks that add, the port may hold the socket again behind
         * the model's back: "not registered" is only known without them. */
        if (rc == 0 && sys_ok() && !env_.feat.hooks) check_add_ctl(*op, from, fresh);
    } else {
        rc = hook_rc;
        op->add_tid = worker_;
        note("  its callback added " + op_name(*op) + " -> " + std::to_string(rc));
    }
    if (rc != 0) {
        if (promised) {
            const bool alone = s.pending.empty() || (s.pending.size() == 1 && s.pending[0] == op);
            const char* req = !from_step ? "CPL_ADD_017" : alone ? "CPL_ADD_007" : "CPL_ADD_016";
            violated(req, std::string(!from_step ? "an add from inside a callback returned "
                                      : alone    ? "a valid add on a live port returned "
                                                 : "an add next to a pending op of the other direction returned ") +
                              std::to_string(rc) + " for " + op_name(*op));
        }
        op->state = Op::Failed;
        return false;
    }
    op->state = Op::Pending;
    s.pending.push_back(op);
    s.registered = true;
    if (op->kind == OpKind::Send) {
        s.out_prov = op;
        match_peer_bytes(s);
    }
    refresh(s);
    return true;
}

void Model::refresh(Sock& s) {
    const SocketFacts f = facts(s);
    const uint32_t moving =
        outcome_bit(COMPLETION_PORT_EPOLL_EPOLLIN, kResult_OK) | outcome_bit(kAction_OUT, kResult_OK);
    for (Op* p : s.pending) {
        if (p->frozen) continue;
        uint32_t out = event_outcomes(p->kind, p->rdhup(), p->length, f);
        /* An op whose event came before the hang-up may be inside its recv or
         * send loop when it happens: the loop's own outcome then. */
        if (p->rdhup() && (p->allowed & moving)) out |= event_outcomes(p->kind, false, p->length, f);
        /* Next to another op, the worker may handle an event whose mask was
         * computed before this op was added: only EPOLLERR/EPOLLHUP of its
         * own, which CPL_EVENT_001 completes with ERROR. */
        if (!p->eligible && f.closed)
            out |= outcome_bit(p->kind == OpKind::Recv   ? kAction_IN
                               : p->kind == OpKind::Send ? kAction_OUT
                                                         : kAction_RDHUP,
                               kResult_ERROR);
        p->allowed |= out;
        if (out != 0 && event_certain(p->kind, p->rdhup(), f)) p->sure = true;
    }
}

SocketFacts Model::facts(const Sock& s) const {
    SocketFacts f;
    f.tcp = s.spec.kind == SockKind::TcpSmall;
    f.shut_wr = s.shut_wr;
    f.closed = s.closed;
    f.err_pending = s.err_pending;
    f.err_maybe = s.err_maybe;
    f.waiting = s.in_ended ? 0 : s.in_written - s.in_consumed;
    return f;
}

bool Model::drains(const Sock& s) const {
    if (!s.b.valid()) return false;
    if (!s.spec.lazy || s.force_drain) return true;
    /* Without CPL_SEND_006 only lazy unix pairs with default buffers stay lazy,
     * and only without a send cap (every capped call queues its own buffer). */
    return !env_.feat.suspend && (s.spec.kind != SockKind::UnixDefault || spec_.send_cap != 0);
}

bool Model::must_complete(const Op& op) const {
    if (op.state != Op::Pending || !op.eligible || op.frozen || !env_.port->alive || !op.sure) return false;
    if (op.kind != OpKind::Send) return true;
    const Sock& s = *op.sock;
    return s.closed || drains(s) || !env_.feat.suspend;
}

/* ---- waiting ------------------------------------------------------------ */

void Model::settle(const char* why) {
    const int64_t deadline = cpk::mono_ns() + cpk::ms_to_ns(env_.wait_ms);
    for (;;) {
        const size_t finished = env_.rec->finished_count();
        absorb();
        drain_all(true);
        absorb();
        const Op* waiting = nullptr;
        for (auto& sp : socks_) {
            for (Op* p : sp->pending) {
                if (must_complete(*p)) {
                    waiting = p;
                    break;
                }
            }
            if (waiting) break;
        }
        if (!waiting) return;
        if (cpk::mono_ns() > deadline) {
            std::string reason;
            const char* req = missing_requirement(*waiting, &reason);
            violated(req, op_name(*waiting) + " should have completed " + why + ": it may report " +
                              outcomes_text(waiting->allowed) + ", yet no callback came within " +
                              std::to_string(env_.wait_ms) + " ms (" + reason + ")" +
                              sys_history(waiting->sock->a.get()));
        }
        bool poll_peers = false;
        struct pollfd pf[64];
        nfds_t n = 0;
        for (auto& sp : socks_) {
            if (n < 64 && drains(*sp) && sp->out_prov && sp->out_prov->state == Op::Pending) {
                pf[n].fd = sp->b.get();
                pf[n].events = POLLIN;
                pf[n].revents = 0;
                ++n;
                poll_peers = true;
            }
        }
        if (poll_peers)
            (void)poll(pf, n, 1);
        else
            (void)env_.rec->wait_finished(finished + 1, 2);
    }
}

/* The one requirement a missing completion violates, most specific first:
 * what the property's recommended feature set up, then the op's own kind. */
const char* Model::missing_requirement(const Op& op, std::string* why) const {
    if (env_.feat.full_duplex && op.had_neighbour) {
        *why = "it shared its socket with an op of the other direction";
        return "CPL_ADD_016";
    }
    if (env_.feat.hooks && op.is_successor) {
        *why = "a callback added it";
        return "CPL_ADD_017";
    }
    if (env_.feat.eintr) {
        for (int id : faults_)
            if (cpk::fault_fired(id) > 0) {
                *why = "a recv or send of the worker failed with EINTR before";
                return op.kind == OpKind::Send ? "CPL_SEND_007" : "CPL_RECV_009";
            }
    }
    if (env_.feat.suspend) {
        /* an op that may hold the worker without the recommended behaviour */
        for (const auto& sp : socks_)
            for (const Op* p : sp->pending) {
                if (p == &op) continue;
                if (p->kind == OpKind::Send && !drains(*sp)) {
                    *why = "another send waits on a full buffer (s" + std::to_string(sp->id) +
                           "), which must not hold the worker";
                    return "CPL_SEND_006";
                }
                if (p->kind == OpKind::Recv && sp->spec.blocking) {
                    *why = "a recv is pending on a blocking socket (s" + std::to_string(sp->id) +
                           "), which must not hold the worker";
                    return "CPL_RECV_010";
                }
            }
    }
    if (op.rdhup() && (op.allowed & outcome_bit(kAction_RDHUP, kResult_ABANDONED))) {
        *why = "the peer hung up and the op asked for EPOLLRDHUP";
        return "CPL_RDHUP_001";
    }
    if (op.kind == OpKind::Send) {
        *why = "a send op completes once its buffer is sent or the send failed";
        return "CPL_SEND_001";
    }
    *why = "an added op completes on its event";
    return "CPL_ADD_007";
}

/* Two sentinel round trips through the worker: anything the worker fetched
 * before has been delivered once the second one completes. */
void Model::quiesce(const char* why) {
    if (!env_.port->alive) return;
    Sock& s = sentinel();
    for (int round = 0; round < 2; ++round) {
        Op* op = new_op(s, OpKind::Recv, EPOLLIN, 1, 0, 0);
        if (!op) violated(cpk::kKit, "test limit: no recorder slot left for the sentinel");
        op->sentinel = true;
        op->add_tid = me_;
        const int rc = api_add(env_.port->h, &op->ingress);
        if (rc != 0) violated("CPL_ADD_007", "the sentinel's add returned " + std::to_string(rc) + " (" + why + ")");
        op->state = Op::Pending;
        op->eligible = true;
        s.pending.push_back(op);
        s.registered = true;
        refresh(s);
        if (raw_peer_write(s, 1) != 1) violated(cpk::kKit, "test environment: the sentinel's peer could not write");
        settle(why);
    }
}

void Model::wait_done(const std::vector<Op*>& ops, const char* req, const char* why) {
    const int64_t deadline = cpk::mono_ns() + cpk::ms_to_ns(env_.wait_ms);
    for (;;) {
        const size_t finished = env_.rec->finished_count();
        absorb();
        const Op* left = nullptr;
        for (const Op* p : ops)
            if (p->state == Op::Pending) left = p;
        if (!left) return;
        if (cpk::mono_ns() > deadline) violated(req, op_name(*left) + ": its callback was not delivered " + why);
        (void)env_.rec->wait_finished(finished + 1, 2);
    }
}

/* ---- callbacks ---------------------------------------------------------- */

void Model::absorb() {
    while (absorbed_ < env_.rec->count()) {
        const cpk::CallbackRecord r = env_.rec->at(absorbed_);
        if (r.op < 0 || r.end_ns == 0) break; /* not published yet, or still running */
        ++absorbed_;
        handle(r);
    }
    if (cpk::bad_context_callbacks() != bad_ctx_base_)
        violated("CPL_WORKER_005", "a callback came with a context that is no op's");
    if (env_.rec->overflowed()) violated(cpk::kKit, "test limit: the recorder overflowed");
}

bool Model::find_finished(const Op& op, int64_t by_ns, cpk::CallbackRecord* out) const {
    for (size_t i = absorbed_; i < env_.rec->count(); ++i) {
        const cpk::CallbackRecord r = env_.rec->at(i);
        if (r.op != op.index || r.op_id != static_cast<int>(op.serial)) continue;
        *out = r;
        return r.end_ns != 0 && r.end_ns <= by_ns;
    }
    return false;
}

void Model::handle(const cpk::CallbackRecord& r) {
    if (r.op < 0 || static_cast<size_t>(r.op) >= by_index_.size() || !by_index_[static_cast<size_t>(r.op)] ||
        by_index_[static_cast<size_t>(r.op)]->serial != static_cast<uint32_t>(r.op_id))
        violated("CPL_ADD_010", "a callback (" + cpk::describe(r) +
                                    ") for no op of this case: an op of an earlier case, which had completed");
    Op& op = *by_index_[static_cast<size_t>(r.op)];
    Sock& s = *op.sock;
    {
        char line[200];
        const char* where = r.tid == worker_ ? "worker" : r.tid == me_ ? "this thread" : "other thread";
        snprintf(line, sizeof line, "  callback %s: (%s, %s, %d) on %s (tid %d)", op_name(op).c_str(),
                 cpk::action_name(r.action), cpk::result_name(r.result), r.amount, where, static_cast<int>(r.tid));
        note(line);
    }
    check_values(op, r);
    if (r.action == COMPLETION_PORT_CLOSING)
        check_closing(op, r);
    else
        check_event(op, s, r);
    switch (op.kind) {
    case OpKind::Recv: handle_recv(op, s, r); break;
    case OpKind::Send: handle_send(op, s, r); break;
    case OpKind::Watch: break;
    }
    check_sys(op, s, r);
    op.state = Op::Done;
    op.done_action = r.action;
    s.pending.erase(std::remove(s.pending.begin(), s.pending.end(), &op), s.pending.end());
    /* The port may not touch the buffer any more; quarantine it rather than free it. */
    quarantine_.push_back(std::move(op.buf));
    op.buf = std::vector<uint8_t>();
    if (quarantine_.size() > kQuarantine) quarantine_.pop_front();
    after_hooks(op, r);
}

/* What every callback must be: valid values, an op that is live and not yet
 * completed, an amount within its buffer, nothing after the final dec_ref. */
void Model::check_values(const Op& op, const cpk::CallbackRecord& r) {
    if (r.action < 1 || r.action > 4)
        violated("CPL_ABI_002", op_name(op) + " got action value " + std::to_string(r.action));
    if (r.result < 1 || r.result > 3)
        violated("CPL_ABI_003", op_name(op) + " got result value " + std::to_string(r.result));
    if (op.state == Op::Failed)
        violated("CPL_ADD_008", "a callback for " + op_name(op) + " whose add returned non-zero");
    if (op.state == Op::Done || r.op_call_index > 0) {
        /* The same event-driven action again is a level-triggered event firing
         * twice (CPL_ADD_010); anything else breaks the release of the op
         * after its first completion. */
        const int first = op.done_action;
        const char* req = first == r.action && first != COMPLETION_PORT_CLOSING ? "CPL_ADD_010"
                          : first == kAction_RDHUP ? (r.action == kAction_IN ? "CPL_RDHUP_002" : "CPL_RDHUP_003")
                          : first == kAction_IN    ? "CPL_RECV_007"
                          : first == kAction_OUT   ? "CPL_SEND_005"
                                                   : closing_requirement(op);
        violated(req, op_name(op) + " completed a second time, with (" + cpk::action_name(r.action) + ", " +
                          cpk::result_name(r.result) + ", " + std::to_string(r.amount) + ") after " +
                          cpk::action_name(first));
    }
    if (op.state == Op::Unused)
        violated("CPL_WORKER_005", "a callback with the context of " + op_name(op) + ", which was never added");
    if (r.amount < 0 || static_cast<uint32_t>(r.amount) > op.length) {
        const char* req = r.action == kAction_IN      ? "CPL_RECV_006"
                          : r.action == kAction_OUT   ? "CPL_SEND_001"
                          : r.action == kAction_RDHUP ? "CPL_RDHUP_001"
                                                      : closing_requirement(op);
        violated(req, "amount " + std::to_string(r.amount) + " outside [0, length " + std::to_string(op.length) +
                          "] for " + op_name(op) + " (" + cpk::action_name(r.action) + ", " +
                          cpk::result_name(r.result) + ")");
    }
    if (env_.port->released_ns != 0 && r.start_ns > env_.port->released_ns)
        violated("CPL_DECREF_006", op_name(op) + " was called back after the final dec_ref returned");
}

/* A closing completion: (CLOSING, ABANDONED, 0), owed, on the closing thread, in time. */
void Model::check_closing(const Op& op, const cpk::CallbackRecord& r) {
    if (r.result != kResult_ABANDONED || r.amount != 0)
        violated(closing_requirement(op), "a closing completion must be (CLOSING, ABANDONED, 0); " + op_name(op) +
                                              " got (CLOSING, " + cpk::result_name(r.result) + ", " +
                                              std::to_string(r.amount) + ")");
    if (!op.closing_allowed)
        violated("CPL_ADD_007", "a closing completion for " + op_name(op) +
                                    ", which was neither removed nor released: an added op completes on its event");
    if (op.closer_tid != 0 && r.tid != op.closer_tid)
        violated(closing_requirement(op),
                 "the closing completion of " + op_name(op) + " ran on thread " + std::to_string(r.tid) +
                     ", not on the thread that called remove/dec_ref (" + std::to_string(op.closer_tid) + ")");
    if (op.closing_by_ns != 0 && r.end_ns > op.closing_by_ns)
        violated(closing_requirement(op),
                 "the closing completion of " + op_name(op) + " ended after remove/dec_ref returned");
}

/* An event-driven completion: on the worker, one at a time, an outcome the
 * socket's history allows. */
void Model::check_event(const Op& op, Sock& s, const cpk::CallbackRecord& r) {
    if (op.state == Op::Dead)
        violated("CPL_REMOVE_004", op_name(op) + " got an event-driven completion after its socket was removed");
    if (worker_ == 0) worker_ = r.tid;
    if (r.tid != worker_)
        violated("CPL_WORKER_004", op_name(op) + " was called back on thread " + std::to_string(r.tid) +
                                       ", not on the port's worker " + std::to_string(worker_));
    if (r.start_ns < last_event_end_ns_)
        violated("CPL_WORKER_004",
                 "the callback of " + op_name(op) + " started while another callback of the worker was running");
    last_event_end_ns_ = std::max(last_event_end_ns_, r.end_ns);
    const uint32_t bit = outcome_bit(r.action, r.result);
    if (!(op.allowed & bit)) {
        const SocketFacts f = facts(s);
        char facts_text[200];
        snprintf(facts_text, sizeof facts_text, "peer %s%s%s, %llu byte(s) waiting", f.closed ? "closed" : "open",
                 f.shut_wr ? ", shut down" : "", f.err_pending ? " with data unread (reset)" : "",
                 static_cast<unsigned long long>(f.waiting));
        const char* req = outcome_requirement(op, r, f);
        violated(req, op_name(op) + " reported (" + cpk::action_name(r.action) + ", " + cpk::result_name(r.result) +
                          ", " + std::to_string(r.amount) + ") but may only report " + outcomes_text(op.allowed) +
                          " given what happened on s" + std::to_string(s.id) + " since its add (" + facts_text + ")" +
                          (op.frozen ? " before its socket was removed" : "") +
                          (std::string(req) == "CPL_RECV_011"
                               ? ": nothing arrived after its add, so an event fetched before it completed the op"
                               : ""));
    }
}

void Model::handle_recv(Op& op, Sock& s, const cpk::CallbackRecord& r) {
    if (r.action == COMPLETION_PORT_CLOSING) return;
    const uint64_t avail = s.in_ended ? 0 : s.in_written - s.in_consumed;
    const uint32_t n = static_cast<uint32_t>(r.amount);
    if (n > avail)
        violated("CPL_RECV_006", op_name(op) + " reported " + std::to_string(n) + " bytes but the peer sent only " +
                                     std::to_string(avail) + " that no op consumed");
    const uint8_t* b = op.buf.data();
    const size_t bad = check_stream(b, n, peer_stream_id(s.serial), s.in_consumed);
    if (bad < n) {
        char t[200];
        snprintf(t, sizeof t, "byte %zu of the buffer is 0x%02x; the peer sent 0x%02x there (stream offset %llu)", bad,
                 b[bad], stream_byte(peer_stream_id(s.serial), s.in_consumed + bad),
                 static_cast<unsigned long long>(s.in_consumed + bad));
        violated("CPL_RECV_006", op_name(op) + " reported " + std::to_string(n) + " bytes: " + t);
    }
    for (uint32_t k = n; k < op.length; ++k)
        if (b[k] != kCanary)
            violated("CPL_RECV_006", op_name(op) + " reported " + std::to_string(n) + " bytes but byte " +
                                         std::to_string(k) + " of its buffer was written");
    if (r.action == kAction_IN && r.result == kResult_OK) {
        /* CPL_RECV_005/002/004: the loop reads until the buffer is full or
         * nothing is left; exact when every waiting byte was queued before the
         * worker could look (unix, no multi-buffer write while pending). */
        const bool exact = op.eligible && !op.frozen && s.spec.kind != SockKind::TcpSmall && !op.nonatomic;
        const uint64_t expect = std::min<uint64_t>(op.length, avail);
        if (exact && n != expect)
            violated("CPL_RECV_005", op_name(op) + " completed (EPOLLIN, OK, " + std::to_string(n) + ") while " +
                                         std::to_string(avail) + " byte(s) were waiting: it should have received " +
                                         std::to_string(expect) + " (recv again until the buffer is full or EAGAIN)");
        s.in_consumed += n;
    } else if (r.action == kAction_IN) {
        if (r.result == kResult_ABANDONED && env_.feat.exact_failure_amounts && s.spec.kind != SockKind::TcpSmall &&
            n != std::min<uint64_t>(op.length, avail))
            violated("CPL_EVENT_002", op_name(op) + " completed (EPOLLIN, ABANDONED, " + std::to_string(n) + ") but " +
                                          std::to_string(std::min<uint64_t>(op.length, avail)) +
                                          " byte(s) were received before the reset");
        s.in_consumed += n;
        if (r.result == kResult_ABANDONED) {
            s.in_ended = true; /* read up to the reset: what it did not report is lost */
            s.err_pending = false;
        }
    } else if (r.action == kAction_RDHUP) {
        if (env_.feat.exact_failure_amounts && n != 0)
            violated("CPL_EVENT_002", "a hang-up reports amount 0; " + op_name(op) + " reported " + std::to_string(n));
        s.in_consumed += n;
    }
    refresh(s); /* fewer bytes waiting: a TCP FIN may now get through */
}

void Model::handle_send(Op& op, Sock& s, const cpk::CallbackRecord& r) {
    const uint32_t n = static_cast<uint32_t>(r.amount);
    if (r.action == kAction_OUT && r.result == kResult_OK) {
        if (n != op.length)
            violated("CPL_SEND_001", op_name(op) + " completed (EPOLLOUT, OK, " + std::to_string(n) +
                                         "): the whole buffer is " + std::to_string(op.length) + " bytes");
        if (op.peer_seen < op.length) s.out_segments.push_back(Segment{op.serial, op.peer_seen, op.length});
        if (s.out_prov == &op) s.out_prov = nullptr;
        match_peer_bytes(s);
        return;
    }
    if (r.action == kAction_OUT && env_.feat.exact_failure_amounts) {
        if (n < op.peer_seen)
            violated("CPL_EVENT_002", op_name(op) + " reported " + std::to_string(n) + " bytes moved, the peer read " +
                                          std::to_string(op.peer_seen) + " of them");
        op.peer_max = n;
    }
    if (r.action == kAction_RDHUP && env_.feat.exact_failure_amounts && n != 0)
        violated("CPL_EVENT_002", "a hang-up reports amount 0; " + op_name(op) + " reported " + std::to_string(n));
    /* ERROR / ABANDONED / hang-up / closing: the peer may still read a prefix. */
    s.out_tail_unknown = true;
    (void)kResult_ERROR;
}

void Model::after_hooks(Op& op, const cpk::CallbackRecord& r) {
    if (op.successor) {
        Op* su = op.successor;
        const int rc = op.hs->add_rc.load();
        su->nonatomic = op.nonatomic; /* it may have seen the same write half done */
        su->add_call_ns = r.start_ns; /* added inside the parent's callback */
        su->add_ret_ns = r.end_ns;
        if (rc != kHookNotRun) {
            if (submit(su, false, rc) && (op.frozen || op.in_removal)) {
                /* added from a callback that a remove of the socket waited for:
                 * the remove may close it, or it may live on (the spec is silent) */
                su->closing_allowed = true;
                su->closing_req = "CPL_REMOVE_005";
                su->in_removal = true;
                su->eligible = false;
            }
        } else if ((op.hook_flags & kRearm) && !op.hs->skipped.load() && r.action != COMPLETION_PORT_CLOSING &&
                   r.result == kResult_OK) {
            violated(cpk::kKit, "model invariant: the callback of " + op_name(op) + " should have added " +
                                    op_name(*su) + " but its hook did not run");
        }
    }
    if ((op.hook_flags & kRemoveSelf) && op.hs->removed.load()) {
        /* CPL_REMOVE_005 from a callback: the other ops of the socket completed
         * as closing on this callback's thread, inside it (CPL_REMOVE_006: it
         * does not wait for itself). */
        Sock& s = *op.sock;
        note("  its callback removed s" + std::to_string(s.id));
        const int64_t rm_call = op.hs->remove_call_ns.load();
        const int64_t rm_ret = op.hs->remove_ret_ns.load();
        std::vector<Op*> at_call;
        for (Op* p : s.pending) {
            if (p->add_ret_ns < rm_call) {
                at_call.push_back(p); /* pending when the callback removed the socket */
            } else if (p->add_call_ns <= rm_ret) {
                p->closing_allowed = true; /* its add raced the remove: either way */
                p->closing_req = "CPL_REMOVE_005";
                p->eligible = false;
            } /* else added after: a new registration */
        }
        for (Op* p : at_call) {
            p->frozen = true;
            p->closing_allowed = true;
            p->closing_req = "CPL_REMOVE_005";
            if (env_.feat.closing) {
                p->closer_tid = r.tid;
                p->closing_by_ns = r.end_ns;
                cpk::CallbackRecord rr;
                if (!find_finished(*p, r.end_ns, &rr))
                    violated("CPL_REMOVE_005", op_name(*p) +
                                                   " was pending when a callback removed its socket and had no "
                                                   "completion when that callback returned");
            }
        }
        s.registered = false;
        if (env_.feat.closing) wait_done(at_call, "CPL_REMOVE_005", "after a callback removed its socket");
    }
}

/* ---- helpers ------------------------------------------------------------ */

Model::Sock& Model::sock_of(const Step& s) { return *socks_[s.sock % spec_.socks.size()]; }
Model::Sock& Model::sentinel() { return *socks_.back(); }

Model::Sock* Model::sock_by_fd(int fd) {
    for (auto& s : socks_)
        if (s->a.get() == fd) return s.get();
    return nullptr;
}

uint32_t Model::length_for(const Sock& s, uint16_t per_mille) const {
    return static_cast<uint32_t>(static_cast<uint64_t>(per_mille) * s.bufsize / 1000);
}

std::string Model::op_name(const Op& op) const {
    char b[160];
    snprintf(b, sizeof b, "op #%u (%s%s on s%d, %u bytes, %s)", op.serial, op.sentinel ? "sentinel " : "",
             op_kind_name(op.kind), op.sock ? op.sock->id : -1, op.length, cpk::events_name(op.epoll_op).c_str());
    return b;
}

void Model::note(const std::string& line) {
    trace_ += line;
    trace_ += '\n';
}

std::string Model::trace_tail(size_t lines) const {
    size_t pos = trace_.size();
    size_t count = 0;
    while (pos > 0 && count <= lines) {
        pos = trace_.rfind('\n', pos - 1);
        if (pos == std::string::npos) {
            pos = 0;
            break;
        }
        ++count;
    }
    return (pos == 0 ? std::string() : std::string("...\n")) + trace_.substr(pos == 0 ? 0 : pos + 1);
}

void Model::violated(const char* requirement, const std::string& what) const {
    throw Failure(requirement, what, "what the model saw (last lines):\n" + trace_tail());
}

const char* Model::closing_requirement(const Op& op) const {
    return op.closing_req ? op.closing_req : "CPL_REMOVE_005";
}

/* The one requirement an event-driven outcome the op may not report breaks,
 * from what happened on its socket (f) since its add. */
const char* Model::outcome_requirement(const Op& op, const cpk::CallbackRecord& r, const SocketFacts& f) const {
    const uint32_t bit = outcome_bit(r.action, r.result);
    if (op.frozen && (event_outcomes(op.kind, op.rdhup(), op.length, f) & bit)) return "CPL_REMOVE_004";
    const bool hangup = f.shut_wr || f.closed;
    const int own = op.kind == OpKind::Recv ? kAction_IN : op.kind == OpKind::Send ? kAction_OUT : kAction_RDHUP;
    if (r.action == kAction_RDHUP) {
        if (op.rdhup()) return "CPL_RDHUP_001"; /* (RDHUP, ABANDONED), and only on a hang-up */
        return op.kind == OpKind::Recv && hangup ? "CPL_RECV_004" : "CPL_WORKER_005";
    }
    if (r.action != own) return "CPL_WORKER_005"; /* an action its op did not ask for */
    if (op.rdhup() && hangup) return "CPL_RDHUP_002";
    if (op.kind == OpKind::Recv) {
        const bool arrived = hangup || (op.allowed & outcome_bit(kAction_IN, kResult_OK)) != 0;
        if (r.result == kResult_ABANDONED) return "CPL_RECV_003";
        if (!arrived) return "CPL_RECV_011";
        if (hangup) return f.err_pending ? "CPL_RECV_003" : "CPL_RECV_004";
        return "CPL_RECV_002";
    }
    /* send */
    if (r.result == kResult_OK) return "CPL_SEND_003"; /* the peer is gone: EPIPE */
    if (r.result == kResult_ABANDONED) return "CPL_SEND_002";
    return "CPL_SEND_001";
}

std::vector<int> Model::fds() const {
    std::vector<int> v;
    for (const auto& s : socks_) {
        if (s->a.valid()) v.push_back(s->a.get());
        if (s->b.valid()) v.push_back(s->b.get());
    }
    return v;
}

/* TCP pairs close with a reset: no TIME_WAIT left behind (a soak run opens
 * hundreds of thousands of connections). */
void Model::close_sockets() {
    for (auto& s : socks_) {
        if (s->spec.kind == SockKind::TcpSmall) {
            if (s->a.valid()) s->a.reset_close();
            if (s->b.valid()) s->b.reset_close();
        }
        s->a.close();
        s->b.close();
    }
}

/* A callback may be running now (a slow hook, a defective port): hooks are
 * stopped by the flag, never reset under a running callback. */
void Model::abandon() {
    hooks_off_->store(true);
    for (auto& o : ops_) {
        if (o->index >= 0) env_.pool->hold(o->index);
        kept_alive().push_back(o.release()); /* a late callback may still read it */
    }
    ops_.clear();
    close_sockets();
}

} // namespace pt
