/* The recv and send matrix (spec sections 9, 10, 11): each row scripts the
 * outcome of every recv or send call one op makes (full, short, EAGAIN, EINTR,
 * end of stream, ECONNRESET, EPIPE, another errno, a real close or reset of the
 * peer), at the first call, after partial progress and after a resume from
 * EAGAIN, and states what the spec expects: action, result, amount, the bytes
 * in the buffer or on the wire, and that the op is freed and never called
 * again. Calls are scripted with the fault shorthands (a cap on every call,
 * failures of the nth call); real closes and resets happen on real sockets.
 * The process keeps the default SIGPIPE disposition. */
#include "cpk_catch.h"
#include "harness.h"
#include "rows.h"

#include <cstring>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <vector>

namespace {

using cpk::Recorder;

/* What the peer did before the add. */
enum class Peer : uint8_t { stays, shut, close, rst };
/* Send rows: what happens once the op has met a really full socket. */
enum class Mid : uint8_t { none, drain, close, rst, idle };

/* The nth recv/send call of the op fails with err (times calls from nth on);
 * nth 0: no failure. */
struct Fail {
    unsigned nth;
    int err;
    unsigned times;
};

constexpr long kAny = cpk::kAnyAmount; /* any amount >= 0 */
constexpr long kMoved = -2;            /* what the op's calls moved before the failure */
constexpr int kOkOrError = -1;         /* result: a retried EINTR gives OK and the length, else ERROR */

struct IoRow {
    const char* name;
    const char* req; /* the requirement the outcome check names */
    bool tcp;
    uint32_t length; /* the op's buffer */
    size_t sent;     /* recv: bytes the peer wrote before the add */
    Peer peer;
    Mid mid;
    size_t cap; /* 0: every call moves what it can; else at most cap */
    Fail fail[2];
    int result;  /* COMPLETION_PORT_RESULT or kOkOrError */
    long amount; /* exact, kAny or kMoved */
};

constexpr Fail kNo = {0, 0, 0};
constexpr int OK = COMPLETION_PORT_RESULT_OK;
constexpr int ERR = COMPLETION_PORT_RESULT_ERROR;
constexpr int ABN = COMPLETION_PORT_RESULT_ABANDONED;

/* ---- recv ----------------------------------------------------------------- */

/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const IoRow kRecvRows[] = {
    {"all bytes at the first call", "CPL_RECV_005", false, 64, 64, Peer::stays, Mid::none, 0, {kNo, kNo}, OK, 64},
    {"short calls until the buffer is full", "CPL_RECV_005", false, 64, 64, Peer::stays, Mid::none, 16, {kNo, kNo}, OK, 64},
    {"TCP: short calls until the buffer is full", "CPL_RECV_005", true, 3000, 3000, Peer::stays, Mid::none, 1000, {kNo, kNo}, OK, 3000},
    {"more bytes waiting than the buffer holds: no read past it", "CPL_RECV_005", false, 64, 100, Peer::stays, Mid::none, 0, {kNo, kNo}, OK, 64},
    {"a full buffer and end of stream: OK with the length", "CPL_RECV_005", false, 64, 64, Peer::shut, Mid::none, 16, {kNo, kNo}, OK, 64},
    {"EAGAIN at the first call", "CPL_RECV_002", false, 64, 1, Peer::stays, Mid::none, 0, {{1, EAGAIN, 1}, kNo}, OK, 0},
    {"short, then EAGAIN: nothing more to read", "CPL_RECV_002", false, 64, 10, Peer::stays, Mid::none, 0, {kNo, kNo}, OK, 10},
    {"short, short, then EAGAIN", "CPL_RECV_002", false, 64, 64, Peer::stays, Mid::none, 16, {{3, EAGAIN, 1}, kNo}, OK, 32},
    {"TCP: short, then EAGAIN", "CPL_RECV_002", true, 64, 10, Peer::stays, Mid::none, 0, {kNo, kNo}, OK, 10},
    {"end of stream at the first call", "CPL_RECV_004", false, 64, 0, Peer::shut, Mid::none, 0, {kNo, kNo}, OK, 0},
    {"short, then end of stream", "CPL_RECV_004", false, 64, 10, Peer::shut, Mid::none, 0, {kNo, kNo}, OK, 10},
    {"short calls, then end of stream", "CPL_RECV_004", false, 64, 40, Peer::shut, Mid::none, 16, {kNo, kNo}, OK, 40},
    {"data, then the peer closes", "CPL_RECV_004", false, 64, 10, Peer::close, Mid::none, 0, {kNo, kNo}, OK, 10},
    {"TCP: data, then an orderly close", "CPL_RECV_004", true, 64, 10, Peer::close, Mid::none, 0, {kNo, kNo}, OK, 10},
    {"ECONNRESET at the first call", "CPL_RECV_003", false, 64, 10, Peer::stays, Mid::none, 0, {{1, ECONNRESET, 1}, kNo}, ABN, kAny},
    {"short, short, then ECONNRESET", "CPL_RECV_003", false, 64, 64, Peer::stays, Mid::none, 16, {{3, ECONNRESET, 1}, kNo}, ABN, kAny},
    {"TCP: a real reset before any data", "CPL_RECV_003", true, 64, 0, Peer::rst, Mid::none, 0, {kNo, kNo}, ABN, kAny},
    {"TCP: data, then a real reset", "CPL_RECV_003", true, 64, 10, Peer::rst, Mid::none, 0, {kNo, kNo}, ABN, kAny},
};
/* clang-format on */

/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const IoRow kRecvRecommendedRows[] = {
    {"EINTR at the first calls is retried", "CPL_RECV_009", false, 64, 64, Peer::stays, Mid::none, 0, {{1, EINTR, 2}, kNo}, OK, 64},
    {"short, then EINTR, is retried", "CPL_RECV_009", false, 64, 64, Peer::stays, Mid::none, 16, {{2, EINTR, 1}, kNo}, OK, 64},
    {"another errno at the first call: ERROR", "CPL_RECV_008", false, 64, 10, Peer::stays, Mid::none, 0, {{1, EIO, 1}, kNo}, ERR, 0},
    {"short, then another errno: ERROR with the bytes so far", "CPL_RECV_008", false, 64, 64, Peer::stays, Mid::none, 16, {{2, ENOMEM, 1}, kNo}, ERR, 16},
    {"short, short, then ECONNRESET: the amount received", "CPL_EVENT_002", false, 64, 64, Peer::stays, Mid::none, 16, {{3, ECONNRESET, 1}, kNo}, ABN, 32},
    {"TCP: data, then a real reset: the amount received", "CPL_EVENT_002", true, 64, 10, Peer::rst, Mid::none, 0, {kNo, kNo}, ABN, 10},
};
/* clang-format on */

/* ---- send ----------------------------------------------------------------- */

constexpr uint32_t kBig = 1u << 20; /* never fits the small socket buffers of a Mid row */

/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const IoRow kSendRows[] = {
    {"the whole buffer at the first call", "CPL_SEND_001", false, 1000, 0, Peer::stays, Mid::none, 0, {kNo, kNo}, OK, 1000},
    {"short calls until all is sent", "CPL_SEND_001", false, 1000, 0, Peer::stays, Mid::none, 7, {kNo, kNo}, OK, 1000},
    {"TCP: short calls until all is sent", "CPL_SEND_001", true, 8192, 0, Peer::stays, Mid::none, 1000, {kNo, kNo}, OK, 8192},
    {"ECONNRESET at the first call", "CPL_SEND_002", false, 1000, 0, Peer::stays, Mid::none, 0, {{1, ECONNRESET, 1}, kNo}, ABN, kAny},
    {"short, then ECONNRESET", "CPL_SEND_002", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, ECONNRESET, 1}, kNo}, ABN, kAny},
    {"short, EAGAIN, resume, then ECONNRESET", "CPL_SEND_002", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EAGAIN, 1}, {4, ECONNRESET, 1}}, ABN, kAny},
    {"TCP: a real reset before the add", "CPL_SEND_002", true, 1000, 0, Peer::rst, Mid::none, 0, {kNo, kNo}, ABN, kAny},
    {"TCP: a real reset while suspended on a full socket", "CPL_SEND_002", true, kBig, 0, Peer::stays, Mid::rst, 0, {kNo, kNo}, ABN, kAny},
    {"EPIPE at the first call", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 0, {{1, EPIPE, 1}, kNo}, ERR, kAny},
    {"short, then EPIPE", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EPIPE, 1}, kNo}, ERR, kAny},
    {"short, EAGAIN, resume, then EPIPE", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EAGAIN, 1}, {4, EPIPE, 1}}, ERR, kAny},
    {"a real closed peer before the add", "CPL_SEND_003", false, 1000, 0, Peer::close, Mid::none, 0, {kNo, kNo}, ERR, kAny},
    {"the peer closes while the op is suspended on a full socket", "CPL_SEND_003", false, kBig, 0, Peer::stays, Mid::close, 0, {kNo, kNo}, ERR, kAny},
    {"another errno at the first call", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 0, {{1, EIO, 1}, kNo}, ERR, kAny},
    {"short, then another errno", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, ENOBUFS, 1}, kNo}, ERR, kAny},
    {"EINTR at the first call: retried, or ERROR", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 0, {{1, EINTR, 1}, kNo}, kOkOrError, kAny},
    {"short, then EINTR: retried, or ERROR", "CPL_SEND_003", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EINTR, 1}, kNo}, kOkOrError, kAny},
};
/* clang-format on */

