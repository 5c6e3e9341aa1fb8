/* Recorder: preallocated callback records, bounded waits, context checks. */
#include "recorder.h"
#include "sync.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unistd.h>

namespace cpk {

namespace {

constexpr int kRegistry = 8192;
std::atomic<Recorder*> g_registry[kRegistry];
std::atomic<int> g_registry_hi{0}; /* slots [0, hi) may be in use */
std::atomic<uint64_t> g_bad_ctx{0};

/* The op a context designates, if it is one of a registered recorder's. */
Op* find_op(void* ctx) {
    int hi = g_registry_hi.load(std::memory_order_acquire);
    for (int i = 0; i < hi; ++i) {
        Recorder* r = g_registry[i].load(std::memory_order_acquire);
        if (!r || r->max_ops() == 0) continue;
        char* first = reinterpret_cast<char*>(&r->op(0));
        char* p = static_cast<char*>(ctx);
        if (p >= first && p < first + r->max_ops() * sizeof(Op) && (p - first) % sizeof(Op) == 0)
            return reinterpret_cast<Op*>(p);
    }
    return nullptr;
}

} // namespace

Recorder::Recorder(size_t max_ops, size_t capacity) : ops_(max_ops), recs_(capacity), ready_(capacity), end_(capacity) {
    for (size_t i = 0; i < capacity; ++i) {
        ready_[i].store(false);
        end_[i].store(0);
    }
    for (size_t i = 0; i < ops_.size(); ++i) {
        ops_[i].recorder = this;
        ops_[i].index = static_cast<int>(i);
    }
    for (int i = 0; i < kRegistry; ++i) {
        Recorder* expected = nullptr;
        if (g_registry[i].compare_exchange_strong(expected, this)) {
            int hi = g_registry_hi.load();
            while (hi < i + 1 && !g_registry_hi.compare_exchange_weak(hi, i + 1)) {
            }
            return;
        }
    }
    /* Unregistered, every callback of this recorder would count as a bad context. */
    fprintf(stderr, "cpk: more than %d recorders alive; cannot continue\n", kRegistry);
    abort();
}

Recorder::~Recorder() {
    for (int i = 0; i < kRegistry; ++i) {
        Recorder* expected = this;
        if (g_registry[i].compare_exchange_strong(expected, nullptr)) break;
    }
}

void Recorder::callback(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                        int32_t amount) {
    Op* op = find_op(context);
    if (!op) {
        g_bad_ctx.fetch_add(1);
        return;
    }
    op->recorder->on_callback(*op, context, static_cast<int>(action), static_cast<int>(result), amount);
}

void Recorder::on_callback(Op& op, void* ctx, int action, int result, int32_t amount) {
    int64_t t = mono_ns();
    bool overlapped = in_flight_.fetch_add(1) > 0;
    if (overlapped) overlap_.store(true);
    op.in_callback.store(true);
    CallbackRecord rec;
    rec.seq = next_.fetch_add(1);
    rec.op = op.index;
    rec.op_id = op.id;
    rec.context = ctx;
    rec.action = action;
    rec.result = result;
    rec.amount = amount;
    rec.tid = static_cast<pid_t>(gettid());
    rec.start_ns = t;
    rec.end_ns = 0;
    rec.overlapped = overlapped;
    rec.op_call_index = op.calls.fetch_add(1);
    size_t idx = rec.seq;
    bool stored = idx < recs_.size();
    if (stored) {
        recs_[idx] = rec;
        ready_[idx].store(true, std::memory_order_release);
    }
    { std::lock_guard<std::mutex> l(mu_); }
    cv_.notify_all();
    if (op.hook) op.hook(op, rec);
    if (stored) end_[idx].store(mono_ns(), std::memory_order_release);
    op.in_callback.store(false);
    finished_.fetch_add(1);
    in_flight_.fetch_sub(1);
    { std::lock_guard<std::mutex> l(mu_); }
    cv_.notify_all();
}

Op& Recorder::op(size_t i) { return ops_.at(i); }

COMPLETION_PORT_INGRESS_DATA Recorder::ingress(size_t i, int epoll_op, int socket, void* buffer, uint32_t length) {
    COMPLETION_PORT_INGRESS_DATA d;
    d.epoll_op = epoll_op;
    d.socket = socket;
    d.event_callback = &Recorder::callback;
    d.event_callback_ctx = &op(i);
    d.buffer_data.buffer = buffer;
    d.buffer_data.length = length;
    return d;
}

size_t Recorder::count() const { return next_.load(); }
size_t Recorder::finished_count() const { return finished_.load(); }
bool Recorder::overflowed() const { return next_.load() > recs_.size(); }
bool Recorder::any_overlap() const { return overlap_.load(); }

CallbackRecord Recorder::at(size_t i) const {
    CallbackRecord r{};
    r.op = -1;
    r.seq = i;
    if (i >= recs_.size() || i >= next_.load()) return r;
    /* The writer took slot i and publishes it within a few instructions. */
    for (int spin = 0; spin < 100000 && !ready_[i].load(std::memory_order_acquire); ++spin) sched_yield();
    if (!ready_[i].load(std::memory_order_acquire)) return r;
    r = recs_[i];
    r.end_ns = end_[i].load(std::memory_order_acquire);
    return r;
}

std::vector<CallbackRecord> Recorder::all() const {
    std::vector<CallbackRecord> v;
    size_t n = std::min(next_.load(), recs_.size());
    for (size_t i = 0; i < n; ++i) v.push_back(at(i));
    return v;
}

std::vector<CallbackRecord> Recorder::for_op(size_t op_index) const {
    std::vector<CallbackRecord> v;
    for (const CallbackRecord& r : all())
        if (r.op == static_cast<int>(op_index)) v.push_back(r);
    return v;
}

template <typename Pred> bool Recorder::wait_until(int timeout_ms, Pred pred) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), pred);
}

