/* The teardown matrix: the final dec_ref while a callback runs longer than the
 * worker's 2 s epoll_wait timeout, with ops pending on many sockets (some of
 * them fetched in the same epoll_wait batch as the long callback), called from
 * every kind of thread: the test's main thread, another thread, a callback of
 * another port's worker, and (recommended) the long callback itself.
 *
 * A dec_ref that stops waiting for the callback after some time shorter than
 * the callback returns before it: the rows catch any such give-up below
 * kLongMs. All rows run at once, so the table pays the long callback once. */
#include "cpk_catch.h"
#include "harness.h"
#include "rows.h"

#include <atomic>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace {

using cpk::Recorder;

/* The long callback's duration: longer than the 2 s epoll_wait timeout. */
constexpr int kLongMs = 2300;

enum class Caller : uint8_t { main_thread, other_thread, other_port_callback, own_callback };

struct TdRow {
    const char* name;
    Caller caller;
    int pending; /* ops pending on their own sockets */
    int fetched; /* how many of those become readable in the long callback's batch */
};

const TdRow kRows[] = {
    {"main thread: 16 ops pending, 8 fetched with the long callback", Caller::main_thread, 16, 8},
    {"another thread: 16 ops pending, 8 fetched with the long callback", Caller::other_thread, 16, 8},
    {"another thread: 64 ops pending, none fetched", Caller::other_thread, 64, 0},
    {"a callback of another port: 16 ops pending, 8 fetched", Caller::other_port_callback, 16, 8},
};

const TdRow kRecommendedRows[] = {
    {"main thread: 16 ops pending, 8 fetched with the long callback", Caller::main_thread, 16, 8},
    {"another thread: 16 ops pending, 8 fetched with the long callback", Caller::other_thread, 16, 8},
    {"a callback of another port: 16 ops pending, 8 fetched", Caller::other_port_callback, 16, 8},
    {"the long callback itself: 16 ops pending, 8 fetched", Caller::own_callback, 16, 8},
};

constexpr size_t kMaxRows = 4;
constexpr size_t kMaxPending = 64;
/* Op indices of a row: gate, long, trigger (on the other port), then the pending ops. */
constexpr size_t kOpsPerRow = 3 + kMaxPending;
enum : size_t { kGate = 0, kLong = 1, kTrigger = 2, kFirstPending = 3 };

/* One final dec_ref, wherever it is called from (static: a broken port may call late). */
struct Release {
    COMPLETION_PORT_HANDLE port = nullptr;
    std::atomic<int64_t> from_ns{0};
    std::atomic<int64_t> by_ns{0};
    std::atomic<pid_t> tid{0};
    void run() {
        tid = cpk::current_tid();
        from_ns = cpk::mono_ns();
        completion_port_dec_ref(port);
        by_ns = cpk::mono_ns();
    }
};
Release g_release[kMaxRows];
char g_bufs[kMaxRows][kOpsPerRow];
cpk::Latch g_never; /* never opened: a bounded wait on it is the long callback's duration */

struct TdRun {
    cpk::PortInfo port;
    cpk::PortInfo other; /* other_port_callback: the port whose callback releases */
    std::vector<cpk::SocketPair> pending;
    cpk::SocketPair gate, held, trigger;
    cpk::Latch* hold = nullptr;
};

/* Sets up a row: its long callback holds the worker, `fetched` pending
 * sockets ready in the same batch. Returns with the long callback running. */
