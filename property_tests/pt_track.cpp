#include "pt_track.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

#include "nocopy.h"
#include "process.h"
#include "sync.h"
#include "verdict.h"

namespace pt {

namespace {

/* Plain pointer: a thread_local with a destructor would allocate its
 * registration on first use. */
thread_local std::optional<cpk::NoTrack>* t_untracked = nullptr;
thread_local int t_in_hook = 0;

/* Lifts the thread's NoTrack for one API call (nested calls, e.g. an add
 * from a closing callback inside remove, find it already lifted). */
class Tracked : cpk::NoCopy {
public:
    Tracked() : lifted_(t_untracked != nullptr && t_untracked->has_value()) {
        if (lifted_) t_untracked->reset();
    }
    ~Tracked() {
        if (lifted_) t_untracked->emplace();
    }

private:
    bool lifted_;
};

/* API calls in flight (allocation-free: fixed slots). */
struct InFlight {
    std::atomic<int64_t> since{0}; /* 0: free */
    const char* what = nullptr;
    const char* req = nullptr; /* the requirement a call that never returns breaks */
    pid_t tid = 0;
};
constexpr int kSlots = 64;
InFlight g_calls[kSlots];

class Watched : cpk::NoCopy {
public:
    /* `req` for a call from the test's threads, `hook_req` from a callback. */
    Watched(const char* what, const char* req, const char* hook_req) {
        for (int i = 0; i < kSlots; ++i) {
            int64_t expected = 0;
            if (g_calls[i].since.compare_exchange_strong(expected, -1)) {
                g_calls[i].what = what;
                g_calls[i].req = t_in_hook > 0 ? hook_req : req;
                g_calls[i].tid = cpk::current_tid();
                g_calls[i].since.store(cpk::mono_ns());
                slot_ = i;
                return;
            }
        }
    }
    ~Watched() {
        if (slot_ >= 0) g_calls[slot_].since.store(0);
    }

private:
    int slot_ = -1;
};

} // namespace

struct HangMonitor::Impl {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread th;
};

HangMonitor::HangMonitor(int limit_ms) : impl_(new Impl) {
    Impl* m = impl_;
    m->th = std::thread([m, limit_ms] {
        UntrackedThread untracked;
        std::unique_lock<std::mutex> l(m->mu);
        while (!m->cv.wait_for(l, std::chrono::milliseconds(100), [m] { return m->stop; })) {
            const int64_t now = cpk::mono_ns();
            /* The call stuck longest is the cause; later ones wait behind it. */
            const InFlight* stuck = nullptr;
            int64_t stuck_since = 0;
            for (const InFlight& c : g_calls) {
                const int64_t since = c.since.load();
                if (since <= 0 || now - since < cpk::ms_to_ns(limit_ms)) continue;
                if (!stuck || since < stuck_since) {
                    stuck = &c;
                    stuck_since = since;
                }
            }
            if (!stuck) continue;
            char msg[400];
            (void)snprintf(msg, sizeof msg,
                           "%s on thread %d has not returned after %d ms: a deadlock or a busy loop "
                           "in the implementation; the property cannot go on",
                           stuck->what, static_cast<int>(stuck->tid), limit_ms);
            cpk::ViolationRecord v;
            v.requirement = stuck->req;
            v.kind = "fatal";
            v.message = msg;
            v.file = __FILE__;
            cpk::record_violation(v);
            const std::string line = std::string("\n") + stuck->req + ": " + msg + "\n";
            (void)!write(2, line.data(), line.size());
            _exit(1);
        }
    });
}

HangMonitor::~HangMonitor() {
    {
        std::lock_guard<std::mutex> l(impl_->mu);
        impl_->stop = true;
    }
    impl_->cv.notify_all();
    impl_->th.join();
    delete impl_;
}

/* Nested scopes share the outermost NoTrack: a second one would keep the
 * thread untracked while an API call lifts only the innermost. */
InHook::InHook() { ++t_in_hook; }
InHook::~InHook() { --t_in_hook; }

UntrackedThread::UntrackedThread() : prev_(t_untracked) {
    if (prev_) return;
    nt_.emplace();
    t_untracked = &nt_;
}

UntrackedThread::~UntrackedThread() {
    if (prev_) return;
    t_untracked = nullptr;
}

COMPLETION_PORT_HANDLE api_create() {
    Watched w("completion_port_create", "CPL_CREATE_004", "CPL_CREATE_004");
    Tracked t;
    return completion_port_create();
}

cpk::PortInfo api_create_port() {
    Watched w("completion_port_create", "CPL_CREATE_004", "CPL_CREATE_004");
    Tracked t;
    return cpk::create_port();
}

void api_inc_ref(COMPLETION_PORT_HANDLE h) {
    Watched w("completion_port_inc_ref", "CPL_INCREF_002", "CPL_ADD_018");
    Tracked t;
    completion_port_inc_ref(h);
}

void api_dec_ref(COMPLETION_PORT_HANDLE h) {
    Watched w("completion_port_dec_ref", "CPL_DECREF_001", "CPL_DECREF_010");
    Tracked t;
    completion_port_dec_ref(h);
}

void api_final_dec_ref(COMPLETION_PORT_HANDLE h) {
    Tracked t;
    completion_port_dec_ref(h);
}

int api_add(COMPLETION_PORT_HANDLE h, const COMPLETION_PORT_INGRESS_DATA* in) {
    Watched w("completion_port_add", "CPL_ADD_007", "CPL_ADD_017");
    Tracked t;
    return completion_port_add(h, in);
}

void api_remove(COMPLETION_PORT_HANDLE h, SOCKET_HANDLE s) {
    Watched w("completion_port_remove", "CPL_REMOVE_003", "CPL_REMOVE_006");
    Tracked t;
    completion_port_remove(h, s);
}

} // namespace pt
