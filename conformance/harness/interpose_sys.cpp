/* Interposed epoll_create/epoll_create1/epoll_ctl/epoll_wait/epoll_pwait,
 * eventfd, recv/__recv_chk and send: record, inject faults, forward to the next
 * definition (RTLD_NEXT). */
#include "interpose_internal.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

using namespace cpk;
using namespace cpk::detail;

namespace {

template <typename F> F next_fn(std::atomic<F>& slot, const char* name) {
    F f = slot.load(std::memory_order_acquire);
    if (!f) {
        Busy b;
        f = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
        slot.store(f, std::memory_order_release);
    }
    return f;
}

using epoll_create_t = int (*)(int);
using epoll_create1_t = int (*)(int);
using epoll_ctl_t = int (*)(int, int, int, struct epoll_event*);
using epoll_wait_t = int (*)(int, struct epoll_event*, int, int);
using epoll_pwait_t = int (*)(int, struct epoll_event*, int, int, const sigset_t*);
using eventfd_fn_t = int (*)(unsigned int, int);
using recv_t = ssize_t (*)(int, void*, size_t, int);
using recv_chk_t = ssize_t (*)(int, void*, size_t, size_t, int);
using send_t = ssize_t (*)(int, const void*, size_t, int);

std::atomic<epoll_create_t> r_epoll_create{nullptr};
std::atomic<epoll_create1_t> r_epoll_create1{nullptr};
std::atomic<epoll_ctl_t> r_epoll_ctl{nullptr};
std::atomic<epoll_wait_t> r_epoll_wait{nullptr};
std::atomic<epoll_pwait_t> r_epoll_pwait{nullptr};
std::atomic<eventfd_fn_t> r_eventfd{nullptr};
std::atomic<recv_t> r_recv{nullptr};
std::atomic<recv_chk_t> r_recv_chk{nullptr};
std::atomic<send_t> r_send{nullptr};

/* The last epoll_ctl calls of each thread, always kept: lets a failed add be
 * blamed on what it did (CPL_ADD_006: MOD failed with ENOENT and no ADD). */
constexpr int kCtlRing = 8;
__thread uint64_t t_ctl_count = 0;
__thread CtlCall t_ctl_ring[kCtlRing];
/* EPOLL_CTL_MOD calls that failed with ENOENT and were not (yet) followed by
 * an EPOLL_CTL_ADD of the same socket on the same thread (CPL_ADD_006). */
__thread int t_enoent_fd = -1;
std::atomic<long> g_unfollowed_enoent{0};

void note_ctl(int op, int fd, int rc, int err) {
    if (op == EPOLL_CTL_MOD && rc < 0 && err == ENOENT) {
        if (t_enoent_fd < 0) g_unfollowed_enoent.fetch_add(1);
        t_enoent_fd = fd;
    } else if (op == EPOLL_CTL_ADD && fd == t_enoent_fd) {
        t_enoent_fd = -1;
        long n = g_unfollowed_enoent.load();
        while (n > 0 && !g_unfollowed_enoent.compare_exchange_weak(n, n - 1)) {
        }
    }
}

/* Armed work only outside harness bookkeeping. */
bool active() { return t_depth == 0; }

CallRecord base(Fn fn, int fd, int64_t start) {
    CallRecord r;
    memset(&r, 0, sizeof r);
    r.fn = fn;
    r.fd = fd;
    r.target = -1;
    r.tid = tid();
    r.start_ns = start;
    return r;
}

void finish_record(CallRecord& r, long result, int err, bool injected) {
    r.end_ns = mono_ns();
    r.result = result;
    r.err = result < 0 ? err : 0;
    r.injected = injected;
    record(r);
}

/* A fail fault armed for this call: its errno in *err. */
bool injected_failure(Fn fn, int fd, int epfd, int op, int* err) {
    Fault f;
    if (!(active() && faults_armed() && match_fault(fn, fd, epfd, op, false, &f) && f.kind == FaultKind::fail))
        return false;
    *err = f.err;
    return true;
}

int create_common(Fn fn, int arg, bool one) {
    count_enter(fn);
    int64_t start = mono_ns();
    int rc = -1;
    int err = 0;
    const bool injected = injected_failure(fn, -1, -1, 0, &err);
    if (!injected) {
        rc = one ? next_fn(r_epoll_create1, "epoll_create1")(arg) : next_fn(r_epoll_create, "epoll_create")(arg);
        err = errno;
        if (rc >= 0) g_last_epoll_fd.store(rc);
    }
    if (active() && recording()) {
        CallRecord r = base(fn, -1, start);
        if (one)
            r.flags = arg;
        else
            r.timeout = arg;
        finish_record(r, rc, err, injected);
    }
    count_return(fn);
    errno = err;
    return rc;
}

/* After a real wait: map each event to its socket, apply rewrite faults, record. */
int after_wait(Fn fn, int epfd, struct epoll_event* events, int n, int timeout, int64_t start, int err, bool injected) {
    bool rec = active() && recording();
    bool flt = active() && faults_armed();
    CallRecord r;
    if (rec) {
        r = base(fn, epfd, start);
        r.timeout = timeout;
    }
    if (n > 0 && (rec || flt)) {
        for (int i = 0; i < n; ++i) {
            int fd = epmap_find(epfd, events[i].data.u64);
            Fault f;
            if (flt && fd >= 0 && match_fault(fn, fd, epfd, 0, true, &f))
                events[i].events = (events[i].events & ~f.clear_events) | f.set_events;
            if (rec && i < 4) {
                r.ev[i].events = events[i].events;
                r.ev[i].fd = fd;
            }
        }
        if (rec) r.nev = n;
    }
    if (rec) finish_record(r, n, err, injected);
    return n;
}

/* Before a wait: fail/zero faults. Returns true if the call is replaced. */
bool pre_wait(Fn fn, int epfd, int* rc, int* err) {
    Fault f;
    if (!(active() && faults_armed() && match_fault(fn, -1, epfd, 0, false, &f))) return false;
    if (f.kind == FaultKind::zero) {
        *rc = 0;
        *err = 0;
        return true;
    }
    if (f.kind == FaultKind::fail) {
        *rc = -1;
        *err = f.err;
        return true;
    }
    return false;
}

/* recv/send: fail, cap or hook. Returns true if the call is replaced (rc/err set). */
bool pre_io(Fn fn, int fd, size_t* len, long* rc, int* err, bool* injected) {
    Fault f;
    if (!(active() && faults_armed() && match_fault(fn, fd, -1, 0, false, &f))) return false;
    if (f.kind == FaultKind::hook) {
        f.hook(f.hook_arg);
        return false;
    }
    *injected = true;
    if (f.kind == FaultKind::fail) {
        *rc = -1;
        *err = f.err;
        return true;
    }
    if (f.kind == FaultKind::cap && *len > f.cap) *len = f.cap;
    return false;
}

void record_io(Fn fn, int fd, const void* buf, size_t len, int flags, int64_t start, long rc, int err, bool injected) {
    if (!(active() && recording())) return;
    CallRecord r = base(fn, fd, start);
    r.buf = buf;
    r.length = len;
    r.flags = flags;
    finish_record(r, rc, err, injected);
}

/* The body every epoll_wait flavour shares: `real()` is the libc call. */
template <class Real> int interposed_wait(Fn fn, int epfd, struct epoll_event* events, int timeout, Real real) {
    count_enter(fn);
    int64_t start = mono_ns();
    int rc;
    int err = 0;
    bool injected = pre_wait(fn, epfd, &rc, &err);
    if (!injected) {
        rc = real();
        err = errno;
    }
    after_wait(fn, epfd, events, rc, timeout, start, err, injected);
    count_return(fn);
    errno = err;
    return rc;
}

/* The body every recv/send flavour shares: `real(n)` is the libc call with the
 * length a cap fault may have shortened. */
template <class Real> ssize_t interposed_io(Fn fn, int fd, const void* buf, size_t len, int flags, Real real) {
    count_enter(fn);
    int64_t start = mono_ns();
    size_t n = len;
    long rc = 0;
    int err = 0;
    bool injected = false;
    if (!pre_io(fn, fd, &n, &rc, &err, &injected)) {
        rc = real(n);
        err = errno;
    }
    record_io(fn, fd, buf, len, flags, start, rc, err, injected);
    count_return(fn);
    errno = err;
    return rc;
}

} // namespace

