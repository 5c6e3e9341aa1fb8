/* The concurrency table (CPL_ADD_018): add, remove, inc_ref and dec_ref from
 * four threads (and from a callback) for about a second each, long enough
 * that a reference count updated with a plain load and store, or a table of
 * ops changed without a lock, loses an update with high probability: the
 * port is then released early (its worker gone while references remain, or a
 * crash), kept alive after its last reference, or an op completes twice or
 * never. */
#include "cpk_catch.h"
#include "harness.h"
#include "rows.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace {

using cpk::Recorder;

enum class Work : uint8_t { refcount, ops, refcount_with_callback };

struct ConRow {
    const char* name;
    Work work;
    int threads; /* test threads (the callback row adds the worker) */
    int duration_ms;
};

const ConRow kRows[] = {
    {"inc_ref and dec_ref pairs from 4 threads", Work::refcount, 4, 1000},
    {"add, complete and remove from 4 threads on their own sockets", Work::ops, 4, 1500},
    {"inc_ref and dec_ref pairs from 3 threads and a callback on the worker", Work::refcount_with_callback, 3, 800},
};

constexpr int kMaxThreads = 4;
constexpr int kSlotsPerThread = 64; /* Work::ops: op slots a thread reuses round after round */
constexpr int kPipeline = 8;        /* Work::ops: sockets per thread, one recv op pending on each */
constexpr int kMaxRounds = 20000;   /* Work::ops: rounds per thread at most (the duration ends them first) */
constexpr size_t kOpSlots = 2 * kMaxThreads * kSlotsPerThread;
constexpr size_t kRecords = 2 * kMaxThreads * kMaxRounds + 64;

/* Shared with the threads; static so that a thread left in a broken
 * implementation never touches a dead stack frame. */
struct ThreadResult {
    long pairs = 0;
    int rounds = 0;
    int add_failed = 0;
    int not_completed = 0;
    int wrong_data = 0;
};
ThreadResult g_results[kMaxThreads];
cpk::SocketPair g_main[kMaxThreads][kPipeline], g_side[kMaxThreads];
char g_bufs[kOpSlots + 8][1];
std::atomic<long> g_callback_pairs{0};

void pairs_until(COMPLETION_PORT_HANDLE h, int64_t deadline, long* count) {
    long n = 0;
    while (cpk::mono_ns() < deadline) {
        for (int k = 0; k < 64; ++k) {
            completion_port_inc_ref(h);
            completion_port_dec_ref(h);
        }
        n += 64;
    }
    *count = n;
}

size_t main_slot(int t, int i) { return static_cast<size_t>(t * kSlotsPerThread + i % kSlotsPerThread); }
size_t side_slot(int t, int i) { return main_slot(t, i) + kMaxThreads * kSlotsPerThread; }

/* Rounds of: add a recv op on the next of the thread's sockets, make it
 * readable, add a side op and remove it; up to kPipeline recv ops of a thread
 * are pending at once (the round kPipeline later on the same socket waits
 * for it). Slots are reused, so the n-th use of a slot is its n-th callback. */
bool settle(Recorder& rec, int t, int j, ThreadResult& r) {
    if (!rec.wait_op(main_slot(t, j), cpk::kWaitMs, j / kSlotsPerThread + 1)) {
        ++r.not_completed;
        return false;
    }
    if (g_bufs[main_slot(t, j)][0] != static_cast<char>(j)) ++r.wrong_data;
    return true;
}

void ops_until(COMPLETION_PORT_HANDLE h, Recorder& rec, int t, int64_t deadline) {
    ThreadResult& r = g_results[t];
    int i = 0;
    for (; i < kMaxRounds && cpk::mono_ns() < deadline; ++i) {
        if (i >= kPipeline && !settle(rec, t, i - kPipeline, r)) break;
        const size_t op = main_slot(t, i), side = side_slot(t, i);
        cpk::SocketPair& sp = g_main[t][i % kPipeline];
        completion_port_inc_ref(h);
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, sp.a, g_bufs[op], 1);
        COMPLETION_PORT_INGRESS_DATA s = rec.ingress(side, EPOLLIN, g_side[t].a, g_bufs[side], 1);
        const char c = static_cast<char>(i);
        if (completion_port_add(h, &in) != 0) {
            ++r.add_failed;
            completion_port_dec_ref(h);
            break;
        }
        cpk::write_all(sp.b, &c, 1);
        if (completion_port_add(h, &s) == 0) completion_port_remove(h, g_side[t].a);
        completion_port_dec_ref(h);
    }
    r.rounds = i;
    for (int j = i > kPipeline ? i - kPipeline : 0; j < i; ++j) settle(rec, t, j, r);
}

/* "" if every op of Work::ops completed as it should. */
std::string ops_problems(const Recorder& rec, int threads) {
    std::string wrong;
    for (int t = 0; t < threads; ++t) {
        const ThreadResult& r = g_results[t];
        const std::string th = "thread " + std::to_string(t) + " (" + std::to_string(r.rounds) + " rounds): ";
        if (r.add_failed) wrong += th + std::to_string(r.add_failed) + " adds failed\n";
        if (r.not_completed) wrong += th + std::to_string(r.not_completed) + " ops never completed\n";
        if (r.wrong_data) wrong += th + std::to_string(r.wrong_data) + " ops received another round's byte\n";
        for (int j = 0; j < kSlotsPerThread && j < r.rounds; ++j) {
            const int uses = (r.rounds - 1 - j) / kSlotsPerThread + 1;
            const size_t op = main_slot(t, j), side = side_slot(t, j);
            if (rec.calls(op) != uses)
                wrong += th + "slot " + std::to_string(j) + ": " + std::to_string(rec.calls(op)) + " callbacks for " +
                         std::to_string(uses) + " ops\n";
            if (rec.calls(side) > uses)
                wrong += th + "removed slot " + std::to_string(j) + ": " + std::to_string(rec.calls(side)) +
                         " callbacks for " + std::to_string(uses) + " ops\n";
        }
    }
    for (const cpk::CallbackRecord& c : rec.all())
        if (c.op < static_cast<int>(kMaxThreads * kSlotsPerThread) && c.action != COMPLETION_PORT_EPOLL_EPOLLIN) {
            wrong += "a recv op completed as " + cpk::describe(c) + "\n";
            break;
        }
    return wrong;
}

} // namespace

