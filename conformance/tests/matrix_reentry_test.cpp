/* The re-entrancy matrix: every API call (add on the same socket, add on
 * another, remove of the same socket, remove of another socket whose event is
 * already fetched, inc_ref, dec_ref, the final dec_ref) made from every kind of
 * callback (event-driven; the closing completion of a remove; the closing
 * completion of the final dec_ref), with other events in the same epoll_wait
 * batch.
 *
 * Batches are made deterministic by holding the worker: a gate op's callback
 * waits on a latch while the sockets of the row become readable in a known
 * order, so that the worker's next epoll_wait returns them together (the
 * interposer's epoll_wait records show whether it did). Every row has its own
 * port, released at the end of the table, all at once. */
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

/* The kind of callback the call is made from. */
enum class From : uint8_t {
    event,        /* an event-driven completion on the worker, its batch fetched */
    remove_close, /* the closing completion of a remove, on the remover's thread, while the
                     worker holds a batch */
    release_close /* the closing completion of the final dec_ref */
};

enum class Call : uint8_t {
    add_same,
    add_other,
    remove_same,
    remove_other,
    remove_two,
    inc_ref,
    dec_ref,
    final_dec_ref
};

struct ReRow {
    const char* name;
    From from;
    Call call;
    const char* returns_req; /* the call made in the callback returns (recommended table) */
    const char* effect_req;  /* what the call must have done */
    bool send_other;         /* the other socket's op is a send (else a recv) */
};

/* Op indices of a row, from its base. */
enum : size_t { kGate = 0, kOwn = 1, kOther = 2, kBystander = 3, kAdded = 4, kRemoved = 5, kProbe = 6, kOpsPerRow = 8 };

/* What a row's callback did (static storage: a broken port may call late). */
struct Act {
    COMPLETION_PORT_HANDLE port = nullptr;
    Call call = Call::inc_ref;
    Recorder* rec = nullptr;
    size_t base = 0;
    int own_fd = -1; /* the socket of the op whose callback calls */
    int other_fd = -1;
    int bystander_fd = -1;
    int add_other_fd = -1;
    cpk::Latch* open_first = nullptr; /* opened before the call (a held worker the call joins) */
    std::atomic<bool> claimed{false};
    std::atomic<bool> finished{false};
    int rc = -1;
    int64_t from_ns = 0;
    int64_t by_ns = 0;
    pid_t tid = 0;
    size_t target = 0; /* remove_other under release_close: the op it removed */
};

constexpr size_t kMaxRows = 24;
Act g_acts[kMaxRows];
char g_bufs[kMaxRows][kOpsPerRow][4];

void act(Act& a, size_t own_index) {
    if (a.claimed.exchange(true)) return;
    a.tid = cpk::current_tid();
    if (a.open_first) a.open_first->open();
    Recorder& rec = *a.rec;
    a.from_ns = cpk::mono_ns();
    switch (a.call) {
    case Call::add_same: {
        COMPLETION_PORT_INGRESS_DATA in =
            rec.ingress(a.base + kAdded, EPOLLIN, a.own_fd, g_bufs[a.base / kOpsPerRow][kAdded], 1);
        a.rc = completion_port_add(a.port, &in);
        break;
    }
    case Call::add_other: {
        COMPLETION_PORT_INGRESS_DATA in =
            rec.ingress(a.base + kAdded, EPOLLIN, a.add_other_fd, g_bufs[a.base / kOpsPerRow][kAdded], 1);
        a.rc = completion_port_add(a.port, &in);
        break;
    }
    case Call::remove_same: completion_port_remove(a.port, a.own_fd); break;
    case Call::remove_other: {
        /* Under the final dec_ref the op still pending is chosen when the call is made. */
        size_t target = a.base + kOther;
        int fd = a.other_fd;
        if (own_index == target) {
            target = a.base + kBystander;
            fd = a.bystander_fd;
        }
        a.target = target;
        completion_port_remove(a.port, fd);
        break;
    }
    case Call::remove_two:
        completion_port_remove(a.port, a.other_fd);
        completion_port_remove(a.port, a.bystander_fd);
        break;
    case Call::inc_ref: completion_port_inc_ref(a.port); break;
    case Call::dec_ref:
    case Call::final_dec_ref: completion_port_dec_ref(a.port); break;
    }
    a.by_ns = cpk::mono_ns();
    a.finished = true;
}

