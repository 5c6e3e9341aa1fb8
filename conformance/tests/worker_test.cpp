/* Spec section 7: epoll_worker_func, the loop (CPL_WORKER_002..005).
 * CPL_WORKER_001 (NULL parameter) is internal: the entry point is static.
 * Wrong implementations each test catches are named in its comment. */
#include "cpk_catch.h"

#include "harness.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

using cpk::Recorder;

/* A recv op on a fresh socket pair, made readable now; true if it completed
 * in time. Used to prove the worker keeps serving the port; the caller checks
 * the result against its own requirement. */
bool recv_op_completes(COMPLETION_PORT_HANDLE h, Recorder& rec, size_t idx) {
    static char buf[8];
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(idx, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_REQUIRE_ADD(h, &in);
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "w", 1));
    return rec.wait_op(idx, cpk::kWaitMs);
}

/* Injects `f` (an epoll_wait fault for the worker) before create, checks it
 * fired `times` times, then that the worker is alive and still serves ops. */
void check_worker_survives(cpk::Fault f, unsigned times) {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    f.fn = cpk::Fn::epoll_any_wait;
    f.times = times;
    f.scope = cpk::Scope::others; /* only the worker calls epoll_wait here */
    int id = cpk::inject(f);
    CPK_KIT_REQUIRE(id >= 0);
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    CPK_REQUIRE("CPL_CREATE_003", p.worker != 0);
    INFO("the worker must call epoll_wait again after each of the " << times << " injected results");
    CPK_CHECK("CPL_WORKER_003", cpk::eventually([&] { return cpk::fault_fired(id) >= times; }, cpk::kWaitMs));
    INFO("injected results the worker got: " << cpk::fault_fired(id));
    CPK_CHECK("CPL_WORKER_003", cpk::thread_alive(p.worker));
    CPK_CHECK("CPL_WORKER_003", recv_op_completes(p.handle, rec, 0));
    CPK_CHECK("CPL_WORKER_003", cpk::thread_alive(p.worker));
    CPK_RELEASE(p.handle);
    CPK_GUARD_END(guard);
}

} // namespace

/* Catches: epoll_wait(-1), a polling timeout (0, 100 ms, ...), "2" taken as ms. */
TEST_CASE("worker: every epoll_wait on the port epoll fd has a 2000 ms timeout", "[CPL_WORKER_002]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::record_start(); /* before create: the worker's first wait is recorded too */
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    CPK_REQUIRE("CPL_CREATE_002", p.epfd >= 0);
    /* Two completions (1 byte into 8: EAGAIN ends each), each after a wait
     * that returned, so >= 2 waits are recorded. */
    for (size_t i = 0; i < 2; ++i) CPK_REQUIRE("CPL_RECV_002", recv_op_completes(p.handle, rec, i));
    CPK_RELEASE(p.handle);
    cpk::record_stop();

    std::vector<cpk::CallRecord> waits = cpk::records(cpk::Fn::epoll_any_wait, p.epfd);
    std::string all, bad;
    for (const cpk::CallRecord& w : waits) {
        all += cpk::describe(w) + "\n";
        if (w.timeout != 2000) bad += cpk::describe(w) + "\n";
    }
    INFO("epoll waits on the port's epoll fd:\n" << all);
    CPK_CHECK("CPL_WORKER_002", waits.size() >= 2);
    CPK_CHECK("CPL_WORKER_002", bad == "");
    CPK_GUARD_END(guard);
}

/* Catches: a loop `while ((n = epoll_wait(...)) > 0)` that ends the worker on a timeout. */
TEST_CASE("worker: epoll_wait returning 0 does not end the worker", "[CPL_WORKER_003]") {
    cpk::Fault f;
    f.kind = cpk::FaultKind::zero;
    check_worker_survives(f, 3);
}

/* Catches: a worker that treats any epoll_wait failure, EINTR included, as fatal. */
TEST_CASE("worker: epoll_wait failing with EINTR does not end the worker", "[CPL_WORKER_003]") {
    cpk::Fault f;
    f.kind = cpk::FaultKind::fail;
    f.err = EINTR;
    check_worker_survives(f, 3);
}

/* The same with a real timeout (no injection), about 2 s into the port's life.
 * Catches: a worker that leaves its loop when epoll_wait times out. */