TEST_CASE("matrix: add remove inc_ref and dec_ref from 4 threads keep the count and every op exact - recommended",
          "[CPL_ADD_018]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder(kOpSlots + 8, kRecords);
    for (const ConRow& row : kRows) {
        INFO("row: " << row.name);
        CPK_KIT_REQUIRE(row.threads <= kMaxThreads);
        rec.reset();
        for (int t = 0; t < kMaxThreads; ++t) {
            g_results[t] = ThreadResult();
            for (cpk::SocketPair& sp : g_main[t]) {
                sp = cpk::unix_pair();
                CPK_KIT_REQUIRE(sp.ok());
            }
            g_side[t] = cpk::unix_pair();
            CPK_KIT_REQUIRE(g_side[t].ok());
        }
        const uint64_t index = cpk::threads_created();
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        /* The worker's index among created threads: its end is seen at once. */
        const bool known = p.worker != 0 && cpk::created_thread_tid(index) == p.worker;
        COMPLETION_PORT_HANDLE h = p.handle;
        const int64_t deadline = cpk::mono_ns() + cpk::ms_to_ns(row.duration_ms);
        if (row.work == Work::refcount_with_callback) {
            /* A callback that takes and drops references while the threads do. */
            g_callback_pairs = 0;
            rec.op(kOpSlots).hook = [h, deadline](cpk::Op&, const cpk::CallbackRecord&) {
                long n = 0;
                pairs_until(h, deadline, &n);
                g_callback_pairs = n;
            };
            COMPLETION_PORT_INGRESS_DATA in =
                rec.ingress(kOpSlots, EPOLLIN, g_side[kMaxThreads - 1].a, g_bufs[kOpSlots], 1);
            CPK_REQUIRE_ADD(h, &in);
            CPK_KIT_REQUIRE(cpk::write_all(g_side[kMaxThreads - 1].b, "c", 1));
            CPK_REQUIRE("CPL_ADD_007", rec.wait_op(kOpSlots, cpk::kWaitMs));
        }
        {
            std::vector<std::unique_ptr<cpk::AsyncCall>> threads;
            for (int t = 0; t < row.threads; ++t) {
                Recorder* r = &rec;
                Work w = row.work;
                threads.emplace_back(new cpk::AsyncCall(
                    [h, r, t, w, deadline] {
                        if (w == Work::ops)
                            ops_until(h, *r, t, deadline);
                        else
                            pairs_until(h, deadline, &g_results[t].pairs);
                    },
                    "concurrent API calls"));
            }
            bool all_done = true;
            for (auto& th : threads) all_done = th->wait(row.duration_ms + 4 * cpk::kWaitMs) && all_done;
            CPK_REQUIRE("CPL_ADD_018", all_done);
            if (row.work == Work::refcount_with_callback)
                CPK_REQUIRE("CPL_ADD_018", rec.wait_op_finished(kOpSlots, cpk::kWaitMs));
        }
        long pairs = g_callback_pairs;
        for (int t = 0; t < row.threads; ++t) pairs += g_results[t].pairs;
        INFO(pairs << " inc_ref/dec_ref pairs");
        if (row.work == Work::ops) {
            std::string wrong = ops_problems(rec, row.threads);
            INFO(wrong);
            CPK_CHECK("CPL_ADD_018", wrong == "");
            CPK_KIT_REQUIRE(!rec.overflowed());
        }
        /* No reference was lost: the port was not released under its callers. */
        const bool early = known ? cpk::created_thread_finished(index) : !cpk::thread_alive(p.worker);
        INFO("the worker " << (early ? "had already exited: the port was released while referenced" : "is running"));
        CPK_REQUIRE("CPL_ADD_018", !early);
        CPK_CHECK("CPL_ADD_018", cpk::completes_a_recv(h, rec, kOpSlots + 1));
        /* No reference was left over: the one dec_ref the test owes releases it. */
        bool released = cpk::release_port(h, cpk::kTeardownMs) &&
                        (known ? cpk::eventually([index] { return cpk::created_thread_finished(index); }, 1000)
                               : cpk::wait_thread_gone(p.worker, 1000));
        INFO("after the last reference was dropped the worker " << (released ? "exited" : "still runs"));
        CPK_CHECK("CPL_ADD_018", released);
        if (!released && known) {
            /* Drop the surplus so that the leak is not blamed on teardown as well. */
            for (long k = 0; k < pairs + 1 && !cpk::created_thread_finished(index); ++k) completion_port_dec_ref(h);
        }
    }
    for (int t = 0; t < kMaxThreads; ++t) {
        for (cpk::SocketPair& sp : g_main[t]) sp = cpk::SocketPair();
        g_side[t] = cpk::SocketPair();
    }
    CPK_GUARD_END(guard);
}