/* What the test saw of one row, for the checks after the common quiet window. */
struct RowRun {
    bool ran = false;
    cpk::PortInfo port;
    bool released = false;                    /* the row's final dec_ref happened */
    bool batch = false;                       /* one epoll_wait returned the own and the other socket together */
    int64_t remove_from = 0, remove_by = 0;   /* remove_close: the outer remove */
    int64_t release_from = 0, release_by = 0; /* release_close: the final dec_ref */
    pid_t release_tid = 0;
    bool works_after = true; /* inc_ref / dec_ref / remove_same: the port still completes a recv */
    bool worker_gone = true; /* final_dec_ref from an event: the worker left by itself */
    cpk::SocketPair gate, own, other, bystander, add_other, removed;
};

bool batch_seen(int a, int b) {
    for (size_t i = 0; i < cpk::record_count(); ++i) {
        cpk::CallRecord r = cpk::record_at(i);
        if (r.fn != cpk::Fn::epoll_wait && r.fn != cpk::Fn::epoll_pwait) continue;
        bool sa = false, sb = false;
        for (int k = 0; k < r.nev && k < 4; ++k) {
            sa |= r.ev[k].fd == a;
            sb |= r.ev[k].fd == b;
        }
        if (sa && sb) return true;
    }
    return false;
}

void make_pair(cpk::SocketPair& sp) {
    sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
}