bool Recorder::wait_count(size_t n, int timeout_ms) const {
    return wait_until(timeout_ms, [&] { return next_.load() >= n; });
}

bool Recorder::wait_finished(size_t n, int timeout_ms) const {
    return wait_until(timeout_ms, [&] { return finished_.load() >= n; });
}

bool Recorder::wait_op(size_t i, int timeout_ms, int n) const {
    const Op& o = ops_.at(i);
    return wait_until(timeout_ms, [&] { return o.calls.load() >= n; });
}

bool Recorder::wait_op_finished(size_t i, int timeout_ms, int n) const {
    const Op& o = ops_.at(i);
    /* finished calls of op i = calls minus one if it is inside a callback now */
    return wait_until(timeout_ms, [&] {
        int c = o.calls.load();
        return c >= n && (c > n || !o.in_callback.load());
    });
}

void Recorder::reset() {
    size_t n = std::min(next_.load(), recs_.size());
    for (size_t i = 0; i < n; ++i) {
        ready_[i].store(false);
        end_[i].store(0);
    }
    for (Op& o : ops_) {
        o.calls.store(0);
        o.in_callback.store(false);
    }
    next_.store(0);
    finished_.store(0);
    in_flight_.store(0);
    overlap_.store(false);
}

std::string Recorder::dump() const {
    std::string s;
    for (const CallbackRecord& r : all()) {
        s += describe(r);
        s += '\n';
    }
    if (overflowed()) s += "(records overflowed)\n";
    return s.empty() ? std::string("(no callbacks)") : s;
}

Recorder& persistent_recorder(size_t max_ops, size_t capacity) {
    /* Never deleted: it stays registered (reachable) for late callbacks. */
    return *new Recorder(max_ops, capacity);
}

uint64_t bad_context_callbacks() { return g_bad_ctx.load(); }

const char* action_name(int action) {
    switch (action) {
    case COMPLETION_PORT_EPOLL_EPOLLRDHUP: return "EPOLLRDHUP";
    case COMPLETION_PORT_EPOLL_EPOLLIN: return "EPOLLIN";
    case COMPLETION_PORT_EPOLL_EPOLLOUT: return "EPOLLOUT";
    case COMPLETION_PORT_CLOSING: return "CLOSING";
    case COMPLETION_PORT_EPOLL_ACTION_INVALID: return "ACTION_INVALID";
    default: return "ACTION_?";
    }
}

const char* result_name(int result) {
    switch (result) {
    case COMPLETION_PORT_RESULT_OK: return "OK";
    case COMPLETION_PORT_RESULT_ERROR: return "ERROR";
    case COMPLETION_PORT_RESULT_ABANDONED: return "ABANDONED";
    case COMPLETION_PORT_RESULT_INVALID: return "RESULT_INVALID";
    default: return "RESULT_?";
    }
}

std::string describe(const CallbackRecord& r) {
    char b[256];
    snprintf(b, sizeof b, "#%llu op=%d(id %d) call#%d (%s(%d), %s(%d), %d) tid=%d%s%s",
             static_cast<unsigned long long>(r.seq), r.op, r.op_id, r.op_call_index, action_name(r.action), r.action,
             result_name(r.result), r.result, r.amount, static_cast<int>(r.tid), r.overlapped ? " OVERLAPPED" : "",
             r.end_ns == 0 ? " (running)" : "");
    return b;
}

} // namespace cpk