/* After EAGAIN, the seed says only that it is no error: resuming is CPL_SEND_006. */
/* One row per line: clang-format would split each field onto a line of its own. */
/* clang-format off */
const IoRow kSendRecommendedRows[] = {
    {"EAGAIN at the first call, then resume", "CPL_SEND_006", false, 1000, 0, Peer::stays, Mid::none, 0, {{1, EAGAIN, 1}, kNo}, OK, 1000},
    {"short, EAGAIN, then resume where it stopped", "CPL_SEND_006", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EAGAIN, 1}, kNo}, OK, 1000},
    {"short, EAGAIN, short, EAGAIN, then resume", "CPL_SEND_006", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EAGAIN, 1}, {4, EAGAIN, 1}}, OK, 1000},
    {"a really full socket, resumed as the peer drains", "CPL_SEND_006", false, kBig, 0, Peer::stays, Mid::drain, 0, {kNo, kNo}, OK, kBig},
    {"EINTR at the first calls is retried", "CPL_SEND_007", false, 1000, 0, Peer::stays, Mid::none, 0, {{1, EINTR, 2}, kNo}, OK, 1000},
    {"short, then EINTR, is retried", "CPL_SEND_007", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EINTR, 1}, kNo}, OK, 1000},
    {"short, short, then ECONNRESET: the amount sent", "CPL_EVENT_002", false, 1000, 0, Peer::stays, Mid::none, 100, {{3, ECONNRESET, 1}, kNo}, ABN, 200},
    {"short, short, then EPIPE: the amount sent", "CPL_EVENT_002", false, 1000, 0, Peer::stays, Mid::none, 100, {{3, EPIPE, 1}, kNo}, ERR, 200},
    {"short, EAGAIN, resume, then EPIPE: the amount sent", "CPL_EVENT_002", false, 1000, 0, Peer::stays, Mid::none, 100, {{2, EAGAIN, 1}, {4, EPIPE, 1}}, ERR, 200},
    {"the peer closes while suspended: the amount sent", "CPL_EVENT_002", false, kBig, 0, Peer::stays, Mid::close, 0, {kNo, kNo}, ERR, kMoved},
    {"TCP: a real reset while suspended: the amount sent", "CPL_EVENT_002", true, kBig, 0, Peer::stays, Mid::rst, 0, {kNo, kNo}, ABN, kMoved},
    {"a full socket and an idle peer: the op waits without a busy loop", "CPL_SEND_006", false, kBig, 0, Peer::stays, Mid::idle, 0, {kNo, kNo}, OK, kBig},
};
/* clang-format on */

