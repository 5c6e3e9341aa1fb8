/* create_port: a port plus its epoll fd and worker thread, as observed. */
#include "port.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/epoll.h>

#include <ctime>

#include "interpose.h"
#include "process.h"
#include "recorder.h"
#include "rows.h"
#include "sockets.h"
#include "sync.h"

namespace cpk {

PortInfo create_port() {
    PortInfo p;
    FdList fds_before = list_fds();
    TaskList tasks_before = list_tasks();
    uint64_t created_before = threads_created();
    pid_t me = current_tid();
    p.threads_before = tasks_before.n;
    p.epoll_fds_before = 0;
    for (int i = 0; i < fds_before.n; ++i)
        if (is_epoll_fd(fds_before.fd[i])) ++p.epoll_fds_before;

    p.handle = completion_port_create();
    if (!p.handle) return p;

    FdList fds_now = list_fds();
    p.epfd = new_epoll_fd(fds_before, fds_now);
    int last = last_epoll_fd_created();
    if (p.epfd < 0 && last >= 0 && !fds_before.contains(last) && is_epoll_fd(last)) p.epfd = last;

    uint64_t created_now = threads_created();
    for (uint64_t i = created_before; i < created_now && p.worker == 0; ++i)
        if (created_thread_creator(i) == me) p.worker = created_thread_tid(i, kWaitMs);
    if (p.worker == 0) {
        pid_t fresh[4];
        if (new_threads(tasks_before, list_tasks(), fresh, 4) == 1) p.worker = fresh[0];
    }
    return p;
}

int64_t timed_dec_ref(COMPLETION_PORT_HANDLE h) {
    int64_t t0 = mono_ns();
    completion_port_dec_ref(h);
    return mono_ns() - t0;
}

COMPLETION_PORT_INGRESS_DATA make_ingress(int epoll_op, int socket, ON_COMPLETION_PORT_EVENT_COMPLETE cb, void* ctx,
                                          void* buffer, uint32_t length) {
    return COMPLETION_PORT_INGRESS_DATA{epoll_op, socket, cb, ctx, {buffer, length}};
}

bool wait_blocked_in_epoll_wait(int timeout_ms) {
    int64_t deadline = mono_ns() + ms_to_ns(timeout_ms);
    for (;;) {
        if (calls_entered(Fn::epoll_any_wait) > calls_returned(Fn::epoll_any_wait)) return true;
        if (mono_ns() >= deadline) return false;
        struct timespec ts = {0, 1000 * 1000}; /* the counters offer no wake-up; bounded poll */
        nanosleep(&ts, nullptr);
    }
}

bool sentinel(COMPLETION_PORT_HANDLE port, Recorder& rec, size_t op_index, int quiet_ms) {
    static char byte[64]; /* one byte per concurrent sentinel is plenty; content unused */
    SocketPair sp = unix_pair();
    if (!sp.ok()) return false;
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op_index, EPOLLIN, sp.a, &byte[op_index % sizeof byte], 1);
    int before = rec.calls(op_index);
    if (!row_add(port, &in)) return false; /* a failed add is checked as what it violates */
    if (!write_all(sp.b, "s", 1)) return false;
    bool ok = rec.wait_op(op_index, kWaitMs, before + 1);
    size_t n = rec.count();
    rec.wait_count(n + 1, quiet_ms); /* a bounded window for anything still to come */
    return ok;
}

bool completes_a_recv(COMPLETION_PORT_HANDLE port, Recorder& rec, size_t op) {
    static char buf[16]; /* one byte per op; outlives a late callback */
    SocketPair sp = unix_pair();
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, sp.a, &buf[op % sizeof buf], 1);
    if (!row_add(port, &in)) return false; /* a failed add is checked as what it violates */
    if (!write_all(sp.b, "x", 1)) return false;
    return rec.wait_op(op, kWaitMs) && rec.for_op(op).at(0).action == COMPLETION_PORT_EPOLL_EPOLLIN;
}

const char* add_failure_requirement(uint64_t mark, const char* otherwise) {
    CtlCall c[8];
    int n = thread_ctl_since(mark, c, 8);
    for (int i = 0; i < n; ++i) {
        if (c[i].op != EPOLL_CTL_MOD || c[i].rc == 0 || c[i].err != ENOENT) continue;
        bool added = false;
        for (int j = i + 1; j < n; ++j) added |= c[j].op == EPOLL_CTL_ADD && c[j].target == c[i].target;
        if (!added) return "CPL_ADD_006";
    }
    return otherwise;
}

std::string describe_ctl_since(uint64_t mark) {
    CtlCall c[8];
    int n = thread_ctl_since(mark, c, 8);
    if (n == 0) return "none";
    std::string s;
    for (int i = 0; i < n; ++i) {
        const char* op = c[i].op == EPOLL_CTL_ADD   ? "ADD"
                         : c[i].op == EPOLL_CTL_MOD ? "MOD"
                         : c[i].op == EPOLL_CTL_DEL ? "DEL"
                                                    : "?";
        if (!s.empty()) s += ", ";
        s += std::string("EPOLL_CTL_") + op + " fd " + std::to_string(c[i].target) + " -> " + std::to_string(c[i].rc);
        if (c[i].rc < 0) s += std::string(" (") + strerror(c[i].err) + ")";
    }
    return s;
}

std::string events_name(uint32_t events) {
    static const struct {
        uint32_t bit;
        const char* name;
    } names[] = {
        {EPOLLIN, "IN"},         {EPOLLOUT, "OUT"},         {EPOLLRDHUP, "RDHUP"},
        {EPOLLPRI, "PRI"},       {EPOLLERR, "ERR"},         {EPOLLHUP, "HUP"},
        {EPOLLET, "ET"},         {EPOLLONESHOT, "ONESHOT"}, {EPOLLEXCLUSIVE, "EXCLUSIVE"},
        {EPOLLWAKEUP, "WAKEUP"},
    };
    std::string s;
    uint32_t rest = events;
    for (const auto& n : names) {
        if (!(events & n.bit)) continue;
        if (!s.empty()) s += '|';
        s += n.name;
        rest &= ~n.bit;
    }
    if (rest) {
        if (!s.empty()) s += '|';
        s += "0x" + [&] {
            char b[16];
            snprintf(b, sizeof b, "%x", rest);
            return std::string(b);
        }();
    }
    return s.empty() ? std::string("0") : s;
}

} // namespace cpk