/* Runs one row up to its call and what follows it directly. */
void run_row(const ReRow& row, size_t index, Recorder& rec, RowRun& run,
             std::vector<COMPLETION_PORT_HANDLE>& to_release) {
    const size_t b = index * kOpsPerRow;
    Act& a = g_acts[index];
    a.claimed = false;
    a.finished = false;
    a.rc = -1;
    a.open_first = nullptr;
    run.port = cpk::create_port();
    CPK_REQUIRE_PORT(run.port);
    run.ran = true;
    COMPLETION_PORT_HANDLE h = run.port.handle;
    make_pair(run.other);
    make_pair(run.bystander);
    make_pair(run.add_other);
    make_pair(run.removed);
    a.port = h;
    a.call = row.call;
    a.rec = &rec;
    a.base = b;
    a.other_fd = run.other.a;
    a.bystander_fd = run.bystander.a;
    a.add_other_fd = run.add_other.a;
    CPK_KIT_REQUIRE(cpk::write_all(run.add_other.b, "n", 1)); /* the socket add_other adds is readable */
    const int other_ev = row.send_other ? EPOLLOUT : EPOLLIN;
    COMPLETION_PORT_INGRESS_DATA other = rec.ingress(b + kOther, other_ev, run.other.a, g_bufs[index][kOther], 1);
    COMPLETION_PORT_INGRESS_DATA bystander =
        rec.ingress(b + kBystander, EPOLLIN, run.bystander.a, g_bufs[index][kBystander], 1);
    if (row.call == Call::dec_ref) completion_port_inc_ref(h); /* the callback's dec_ref is not the final one */

    if (row.from == From::release_close) {
        /* Three ops pending with no event; the first closing completion calls. */
        a.own_fd = -1;
        COMPLETION_PORT_INGRESS_DATA rem =
            rec.ingress(b + kRemoved, EPOLLIN, run.removed.a, g_bufs[index][kRemoved], 1);
        for (size_t k : {kRemoved, kOther, kBystander}) {
            Act* ap = &g_acts[index];
            int fd = k == kRemoved ? static_cast<int>(run.removed.a)
                     : k == kOther ? static_cast<int>(run.other.a)
                                   : static_cast<int>(run.bystander.a);
            rec.op(b + k).hook = [ap, fd, k, b](cpk::Op&, const cpk::CallbackRecord&) {
                if (ap->claimed.load()) return;
                ap->own_fd = fd;
                act(*ap, b + k);
            };
        }
        if (!cpk::row_add(h, &rem) || !cpk::row_add(h, &other) || !cpk::row_add(h, &bystander)) {
            to_release.push_back(h);
            return;
        }
        cpk::AsyncCall dec([h] { completion_port_dec_ref(h); }, "final completion_port_dec_ref");
        run.release_from = dec.start_ns();
        run.release_tid = dec.tid();
        bool returned = dec.wait(cpk::kTeardownMs);
        CPK_CHECK("CPL_DECREF_004", returned);
        run.release_by = dec.done_ns();
        run.released = true;
        return;
    }

    /* The gate: the worker waits in it while the row's sockets become ready. */
    make_pair(run.gate);
    make_pair(run.own);
    a.own_fd = run.own.a;
    auto* gate = new cpk::Latch(); /* never freed: a late callback may still wait on it */
    rec.op(b + kGate).hook = [gate](cpk::Op&, const cpk::CallbackRecord&) { gate->wait(cpk::kWaitMs); };
    cpk::Latch* hold = nullptr;
    Act* ap = &a;
    if (row.from == From::event) {
        rec.op(b + kOwn).hook = [ap, b](cpk::Op&, const cpk::CallbackRecord&) { act(*ap, b + kOwn); };
    } else {
        /* The own op holds the worker (its batch fetched) while the test
         * thread removes `removed`, whose closing completion calls. */
        hold = new cpk::Latch();
        a.own_fd = run.removed.a;
        if (row.call == Call::final_dec_ref) a.open_first = hold;
        rec.op(b + kOwn).hook = [hold](cpk::Op&, const cpk::CallbackRecord&) { hold->wait(cpk::kWaitMs); };
        rec.op(b + kRemoved).hook = [ap, b](cpk::Op&, const cpk::CallbackRecord&) { act(*ap, b + kRemoved); };
    }
    COMPLETION_PORT_INGRESS_DATA g = rec.ingress(b + kGate, EPOLLIN, run.gate.a, g_bufs[index][kGate], 1);
    COMPLETION_PORT_INGRESS_DATA own = rec.ingress(b + kOwn, EPOLLIN, run.own.a, g_bufs[index][kOwn], 1);
    COMPLETION_PORT_INGRESS_DATA rem = rec.ingress(b + kRemoved, EPOLLIN, run.removed.a, g_bufs[index][kRemoved], 1);
    to_release.push_back(h);
    if (!cpk::row_add(h, &g)) return;
    CPK_KIT_REQUIRE(cpk::write_all(run.gate.b, "g", 1));
    CPK_CHECK("CPL_ADD_007", rec.wait_op(b + kGate, cpk::kWaitMs)); /* setup: the op of a valid add completes */
    if (!cpk::row_add(h, &own) || !cpk::row_add(h, &other) || !cpk::row_add(h, &bystander)) {
        gate->open();
        return;
    }
    if (row.from == From::remove_close && !cpk::row_add(h, &rem)) {
        gate->open();
        return;
    }
    /* Ready in this order: the worker's next epoll_wait returns own, other, bystander. */
    /* A final dec_ref from remove's closing callback lets the held worker go
     * on: other and bystander then have no event, so that they are surely
     * still pending when it runs. */
    const bool quiet_rest = row.from == From::remove_close && row.call == Call::final_dec_ref;
    CPK_KIT_REQUIRE(cpk::write_all(run.own.b, "o", 1));
    if (!row.send_other && !quiet_rest) CPK_KIT_REQUIRE(cpk::write_all(run.other.b, "x", 1));
    if (!quiet_rest) CPK_KIT_REQUIRE(cpk::write_all(run.bystander.b, "y", 1));
    cpk::record_start();
    gate->open();
    if (row.from == From::event) {
        rec.wait_op_finished(b + kOwn, cpk::kWaitMs);
    } else {
        rec.wait_op(b + kOwn, cpk::kWaitMs); /* the worker holds the fetched batch */
        run.remove_from = cpk::mono_ns();
        completion_port_remove(h, run.removed.a);
        run.remove_by = cpk::mono_ns();
        hold->open();
        rec.wait_op_finished(b + kOwn, cpk::kWaitMs);
    }
    cpk::record_stop();
    run.batch = batch_seen(run.own.a, run.other.a);
    if (row.call == Call::final_dec_ref && a.claimed) {
        run.released = true;
        to_release.pop_back();
        if (row.from == From::event) run.worker_gone = cpk::wait_thread_gone(run.port.worker, cpk::kTeardownMs);
        return;
    }
    if (row.call == Call::final_dec_ref) return; /* never made: the port is released with the others */
    /* What the call left must go on working. */
    if (row.call == Call::add_same && a.rc == 0) {
        const int fd = row.from == From::event ? static_cast<int>(run.own.b) : static_cast<int>(run.removed.b);
        CPK_KIT_REQUIRE(cpk::write_all(fd, "a", 1));
    }
    if ((row.call == Call::add_same || row.call == Call::add_other) && a.rc == 0) rec.wait_op(b + kAdded, cpk::kWaitMs);
    if (!row.send_other && row.call != Call::remove_two) rec.wait_op(b + kOther, cpk::kWaitMs);
    if (row.call != Call::remove_two) rec.wait_op(b + kBystander, cpk::kWaitMs);
    /* The reference the callback took, or the one it should have dropped. */
    if ((row.call == Call::inc_ref && a.finished) || (row.call == Call::dec_ref && !a.finished))
        completion_port_dec_ref(h);
    if (row.call == Call::inc_ref || row.call == Call::dec_ref || row.call == Call::remove_same)
        run.works_after = cpk::completes_a_recv(h, rec, b + kProbe);
}