/* ---- running rows ---------------------------------------------------------- */

constexpr size_t kMaxRows = 32;
constexpr uint32_t kDrainAbove = 16384; /* send rows this long are read while they run */
constexpr int kAfterTimeoutMs = 1000;
constexpr size_t kRecvSlot = 4096;
constexpr unsigned char kUntouched = 0xEE;
unsigned char g_recv_bufs[kMaxRows][kRecvSlot];
unsigned char g_out[kBig];
unsigned char g_got[kBig];

enum class Kind { recv, send };
enum class Level { normative, recommended };

/* What a row observed, for its checks. */
struct Observed {
    bool added = false;
    bool completed = false;
    long moved = 0;       /* bytes the op's calls returned as moved */
    size_t peer_read = 0; /* send, Mid::drain and full-wire rows: bytes the peer read */
    bool peer_read_ok = true;
    bool wire_read = false;               /* the peer read the wire during the row */
    uint64_t idle_sends = 0;              /* Mid::idle: send calls while the peer read nothing */
    bool saw_full = true;                 /* Mid rows: a send call met a really full socket */
    bool stopped_short = false;           /* completed after a short call, with bytes left to move */
    bool ended_at_eagain = false;         /* send: completed at an EAGAIN, or before the peer's mid-row action */
    std::string continuity_before_eagain; /* send: the calls up to the first EAGAIN */
    bool freed = true;
    size_t live_after = 0;
    std::string calls;      /* the op's recv/send calls, for messages */
    std::string continuity; /* discontinuous_calls */
};

