/* The epoll_op matrix: every event mask a caller passes (EPOLLIN, EPOLLOUT,
 * EPOLLRDHUP, EPOLLIN|EPOLLRDHUP, EPOLLOUT|EPOLLRDHUP, each with and without
 * EPOLLONESHOT and EPOLLET), registered, completed, re-armed after the
 * completion and after a remove; and (recommended) two ops on one socket, the
 * registration after each kind of completion still serving the op that is
 * still pending (seen in epoll_ctl records and /proc/self/fdinfo).
 *
 * Rows run in lock step (every row's phase 1, then every row's phase 2, ...),
 * each on its own socket of one port, so a table waits once per phase. */
#include "cpk_catch.h"
#include "harness.h"
#include "rows.h"

#include <string>
#include <vector>

namespace {

using cpk::Recorder;

const uint32_t kBases[] = {EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLIN | EPOLLRDHUP, EPOLLOUT | EPOLLRDHUP};
const uint32_t kFlags[] = {0, EPOLLONESHOT, EPOLLET, EPOLLONESHOT | EPOLLET};
constexpr size_t kCombos = 20;
constexpr uint32_t kChunk = 4; /* every op's buffer */

/* One row: a mask, built from the two lists above (the table is their product). */
struct MaskRow {
    uint32_t mask;
    std::string name;
    int action; /* the completion the mask gets on its socket */
    int result;
    long amount;
    const char* req; /* the requirement of that completion */
};

std::vector<MaskRow> mask_rows() {
    std::vector<MaskRow> rows;
    for (uint32_t base : kBases)
        for (uint32_t flags : kFlags) {
            MaskRow r;
            r.mask = base | flags;
            r.name = cpk::events_name(r.mask);
            if (base & EPOLLIN) {
                r.action = COMPLETION_PORT_EPOLL_EPOLLIN;
                r.result = COMPLETION_PORT_RESULT_OK;
                r.amount = kChunk;
                r.req = "CPL_RECV_005";
            } else if (base & EPOLLOUT) {
                r.action = COMPLETION_PORT_EPOLL_EPOLLOUT;
                r.result = COMPLETION_PORT_RESULT_OK;
                r.amount = kChunk;
                r.req = "CPL_SEND_001";
            } else {
                r.action = COMPLETION_PORT_EPOLL_EPOLLRDHUP;
                r.result = COMPLETION_PORT_RESULT_ABANDONED;
                r.amount = cpk::kAnyAmount;
                r.req = "CPL_RDHUP_001";
            }
            rows.push_back(r);
        }
    return rows;
}

char g_bufs[64][8][kChunk];
unsigned char g_out[kChunk] = {'o', 'u', 't', '!'};

/* The epoll_ctl calls the test thread made on `fd` from record index `from` on. */
std::vector<cpk::CallRecord> own_ctls(int fd, pid_t me, size_t* from) {
    std::vector<cpk::CallRecord> all = cpk::epoll_ctl_records(fd), mine;
    for (size_t i = *from; i < all.size(); ++i)
        if (all[i].tid == me) mine.push_back(all[i]);
    *from = all.size();
    return mine;
}

/* "" if the add's calls are EPOLL_CTL_MOD with `mask` (EPOLLONESHOT may be
 * added) and, when that failed with ENOENT, EPOLL_CTL_ADD with the same events. */
std::string first_registration(const std::vector<cpk::CallRecord>& ctls, uint32_t mask, const char** req) {
    *req = "CPL_ADD_005";
    if (ctls.empty()) return "no epoll_ctl call";
    const cpk::CallRecord& m = ctls[0];
    if (m.op != EPOLL_CTL_MOD || (m.events != mask && m.events != (mask | EPOLLONESHOT)))
        return "first call: " + cpk::describe(m);
    if (m.result == 0) return "";
    *req = "CPL_ADD_006";
    if (m.err != ENOENT) return "";
    if (ctls.size() < 2 || ctls[1].op != EPOLL_CTL_ADD || ctls[1].events != m.events)
        return "after MOD failed with ENOENT: " + (ctls.size() < 2 ? std::string("nothing") : cpk::describe(ctls[1]));
    return "";
}

/* ---- two ops on one socket (recommended) ---------------------------------- */

struct DuplexRow {
    const char* name;
    uint32_t pending;   /* X: added first, stays pending */
    uint32_t completes; /* Y: completes at once, then is re-armed */
};

const DuplexRow kDuplex[] = {
    {"recv pending, send completes", EPOLLIN, EPOLLOUT},
    {"recv with hang-up pending, send completes", EPOLLIN | EPOLLRDHUP, EPOLLOUT},
    {"recv pending, send with hang-up completes", EPOLLIN, EPOLLOUT | EPOLLRDHUP},
    {"send pending on a full socket, recv completes", EPOLLOUT, EPOLLIN},
    {"hang-up watcher pending, recv completes", EPOLLRDHUP, EPOLLIN},
    {"hang-up watcher pending, send completes", EPOLLRDHUP, EPOLLOUT},
};

int action_of(uint32_t mask) {
    if (mask & EPOLLIN) return COMPLETION_PORT_EPOLL_EPOLLIN;
    if (mask & EPOLLOUT) return COMPLETION_PORT_EPOLL_EPOLLOUT;
    return COMPLETION_PORT_EPOLL_EPOLLRDHUP;
}

COMPLETION_PORT_INGRESS_DATA op_for(Recorder& rec, size_t op, uint32_t mask, int fd, char* buf) {
    if (mask & EPOLLIN) return rec.ingress(op, static_cast<int>(mask), fd, buf, kChunk);
    if (mask & EPOLLOUT) return rec.ingress(op, static_cast<int>(mask), fd, g_out, kChunk);
    return rec.ingress(op, static_cast<int>(mask), fd);
}

std::string expect_one(const Recorder& rec, size_t op, uint32_t mask) {
    int action = action_of(mask);
    if (action == COMPLETION_PORT_EPOLL_EPOLLRDHUP)
        return cpk::one_callback(rec, op, action, COMPLETION_PORT_RESULT_ABANDONED, cpk::kAnyAmount);
    return cpk::one_callback(rec, op, action, COMPLETION_PORT_RESULT_OK, kChunk);
}

/* An add while another op is pending on the socket: refusing it is a
 * failure of full duplex (CPL_ADD_016), not of add itself. */
bool second_add(COMPLETION_PORT_HANDLE port, const COMPLETION_PORT_INGRESS_DATA* in) {
    int rc = completion_port_add(port, in);
    INFO("an add while another op is pending on the socket returned " << rc);
    CPK_CHECK("CPL_ADD_016", rc == 0);
    return rc == 0;
}

/* The kernel's view: the socket is armed for the bits `mask` needs. */
bool armed_for(int epfd, int fd, uint32_t mask) {
    uint32_t need = mask & (EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    uint32_t ev = 0;
    return cpk::epoll_registered(epfd, fd, &ev) && (ev & need) == need;
}

} // namespace

TEST_CASE(
    "matrix: every epoll_op mask is registered and completed and re-armed after a completion or a remove",
    "[CPL_ADD_005][CPL_ADD_006][CPL_ADD_009][CPL_ADD_010][CPL_REMOVE_003][CPL_RECV_005][CPL_SEND_001][CPL_RDHUP_001]") {
    cpk::Guard guard;
    const std::vector<MaskRow> rows = mask_rows();
    const size_t n = rows.size();
    CPK_KIT_REQUIRE(n == kCombos);
    constexpr size_t kOps = 4; /* first add, re-arm after the completion, add after a remove, spare */
    Recorder& rec = cpk::persistent_recorder(n * kOps + 2);
    std::vector<cpk::SocketPair> sp(n);
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        const pid_t me = cpk::current_tid();
        std::vector<size_t> seen(n, 0);
        std::vector<bool> ok(n, true);
        for (size_t i = 0; i < n; ++i) {
            sp[i] = cpk::unix_pair();
            CPK_KIT_REQUIRE(sp[i].ok());
            /* Every completion's condition holds before the add, and still after
             * three completions: a level-triggered re-fire would find it. */
            if (rows[i].mask & EPOLLIN)
                CPK_KIT_REQUIRE(cpk::send_pattern(sp[i].b, 4 * kChunk));
            else if (!(rows[i].mask & EPOLLOUT))
                CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[i].b));
        }
        cpk::record_start();
        /* Each step: one op per row, then every row's completion. */
        for (size_t step = 0; step < 3; ++step) {
            for (size_t i = 0; i < n; ++i) {
                if (!ok[i]) continue;
                INFO("row " << i << ": " << rows[i].name << ", step " << step);
                if (step == 2) completion_port_remove(p.handle, sp[i].a);
                if (step > 0) own_ctls(sp[i].a, me, &seen[i]); /* skip what came before this add */
                COMPLETION_PORT_INGRESS_DATA in = op_for(rec, i * kOps + step, rows[i].mask, sp[i].a, g_bufs[i][step]);
                ok[i] = cpk::row_add(p.handle, &in);
                if (step != 1) {
                    const char* req = nullptr;
                    std::vector<cpk::CallRecord> ctls = own_ctls(sp[i].a, me, &seen[i]);
                    std::string why = first_registration(ctls, rows[i].mask, &req);
                    INFO(why);
                    CPK_CHECK(req, why == "");
                    /* remove deleted the registration, so this add's MOD found none. */
                    if (step == 2 && !ctls.empty() && ctls[0].op == EPOLL_CTL_MOD) {
                        INFO("the add after the remove: " << cpk::describe(ctls[0]));
                        CPK_CHECK("CPL_REMOVE_003", (ctls[0].result < 0 && ctls[0].err == ENOENT));
                    }
                }
            }
            std::vector<size_t> ops;
            for (size_t i = 0; i < n; ++i)
                if (ok[i]) ops.push_back(i * kOps + step);
            int64_t deadline = cpk::mono_ns() + cpk::ms_to_ns(cpk::kWaitMs);
            for (size_t op : ops) {
                int64_t left = (deadline - cpk::mono_ns()) / 1000000;
                rec.wait_op_finished(op, left > 0 ? static_cast<int>(left) : 0);
            }
            for (size_t i = 0; i < n; ++i) {
                if (!ok[i]) continue;
                INFO("row " << i << ": " << rows[i].name << ", step " << step);
                const size_t op = i * kOps + step;
                const char* req = step == 0 ? rows[i].req : "CPL_ADD_009";
                CPK_CHECK(req, cpk::one_callback(rec, op, rows[i].action, rows[i].result, rows[i].amount) == "");
            }
        }
        cpk::record_stop();
        /* The sentinel op completing shows the worker went past every row. */
        CPK_CHECK("CPL_ADD_007", cpk::sentinel(p.handle, rec, n * kOps, cpk::kQuietMs));
        for (size_t i = 0; i < n; ++i) {
            INFO("row " << i << ": " << rows[i].name);
            std::string twice;
            for (size_t k = 0; k < 3; ++k)
                if (rec.calls(i * kOps + k) > 1)
                    twice +=
                        "op " + std::to_string(k) + ": " + std::to_string(rec.calls(i * kOps + k)) + " callbacks\n";
            INFO(twice);
            CPK_CHECK("CPL_ADD_010", twice == "");
        }
        CPK_RELEASE(p.handle);
    }
    sp.clear();
    CPK_GUARD_END(guard);
}