struct Table {
    std::vector<RowRun> runs;
    std::vector<COMPLETION_PORT_HANDLE> to_release;
};

/* Runs every row, then gives late callbacks one common window: every socket
 * of every row gets more bytes, and nothing may call back for them. */
void run_rows(const ReRow* rows, size_t n, Recorder& rec, Table& t) {
    CPK_KIT_REQUIRE(n <= kMaxRows);
    t.runs.resize(n);
    for (size_t i = 0; i < n; ++i) {
        INFO("row " << i << ": " << rows[i].name);
        cpk::RunningScope running(rows[i].effect_req, rows[i].name); /* a crash here is this row's */
        run_row(rows[i], i, rec, t.runs[i], t.to_release);
    }
    for (RowRun& r : t.runs)
        for (cpk::SocketPair* sp : {&r.own, &r.other, &r.bystander, &r.removed})
            if (sp->b.valid()) cpk::write_all(sp->b, "late", 4, 100);
    rec.wait_count(rec.count() + 1, cpk::kQuietMs);
}

void finish(Table& t, cpk::Guard& guard) {
    cpk::release_ports(t.to_release, cpk::kTeardownMs);
    t.runs.clear();
    CPK_GUARD_END(guard);
}

/* ---- normative: calls from an event-driven callback ------------------------- */

/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const ReRow kEventRows[] = {
    {"event callback: add on its own socket", From::event, Call::add_same, nullptr, "CPL_ADD_010", false},
    {"event callback: add on another socket", From::event, Call::add_other, nullptr, "CPL_ADD_010", false},
    {"event callback: remove of its own socket", From::event, Call::remove_same, nullptr, "CPL_ADD_010", false},
    {"event callback: inc_ref", From::event, Call::inc_ref, nullptr, "CPL_INCREF_002", false},
    {"event callback: a dec_ref that is not the final one", From::event, Call::dec_ref, nullptr, "CPL_DECREF_001", false},
};
/* clang-format on */

/* ---- normative: remove of a socket whose event is already fetched ----------- */

/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const ReRow kFetchedRows[] = {
    {"event callback removes another socket (recv op) fetched in its batch", From::event, Call::remove_other, nullptr, "CPL_ADD_010", false},
    {"event callback removes another socket (send op) fetched in its batch", From::event, Call::remove_other, nullptr, "CPL_ADD_010", true},
    {"event callback removes two other sockets fetched in its batch", From::event, Call::remove_two, nullptr, "CPL_ADD_010", false},
    {"remove's closing callback removes a socket the held worker fetched", From::remove_close, Call::remove_other, nullptr, "CPL_ADD_010", false},
};
/* clang-format on */

/* ---- recommended: every call from every kind of callback ------------------- */