bool saw_eagain(int fd) {
    for (size_t i = 0; i < cpk::record_count(); ++i) {
        cpk::CallRecord r = cpk::record_at(i);
        if (r.fn == cpk::Fn::send && r.fd == fd && r.result < 0 && r.err == EAGAIN && !r.injected) return true;
    }
    return false;
}

/* Makes the peer side of a row before the add; false: a kit precondition failed. */
bool prepare_peer(const IoRow& row, Kind kind, cpk::SocketPair& sp) {
    if (kind == Kind::recv && row.sent > 0) {
        if (!cpk::send_pattern(sp.b, row.sent)) return false;
        if (!cpk::eventually([&] { return cpk::readable_bytes(sp.a) == static_cast<int>(row.sent); }, cpk::kWaitMs))
            return false;
    }
    switch (row.peer) {
    case Peer::stays: return true;
    case Peer::shut:
        if (!cpk::shutdown_wr(sp.b)) return false;
        return (cpk::wait_poll(sp.a, POLLRDHUP, cpk::kWaitMs) & POLLRDHUP) != 0;
    case Peer::close: sp.b.close(); return (cpk::wait_poll(sp.a, POLLRDHUP, cpk::kWaitMs) & (POLLRDHUP | POLLHUP)) != 0;
    case Peer::rst: sp.b.reset_close(); return (cpk::wait_poll(sp.a, POLLIN, cpk::kWaitMs) & (POLLERR | POLLHUP)) != 0;
    }
    return false;
}

/* Sets up one row, adds its op (rec.op(op)), plays the peer until the op
 * completes; the sockets stay open in `sp` until the table ends. */
