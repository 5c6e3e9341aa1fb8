/* Syscall correlation (observability "sys"): with the harness recording, each
 * completion is compared with the worker's recv/send calls on the socket
 * since the op's previous completion of the same kind, and each add/remove
 * with the epoll_ctl calls it made. Skipped when the record buffer overflowed. */
#include <cerrno>
#include <cstdio>
#include <sys/epoll.h>

#include "pt_model.h"
#include "pt_model_types.h"

namespace pt {

namespace {

const char* err_name(int e) {
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case EINTR: return "EINTR";
    default: return "another errno";
    }
}

} // namespace

bool Model::sys_ok() const { return env_.sys && cpk::record_dropped() == 0; }

void Model::pull_sys() {
    if (!env_.sys) return;
    const size_t n = cpk::record_count();
    while (sys_cursor_ < n) {
        const cpk::CallRecord r = cpk::record_at(sys_cursor_);
        if (r.fn == cpk::Fn::any) break; /* not published yet */
        ++sys_cursor_;
        if ((r.fn == cpk::Fn::epoll_wait || r.fn == cpk::Fn::epoll_pwait) && r.fd == env_.port->info.epfd &&
            r.timeout != 2000)
            violated("CPL_WORKER_002", "the worker called " + cpk::describe(r) + "; the timeout must be 2000 ms");
        if (r.fn != cpk::Fn::recv && r.fn != cpk::Fn::send) continue;
        if (r.tid == me_) continue;
        Sock* s = sock_by_fd(r.fd);
        if (!s) continue;
        (r.fn == cpk::Fn::recv ? s->recv_calls : s->send_calls)
            .push_back(SysCall{r.end_ns, r.result, r.err, r.buf, r.length});
    }
}

void Model::check_sys(Op& op, Sock& s, const cpk::CallbackRecord& r) {
    if (!sys_ok() || op.kind == OpKind::Watch) return;
    pull_sys();
    if (!sys_ok()) return;
    std::vector<SysCall>& all = op.kind == OpKind::Recv ? s.recv_calls : s.send_calls;
    std::vector<SysCall> calls;
    std::vector<SysCall> later;
    for (const SysCall& c : all) (c.end_ns <= r.start_ns ? calls : later).push_back(c);
    all.swap(later);
    const bool recv_op = op.kind == OpKind::Recv;
    const int own_action = recv_op ? COMPLETION_PORT_EPOLL_EPOLLIN : COMPLETION_PORT_EPOLL_EPOLLOUT;
    if (r.action != own_action) return; /* hang-up or closing: no transfer to account for */

    const uint64_t total = check_call_sequence(op, calls);
    check_last_call(op, r, calls, total);
}

/* The op's recv or send calls up to its callback: each continued where the
 * previous one stopped, and none came after one that decided the outcome.
 * Returns the bytes they moved. */
