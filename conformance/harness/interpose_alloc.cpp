/* Interposed allocator: malloc, calloc, realloc, reallocarray, free,
 * aligned_alloc, memalign, posix_memalign, valloc, pvalloc and every global
 * operator new/delete. Forwards to the next allocator (libc or the sanitizer
 * runtime); counts allocations for faults and keeps the live set of tracked
 * allocations. dlsym's own calloc during resolution is served from a static
 * bootstrap buffer. */
#include "interpose_internal.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <new>
#include <unistd.h>

using namespace cpk;
using namespace cpk::detail;

namespace {

using malloc_t = void* (*)(size_t);
using calloc_t = void* (*)(size_t, size_t);
using realloc_t = void* (*)(void*, size_t);
using free_t = void (*)(void*);
using posix_memalign_t = int (*)(void**, size_t, size_t);

malloc_t r_malloc = nullptr;
calloc_t r_calloc = nullptr;
realloc_t r_realloc = nullptr;
free_t r_free = nullptr;
posix_memalign_t r_posix_memalign = nullptr;
std::atomic<int> g_resolved{0};
__thread bool t_resolving = false;

/* ---- bootstrap buffer (allocations made by dlsym while resolving) ---- */
alignas(64) char g_boot[256 * 1024];
std::atomic<size_t> g_boot_used{0};

void* boot_alloc(size_t n) {
    size_t need = ((n + 15) & ~static_cast<size_t>(15)) + 16;
    size_t at = g_boot_used.fetch_add(need);
    if (at + need > sizeof g_boot) return nullptr;
    char* p = g_boot + at;
    memcpy(p, &n, sizeof n);
    return p + 16; /* static storage: already zeroed */
}

bool is_boot(const void* p) {
    return p >= static_cast<const void*>(g_boot) && p < static_cast<const void*>(g_boot + sizeof g_boot);
}

size_t boot_size(const void* p) {
    size_t n;
    memcpy(&n, static_cast<const char*>(p) - 16, sizeof n);
    return n;
}

void resolve() {
    if (g_resolved.load(std::memory_order_acquire)) return;
    t_resolving = true;
    r_malloc = reinterpret_cast<malloc_t>(dlsym(RTLD_NEXT, "malloc"));
    r_calloc = reinterpret_cast<calloc_t>(dlsym(RTLD_NEXT, "calloc"));
    r_realloc = reinterpret_cast<realloc_t>(dlsym(RTLD_NEXT, "realloc"));
    r_free = reinterpret_cast<free_t>(dlsym(RTLD_NEXT, "free"));
    r_posix_memalign = reinterpret_cast<posix_memalign_t>(dlsym(RTLD_NEXT, "posix_memalign"));
    t_resolving = false;
    if (!r_malloc || !r_calloc || !r_realloc || !r_free || !r_posix_memalign) {
        static const char msg[] = "cpk: cannot resolve the allocator with dlsym(RTLD_NEXT)\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    g_resolved.store(1, std::memory_order_release);
}

/* ---- live set: open addressing, linear probing, backward-shift delete ---- */
constexpr size_t kTab = size_t(1) << 17;
constexpr size_t kTabMax = kTab - kTab / 8;
struct Ent {
    uintptr_t p;
    size_t n;
};
Ent g_tab[kTab];
size_t g_live = 0;
size_t g_live_bytes = 0;
bool g_overflow = false;
SpinLock g_tab_lock;
std::atomic<bool> g_tracking{false};
std::atomic<size_t> g_live_hint{0}; /* g_live, readable without the lock */
std::atomic<uint64_t> g_tracked_allocs{0};

size_t slot_for(uintptr_t p) { return static_cast<size_t>((p >> 4) * 0x9E3779B97F4A7C15ull) & (kTab - 1); }

void tab_insert(void* ptr, size_t n) {
    uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
    SpinGuard g(g_tab_lock);
    if (g_live >= kTabMax) {
        g_overflow = true;
        return;
    }
    size_t i = slot_for(p);
    while (g_tab[i].p != 0 && g_tab[i].p != p) i = (i + 1) & (kTab - 1);
    if (g_tab[i].p == 0) {
        ++g_live;
        g_live_bytes += n;
    } else {
        g_live_bytes = g_live_bytes - g_tab[i].n + n;
    }
    g_tab[i] = Ent{p, n};
    g_live_hint.store(g_live, std::memory_order_relaxed);
}

void tab_remove(void* ptr) {
    uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
    SpinGuard g(g_tab_lock);
    if (g_live == 0) return;
    size_t i = slot_for(p);
    while (g_tab[i].p != 0 && g_tab[i].p != p) i = (i + 1) & (kTab - 1);
    if (g_tab[i].p == 0) return;
    --g_live;
    g_live_bytes -= g_tab[i].n;
    /* Backward-shift: move later entries of the cluster into the hole. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & (kTab - 1);
        if (g_tab[j].p == 0) break;
        size_t home = slot_for(g_tab[j].p);
        bool between = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!between) {
            g_tab[hole] = g_tab[j];
            hole = j;
        }
    }
    g_tab[hole] = Ent{0, 0};
    g_live_hint.store(g_live, std::memory_order_relaxed);
}

inline bool counting() { return t_depth == 0 && t_notrack == 0; }

/* True if an allocation fault fires for this call. */
bool alloc_fault(Fn fn) {
    if (!counting() || !faults_armed()) return false;
    Fault f;
    return match_fault(fn, -1, -1, 0, false, &f) && f.kind == FaultKind::fail;
}

void track(void* p, size_t n) {
    if (p && counting() && g_tracking.load(std::memory_order_relaxed)) {
        g_tracked_allocs.fetch_add(1, std::memory_order_relaxed);
        tab_insert(p, n);
    }
}

void untrack(void* p) {
    if (p && g_live_hint.load(std::memory_order_relaxed) != 0) tab_remove(p);
}

void* do_malloc(Fn fn, size_t n) {
    if (t_resolving) return boot_alloc(n);
    resolve();
    if (alloc_fault(fn)) {
        errno = ENOMEM;
        return nullptr;
    }
    void* p = r_malloc(n);
    track(p, n);
    return p;
}

void* do_aligned(Fn fn, size_t align, size_t n) {
    if (t_resolving) return nullptr;
    resolve();
    if (alloc_fault(fn)) {
        errno = ENOMEM;
        return nullptr;
    }
    if (align < sizeof(void*)) align = sizeof(void*);
    void* p = nullptr;
    int rc = r_posix_memalign(&p, align, n);
    if (rc != 0) {
        errno = rc;
        return nullptr;
    }
    track(p, n);
    return p;
}

void do_free(void* p) {
    if (!p || is_boot(p)) return;
    untrack(p);
    resolve();
    r_free(p);
}

void* new_or_throw(size_t n) {
    void* p = do_malloc(Fn::op_new, n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

void* new_aligned_or_throw(size_t n, std::align_val_t a) {
    void* p = do_aligned(Fn::op_new, static_cast<size_t>(a), n ? n : 1);
    if (!p) throw std::bad_alloc();
    return p;
}

} // namespace

extern "C" {

void* malloc(size_t n) __THROW { return do_malloc(Fn::malloc, n); }

void* calloc(size_t a, size_t b) __THROW {
    if (t_resolving) {
        size_t n = 0;
        if (__builtin_mul_overflow(a, b, &n)) return nullptr;
        return boot_alloc(n);
    }
    resolve();
    if (alloc_fault(Fn::calloc)) {
        errno = ENOMEM;
        return nullptr;
    }
    void* p = r_calloc(a, b);
    track(p, a * b);
    return p;
}

void* realloc(void* old, size_t n) __THROW {
    if (t_resolving) return boot_alloc(n);
    if (old && is_boot(old)) {
        void* p = do_malloc(Fn::realloc, n);
        if (p) memcpy(p, old, boot_size(old) < n ? boot_size(old) : n);
        return p;
    }
    resolve();
    if (alloc_fault(Fn::realloc)) {
        errno = ENOMEM;
        return nullptr;
    }
    void* p = r_realloc(old, n);
    if (p || n == 0) untrack(old); /* moved, resized or freed (realloc(p, 0)) */
    track(p, n);
    return p;
}

void* reallocarray(void* old, size_t a, size_t b) __THROW {
    size_t n = 0;
    if (__builtin_mul_overflow(a, b, &n)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc(old, n);
}

void free(void* p) __THROW { do_free(p); }

void* aligned_alloc(size_t align, size_t n) __THROW { return do_aligned(Fn::aligned_alloc, align, n); }

void* memalign(size_t align, size_t n) __THROW { return do_aligned(Fn::aligned_alloc, align, n); }

int posix_memalign(void** out, size_t align, size_t n) __THROW {
    if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
    int saved = errno;
    void* p = do_aligned(Fn::aligned_alloc, align, n);
    int rc = p ? 0 : (errno ? errno : ENOMEM);
    errno = saved;
    if (p) *out = p;
    return rc;
}

void* valloc(size_t n) __THROW { return do_aligned(Fn::aligned_alloc, static_cast<size_t>(sysconf(_SC_PAGESIZE)), n); }

void* pvalloc(size_t n) __THROW {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return do_aligned(Fn::aligned_alloc, page, (n + page - 1) & ~(page - 1));
}

} // extern "C"

/* ---- global operator new / delete (all forms) ---- */

void* operator new(size_t n) { return new_or_throw(n); }
void* operator new[](size_t n) { return new_or_throw(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return do_malloc(Fn::op_new, n ? n : 1); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return do_malloc(Fn::op_new, n ? n : 1); }
void* operator new(size_t n, std::align_val_t a) { return new_aligned_or_throw(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return new_aligned_or_throw(n, a); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return do_aligned(Fn::op_new, static_cast<size_t>(a), n ? n : 1);
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return do_aligned(Fn::op_new, static_cast<size_t>(a), n ? n : 1);
}

void operator delete(void* p) noexcept { do_free(p); }
void operator delete[](void* p) noexcept { do_free(p); }
void operator delete(void* p, size_t) noexcept { do_free(p); }
void operator delete[](void* p, size_t) noexcept { do_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { do_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { do_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { do_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { do_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { do_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { do_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { do_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { do_free(p); }

/* ---- control API ---- */

namespace cpk {

void alloc_track_start() {
    g_tracking.store(false);
    {
        SpinGuard g(g_tab_lock);
        memset(g_tab, 0, sizeof g_tab);
        g_live = 0;
        g_live_bytes = 0;
        g_overflow = false;
        g_live_hint.store(0);
    }
    g_tracked_allocs.store(0);
    g_tracking.store(true);
}

void alloc_track_stop() { g_tracking.store(false); }

size_t live_tracked() {
    SpinGuard g(g_tab_lock);
    return g_live;
}

size_t live_tracked_bytes() {
    SpinGuard g(g_tab_lock);
    return g_live_bytes;
}

uint64_t tracked_allocs() { return g_tracked_allocs.load(); }

bool alloc_track_overflow() {
    SpinGuard g(g_tab_lock);
    return g_overflow;
}

size_t live_tracked_sizes(size_t* out, size_t max) {
    SpinGuard g(g_tab_lock);
    size_t k = 0;
    for (size_t i = 0; i < kTab && k < max; ++i)
        if (g_tab[i].p) out[k++] = g_tab[i].n;
    return k;
}

NoTrack::NoTrack() { ++t_notrack; }
NoTrack::~NoTrack() { --t_notrack; }

namespace detail {
void alloc_disarm() { g_tracking.store(false); }
} // namespace detail

} // namespace cpk