Observed run_row(const IoRow& row, Kind kind, COMPLETION_PORT_HANDLE port, Recorder& rec, size_t op, unsigned char* buf,
                 cpk::SocketPair& sp, int wait_ms) {
    Observed o;
    sp = row.tcp ? cpk::tcp_pair() : cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    const bool small = row.mid != Mid::none;
    if (small) {
        CPK_KIT_REQUIRE(cpk::set_send_buffer(sp.a, 4096));
        CPK_KIT_REQUIRE(cpk::set_recv_buffer(sp.b, 4096));
    }
    CPK_KIT_REQUIRE(prepare_peer(row, kind, sp));
    if (buf) memset(buf, kUntouched, kRecvSlot);
    const cpk::Fn fn = kind == Kind::recv ? cpk::Fn::recv : cpk::Fn::send;
    /* A failure first: the first matching fault slot wins over the cap. */
    for (const Fail& f : row.fail)
        if (f.nth) CPK_KIT_REQUIRE(cpk::inject(cpk::failing(fn, sp.a, f.err, f.nth, f.times)) >= 0);
    if (row.cap) CPK_KIT_REQUIRE(cpk::inject(cpk::capped(fn, sp.a, row.cap)) >= 0);
    const int ev = kind == Kind::recv ? EPOLLIN : EPOLLOUT;
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, ev, sp.a, kind == Kind::recv ? buf : g_out, row.length);

    cpk::record_start();
    cpk::alloc_track_start();
    o.added = cpk::row_add(port, &in);
    {
        cpk::NoTrack quiet; /* the peer's side is the test's, not the port's */
        if (o.added) {
            /* A buffer larger than the socket's can only be sent while the peer reads. */
            const bool read_now = kind == Kind::send && row.length > kDrainAbove && row.result == OK;
            if (small) o.saw_full = cpk::eventually([&] { return saw_eagain(sp.a); }, cpk::kWaitMs);
            if (small && row.mid != Mid::drain) o.ended_at_eagain = rec.wait_op(op, 20);
            if (row.mid == Mid::idle) {
                const uint64_t s0 = cpk::calls_entered(cpk::Fn::send);
                rec.wait_op(op, cpk::kQuietMs);
                o.idle_sends = cpk::calls_entered(cpk::Fn::send) - s0;
            }
            if (row.mid == Mid::close) sp.b.close();
            if (row.mid == Mid::rst) sp.b.reset_close();
            if (read_now) {
                o.peer_read_ok = cpk::read_exact(sp.b, g_got, row.length, wait_ms, &o.peer_read);
                o.wire_read = true;
            }
            o.completed = rec.wait_op_finished(op, wait_ms);
        }
    }
    cpk::alloc_track_stop();
    if (o.completed) {
        o.freed = cpk::eventually([] { return cpk::live_tracked() == 0; }, 1000);
        o.live_after = cpk::live_tracked();
    }
    cpk::record_stop();
    cpk::clear_faults();
    std::vector<cpk::CallRecord> calls = cpk::records(fn, sp.a);
    for (const cpk::CallRecord& r : calls)
        if (r.result > 0) o.moved += r.result;
    o.stopped_short =
        o.completed && !calls.empty() && calls.back().result > 0 && o.moved < static_cast<long>(row.length);
    if (o.completed && !calls.empty() && calls.back().result < 0 && calls.back().err == EAGAIN)
        o.ended_at_eagain = true;
    std::vector<cpk::CallRecord> before;
    for (const cpk::CallRecord& r : calls) {
        before.push_back(r);
        if (r.result < 0 && r.err == EAGAIN) break;
    }
    o.continuity_before_eagain =
        cpk::discontinuous_calls(before, kind == Kind::recv ? static_cast<const void*>(buf) : g_out, row.length);
    if (calls.size() <= 64)
        o.calls = cpk::describe_calls(calls);
    else
        o.calls = std::to_string(calls.size()) + " calls";
    o.continuity =
        cpk::discontinuous_calls(calls, kind == Kind::recv ? static_cast<const void*>(buf) : g_out, row.length);
    return o;
}

/* The one callback a row expects: "" if it came, else what came. */
std::string outcome(const Recorder& rec, size_t op, const IoRow& row, Kind kind, const Observed& o) {
    const int action = kind == Kind::recv ? COMPLETION_PORT_EPOLL_EPOLLIN : COMPLETION_PORT_EPOLL_EPOLLOUT;
    const long amount = row.amount == kMoved ? o.moved : row.amount;
    if (row.result != kOkOrError) return cpk::one_callback(rec, op, action, row.result, amount);
    std::string as_error = cpk::one_callback(rec, op, action, ERR, kAny);
    std::string as_ok = cpk::one_callback(rec, op, action, OK, row.length);
    return as_error.empty() || as_ok.empty() ? "" : as_error;
}