/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const ReRow kAllRows[] = {
    {"event callback: add on its own socket", From::event, Call::add_same, "CPL_ADD_017", "CPL_ADD_017", false},
    {"event callback: add on another socket", From::event, Call::add_other, "CPL_ADD_017", "CPL_ADD_017", false},
    {"event callback: remove of its own socket", From::event, Call::remove_same, "CPL_REMOVE_006", "CPL_REMOVE_007", false},
    {"event callback: remove of another socket fetched in its batch", From::event, Call::remove_other, "CPL_REMOVE_005", "CPL_REMOVE_005", false},
    {"event callback: inc_ref", From::event, Call::inc_ref, "CPL_ADD_018", "CPL_ADD_018", false},
    {"event callback: a dec_ref that is not the final one", From::event, Call::dec_ref, "CPL_ADD_018", "CPL_ADD_018", false},
    {"remove's closing callback: add on its own socket", From::remove_close, Call::add_same, "CPL_ADD_017", "CPL_ADD_017", false},
    {"remove's closing callback: add on another socket", From::remove_close, Call::add_other, "CPL_ADD_017", "CPL_ADD_017", false},
    {"remove's closing callback: remove of its own socket", From::remove_close, Call::remove_same, "CPL_REMOVE_006", "CPL_REMOVE_007", false},
    {"remove's closing callback: remove of another socket the held worker fetched", From::remove_close, Call::remove_other, "CPL_REMOVE_005", "CPL_REMOVE_005", false},
    {"remove's closing callback: inc_ref", From::remove_close, Call::inc_ref, "CPL_ADD_018", "CPL_ADD_018", false},
    {"remove's closing callback: a dec_ref that is not the final one", From::remove_close, Call::dec_ref, "CPL_ADD_018", "CPL_ADD_018", false},
    {"final dec_ref's closing callback: add on its own socket", From::release_close, Call::add_same, "CPL_DECREF_008", "CPL_DECREF_008", false},
    {"final dec_ref's closing callback: add on another socket", From::release_close, Call::add_other, "CPL_DECREF_008", "CPL_DECREF_008", false},
    {"final dec_ref's closing callback: remove of its own socket", From::release_close, Call::remove_same, "CPL_DECREF_008", "CPL_DECREF_008", false},
    {"final dec_ref's closing callback: remove of another pending socket", From::release_close, Call::remove_other, "CPL_DECREF_008", "CPL_DECREF_008", false},
    {"remove's closing callback: the final dec_ref, the worker holding a batch", From::remove_close, Call::final_dec_ref, "CPL_DECREF_008", "CPL_DECREF_008", false},
    /* Last: a port that frees itself under its own callback may crash the process. */
    {"event callback: the final dec_ref, other events fetched in its batch", From::event, Call::final_dec_ref, "CPL_DECREF_010", "CPL_DECREF_010", false},
};
/* clang-format on */

/* Every op of a row got at most one callback. */
std::string repeated_ops(const Recorder& rec, size_t index) {
    std::string s;
    for (size_t k = 0; k < kOpsPerRow; ++k) {
        int c = rec.calls(index * kOpsPerRow + k);
        if (c > 1) s += "op " + std::to_string(k) + " of the row: " + std::to_string(c) + " callbacks\n";
    }
    return s;
}

/* Runs the table, then check(rec, i, row, run) on each row that ran, with
 * the row and the recorder's dump as context, then after(rec); finish. */
template <size_t N, class Check, class After> void run_table(const ReRow (&rows)[N], Check check, After after) {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder(kMaxRows * kOpsPerRow);
    Table t;
    run_rows(rows, N, rec, t);
    for (size_t i = 0; i < N; ++i) {
        const RowRun& r = t.runs[i];
        if (!r.ran) continue;
        INFO("row " << i << ": " << rows[i].name << (r.batch ? "" : " (its sockets did not come in one batch)"));
        INFO(rec.dump());
        check(rec, i, rows[i], r);
    }
    after(rec);
    finish(t, guard);
}
template <size_t N, class Check> void run_table(const ReRow (&rows)[N], Check check) {
    run_table(rows, check, [](const Recorder&) {});
}

} // namespace