uint64_t Model::check_call_sequence(const Op& op, const std::vector<SysCall>& calls) {
    const bool recv_op = op.kind == OpKind::Recv;
    const char* fn = recv_op ? "recv" : "send";
    const uint8_t* base = static_cast<const uint8_t*>(op.ingress.buffer_data.buffer);
    uint64_t total = 0;
    for (size_t i = 0; i < calls.size(); ++i) {
        const SysCall& c = calls[i];
        const uint8_t* at = static_cast<const uint8_t*>(c.buf);
        /* CPL_RECV_001: inside the buffer; CPL_RECV_005: again into
         * (buffer + total, length - total); CPL_SEND_001: on from where it stopped. */
        const bool exact_len = recv_op && total > 0;
        if (at != base + total || c.length > op.length - total || (exact_len && c.length != op.length - total)) {
            char t[240];
            snprintf(t, sizeof t, "call %zu of %s for %s passed (buffer%+lld, %zu); expected (buffer+%llu, %s%llu)",
                     i + 1, fn, op_name(op).c_str(), static_cast<long long>(at - base), c.length,
                     static_cast<unsigned long long>(total), exact_len ? "" : "at most ",
                     static_cast<unsigned long long>(op.length - total));
            violated(recv_op ? (total > 0 ? "CPL_RECV_005" : "CPL_RECV_001") : "CPL_SEND_001", t);
        }
        const bool last = i + 1 == calls.size();
        if (c.result > 0) {
            total += static_cast<uint64_t>(c.result);
            continue;
        }
        if (last) break;
        const bool retry = c.result < 0 && (c.err == EINTR || (!recv_op && (c.err == EAGAIN || c.err == EWOULDBLOCK)));
        if (!retry) {
            /* the outcome that call decided, which a further call ignored */
            const char* req = c.result == 0                             ? (recv_op ? "CPL_RECV_004" : "CPL_SEND_001")
                              : c.err == EAGAIN || c.err == EWOULDBLOCK ? "CPL_RECV_002"
                              : c.err == ECONNRESET                     ? (recv_op ? "CPL_RECV_003" : "CPL_SEND_002")
                                                                        : (recv_op ? "CPL_RECV_008" : "CPL_SEND_003");
            violated(req, std::string("the worker called ") + fn + " again after it returned " +
                              std::to_string(c.result) +
                              (c.result < 0 ? std::string(" (") + err_name(c.err) + ")" : "") + " for " + op_name(op));
        }
    }
    return total;
}

/* The callback agrees with the op's last call: its result and amount. */
void Model::check_last_call(const Op& op, const cpk::CallbackRecord& r, const std::vector<SysCall>& calls,
                            uint64_t total) {
    const bool recv_op = op.kind == OpKind::Recv;
    const char* fn = recv_op ? "recv" : "send";
    if (calls.empty()) {
        if (r.amount > 0 || (!recv_op && op.length > 0 && r.result == COMPLETION_PORT_RESULT_OK))
            violated(recv_op ? "CPL_RECV_001" : "CPL_SEND_001", op_name(op) + " reported " + std::to_string(r.amount) +
                                                                    " bytes but the worker made no " + fn +
                                                                    " call on its socket");
        return;
    }
    const SysCall& last = calls.back();
    int expect = COMPLETION_PORT_RESULT_OK;
    const char* req = "";
    if (last.result > 0) {
        if (total != op.length)
            violated(recv_op ? "CPL_RECV_005" : "CPL_SEND_001",
                     op_name(op) + " completed after a " + fn + " that moved bytes, with " + std::to_string(total) +
                         " of " + std::to_string(op.length) + " moved: the loop must go on");
        req = recv_op ? "CPL_RECV_005" : "CPL_SEND_001";
    } else if (last.result == 0) {
        req = recv_op ? "CPL_RECV_004" : "CPL_SEND_001";
    } else if (last.err == EAGAIN || last.err == EWOULDBLOCK) {
        if (!recv_op) {
            if (r.result == COMPLETION_PORT_RESULT_OK)
                violated("CPL_SEND_001", op_name(op) + " completed OK right after send gave EAGAIN with " +
                                             std::to_string(total) + " of " + std::to_string(op.length) +
                                             " bytes sent");
            return;
        }
        req = "CPL_RECV_002";
    } else if (last.err == ECONNRESET) {
        expect = COMPLETION_PORT_RESULT_ABANDONED;
        req = recv_op ? "CPL_RECV_003" : "CPL_SEND_002";
    } else if (last.err == EINTR) {
        if (env_.feat.eintr)
            violated(recv_op ? "CPL_RECV_009" : "CPL_SEND_007",
                     op_name(op) + " completed after " + fn + " failed with EINTR; the call must be retried");
        return; /* normative text is silent on EINTR */
    } else {
        expect = COMPLETION_PORT_RESULT_ERROR;
        req = recv_op ? "CPL_RECV_008" : "CPL_SEND_003";
        if (recv_op && !env_.feat.exact_failure_amounts && !env_.feat.eintr) return; /* recommended only */
    }
    if (r.result != expect)
        violated(req, std::string("after the worker's last ") + fn + " for " + op_name(op) + " returned " +
                          std::to_string(last.result) +
                          (last.result < 0 ? std::string(" (") + err_name(last.err) + ")" : "") +
                          ", the op must complete with " + cpk::result_name(expect) + ", not " +
                          cpk::result_name(r.result));
    const bool exact = expect == COMPLETION_PORT_RESULT_OK || env_.feat.exact_failure_amounts;
    if (exact && static_cast<uint64_t>(r.amount) != total)
        violated(expect == COMPLETION_PORT_RESULT_OK ? req : "CPL_EVENT_002",
                 op_name(op) + " reported " + std::to_string(r.amount) + " bytes; its " + fn + " calls moved " +
                     std::to_string(total));
}