/* The bytes a completed op left: recv, in its buffer; send, on the wire. */
void check_bytes(const IoRow& row, Kind kind, Level level, const Recorder& rec, size_t op, const unsigned char* buf,
                 cpk::SocketPair& sp, Observed& o) {
    std::vector<cpk::CallbackRecord> v = rec.for_op(op);
    if (v.size() != 1) return;
    const size_t n = v[0].amount > 0 ? static_cast<size_t>(v[0].amount) : 0;
    if (kind == Kind::recv) {
        if (level != Level::normative || n > row.length) return;
        size_t bad = cpk::check_pattern(buf, n);
        size_t past = n;
        while (past < kRecvSlot && buf[past] == kUntouched) ++past;
        INFO("buffer: first differing byte " << bad << " of " << n << "; first written byte past the amount "
                                             << (past < kRecvSlot ? std::to_string(past) : "none"));
        CPK_CHECK("CPL_RECV_006", (bad == n && past == kRecvSlot));
        return;
    }
    if (v[0].result == OK && row.mid != Mid::close && row.mid != Mid::rst) {
        /* The peer read the whole buffer (a long one while the row ran, a short
         * one now); nothing else followed. */
        if (!o.wire_read) o.peer_read_ok = cpk::read_exact(sp.b, g_got, row.length, cpk::kWaitMs, &o.peer_read);
        INFO("peer read " << o.peer_read << " of " << row.length << " bytes; pattern differs at "
                          << cpk::check_pattern(g_got, o.peer_read) << "; bytes after: " << cpk::readable_bytes(sp.b));
        const char* wire = level == Level::normative ? "CPL_SEND_001" : row.req;
        if (level == Level::normative || row.req != std::string("CPL_EVENT_002"))
            CPK_CHECK(wire, (o.peer_read_ok && cpk::check_pattern(g_got, o.peer_read) == o.peer_read &&
                             cpk::readable_bytes(sp.b) == 0));
        return;
    }
    if (level == Level::recommended && row.req == std::string("CPL_EVENT_002") && !row.tcp && row.mid == Mid::none) {
        /* What the peer can read is what was moved: the amount, in order. */
        const int waiting = cpk::readable_bytes(sp.b);
        size_t got = 0;
        bool read = waiting >= 0 && cpk::read_exact(sp.b, g_got, static_cast<size_t>(waiting), cpk::kWaitMs, &got);
        INFO("the peer can read " << waiting << " bytes; the op reported " << n);
        CPK_CHECK("CPL_EVENT_002", (read && got == n && cpk::check_pattern(g_got, got) == got));
    }
}