TEST_CASE("matrix: API calls from an event-driven callback with other events in its batch",
          "[CPL_ADD_010][CPL_RECV_005][CPL_INCREF_002][CPL_DECREF_001][CPL_WORKER_004][CPL_WORKER_005]") {
    const uint64_t bad_before = cpk::bad_context_callbacks();
    auto check = [](const Recorder& rec, size_t i, const ReRow& row, const RowRun& r) {
        CPK_CHECK("CPL_ADD_010", repeated_ops(rec, i) == "");
        /* The rest of the batch completes as if nothing had been called. */
        const size_t b = i * kOpsPerRow;
        CPK_CHECK("CPL_RECV_005", cpk::one_callback(rec, b + kOther, COMPLETION_PORT_EPOLL_EPOLLIN,
                                                    COMPLETION_PORT_RESULT_OK, 1) == "");
        CPK_CHECK("CPL_RECV_005", cpk::one_callback(rec, b + kBystander, COMPLETION_PORT_EPOLL_EPOLLIN,
                                                    COMPLETION_PORT_RESULT_OK, 1) == "");
        if (row.call == Call::inc_ref || row.call == Call::dec_ref) CPK_CHECK(row.effect_req, r.works_after);
    };
    run_table(kEventRows, check, [bad_before](const Recorder& rec) {
        CPK_CHECK("CPL_WORKER_004", !rec.any_overlap());
        CPK_CHECK("CPL_WORKER_005", cpk::bad_context_callbacks() == bad_before);
    });
}

TEST_CASE("matrix: a callback removes another socket whose event is already fetched", "[CPL_ADD_010]") {
    run_table(kFetchedRows, [](const Recorder& rec, size_t i, const ReRow&, const RowRun&) {
        /* At most one callback each, also after more bytes came on the removed sockets. */
        CPK_CHECK("CPL_ADD_010", repeated_ops(rec, i) == "");
    });
}

TEST_CASE(
    "matrix: every API call from every kind of callback - recommended",
    "[CPL_ADD_017][CPL_ADD_018][CPL_REMOVE_005][CPL_REMOVE_006][CPL_REMOVE_007][CPL_DECREF_008][CPL_DECREF_010]") {
    run_table(kAllRows, [](const Recorder& rec, size_t i, const ReRow& row, const RowRun& r) {
        const Act& a = g_acts[i];
        const size_t b = i * kOpsPerRow;
        INFO("the call " << (a.claimed ? "was made" : "was never made: no callback of that kind came"));
        CPK_CHECK(row.returns_req, a.finished.load());
        if (!a.finished) return;
        if (row.from == From::remove_close) /* the op whose closing completion called */
            CPK_CHECK("CPL_REMOVE_005",
                      cpk::closed_during_call(rec, b + kRemoved, cpk::current_tid(), r.remove_from, r.remove_by) == "");
        if (row.from == From::release_close) {
            for (size_t k : {kRemoved, kOther, kBystander})
                CPK_CHECK(row.effect_req,
                          cpk::closed_during_call(rec, b + k, r.release_tid, r.release_from, r.release_by) == "");
            if (row.call == Call::add_same || row.call == Call::add_other) {
                std::vector<cpk::CallbackRecord> v = rec.for_op(b + kAdded);
                INFO("add returned " << a.rc);
                CPK_CHECK(row.effect_req,
                          (a.rc != 0 ? v.empty() : v.size() == 1 && v[0].end_ns != 0 && v[0].end_ns <= r.release_by));
            }
            return;
        }
        switch (row.call) {
        case Call::add_same:
        case Call::add_other: {
            INFO("add returned " << a.rc);
            CPK_CHECK(row.effect_req, (a.rc == 0 && cpk::one_callback(rec, b + kAdded, COMPLETION_PORT_EPOLL_EPOLLIN,
                                                                      COMPLETION_PORT_RESULT_OK, 1) == ""));
            break;
        }
        case Call::remove_same:
        case Call::inc_ref:
        case Call::dec_ref: CPK_CHECK(row.effect_req, r.works_after); break;
        case Call::remove_other:
        case Call::remove_two:
            CPK_CHECK(row.effect_req, cpk::closed_during_call(rec, b + kOther, a.tid, a.from_ns, a.by_ns) == "");
            break;
        case Call::final_dec_ref:
            /* The rest of the batch completes once as closing, during that dec_ref. */
            CPK_CHECK(row.effect_req, cpk::closed_during_call(rec, b + kOther, a.tid, a.from_ns, a.by_ns) == "");
            CPK_CHECK(row.effect_req, cpk::closed_during_call(rec, b + kBystander, a.tid, a.from_ns, a.by_ns) == "");
            if (row.from == From::event) CPK_CHECK(row.effect_req, r.worker_gone);
            break;
        }
    });
}