TEST_CASE("worker: a real epoll_wait timeout does not end the worker", "[CPL_WORKER_003]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::record_start();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    CPK_REQUIRE("CPL_CREATE_002", p.epfd >= 0);
    CPK_REQUIRE("CPL_CREATE_003", p.worker != 0);
    auto timed_out = [&] {
        for (size_t i = 0; i < cpk::record_count(); ++i) {
            cpk::CallRecord r = cpk::record_at(i);
            if ((r.fn == cpk::Fn::epoll_wait || r.fn == cpk::Fn::epoll_pwait) && r.fd == p.epfd && r.result == 0 &&
                !r.injected)
                return true;
        }
        return false;
    };
    bool saw_timeout = cpk::eventually(timed_out, 2000 + cpk::kWaitMs);
    if (!saw_timeout) {
        /* No timeout in 7 s: the timeout itself is CPL_WORKER_002's business. */
        WARN("the worker's epoll_wait never timed out; nothing to check here");
    } else {
        CPK_CHECK("CPL_WORKER_003", cpk::thread_alive(p.worker));
        CPK_CHECK("CPL_WORKER_003", recv_op_completes(p.handle, rec, 0));
    }
    CPK_RELEASE(p.handle);
    CPK_GUARD_END(guard);
}

/* Catches: completing an op synchronously inside add when the socket is
 * already ready (callback on the caller's thread); dispatching callbacks to
 * another thread (a pool, a thread per event). */
TEST_CASE("worker: event-driven callbacks run on the worker thread", "[CPL_WORKER_004]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    CPK_REQUIRE("CPL_CREATE_003", p.worker != 0);
    const pid_t me = cpk::current_tid();
    CPK_KIT_REQUIRE(p.worker != me);

    constexpr size_t kOps = 7;
    static char bufs[kOps][16];
    static const char data[] = "0123456789";
    cpk::SocketPair sp[kOps];
    for (size_t i = 0; i < kOps; ++i) {
        sp[i] = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp[i].ok());
    }
    /* ops 0, 1: recv, data already there at add; op 2: recv, data after add */
    CPK_KIT_REQUIRE(cpk::write_all(sp[0].b, data, 3));
    CPK_KIT_REQUIRE(cpk::write_all(sp[1].b, data, 4));
    /* op 5: hang-up already there at add; op 6: hang-up after add */
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[5].b));
    COMPLETION_PORT_INGRESS_DATA in[kOps] = {
        rec.ingress(0, EPOLLIN, sp[0].a, bufs[0], 3),
        rec.ingress(1, EPOLLIN, sp[1].a, bufs[1], 4),
        rec.ingress(2, EPOLLIN, sp[2].a, bufs[2], 5),
        /* ops 3, 4: send, writable at add */
        rec.ingress(3, EPOLLOUT, sp[3].a, const_cast<char*>(data), 6),
        rec.ingress(4, EPOLLOUT, sp[4].a, const_cast<char*>(data), 7),
        rec.ingress(5, EPOLLRDHUP, sp[5].a),
        rec.ingress(6, EPOLLRDHUP, sp[6].a),
    };
    /* what promises each op its completion: a full buffer, a whole send, a hang-up */
    const char* const completes[kOps] = {"CPL_RECV_005", "CPL_RECV_005",  "CPL_RECV_005", "CPL_SEND_001",
                                         "CPL_SEND_001", "CPL_RDHUP_001", "CPL_RDHUP_001"};
    for (size_t i = 0; i < kOps; ++i) CPK_REQUIRE_ADD(p.handle, &in[i]);
    CPK_KIT_REQUIRE(cpk::write_all(sp[2].b, data, 5));
    CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[6].b));
    for (size_t i = 0; i < kOps; ++i) {
        INFO("op " << i << " did not complete; callbacks so far:\n" << rec.dump());
        CPK_REQUIRE(completes[i], rec.wait_op(i, cpk::kWaitMs));
    }

    std::string bad;
    for (const cpk::CallbackRecord& r : rec.all())
        if (r.tid != p.worker) bad += cpk::describe(r) + "\n";
    INFO("worker tid " << p.worker << ", test thread tid " << me << "\n" << rec.dump());
    CPK_CHECK("CPL_WORKER_004", bad == "");
    CPK_RELEASE(p.handle);
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* Every op is made ready before the first callback returns, and the first
 * callback waits (bounded) for a second one to start: a second thread running
 * callbacks is seen in every run, a single worker only delays the test once.
 * Catches: callbacks run by several threads (a pool, one thread per event). */
