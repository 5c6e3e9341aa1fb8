/* Interposed pthread_create: records every thread created (index, creator,
 * kernel tid, end of its start routine) and can fail on demand. */
#include "interpose_internal.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

using namespace cpk;
using namespace cpk::detail;

namespace {

using pthread_create_t = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
std::atomic<pthread_create_t> r_pthread_create{nullptr};

constexpr uint64_t kSlots = 1024;
struct Slot {
    void* (*start)(void*) = nullptr;
    void* arg = nullptr;
    pid_t creator = 0;
    std::atomic<pid_t> tid{0};
    std::atomic<bool> finished{false};
    std::atomic<uint64_t> index{~0ull};
};
Slot g_slots[kSlots];
std::atomic<uint64_t> g_slot_next{0};
std::atomic<uint64_t> g_created{0};
std::atomic<Slot*> g_by_index[kSlots];

/* Marks the slot finished when the start routine returns or the thread is
 * cancelled / calls pthread_exit (both unwind through this frame). */
struct FinishMark {
    Slot* s;
    ~FinishMark() { s->finished.store(true, std::memory_order_release); }
};

void* trampoline(void* p) {
    Slot* s = static_cast<Slot*>(p);
    void* (*start)(void*) = s->start;
    void* arg = s->arg;
    s->tid.store(tid(), std::memory_order_release);
    FinishMark mark{s};
    return start(arg);
}

Slot* slot_of(uint64_t index) {
    Slot* s = g_by_index[index % kSlots].load(std::memory_order_acquire);
    if (!s || s->index.load(std::memory_order_acquire) != index) return nullptr;
    return s;
}

} // namespace

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                              void* arg) __THROWNL {
    count_enter(Fn::pthread_create);
    int64_t t0 = mono_ns();
    pthread_create_t real = r_pthread_create.load(std::memory_order_acquire);
    if (!real) {
        Busy b;
        real = reinterpret_cast<pthread_create_t>(dlsym(RTLD_NEXT, "pthread_create"));
        r_pthread_create.store(real, std::memory_order_release);
    }
    bool injected = false;
    int rc;
    Fault f;
    if (t_depth == 0 && faults_armed() && match_fault(Fn::pthread_create, -1, -1, 0, false, &f) &&
        f.kind == FaultKind::fail) {
        injected = true;
        rc = f.err;
    } else {
        Slot* s = &g_slots[g_slot_next.fetch_add(1) % kSlots];
        s->index.store(~0ull, std::memory_order_release);
        s->start = start;
        s->arg = arg;
        s->creator = tid();
        s->tid.store(0);
        s->finished.store(false);
        /* glibc allocates the new thread's DTV here and keeps it in its stack cache
         * after the join: not the caller's allocation, so neither tracked nor
         * failed by allocation faults. */
        ++t_notrack;
        rc = real(thread, attr, trampoline, s);
        --t_notrack;
        if (rc == 0) {
            uint64_t idx = g_created.fetch_add(1);
            s->index.store(idx, std::memory_order_release);
            g_by_index[idx % kSlots].store(s, std::memory_order_release);
        }
    }
    if (t_depth == 0 && recording()) {
        CallRecord r;
        memset(&r, 0, sizeof r);
        r.fn = Fn::pthread_create;
        r.fd = r.target = -1;
        r.tid = tid();
        r.start_ns = t0;
        r.end_ns = mono_ns();
        r.result = rc;
        r.injected = injected;
        record(r);
    }
    count_return(Fn::pthread_create);
    return rc;
}

namespace cpk {

uint64_t threads_created() { return g_created.load(); }

pid_t created_thread_tid(uint64_t index, int timeout_ms) {
    int64_t deadline = mono_ns() + static_cast<int64_t>(timeout_ms) * 1000000;
    for (;;) {
        Slot* s = slot_of(index);
        if (s) {
            pid_t t = s->tid.load(std::memory_order_acquire);
            if (t) return t;
        }
        if (index >= g_created.load() + kSlots) return 0;
        if (mono_ns() >= deadline) return 0;
        usleep(1000); /* polling a flag the new thread sets; bounded by the deadline */
    }
}

pid_t created_thread_creator(uint64_t index) {
    Slot* s = slot_of(index);
    return s ? s->creator : 0;
}

bool created_thread_finished(uint64_t index) {
    Slot* s = slot_of(index);
    return s && s->finished.load(std::memory_order_acquire);
}

} // namespace cpk