void start_row(const TdRow& row, size_t index, Recorder& rec, TdRun& run) {
    const size_t b = index * kOpsPerRow;
    Release& rel = g_release[index];
    rel.from_ns = 0;
    rel.by_ns = 0;
    rel.tid = 0;
    run.port = cpk::create_port();
    CPK_REQUIRE_PORT(run.port);
    COMPLETION_PORT_HANDLE h = run.port.handle;
    rel.port = h;
    run.gate = cpk::unix_pair();
    run.held = cpk::unix_pair();
    CPK_KIT_REQUIRE((run.gate.ok() && run.held.ok()));
    run.pending.resize(static_cast<size_t>(row.pending));
    for (int k = 0; k < row.pending; ++k) {
        run.pending[k] = cpk::unix_pair();
        CPK_KIT_REQUIRE(run.pending[k].ok());
    }
    /* Never freed (reachable from the hooks): a late callback may wait on them. */
    auto* gate = new cpk::Latch();
    rec.op(b + kGate).hook = [gate](cpk::Op&, const cpk::CallbackRecord&) { gate->wait(cpk::kWaitMs); };
    if (row.caller == Caller::own_callback) {
        Release* r = &rel;
        rec.op(b + kLong).hook = [r](cpk::Op&, const cpk::CallbackRecord&) {
            g_never.wait(kLongMs);
            r->run();
        };
    } else {
        cpk::Latch* hold = run.hold = new cpk::Latch();
        rec.op(b + kLong).hook = [hold](cpk::Op&, const cpk::CallbackRecord&) { hold->wait(cpk::kTeardownMs); };
    }
    COMPLETION_PORT_INGRESS_DATA g = rec.ingress(b + kGate, EPOLLIN, run.gate.a, &g_bufs[index][kGate], 1);
    COMPLETION_PORT_INGRESS_DATA l = rec.ingress(b + kLong, EPOLLIN, run.held.a, &g_bufs[index][kLong], 1);
    CPK_REQUIRE_ADD(h, &g);
    CPK_KIT_REQUIRE(cpk::write_all(run.gate.b, "g", 1));
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(b + kGate, cpk::kWaitMs)); /* setup: the op of a valid add completes */
    CPK_REQUIRE_ADD(h, &l);
    for (int k = 0; k < row.pending; ++k) {
        COMPLETION_PORT_INGRESS_DATA in =
            rec.ingress(b + kFirstPending + k, EPOLLIN, run.pending[k].a, &g_bufs[index][kFirstPending + k], 1);
        CPK_REQUIRE_ADD(h, &in);
    }
    /* The long callback's socket first: the next epoll_wait returns it with these. */
    CPK_KIT_REQUIRE(cpk::write_all(run.held.b, "l", 1));
    for (int k = 0; k < row.fetched; ++k) CPK_KIT_REQUIRE(cpk::write_all(run.pending[k].b, "f", 1));
    gate->open();
    CPK_REQUIRE("CPL_ADD_007", rec.wait_op(b + kLong, cpk::kWaitMs));

    if (row.caller == Caller::other_port_callback) {
        run.other = cpk::create_port();
        CPK_REQUIRE_PORT(run.other);
        run.trigger = cpk::unix_pair();
        CPK_KIT_REQUIRE(run.trigger.ok());
        Release* r = &rel;
        rec.op(b + kTrigger).hook = [r](cpk::Op&, const cpk::CallbackRecord&) { r->run(); };
        COMPLETION_PORT_INGRESS_DATA t = rec.ingress(b + kTrigger, EPOLLIN, run.trigger.a, &g_bufs[index][kTrigger], 1);
        CPK_REQUIRE_ADD(run.other.handle, &t);
    }
}

/* Calls from the row's own kind of thread; main_thread rows are run last, by the caller. */
std::unique_ptr<cpk::AsyncCall> release_row(const TdRow& row, size_t index, TdRun& run) {
    Release* r = &g_release[index];
    if (row.caller == Caller::other_thread)
        return std::unique_ptr<cpk::AsyncCall>(new cpk::AsyncCall([r] { r->run(); }, "final completion_port_dec_ref"));
    if (row.caller == Caller::other_port_callback) CPK_KIT_REQUIRE(cpk::write_all(run.trigger.b, "t", 1));
    return nullptr;
}

struct Timing {
    int64_t opened_ns = 0;
};

/* Runs every row at once: all long callbacks running, every final dec_ref
 * called, the long callbacks end together after kLongMs. */
void run_rows(const TdRow* rows, size_t n, Recorder& rec, std::vector<TdRun>& runs, Timing& t, bool normative) {
    CPK_KIT_REQUIRE(n <= kMaxRows);
    runs.resize(n);
    for (size_t i = 0; i < n; ++i) {
        INFO("row " << i << ": " << rows[i].name);
        start_row(rows[i], i, rec, runs[i]);
    }
    std::vector<cpk::Latch*> holds;
    for (TdRun& r : runs) holds.push_back(r.hold);
    Timing* tp = &t;
    cpk::AsyncCall opener(
        [holds, tp] {
            g_never.wait(kLongMs);
            tp->opened_ns = cpk::mono_ns();
            for (cpk::Latch* l : holds)
                if (l) l->open();
        },
        "ends the long callbacks");
    std::vector<std::unique_ptr<cpk::AsyncCall>> calls;
    for (size_t i = 0; i < n; ++i) calls.push_back(release_row(rows[i], i, runs[i]));
    {
        /* The release phase blames a crash on CPL_DECREF_004: in the recommended
         * table a crash belongs to its own rows (a final dec_ref inside its own
         * callback, CPL_DECREF_010), so that table stays in the body phase. */
        std::unique_ptr<cpk::PhaseScope> phase(normative ? new cpk::PhaseScope("release") : nullptr);
        std::vector<bool> checked(n, false);
        /* As soon as a final dec_ref returns: its long callback must be over
         * (checked at once, before a port freed under it can crash the test;
         * in the normative table only, and not where that callback is the caller). */
        auto check_returned = [&] {
            bool all = true;
            for (size_t i = 0; i < n; ++i) {
                if (checked[i]) continue;
                const int64_t by = g_release[i].by_ns.load();
                if (by == 0) {
                    all = false;
                    continue;
                }
                checked[i] = true;
                if (!normative || rows[i].caller == Caller::own_callback) continue;
                const size_t b = i * kOpsPerRow + kLong;
                std::vector<cpk::CallbackRecord> v = rec.for_op(b);
                const bool over = v.size() == 1 && v[0].end_ns != 0 && v[0].end_ns <= by;
                if (!over) {
                    INFO("row " << i << ": " << rows[i].name);
                    INFO("the final dec_ref returned " << (by - g_release[i].from_ns.load()) / 1000000
                                                       << " ms after its call, its port's long callback still running");
                    CPK_CHECK("CPL_DECREF_004", over);
                }
            }
            return all;
        };
        for (size_t i = 0; i < n; ++i)
            if (rows[i].caller == Caller::main_thread) {
                g_release[i].run();
                check_returned();
            }
        bool all = cpk::eventually(check_returned, cpk::kTeardownMs + kLongMs);
        for (size_t i = 0; i < n; ++i)
            if (!checked[i]) {
                INFO("row " << i << ": " << rows[i].name << ": the final dec_ref never returned");
                CPK_CHECK("CPL_DECREF_004", all);
            }
        for (auto& c : calls)
            if (c) c->wait(cpk::kTeardownMs);
        CPK_KIT_REQUIRE(opener.wait(cpk::kWaitMs));
    }
    /* Events after every release: none may reach a callback. */
    for (TdRun& r : runs)
        for (cpk::SocketPair& sp : r.pending) cpk::write_all(sp.b, "late", 4, 100);
    rec.wait_count(rec.count() + 1, cpk::kQuietMs);
}