TEST_CASE("matrix: two ops on one socket under every flag stay served after each completion - recommended",
          "[CPL_ADD_016]") {
    cpk::Guard guard;
    struct Row {
        const DuplexRow* d;
        uint32_t flags;
        std::string name;
    };
    std::vector<Row> rows;
    for (const DuplexRow& d : kDuplex)
        for (uint32_t f : kFlags)
            rows.push_back(
                {&d, f, std::string(d.name) + " (" + (f ? cpk::events_name(f) : std::string("level-triggered")) + ")"});
    const size_t n = rows.size();
    enum : size_t { kX = 0, kY1 = 1, kY2 = 2, kX2 = 3, kOps = 4 };
    Recorder& rec = cpk::persistent_recorder(n * kOps + 2);
    std::vector<cpk::SocketPair> sp(n);
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        CPK_KIT_REQUIRE(p.epfd >= 0);
        std::vector<bool> ok(n, true);
        auto wait_step = [&](size_t k) {
            int64_t deadline = cpk::mono_ns() + cpk::ms_to_ns(cpk::kWaitMs);
            for (size_t i = 0; i < n; ++i) {
                int64_t left = (deadline - cpk::mono_ns()) / 1000000;
                if (ok[i]) rec.wait_op_finished(i * kOps + k, left > 0 ? static_cast<int>(left) : 0);
            }
        };
        auto check_step = [&](size_t k, const char* what) {
            for (size_t i = 0; i < n; ++i) {
                if (!ok[i]) continue;
                INFO("row " << i << ": " << rows[i].name << ": " << what);
                uint32_t mask = (k == kX || k == kX2 ? rows[i].d->pending : rows[i].d->completes) | rows[i].flags;
                CPK_CHECK("CPL_ADD_016", expect_one(rec, i * kOps + k, mask) == "");
            }
        };
        /* The pending op's bits stay armed: every row, within one bound. */
        auto check_armed = [&](const char* when) {
            std::vector<bool> armed(n, false);
            cpk::eventually(
                [&] {
                    bool all = true;
                    for (size_t i = 0; i < n; ++i) {
                        if (!armed[i]) armed[i] = armed_for(p.epfd, sp[i].a, rows[i].d->pending);
                        all = all && (armed[i] || !ok[i]);
                    }
                    return all;
                },
                1000);
            for (size_t i = 0; i < n; ++i) {
                if (!ok[i]) continue;
                uint32_t ev = 0;
                bool reg = cpk::epoll_registered(p.epfd, sp[i].a, &ev);
                INFO("row " << i << ": " << rows[i].name << ": " << when << ": the registration holds "
                            << (reg ? cpk::events_name(ev) : std::string("nothing")) << ", the pending op needs "
                            << cpk::events_name(rows[i].d->pending));
                CPK_CHECK("CPL_ADD_016", armed[i]);
            }
        };
        for (size_t i = 0; i < n; ++i) {
            INFO("row " << i << ": " << rows[i].name);
            sp[i] = cpk::unix_pair();
            CPK_KIT_REQUIRE(sp[i].ok());
            const uint32_t x = rows[i].d->pending | rows[i].flags, y = rows[i].d->completes | rows[i].flags;
            if (x & EPOLLOUT) CPK_KIT_REQUIRE(cpk::fill_send_buffer(sp[i].a) > 0);
            if (y & EPOLLIN) CPK_KIT_REQUIRE(cpk::send_pattern(sp[i].b, 2 * kChunk));
            COMPLETION_PORT_INGRESS_DATA xin = op_for(rec, i * kOps + kX, x, sp[i].a, g_bufs[i][kX]);
            COMPLETION_PORT_INGRESS_DATA yin = op_for(rec, i * kOps + kY1, y, sp[i].a, g_bufs[i][kY1]);
            ok[i] = cpk::row_add(p.handle, &xin) && second_add(p.handle, &yin);
        }
        wait_step(kY1);
        check_step(kY1, "the op added second completes");
        check_armed("after the second op completed");
        for (size_t i = 0; i < n; ++i) {
            if (!ok[i]) continue;
            INFO("row " << i << ": " << rows[i].name);
            COMPLETION_PORT_INGRESS_DATA yin =
                op_for(rec, i * kOps + kY2, rows[i].d->completes | rows[i].flags, sp[i].a, g_bufs[i][kY2]);
            ok[i] = second_add(p.handle, &yin);
        }
        wait_step(kY2);
        check_step(kY2, "the second op re-armed after its completion completes again");
        check_armed("after the re-armed op completed");
        /* Now the pending op's event, then a re-arm of that one too. */
        for (size_t i = 0; i < n; ++i) {
            if (!ok[i]) continue;
            const uint32_t x = rows[i].d->pending;
            if (x & EPOLLIN)
                CPK_KIT_REQUIRE(cpk::send_pattern(sp[i].b, 2 * kChunk));
            else if (x & EPOLLOUT)
                cpk::drain(sp[i].b);
            else
                CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[i].b));
        }
        wait_step(kX);
        check_step(kX, "the op pending since the start completes on its event");
        for (size_t i = 0; i < n; ++i) {
            if (!ok[i]) continue;
            INFO("row " << i << ": " << rows[i].name);
            COMPLETION_PORT_INGRESS_DATA xin =
                op_for(rec, i * kOps + kX2, rows[i].d->pending | rows[i].flags, sp[i].a, g_bufs[i][kX2]);
            ok[i] = cpk::row_add(p.handle, &xin);
        }
        wait_step(kX2);
        check_step(kX2, "the first op re-armed after its completion completes again");
        /* The sentinel op completing shows the worker went past every row. */
        CPK_CHECK("CPL_ADD_007", cpk::sentinel(p.handle, rec, n * kOps, cpk::kQuietMs));
        for (size_t i = 0; i < n; ++i) {
            INFO("row " << i << ": " << rows[i].name);
            for (size_t k = 0; k < kOps; ++k) CPK_CHECK("CPL_ADD_016", rec.calls(i * kOps + k) <= 1);
        }
        CPK_RELEASE(p.handle);
    }
    sp.clear();
    CPK_GUARD_END(guard);
}
