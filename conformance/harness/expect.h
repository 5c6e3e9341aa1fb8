/* Shared expectation helpers: bounded waits, one-callback and closing checks,
 * recv/send call sequences, allocation balance of repeated ops. */
#ifndef CPK_EXPECT_H
#define CPK_EXPECT_H

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <sys/types.h>
#include <vector>

#include "c_pal/completion_port_linux.h"
#include "interpose.h"
#include "recorder.h"
#include "sync.h"
#include "verdict.h"

namespace cpk {

/* completion_port_dec_ref on an AsyncCall: false if it did not return within
 * timeout_ms (a literal dec_ref takes up to 2 s; the call is then left running). */
bool release_port(COMPLETION_PORT_HANDLE h, int timeout_ms = kTeardownMs);

/* Polls pred every ~1 ms until it holds (true) or timeout_ms passes (false).
 * Allocation-free: usable while allocation tracking is armed. For conditions
 * the harness cannot wait on (/proc, live allocations, interposer counters). */
template <class Pred> bool eventually(Pred pred, int timeout_ms) {
    int64_t deadline = mono_ns() + ms_to_ns(timeout_ms);
    for (;;) {
        if (pred()) return true;
        if (mono_ns() >= deadline) return false;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
}

constexpr long kAnyAmount = -1; /* one_callback: any amount >= 0 */

/* "" if op `op` of rec got exactly one callback with this action, result and
 * amount (amount kAnyAmount: any value >= 0); otherwise what it got, followed
 * by the dump of all callbacks. */
std::string one_callback(const Recorder& rec, size_t op, int action, int result, long amount);

/* The same with any result and any amount: only the count and the action. */
std::string one_callback(const Recorder& rec, size_t op, int action);

/* Waits until every op in [first, first + n) has at least one callback, within
 * one overall deadline. */
bool wait_all_ops(const Recorder& rec, size_t first, size_t n, int timeout_ms);

/* "" if op `op` got exactly one callback, a closing completion (CLOSING,
 * ABANDONED, 0) that ran on thread `tid`, started at or after from_ns and had
 * returned by by_ns: what remove or the final dec_ref, called at from_ns on
 * thread tid and returned at by_ns, owes an op still pending. Otherwise what
 * differs (the caller shows rec.dump()). */
std::string closed_during_call(const Recorder& rec, size_t op, pid_t tid, int64_t from_ns, int64_t by_ns);

/* One line per record (describe()), for messages. */
std::string describe_calls(const std::vector<CallRecord>& calls);

/* `calls`: the recv or send calls, in order, of one op moving `length` bytes
 * at `buf`. "" if each continued where the previous stopped (buf + bytes moved
 * so far, length - bytes moved so far) and none came once all had moved;
 * otherwise one line per offending call. */
std::string discontinuous_calls(const std::vector<CallRecord>& calls, const void* buf, size_t length);

/* What a repeated operation left allocated (allocation_balance). */
struct AllocBalance {
    size_t cycles = 0;              /* steps run */
    size_t failed = 0;              /* cycles whose step failed */
    const char* first_failure = ""; /* what the first of them said */
    bool overflow = false;          /* the tracker ran out of room: figures unreliable */
    bool quiet = false;             /* every tracked allocation was freed in time */
    size_t live = 0;                /* tracked allocations still live at the end */
    size_t live_bytes = 0;

    /* "" if every cycle succeeded, the tracker kept up and every allocation
     * was freed in time; otherwise one line per problem. */
    std::string problems() const;
};

/* Runs step(i) for i = 1..cycles with allocation tracking armed, then gives the
 * port up to settle_ms to free what it allocated meanwhile (a worker may free
 * an op just after its callback returns). step must not allocate, so no
 * Catch2 assertion inside; it returns nullptr, or a string literal saying
 * which part of the cycle failed. */
template <class Step> AllocBalance allocation_balance(size_t cycles, Step step, int settle_ms = 2000) {
    AllocBalance b;
    b.cycles = cycles;
    alloc_track_start();
    for (size_t i = 1; i <= cycles; ++i) {
        const char* why = step(i);
        if (why && b.failed++ == 0) b.first_failure = why;
    }
    alloc_track_stop();
    b.quiet = eventually([] { return live_tracked() == 0; }, settle_ms);
    b.live = live_tracked();
    b.live_bytes = live_tracked_bytes();
    b.overflow = alloc_track_overflow();
    return b;
}

/* What repeated_ops saw. */
struct RepeatedOps {
    AllocBalance balance;
    size_t refused = 0;       /* adds that did not return 0 */
    size_t unwritten = 0;     /* the peer's writes that failed (the kit's) */
    size_t not_completed = 0; /* ops that did not finish in time */
};

/* Ops 1..cycles of `epoll_op` (rec.ingress(i, epoll_op, fd, buf, length)) on
 * one socket, each added once the previous one finished, with allocation
 * tracking armed (allocation_balance); when peer >= 0 it writes one byte
 * after each add. Op 0, a warm-up of the same kind, must have finished. */
RepeatedOps repeated_ops(COMPLETION_PORT_HANDLE port, Recorder& rec, int epoll_op, int fd, void* buf, uint32_t length,
                         int peer, size_t cycles);

/* Its checks: the peer's writes worked (the kit's), each add of the socket
 * after a completion returned 0 (CPL_ADD_009), each op completed (`completes`)
 * and, when all did, the port freed what they allocated (`frees`). */
void check_repeated_ops(const RepeatedOps& r, const char* completes, const char* frees);

} // namespace cpk

/* The final dec_ref of a test's port returned in time (CPL_DECREF_004: it
 * returns once the worker is joined; one that never returns fails here). */
#define CPK_RELEASE(h) CPK_REQUIRE("CPL_DECREF_004", ::cpk::release_port(h))

#endif