/* The recorded calls that concern one socket (for a failure message). */
std::string Model::sys_history(int fd) const {
    if (!env_.sys) return "";
    std::vector<std::string> lines;
    const size_t n = cpk::record_count();
    for (size_t i = 0; i < n; ++i) {
        const cpk::CallRecord r = cpk::record_at(i);
        bool mine = (r.fn == cpk::Fn::epoll_ctl && r.target == fd) ||
                    ((r.fn == cpk::Fn::recv || r.fn == cpk::Fn::send) && r.fd == fd);
        for (int k = 0; k < r.nev && k < 4 && !mine; ++k) mine = r.ev[k].fd == fd;
        if (mine) lines.push_back(cpk::describe(r));
    }
    std::string out = "\n\nthe calls recorded for its socket (fd " + std::to_string(fd) + ")" +
                      (cpk::record_dropped() ? " (the record buffer overflowed: the latest are missing)" : "") + ":";
    const size_t first = lines.size() > 30 ? lines.size() - 30 : 0;
    if (first) out += "\n  ...";
    for (size_t i = first; i < lines.size(); ++i) out += "\n  " + lines[i];
    return out;
}

void Model::check_add_ctl(const Op& op, size_t from, bool fresh) {
    std::vector<cpk::CallRecord> mine;
    const size_t to = cpk::record_count();
    for (size_t i = from; i < to; ++i) {
        const cpk::CallRecord r = cpk::record_at(i);
        if (r.fn == cpk::Fn::epoll_ctl && r.tid == me_ && r.target == op.ingress.socket) mine.push_back(r);
    }
    if (!fresh) return;
    const uint32_t want = op.epoll_op & ~static_cast<uint32_t>(EPOLLONESHOT);
    if (mine.empty() || mine[0].op != EPOLL_CTL_MOD || (mine[0].events & ~static_cast<uint32_t>(EPOLLONESHOT)) != want)
        violated("CPL_ADD_005", "the first epoll_ctl of an add on a socket the port did not have was " +
                                    (mine.empty() ? std::string("missing") : cpk::describe(mine[0])) +
                                    "; expected EPOLL_CTL_MOD with events " + cpk::events_name(op.epoll_op) +
                                    " (EPOLLONESHOT optional) for " + op_name(op));
    if (mine[0].result != 0 && mine[0].err == ENOENT &&
        (mine.size() < 2 || mine[1].op != EPOLL_CTL_ADD || mine[1].events != mine[0].events))
        violated("CPL_ADD_006", "after EPOLL_CTL_MOD failed with ENOENT the add made " +
                                    (mine.size() < 2 ? std::string("no other call") : cpk::describe(mine[1])) +
                                    "; expected EPOLL_CTL_ADD with the same events, for " + op_name(op));
}

void Model::check_remove_ctl(const Sock& s, size_t from) {
    if (!s.registered) return;
    const size_t to = cpk::record_count();
    for (size_t i = from; i < to; ++i) {
        const cpk::CallRecord r = cpk::record_at(i);
        if (r.fn == cpk::Fn::epoll_ctl && r.tid == me_ && r.op == EPOLL_CTL_DEL && r.target == s.a.get()) return;
    }
    violated("CPL_REMOVE_003",
             "remove of s" + std::to_string(s.id) + " (registered with the port) made no epoll_ctl(EPOLL_CTL_DEL)");
}

} // namespace pt