void release_others(std::vector<TdRun>& runs) {
    std::vector<COMPLETION_PORT_HANDLE> others;
    for (TdRun& r : runs)
        if (r.other.handle) others.push_back(r.other.handle);
    cpk::release_ports(others, cpk::kTeardownMs);
}

std::string after_release(const Recorder& rec, size_t b, size_t ops, int64_t by_ns) {
    std::string s;
    for (size_t k = 0; k < ops; ++k)
        for (const cpk::CallbackRecord& c : rec.for_op(b + k))
            if (c.start_ns > by_ns) s += "  " + cpk::describe(c) + "\n";
    return s;
}

/* Runs the table, then check(rec, row, b, rel, run, t) on each row (b: its
 * first op; rel: its final dec_ref), with the row as context; then releases. */
template <size_t N, class Check> void run_table(const TdRow (&rows)[N], bool normative, Check check) {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder(kMaxRows * kOpsPerRow);
    std::vector<TdRun> runs;
    Timing t;
    run_rows(rows, N, rec, runs, t, normative);
    for (size_t i = 0; i < N; ++i) {
        INFO("row " << i << ": " << rows[i].name);
        check(rec, rows[i], i * kOpsPerRow, g_release[i], runs[i], t);
    }
    release_others(runs);
    runs.clear();
    CPK_GUARD_END(guard);
}

} // namespace

TEST_CASE("matrix: the final dec_ref from every kind of thread waits for a callback longer than 2 s",
          "[CPL_DECREF_004][CPL_DECREF_006][CPL_DECREF_002]") {
    run_table(
        kRows, true,
        [](const Recorder& rec, const TdRow& row, size_t b, const Release& rel, const TdRun& run, const Timing& t) {
            cpk::CallbackRecord held = rec.for_op(b + kLong).at(0);
            INFO("the final dec_ref returned "
                 << (rel.by_ns - rel.from_ns) / 1000000 << " ms after its call; the long callback "
                 << (held.end_ns
                         ? "returned " + std::to_string((held.end_ns - held.start_ns) / 1000000) + " ms after it began"
                         : std::string("had not returned")));
            CPK_CHECK("CPL_DECREF_004", (held.end_ns != 0 && held.end_ns <= rel.by_ns.load()));
            CPK_CHECK("CPL_DECREF_004", rel.by_ns.load() >= t.opened_ns);
            std::string late = after_release(rec, b, kFirstPending + static_cast<size_t>(row.pending), rel.by_ns);
            INFO("callbacks that started after the final dec_ref returned:\n" << late);
            CPK_CHECK("CPL_DECREF_006", late == "");
            CPK_CHECK("CPL_DECREF_002", cpk::wait_thread_gone(run.port.worker, 1000));
        });
}

TEST_CASE("matrix: pending ops close once when the final dec_ref meets a callback longer than 2 s - recommended",
          "[CPL_DECREF_008][CPL_DECREF_010]") {
    run_table(kRecommendedRows, false,
              [](const Recorder& rec, const TdRow& row, size_t b, const Release& rel, const TdRun& run, const Timing&) {
                  const char* req = row.caller == Caller::own_callback ? "CPL_DECREF_010" : "CPL_DECREF_008";
                  std::string wrong;
                  for (int k = 0; k < row.pending; ++k)
                      wrong += cpk::closed_during_call(rec, b + kFirstPending + k, rel.tid, rel.from_ns, rel.by_ns);
                  INFO(wrong);
                  CPK_CHECK(req, wrong == "");
                  if (row.caller == Caller::own_callback)
                      CPK_CHECK("CPL_DECREF_010", cpk::wait_thread_gone(run.port.worker, cpk::kTeardownMs));
              });
}