namespace cpk {

uint64_t thread_ctl_mark() { return t_ctl_count; }

long unfollowed_mod_enoent() { return g_unfollowed_enoent.load(); }

void forget_unfollowed_mod_enoent() {
    g_unfollowed_enoent.store(0);
    t_enoent_fd = -1;
}

int thread_ctl_since(uint64_t mark, CtlCall* out, int max) {
    uint64_t first = t_ctl_count - mark > static_cast<uint64_t>(kCtlRing) ? t_ctl_count - kCtlRing : mark;
    int n = 0;
    for (uint64_t i = first; i < t_ctl_count && n < max; ++i) out[n++] = t_ctl_ring[i % kCtlRing];
    return n;
}

} // namespace cpk

extern "C" {

int epoll_create(int size) __THROW { return create_common(Fn::epoll_create, size, false); }

int epoll_create1(int flags) __THROW { return create_common(Fn::epoll_create1, flags, true); }

/* A port's wake-up descriptor is one more call create can fail (the fault sweep). */
int eventfd(unsigned int initval, int flags) __THROW {
    count_enter(Fn::eventfd);
    int64_t start = mono_ns();
    int rc = -1;
    int err = 0;
    const bool injected = injected_failure(Fn::eventfd, -1, -1, 0, &err);
    if (!injected) {
        rc = next_fn(r_eventfd, "eventfd")(initval, flags);
        err = errno;
    }
    if (active() && recording()) {
        CallRecord r = base(Fn::eventfd, -1, start);
        r.timeout = static_cast<int>(initval);
        r.flags = flags;
        finish_record(r, rc, err, injected);
    }
    count_return(Fn::eventfd);
    errno = err;
    return rc;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) __THROW {
    count_enter(Fn::epoll_ctl);
    int64_t start = mono_ns();
    int rc = -1;
    int err = 0;
    const bool injected = injected_failure(Fn::epoll_ctl, fd, epfd, op, &err);
    if (!injected) {
        /* Map the data before the call: the worker may fetch the socket's first
         * event before epoll_ctl even returns here. Undone if the call fails. */
        bool maps = (op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && event;
        bool had = false;
        uint64_t old = 0;
        if (maps) {
            Busy b;
            had = epmap_swap(epfd, fd, event->data.u64, &old);
        }
        rc = next_fn(r_epoll_ctl, "epoll_ctl")(epfd, op, fd, event);
        err = errno;
        Busy b;
        if (rc == 0 && op == EPOLL_CTL_DEL) epmap_del(epfd, fd);
        if (rc != 0 && maps) {
            if (had)
                epmap_set(epfd, fd, old);
            else
                epmap_del(epfd, fd);
        }
    }
    t_ctl_ring[t_ctl_count++ % kCtlRing] = CtlCall{op, fd, rc, rc < 0 ? err : 0};
    note_ctl(op, fd, rc, err);
    if (active() && recording()) {
        CallRecord r = base(Fn::epoll_ctl, epfd, start);
        r.op = op;
        r.target = fd;
        if (event) {
            r.events = event->events;
            r.data = event->data.u64;
        }
        finish_record(r, rc, err, injected);
    }
    count_return(Fn::epoll_ctl);
    errno = err;
    return rc;
}

int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
    return interposed_wait(Fn::epoll_wait, epfd, events, timeout,
                           [&] { return next_fn(r_epoll_wait, "epoll_wait")(epfd, events, maxevents, timeout); });
}

int epoll_pwait(int epfd, struct epoll_event* events, int maxevents, int timeout, const sigset_t* sigmask) {
    return interposed_wait(Fn::epoll_pwait, epfd, events, timeout, [&] {
        return next_fn(r_epoll_pwait, "epoll_pwait")(epfd, events, maxevents, timeout, sigmask);
    });
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
    return interposed_io(Fn::recv, fd, buf, len, flags,
                         [&](size_t n) { return next_fn(r_recv, "recv")(fd, buf, n, flags); });
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
    /* The real __recv_chk aborts on len > buflen: keeping buflen passes the
     * caller's own check through. */
    return interposed_io(Fn::recv, fd, buf, len, flags,
                         [&](size_t n) { return next_fn(r_recv_chk, "__recv_chk")(fd, buf, n, buflen, flags); });
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
    return interposed_io(Fn::send, fd, buf, len, flags,
                         [&](size_t n) { return next_fn(r_send, "send")(fd, buf, n, flags); });
}

} // extern "C"