TEST_CASE("worker: callbacks of one port never overlap", "[CPL_WORKER_004]") {
    cpk::Guard guard;
    constexpr size_t kOps = 8;
    constexpr int kOverlapWindowMs = 1000;
    Recorder& rec = cpk::persistent_recorder();
    for (size_t i = 0; i < kOps; ++i)
        rec.op(i).hook = [&rec](cpk::Op&, const cpk::CallbackRecord& r) {
            if (r.seq == 0) rec.wait_count(2, kOverlapWindowMs);
        };
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);
    static char bufs[kOps][4];
    cpk::SocketPair sp[kOps];
    for (size_t i = 0; i < kOps; ++i) {
        sp[i] = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp[i].ok());
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(i, EPOLLIN, sp[i].a, bufs[i], sizeof bufs[i]);
        CPK_REQUIRE_ADD(p.handle, &in);
    }
    for (size_t i = 0; i < kOps; ++i) CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, "abcd", 4));
    /* 4 bytes into each 4-byte buffer: each op completes when its buffer is full */
    CPK_REQUIRE("CPL_RECV_005", cpk::wait_all_ops(rec, 0, kOps, kOverlapWindowMs + cpk::kWaitMs));
    CPK_REQUIRE("CPL_RECV_005", rec.wait_finished(kOps, cpk::kWaitMs));
    INFO(rec.dump());
    CPK_CHECK_FALSE("CPL_WORKER_004", rec.any_overlap());
    CPK_RELEASE(p.handle);
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

namespace {

/* A second callback function: records that it was the one called, then
 * forwards to the recorder (which checks the context). */
constexpr size_t kCtxOps = 8;
Recorder* g_ctx_rec = nullptr;
std::atomic<int> g_alt_calls[kCtxOps];

void alt_callback(void* ctx, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t amount) {
    for (size_t i = 0; i < kCtxOps; ++i)
        if (g_ctx_rec && ctx == &g_ctx_rec->op(i)) g_alt_calls[i].fetch_add(1);
    Recorder::callback(ctx, action, result, amount);
}

} // namespace

/* Six live ops on distinct sockets, two callback functions; the sockets are
 * made ready one at a time, so the next callback must be that op's. Catches:
 * the ingress or an internal pointer passed as context, another op's context
 * or callback (a mixed-up socket table, "the last added op"). Closing
 * completions, if the implementation makes them, are checked too. */