void run_table(const IoRow* rows, size_t count, Kind kind, Level level) {
    cpk::Guard guard;
    CPK_KIT_REQUIRE(count <= kMaxRows);
    if (kind == Kind::send) {
        INFO("the table needs the default SIGPIPE disposition, unblocked");
        CPK_KIT_REQUIRE(cpk::sigpipe_at_default());
        cpk::fill_pattern(g_out, kBig);
    }
    Recorder& rec = cpk::persistent_recorder(kMaxRows + 4);
    std::vector<cpk::SocketPair> sps(count);
    std::vector<Observed> seen(count);
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        /* A first op warms up whatever the port allocates once. */
        CPK_REQUIRE("CPL_ADD_007", cpk::completes_a_recv(p.handle, rec, 0));
        const uint64_t bad_before = cpk::bad_context_callbacks();
        int wait_ms = cpk::kWaitMs;
        for (size_t i = 0; i < count; ++i) {
            INFO("row " << i << ": " << rows[i].name);
            cpk::RunningScope running(rows[i].req, rows[i].name); /* a crash here is this row's */
            seen[i] = run_row(rows[i], kind, p.handle, rec, i + 1, g_recv_bufs[i], sps[i], wait_ms);
            /* One op that never completes costs the table one full wait, not one per row. */
            if (seen[i].added && !seen[i].completed) wait_ms = kAfterTimeoutMs;
        }
        /* Late or repeated callbacks of any row have had their chance. */
        /* The sentinel op completing shows the worker went past every row. */
        CPK_CHECK("CPL_ADD_007", cpk::sentinel(p.handle, rec, count + 1, cpk::kQuietMs));
        const char* done_req = kind == Kind::recv ? "CPL_RECV_007" : "CPL_SEND_005";
        for (size_t i = 0; i < count; ++i) {
            const IoRow& row = rows[i];
            Observed& o = seen[i];
            if (!o.added) continue;
            INFO("row " << i << ": " << row.name);
            INFO("its " << (kind == Kind::recv ? "recv" : "send") << " calls:\n" << o.calls);
            if (row.mid != Mid::none) {
                INFO("no send call met a full socket: the row could not set up its case");
                CPK_KIT_REQUIRE(o.saw_full);
            }
            /* An op that stopped after a short call, before the call the row
             * scripts as its end, broke the continuation, not that end. */
            const char* cont = kind == Kind::recv ? "CPL_RECV_005" : "CPL_SEND_001";
            if (o.stopped_short && row.mid == Mid::none) {
                INFO("the op completed after a short call, " << o.moved << " of " << row.length
                                                             << " bytes moved, without another call");
                if (level == Level::normative) CPK_CHECK(cont, !o.stopped_short);
            } else if (o.ended_at_eagain && level == Level::normative) {
                /* What follows an EAGAIN is CPL_SEND_006's (recommended table). */
            } else {
                CPK_CHECK(row.req, outcome(rec, i + 1, row, kind, o) == "");
                check_bytes(row, kind, level, rec, i + 1, g_recv_bufs[i], sps[i], o);
            }
            if (level == Level::normative) {
                if (row.cap || row.fail[0].nth) CPK_CHECK(cont, o.continuity_before_eagain == "");
                INFO(o.live_after << " allocations made since the add still live after the completion");
                CPK_CHECK(done_req, o.freed);
                CPK_CHECK(done_req, rec.calls(i + 1) <= 1);
            }
            if (level == Level::recommended && row.req == std::string("CPL_SEND_006"))
                CPK_CHECK(row.req, o.continuity == "");
            if (level == Level::recommended && row.req == std::string("CPL_SEND_006"))
                CPK_CHECK(row.req, o.continuity == "");
            if (row.mid == Mid::idle) {
                INFO("send calls while the peer read nothing for " << cpk::kQuietMs << " ms: " << o.idle_sends);
                CPK_CHECK("CPL_SEND_006", o.idle_sends <= 4);
            }
        }
        if (level == Level::normative) CPK_CHECK("CPL_WORKER_005", cpk::bad_context_callbacks() == bad_before);
        CPK_RELEASE(p.handle);
    }
    sps.clear();
    CPK_GUARD_END(guard);
}

} // namespace

TEST_CASE("matrix: recv outcomes at the first call and after partial progress",
          "[CPL_RECV_002][CPL_RECV_003][CPL_RECV_004][CPL_RECV_005][CPL_RECV_006][CPL_RECV_007][CPL_WORKER_005]") {
    run_table(kRecvRows, std::size(kRecvRows), Kind::recv, Level::normative);
}

TEST_CASE("matrix: recv EINTR and other errnos and amounts after partial progress - recommended",
          "[CPL_RECV_008][CPL_RECV_009][CPL_EVENT_002]") {
    run_table(kRecvRecommendedRows, std::size(kRecvRecommendedRows), Kind::recv, Level::recommended);
}

TEST_CASE("matrix: send outcomes at the first call and after partial progress or a resume",
          "[CPL_SEND_001][CPL_SEND_002][CPL_SEND_003][CPL_SEND_004][CPL_SEND_005][CPL_WORKER_005]") {
    run_table(kSendRows, std::size(kSendRows), Kind::send, Level::normative);
}

TEST_CASE("matrix: send EINTR and suspension and amounts after partial progress - recommended",
          "[CPL_SEND_006][CPL_SEND_007][CPL_EVENT_002]") {
    run_table(kSendRecommendedRows, std::size(kSendRecommendedRows), Kind::send, Level::recommended);
}
