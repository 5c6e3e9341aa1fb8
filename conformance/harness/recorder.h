/* Recorder: records every completion callback of the ops it owns.
 *
 * A Recorder owns a fixed array of Op contexts. Pass `&rec.op(i)` as
 * event_callback_ctx and `cpk::Recorder::callback` as event_callback (or use
 * rec.ingress(...)). Each callback appends a CallbackRecord (preallocated, no
 * allocation on the callback path), runs the op's optional hook, then marks
 * the record finished and wakes waiters.
 *
 * Lifetime: a buggy implementation may call back after dec_ref. Get
 * recorders from cpk::persistent_recorder(): they are never freed (kept
 * reachable, so LeakSanitizer is quiet), so a late callback lands in valid
 * memory and is counted instead of crashing.
 *
 * A callback whose context is not an Op of any live recorder is counted in
 * bad_context_callbacks() (and not dereferenced). */
#ifndef CPK_RECORDER_H
#define CPK_RECORDER_H

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <vector>

#include "c_pal/completion_port_linux.h"
#include "nocopy.h"

namespace cpk {

class Recorder;

struct CallbackRecord {
    uint64_t seq;  /* 0-based order within the recorder */
    int op;        /* index of the op in its recorder */
    int op_id;     /* Op::id at the time of the call */
    void* context; /* context as received */
    int action;    /* COMPLETION_PORT_EPOLL_ACTION as received */
    int result;    /* COMPLETION_PORT_RESULT as received */
    int32_t amount;
    pid_t tid;         /* thread that ran the callback */
    int64_t start_ns;  /* monotonic */
    int64_t end_ns;    /* monotonic; 0 while the callback (hook) still runs */
    bool overlapped;   /* another callback of this recorder was running when it started */
    int op_call_index; /* 0 for the op's first callback, 1 for the second, ... */
};

struct Op {
    /* Called inside the callback after the record is written, before it is
     * marked finished. Set it before the add (std::function allocates when set). */
    std::function<void(Op&, const CallbackRecord&)> hook;
    int id = 0;                /* free label for the test */
    void* user = nullptr;      /* free pointer for the test */
    std::atomic<int> calls{0}; /* callbacks received */
    std::atomic<bool> in_callback{false};
    Recorder* recorder = nullptr; /* set by the Recorder */
    int index = -1;               /* set by the Recorder */
};

class Recorder : NoCopy {
public:
    Recorder(size_t max_ops = 256, size_t capacity = 8192);
    ~Recorder();

    /* The ON_COMPLETION_PORT_EVENT_COMPLETE to pass to add. */
    static void callback(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                         int32_t amount);

    Op& op(size_t i);
    size_t max_ops() const { return ops_.size(); }

    /* An ingress for op i; callback = Recorder::callback, ctx = &op(i). */
    COMPLETION_PORT_INGRESS_DATA ingress(size_t i, int epoll_op, int socket, void* buffer = nullptr,
                                         uint32_t length = 0);

    size_t count() const;                               /* callbacks recorded (all ops) */
    size_t finished_count() const;                      /* callbacks whose hook has returned */
    CallbackRecord at(size_t i) const;                  /* allocation-free copy */
    std::vector<CallbackRecord> all() const;            /* allocates */
    std::vector<CallbackRecord> for_op(size_t i) const; /* allocates */
    int calls(size_t i) const { return ops_[i].calls.load(); }
    bool overflowed() const;
    bool any_overlap() const; /* some callback overlapped another */
    int in_flight() const { return in_flight_.load(); }

    /* Bounded waits (true = condition met before the timeout). */
    bool wait_count(size_t n, int timeout_ms) const;         /* count() >= n */
    bool wait_finished(size_t n, int timeout_ms) const;      /* finished_count() >= n */
    bool wait_op(size_t i, int timeout_ms, int n = 1) const; /* op i has >= n callbacks */
    /* Waits until op i has >= n callbacks whose hooks returned. */
    bool wait_op_finished(size_t i, int timeout_ms, int n = 1) const;

    /* Forgets all records and op call counts (ops keep hooks/ids). Only when
     * no callback can run. */
    void reset();

    std::string dump() const; /* all records, for messages; allocates */

private:
    void on_callback(Op& op, void* ctx, int action, int result, int32_t amount);
    template <typename Pred> bool wait_until(int timeout_ms, Pred pred) const;
    std::vector<Op> ops_;
    std::vector<CallbackRecord> recs_; /* written once, then ready_ is set */
    std::vector<std::atomic<bool>> ready_;
    std::vector<std::atomic<int64_t>> end_; /* end time, set when the hook returned */
    std::atomic<size_t> next_{0};
    std::atomic<size_t> finished_{0};
    std::atomic<int> in_flight_{0};
    std::atomic<bool> overlap_{false};
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
};

/* A recorder that is never freed (see the header comment). */
Recorder& persistent_recorder(size_t max_ops = 256, size_t capacity = 8192);

/* Callbacks received with a context that is no Op of any recorder. */
uint64_t bad_context_callbacks();

const char* action_name(int action);
const char* result_name(int result);
std::string describe(const CallbackRecord& r);

} // namespace cpk

#endif
