/* Interposer bookkeeping: fault slots, the call record buffer, always-on
 * counters and the epoll data -> socket map. */
#include "interpose_internal.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/epoll.h>
#include <unistd.h>

namespace cpk {
namespace detail {

__thread int t_depth = 0;
__thread int t_notrack = 0;
static __thread pid_t t_tid = 0;

pid_t tid() {
    if (t_tid == 0) t_tid = static_cast<pid_t>(gettid());
    return t_tid;
}

/* ---- faults ---- */

namespace {
constexpr int kFaultSlots = 16;
struct FaultSlot {
    std::atomic<int> state{0}; /* 0 free, 1 being written, 2 active */
    Fault f;
    pid_t owner = 0;
    std::atomic<unsigned> hits{0};
    std::atomic<unsigned> fired{0};
};
FaultSlot g_faults[kFaultSlots];
SpinLock g_fault_lock;

bool is_alloc_fn(Fn fn) {
    return fn == Fn::malloc || fn == Fn::calloc || fn == Fn::realloc || fn == Fn::aligned_alloc || fn == Fn::op_new;
}

bool fn_matches(Fn want, Fn got) {
    if (want == got) return true;
    if (want == Fn::alloc) return is_alloc_fn(got);
    if (want == Fn::epoll_any_wait) return got == Fn::epoll_wait || got == Fn::epoll_pwait;
    if (want == Fn::epoll_any_create) return got == Fn::epoll_create || got == Fn::epoll_create1;
    if (want == Fn::any) return !is_alloc_fn(got);
    return false;
}
} // namespace

std::atomic<int> g_active_faults{0};

bool match_fault(Fn fn, int fd, int epfd, int op, bool post, Fault* out) {
    bool chosen = false;
    pid_t me = 0;
    for (int i = 0; i < kFaultSlots; ++i) {
        FaultSlot& s = g_faults[i];
        if (s.state.load(std::memory_order_acquire) != 2) continue;
        const Fault& f = s.f;
        if (!fn_matches(f.fn, fn)) continue;
        if ((f.kind == FaultKind::rewrite) != post) continue;
        if (f.fd != -1 && f.fd != fd) continue;
        if (f.epfd != -1 && f.epfd != epfd) continue;
        if (f.op != 0 && f.op != op) continue;
        if (f.scope != Scope::any) {
            if (me == 0) me = tid();
            if (f.scope == Scope::caller && me != s.owner) continue;
            if (f.scope == Scope::others && me == s.owner) continue;
            if (f.scope == Scope::tid && me != f.tid) continue;
        }
        unsigned hit = s.hits.fetch_add(1) + 1;
        bool fire = hit >= f.nth && (f.times == 0 || hit < f.nth + f.times);
        if (fire && !chosen) {
            s.fired.fetch_add(1);
            *out = f;
            chosen = true;
        }
    }
    return chosen;
}

/* ---- recording ---- */

namespace {
constexpr size_t kRecCap = 32768;
CallRecord g_recs[kRecCap];
std::atomic<uint8_t> g_rec_ready[kRecCap];
std::atomic<size_t> g_rec_next{0};
std::atomic<size_t> g_rec_dropped{0};

std::atomic<uint64_t> g_entered[static_cast<int>(Fn::count_)];
std::atomic<uint64_t> g_returned[static_cast<int>(Fn::count_)];
} // namespace

std::atomic<bool> g_recording{false};

void record(CallRecord& r) {
    size_t i = g_rec_next.fetch_add(1);
    if (i >= kRecCap) {
        g_rec_dropped.fetch_add(1);
        return;
    }
    r.seq = i;
    g_recs[i] = r;
    g_rec_ready[i].store(1, std::memory_order_release);
}

void count_enter(Fn fn) { g_entered[static_cast<int>(fn)].fetch_add(1, std::memory_order_relaxed); }
void count_return(Fn fn) { g_returned[static_cast<int>(fn)].fetch_add(1, std::memory_order_relaxed); }

/* ---- epoll map ---- */

namespace {
constexpr int kEpMap = 4096;
struct EpEntry {
    int epfd;
    int fd;
    uint64_t data;
    uint64_t stamp;
};
EpEntry g_ep[kEpMap];
int g_ep_n = 0;
uint64_t g_ep_stamp = 0;
SpinLock g_ep_lock;
} // namespace

void epmap_set(int epfd, int fd, uint64_t data) {
    SpinGuard g(g_ep_lock);
    for (int i = 0; i < g_ep_n; ++i) {
        if (g_ep[i].epfd == epfd && g_ep[i].fd == fd) {
            g_ep[i].data = data;
            g_ep[i].stamp = ++g_ep_stamp;
            return;
        }
    }
    if (g_ep_n < kEpMap) g_ep[g_ep_n++] = EpEntry{epfd, fd, data, ++g_ep_stamp};
}

bool epmap_swap(int epfd, int fd, uint64_t data, uint64_t* old) {
    SpinGuard g(g_ep_lock);
    for (int i = 0; i < g_ep_n; ++i) {
        if (g_ep[i].epfd == epfd && g_ep[i].fd == fd) {
            *old = g_ep[i].data;
            g_ep[i].data = data;
            g_ep[i].stamp = ++g_ep_stamp;
            return true;
        }
    }
    if (g_ep_n < kEpMap) g_ep[g_ep_n++] = EpEntry{epfd, fd, data, ++g_ep_stamp};
    return false;
}

void epmap_del(int epfd, int fd) {
    SpinGuard g(g_ep_lock);
    for (int i = 0; i < g_ep_n; ++i) {
        if (g_ep[i].epfd == epfd && g_ep[i].fd == fd) {
            g_ep[i] = g_ep[--g_ep_n];
            return;
        }
    }
}

int epmap_find(int epfd, uint64_t data) {
    SpinGuard g(g_ep_lock);
    int best = -1;
    uint64_t stamp = 0;
    for (int i = 0; i < g_ep_n; ++i) {
        if (g_ep[i].epfd == epfd && g_ep[i].data == data && g_ep[i].stamp >= stamp) {
            best = g_ep[i].fd;
            stamp = g_ep[i].stamp;
        }
    }
    return best;
}

std::atomic<int> g_last_epoll_fd{-1};

} // namespace detail

using namespace detail;

/* ---- public control API ---- */

const char* fn_name(Fn fn) {
    switch (fn) {
    case Fn::epoll_create: return "epoll_create";
    case Fn::epoll_create1: return "epoll_create1";
    case Fn::epoll_ctl: return "epoll_ctl";
    case Fn::epoll_wait: return "epoll_wait";
    case Fn::epoll_pwait: return "epoll_pwait";
    case Fn::recv: return "recv";
    case Fn::send: return "send";
    case Fn::pthread_create: return "pthread_create";
    case Fn::eventfd: return "eventfd";
    case Fn::malloc: return "malloc";
    case Fn::calloc: return "calloc";
    case Fn::realloc: return "realloc";
    case Fn::aligned_alloc: return "aligned_alloc";
    case Fn::op_new: return "operator new";
    case Fn::alloc: return "alloc";
    case Fn::epoll_any_wait: return "epoll_any_wait";
    case Fn::epoll_any_create: return "epoll_any_create";
    case Fn::any: return "any";
    default: return "?";
    }
}

void record_start() {
    g_recording.store(false);
    size_t n = g_rec_next.load();
    if (n > kRecCap) n = kRecCap;
    for (size_t i = 0; i < n; ++i) g_rec_ready[i].store(0, std::memory_order_relaxed);
    g_rec_dropped.store(0);
    g_rec_next.store(0);
    g_recording.store(true);
}

void record_stop() { g_recording.store(false); }
size_t record_capacity() { return kRecCap; }

size_t record_count() {
    size_t n = g_rec_next.load();
    return n > kRecCap ? kRecCap : n;
}

size_t record_dropped() { return g_rec_dropped.load(); }

CallRecord record_at(size_t i) {
    CallRecord r{};
    r.fn = Fn::any;
    r.fd = r.target = -1;
    if (i >= record_count()) return r;
    /* A writer that took slot i finishes promptly; wait for it, bounded. */
    for (int spin = 0; spin < 100000 && !g_rec_ready[i].load(std::memory_order_acquire); ++spin) sched_yield();
    if (g_rec_ready[i].load(std::memory_order_acquire)) r = g_recs[i];
    return r;
}

std::vector<CallRecord> records(Fn fn, int fd) {
    std::vector<CallRecord> out;
    size_t n = record_count();
    for (size_t i = 0; i < n; ++i) {
        CallRecord r = record_at(i);
        if (r.fn == Fn::any) continue;
        if (!fn_matches(fn, r.fn)) continue;
        if (fd != -1 && r.fd != fd) continue;
        out.push_back(r);
    }
    return out;
}

std::vector<CallRecord> epoll_ctl_records(int target_fd) {
    std::vector<CallRecord> out;
    for (const CallRecord& r : records(Fn::epoll_ctl))
        if (target_fd == -1 || r.target == target_fd) out.push_back(r);
    return out;
}

static const char* ctl_op_name(int op) {
    switch (op) {
    case EPOLL_CTL_ADD: return "ADD";
    case EPOLL_CTL_MOD: return "MOD";
    case EPOLL_CTL_DEL: return "DEL";
    default: return "?";
    }
}

std::string describe(const CallRecord& r) {
    char b[512];
    int n = snprintf(b, sizeof b, "#%llu tid=%d %s", static_cast<unsigned long long>(r.seq), static_cast<int>(r.tid),
                     fn_name(r.fn));
    switch (r.fn) {
    case Fn::epoll_ctl:
        n += snprintf(b + n, sizeof b - n, "(epfd=%d, %s, fd=%d, events=0x%x)", r.fd, ctl_op_name(r.op), r.target,
                      r.events);
        break;
    case Fn::epoll_wait:
    case Fn::epoll_pwait:
        n += snprintf(b + n, sizeof b - n, "(epfd=%d, timeout=%d)", r.fd, r.timeout);
        for (int i = 0; i < r.nev && i < 4; ++i)
            n += snprintf(b + n, sizeof b - n, " [fd=%d ev=0x%x]", r.ev[i].fd, r.ev[i].events);
        break;
    case Fn::recv:
    case Fn::send: n += snprintf(b + n, sizeof b - n, "(fd=%d, len=%zu, flags=0x%x)", r.fd, r.length, r.flags); break;
    case Fn::epoll_create1: n += snprintf(b + n, sizeof b - n, "(flags=0x%x)", r.flags); break;
    default: n += snprintf(b + n, sizeof b - n, "()"); break;
    }
    if (n < static_cast<int>(sizeof b))
        snprintf(b + n, sizeof b - n, " = %ld%s%s%s", r.result, r.err ? " errno=" : "", r.err ? strerror(r.err) : "",
                 r.injected ? " (injected)" : "");
    return b;
}

uint64_t calls_entered(Fn fn) {
    if (fn == Fn::epoll_any_wait) return calls_entered(Fn::epoll_wait) + calls_entered(Fn::epoll_pwait);
    if (fn == Fn::epoll_any_create) return calls_entered(Fn::epoll_create) + calls_entered(Fn::epoll_create1);
    if (fn >= Fn::count_) return 0;
    return g_entered[static_cast<int>(fn)].load();
}

uint64_t calls_returned(Fn fn) {
    if (fn == Fn::epoll_any_wait) return calls_returned(Fn::epoll_wait) + calls_returned(Fn::epoll_pwait);
    if (fn == Fn::epoll_any_create) return calls_returned(Fn::epoll_create) + calls_returned(Fn::epoll_create1);
    if (fn >= Fn::count_) return 0;
    return g_returned[static_cast<int>(fn)].load();
}

int inject(const Fault& f) {
    SpinGuard g(g_fault_lock);
    for (int i = 0; i < kFaultSlots; ++i) {
        FaultSlot& s = g_faults[i];
        if (s.state.load() != 0) continue;
        s.state.store(1);
        s.f = f;
        s.owner = tid();
        s.hits.store(0);
        s.fired.store(0);
        s.state.store(2, std::memory_order_release);
        g_active_faults.fetch_add(1);
        return i;
    }
    return -1;
}

void remove_fault(int id) {
    if (id < 0 || id >= kFaultSlots) return;
    SpinGuard g(g_fault_lock);
    /* hits/fired stay readable until the slot is reused. */
    if (g_faults[id].state.exchange(0) == 2) g_active_faults.fetch_sub(1);
}

void clear_faults() {
    for (int i = 0; i < kFaultSlots; ++i) remove_fault(i);
}

unsigned fault_hits(int id) { return (id < 0 || id >= kFaultSlots) ? 0 : g_faults[id].hits.load(); }

unsigned fault_fired(int id) { return (id < 0 || id >= kFaultSlots) ? 0 : g_faults[id].fired.load(); }

int last_epoll_fd_created() { return g_last_epoll_fd.load(); }

void disarm_all() {
    record_stop();
    clear_faults();
    alloc_disarm();
}

} // namespace cpk