TEST_CASE("worker: each callback is the op own callback with its own context", "[CPL_WORKER_005]") {
    cpk::Guard guard;
    Recorder& rec = cpk::persistent_recorder();
    g_ctx_rec = &rec;
    for (auto& c : g_alt_calls) c.store(0);
    const uint64_t bad_before = cpk::bad_context_callbacks();
    cpk::PortInfo p = cpk::create_port();
    CPK_REQUIRE_PORT(p);

    static char bufs[kCtxOps][8];
    static char out[8] = "payload";
    cpk::SocketPair sp[kCtxOps];
    for (auto& s : sp) {
        s = cpk::unix_pair();
        CPK_KIT_REQUIRE(s.ok());
    }
    /* alt_callback for odd ops. 0, 1: recv; 2, 3: send; 4, 5: hang-up;
     * 6, 7: never ready (6 removed, 7 left to the final dec_ref). */
    COMPLETION_PORT_INGRESS_DATA in[kCtxOps] = {
        rec.ingress(0, EPOLLIN, sp[0].a, bufs[0], sizeof bufs[0]),
        rec.ingress(1, EPOLLIN, sp[1].a, bufs[1], sizeof bufs[1]),
        rec.ingress(2, EPOLLOUT, sp[2].a, out, sizeof out),
        rec.ingress(3, EPOLLOUT, sp[3].a, out, sizeof out),
        rec.ingress(4, EPOLLRDHUP, sp[4].a),
        rec.ingress(5, EPOLLRDHUP, sp[5].a),
        rec.ingress(6, EPOLLIN, sp[6].a, bufs[6], sizeof bufs[6]),
        rec.ingress(7, EPOLLIN, sp[7].a, bufs[7], sizeof bufs[7]),
    };
    for (size_t i = 1; i < kCtxOps; i += 2) in[i].event_callback = &alt_callback;
    for (size_t i : {0, 1, 4, 5, 6, 7}) CPK_REQUIRE_ADD(p.handle, &in[i]);

    /* What promises op i its completion (2 bytes into 8: EAGAIN; a whole send;
     * a hang-up), and what forbids any later callback of it. */
    const char* const completes[kCtxOps] = {"CPL_RECV_002",  "CPL_RECV_002",  "CPL_SEND_001", "CPL_SEND_001",
                                            "CPL_RDHUP_001", "CPL_RDHUP_001", nullptr,        nullptr};
    const char* const released[kCtxOps] = {"CPL_RECV_007",  "CPL_RECV_007",  "CPL_SEND_005", "CPL_SEND_005",
                                           "CPL_RDHUP_003", "CPL_RDHUP_003", nullptr,        nullptr};
    /* Op i's socket becomes ready (a send op: is added), then callback number n must be op i's. */
    const size_t order[] = {0, 4, 1, 5, 2, 3};
    size_t n = 0;
    for (size_t i : order) {
        if (i == 0 || i == 1) CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, "in", 2));
        if (i == 2 || i == 3) CPK_REQUIRE_ADD(p.handle, &in[i]);
        if (i == 4 || i == 5) CPK_KIT_REQUIRE(cpk::shutdown_wr(sp[i].b));
        {
            /* a callback with a context that is no op is counted, not recorded */
            const bool came = cpk::eventually(
                [&] { return rec.count() > n || cpk::bad_context_callbacks() != bad_before; }, cpk::kWaitMs);
            INFO("op " << i << " made ready; callbacks so far:\n" << rec.dump());
            CPK_REQUIRE("CPL_WORKER_005", cpk::bad_context_callbacks() - bad_before == 0);
            CPK_REQUIRE(completes[i], came);
        }
        INFO("op " << i << " made ready; callback " << n << ": " << cpk::describe(rec.at(n)));
        CPK_CHECK("CPL_WORKER_005", rec.at(n).op == static_cast<int>(i));
        ++n;
    }
    completion_port_remove(p.handle, sp[6].a);
    CPK_RELEASE(p.handle);

    INFO(rec.dump());
    CPK_CHECK("CPL_WORKER_005", cpk::bad_context_callbacks() - bad_before == 0);
    for (size_t i = 0; i < 6; ++i) {
        INFO("op " << i << " after its completion");
        CPK_CHECK(released[i], rec.calls(i) == 1);
    }
    /* ops 6 and 7 saw no event: only a closing completion may reach them */
    for (size_t i = 6; i < kCtxOps; ++i)
        for (const cpk::CallbackRecord& r : rec.for_op(i)) {
            INFO("op " << i << ", never ready: " << cpk::describe(r));
            CPK_CHECK("CPL_WORKER_005", r.action == COMPLETION_PORT_CLOSING);
        }
    for (size_t i = 0; i < kCtxOps; ++i) {
        INFO("op " << i << " (" << (i % 2 ? "alt_callback" : "Recorder::callback") << ")");
        CPK_CHECK("CPL_WORKER_005", g_alt_calls[i].load() == (i % 2 ? rec.calls(i) : 0));
    }
    for (auto& s : sp) s = cpk::SocketPair();
    CPK_GUARD_END(guard);
}

/* A quiet op pending, nothing arriving: the worker must stay in epoll_wait.
 * Catches a wake-up descriptor that is readable from the start or registered
 * for EPOLLOUT (always ready), so that every epoll_wait returns at once. */
TEST_CASE_METHOD(cpk::PortCase, "worker: an idle worker sleeps in epoll_wait", "[CPL_WORKER_006]") {
    static char buf[4];
    cpk::SocketPair sp = unix_sockets();
    add(0, EPOLLIN, sp.a, buf, sizeof buf);
    CPK_REQUIRE("CPL_WORKER_006", cpk::wait_blocked_in_epoll_wait());
    const uint64_t before = cpk::calls_entered(cpk::Fn::epoll_wait) + cpk::calls_entered(cpk::Fn::epoll_pwait);
    CPK_CHECK_FALSE("CPL_WORKER_006", rec.wait_op(0, cpk::kQuietMs)); /* the quiet window; nothing arrives */
    const uint64_t waits = cpk::calls_entered(cpk::Fn::epoll_wait) + cpk::calls_entered(cpk::Fn::epoll_pwait) - before;
    INFO("epoll_wait calls in " << cpk::kQuietMs << " ms with nothing to do: " << waits);
    CPK_CHECK("CPL_WORKER_006", waits <= 3);
    finish(sp);
}
