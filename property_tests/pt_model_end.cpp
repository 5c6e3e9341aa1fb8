/* Steps on the port itself (remove, references, worker faults) and the ends of
 * a case: the shared-port cleanup and the per-case release sequence. */
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pt_model.h"
#include "pt_model_types.h"
#include "pt_track.h"

namespace pt {

/* ---- remove --------------------------------------------------------------- */

void Model::step_remove(Sock& s, bool race) {
    remove_socket(s, race, true);
    settle("after the remove");
}

/* CPL_REMOVE_003/004 always; with Features.closing also CPL_REMOVE_005/006:
 * every op pending at the call completes exactly once before remove returns,
 * closing ones on this thread, and no callback of the socket still runs. */
void Model::remove_socket(Sock& s, bool race, bool quiesce_after) {
    if (race) {
        const size_t w = raw_peer_write(s, 1);
        note("  peer wrote " + std::to_string(w) + " byte right before the remove");
    }
    const std::vector<Op*> at_call = s.pending;
    for (Op* p : at_call) {
        p->frozen = true; /* events after the remove complete nothing (CPL_REMOVE_004) */
        p->closing_allowed = true;
        p->closing_req = "CPL_REMOVE_005";
        if (env_.feat.closing) p->closer_tid = me_;
    }
    const size_t from = env_.sys ? cpk::record_count() : 0;
    api_remove(env_.port->h, s.a.get());
    const int64_t returned = cpk::mono_ns();
    note("  removed s" + std::to_string(s.id) + " with " + std::to_string(at_call.size()) + " op(s) pending");
    if (sys_ok()) check_remove_ctl(s, from);
    s.registered = false;
    s.removed_ever = true;
    if (env_.feat.closing) {
        for (Op* p : at_call) {
            p->closing_by_ns = returned;
            cpk::CallbackRecord r;
            if (!find_finished(*p, returned, &r))
                violated(r.op == p->index && r.end_ns == 0 ? "CPL_REMOVE_006" : "CPL_REMOVE_005",
                         op_name(*p) +
                             " was pending when remove was called and had no finished callback when remove returned");
        }
        for (size_t i = absorbed_; i < env_.rec->count(); ++i) {
            const cpk::CallbackRecord r = env_.rec->at(i);
            if (r.op < 0) continue;
            const Op* o = by_index_[static_cast<size_t>(r.op)];
            if (!o || o->sock != &s || o->serial != static_cast<uint32_t>(r.op_id)) continue;
            if (r.start_ns < returned && (r.end_ns == 0 || r.end_ns > returned))
                violated("CPL_REMOVE_006", "remove of s" + std::to_string(s.id) + " returned while the callback of " +
                                               op_name(*o) + " was still running");
        }
        wait_done(at_call, "CPL_REMOVE_005", "after remove returned");
    }
    if (quiesce_after) {
        quiesce("after the remove");
        bury(s);
    }
}

/* Ops still pending after a remove and a quiesce will not complete from
 * events any more; a late closing completion is still accepted. */
void Model::bury(Sock& s, bool all) {
    pull_sys();
    std::vector<Op*> live;
    for (Op* p : s.pending) {
        if (!p->frozen && !all) {
            /* added (by a callback) after the remove: a new registration,
             * which may still complete on its events */
            live.push_back(p);
            continue;
        }
        p->state = Op::Dead;
        if (p->kind == OpKind::Send) s.out_tail_unknown = true;
        note("  " + op_name(*p) + " got no callback (allowed: only recommended behaviour completes it)");
    }
    s.pending = live;
    /* the calls the dead ops may have made; a live op's come after its add */
    int64_t keep_from = INT64_MAX;
    for (const Op* p : live) keep_from = std::min(keep_from, p->add_call_ns);
    for (std::vector<SysCall>* calls : {&s.recv_calls, &s.send_calls})
        calls->erase(
            std::remove_if(calls->begin(), calls->end(), [&](const SysCall& c) { return c.end_ns < keep_from; }),
            calls->end());
}

/* ---- references and worker faults --------------------------------------- */

void Model::step_inc_ref() {
    api_inc_ref(env_.port->h);
    ++extra_refs_;
    note("  references added by this model: " + std::to_string(extra_refs_));
}

/* CPL_DECREF_001: a dec_ref that leaves references keeps the port working. */
void Model::step_dec_ref() {
    if (extra_refs_ == 0) {
        note("  skipped: it would release a reference this model does not own");
        return;
    }
    api_dec_ref(env_.port->h);
    --extra_refs_;
    check_port_kept(*env_.port, extra_refs_ + 1);
    quiesce("after a dec_ref that left references (CPL_DECREF_001)");
}

void Model::drop_extra_refs() {
    while (extra_refs_ > 0 && env_.port->alive) {
        api_dec_ref(env_.port->h);
        --extra_refs_;
        check_port_kept(*env_.port, extra_refs_ + 1);
    }
}

/* CPL_WORKER_003: a timeout or EINTR from epoll_wait does not stop the worker. */
void Model::step_spurious_wake(bool eintr) {
    if (!env_.faults || worker_ == 0) {
        note("  skipped: faults are off in this property");
        return;
    }
    for (auto it = faults_.begin(); it != faults_.end();) {
        if (cpk::fault_fired(*it) > 0) {
            cpk::remove_fault(*it);
            it = faults_.erase(it);
        } else {
            ++it;
        }
    }
    cpk::Fault f;
    f.fn = cpk::Fn::epoll_any_wait;
    f.kind = eintr ? cpk::FaultKind::fail : cpk::FaultKind::zero;
    f.err = EINTR;
    f.epfd = env_.port->info.epfd;
    if (!inject_on_worker(f)) return;
    quiesce("after a spurious epoll_wait return (CPL_WORKER_003)");
}

/* Installs f for the worker thread only; kept until it has fired. */
bool Model::inject_on_worker(cpk::Fault f) {
    f.scope = cpk::Scope::tid;
    f.tid = worker_;
    const int id = cpk::inject(f);
    if (id < 0) {
        note("  skipped: no fault slot left");
        return false;
    }
    faults_.push_back(id);
    return true;
}

/* CPL_RECV_009 / CPL_SEND_007: the worker's next recv or send fails with EINTR. */
void Model::step_interrupt(bool on_send) {
    if (!env_.feat.eintr || !env_.faults || worker_ == 0) {
        note("  skipped: EINTR injection is off in this property");
        return;
    }
    cpk::Fault f;
    f.fn = on_send ? cpk::Fn::send : cpk::Fn::recv;
    f.kind = cpk::FaultKind::fail;
    f.err = EINTR;
    if (!inject_on_worker(f)) return;
    note("  the worker's next " + std::string(on_send ? "send" : "recv") + " fails with EINTR");
}

/* ---- end of a case on a shared port --------------------------------------- */

/* Callbacks stop adding and removing; a quiesce lets one that already
 * started finish, so every op its chain added is known before the removes. */
void Model::stop_hooks() {
    if (hooks_off_->exchange(true) || !env_.feat.hooks) return;
    quiesce("after callbacks stopped adding");
}

/* How every case ends: hooks stopped, the peers drained, the port settled.
 * False when the port is already gone. */
bool Model::wind_down(const char* what) {
    note(what);
    if (!env_.port->alive) return false;
    stop_hooks();
    drain_all(false);
    settle("at the end of the case");
    return true;
}

void Model::end_shared() {
    if (!wind_down("end of case: the peers read everything, every socket is removed")) return;
    for (size_t i = 0; i < spec_.socks.size(); ++i) {
        Sock& s = *socks_[i];
        if (s.registered || !s.pending.empty()) remove_socket(s, false, false);
    }
    quiesce("after removing every socket");
    for (size_t i = 0; i < spec_.socks.size(); ++i) bury(*socks_[i], true);
    await_sent_bytes();
    Sock& sen = sentinel();
    if (sen.registered) {
        const size_t from = env_.sys ? cpk::record_count() : 0;
        api_remove(env_.port->h, sen.a.get());
        if (sys_ok()) check_remove_ctl(sen, from);
        sen.registered = false;
    }
    pull_sys();
    drop_extra_refs();
    if (cpk::bad_context_callbacks() != bad_ctx_base_)
        violated("CPL_WORKER_005", "a callback came with a context that is no op's");
}

/* CPL_SEND_001: every byte a send op reported sent reaches a peer that is
 * still open (TCP may still be moving them: bounded wait). */
void Model::await_sent_bytes() {
    const int64_t deadline = cpk::mono_ns() + cpk::ms_to_ns(env_.wait_ms);
    for (;;) {
        drain_all(false);
        const Sock* missing = nullptr;
        for (const auto& sp : socks_) {
            if (!sp->unread_match.empty())
                violated("CPL_SEND_001", "the peer of s" + std::to_string(sp->id) + " read " +
                                             std::to_string(sp->unread_match.size()) +
                                             " byte(s) that no send op reported or was sending");
            if (sp->b.valid() && !sp->out_segments.empty()) missing = sp.get();
        }
        if (!missing) return;
        if (cpk::mono_ns() > deadline)
            violated("CPL_SEND_001", "send op #" + std::to_string(missing->out_segments.front().serial) + " on s" +
                                         std::to_string(missing->id) +
                                         " reported all its bytes sent but the peer never got " +
                                         std::to_string(out_unread(*missing)) + " of them");
        struct pollfd pf = {missing->b.get(), POLLIN, 0};
        (void)poll(&pf, 1, 1);
    }
}

/* ---- end of a case with its own port --------------------------------------- */

void Model::end_settle() {
    if (!wind_down("end of case: the peers read everything, then the final dec_ref")) return;
    await_sent_bytes();
}

void Model::before_release(pid_t) {
    for (auto& sp : socks_)
        for (Op* p : sp->pending) {
            p->frozen = true;
            p->closing_allowed = true;
            p->closing_req = "CPL_DECREF_008";
        }
}

/* CPL_DECREF_004/006 always; with Features.closing CPL_DECREF_008: every op
 * pending at the final dec_ref completed once, as closing on the thread that
 * made it, before it returned. */
void Model::after_release() {
    const PortCtx& p = *env_.port;
    note("  final dec_ref returned after " + std::to_string((p.released_ns - p.release_call_ns) / 1000) + " us");
    std::vector<Op*> pending;
    for (auto& sp : socks_)
        for (Op* o : sp->pending) {
            pending.push_back(o);
            if (env_.feat.closing) {
                o->closer_tid = p.released_by;
                o->closing_by_ns = p.released_ns;
            }
        }
    settle_released(pending, "CPL_DECREF_004", "a callback was still running after the final dec_ref returned",
                    "CPL_DECREF_008",
                    " was pending at the final dec_ref and got no closing completion before it returned");
}

/* Once the port is released: every callback has been absorbed (else
 * `running_msg`), and an op still pending then got no closing completion
 * (`unclosed_id` + op + `unclosed_what`, when closing is demanded). */
void Model::settle_released(const std::vector<Op*>& pending, const char* running_req, const char* running_msg,
                            const char* unclosed_req, const char* unclosed_what) {
    absorb();
    if (absorbed_ < env_.rec->count()) violated(running_req, running_msg);
    for (Op* o : pending) {
        if (o->state != Op::Pending) continue;
        if (env_.feat.closing) violated(unclosed_req, op_name(*o) + unclosed_what);
        o->state = Op::Dead;
    }
    for (auto& sp : socks_) sp->pending.clear();
}

/* Events on every socket once the port is gone: none may reach a callback. */
void Model::poke_after_release() {
    for (auto& sp : socks_) {
        Sock& s = *sp;
        if (!s.b.valid()) continue;
        if (!s.shut_wr) {
            const uint8_t byte = 0x5a;
            (void)::write(s.b.get(), &byte, 1);
        }
        if (s.spec.kind == SockKind::TcpSmall)
            s.b.reset_close();
        else
            s.b.close();
    }
}

void Model::check_quiet_after_release() {
    absorb(); /* handle() rejects any callback that started after the release */
    if (env_.rec->count() != absorbed_)
        violated("CPL_DECREF_006", "a callback started after the final dec_ref returned");
}

/* CPL_DECREF_010: the last reference dropped inside a callback on the worker. */
void Model::release_from_callback() {
    if (!env_.port->alive) return;
    note("release: the final dec_ref is made inside a callback on the worker");
    drop_extra_refs();
    Sock& s = sentinel();
    Op* op = new_op(s, OpKind::Recv, EPOLLIN, 1, 0, 0);
    if (!op) violated(cpk::kKit, "test limit: no recorder slot left");
    op->sentinel = true;
    op->hs->release.store(true);
    set_hook(op);
    std::vector<Op*> pending;
    for (auto& sp : socks_)
        for (Op* o : sp->pending) {
            o->frozen = true;
            o->closing_allowed = true;
            o->closing_req = "CPL_DECREF_010";
            o->closer_tid = worker_;
            pending.push_back(o);
        }
    if (!submit(op, true)) violated("CPL_ADD_007", "the add of the releasing op failed");
    (void)raw_peer_write(s, 1);
    const int64_t called = cpk::mono_ns();
    if (!env_.rec->wait_op_finished(static_cast<size_t>(op->index), cpk::kTeardownMs))
        violated("CPL_DECREF_010", "the callback that made the final dec_ref had not returned after " +
                                       std::to_string(cpk::kTeardownMs) + " ms (the worker cannot join itself)");
    PortCtx& p = *env_.port;
    p.alive = false;
    p.release_call_ns = called;
    p.released_ns = op->hs->release_ret_ns.load();
    p.released_by = worker_;
    for (Op* o : pending) o->closing_by_ns = p.released_ns;
    if (worker_ != 0 && !cpk::wait_thread_gone(worker_, cpk::kTeardownMs))
        violated("CPL_DECREF_010", "the worker thread did not exit by itself after a final dec_ref from its callback");
    settle_released(pending, "CPL_DECREF_010", "a callback was still running after the worker exited", "CPL_DECREF_010",
                    " was pending at the final dec_ref (in a callback) and got no closing completion");
}

} // namespace pt
