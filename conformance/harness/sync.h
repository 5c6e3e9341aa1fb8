/* Time, latches, bounded asynchronous calls and a watchdog: the only ways a
 * test should wait. */
#ifndef CPK_SYNC_H
#define CPK_SYNC_H

#include "nocopy.h"
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace cpk {

/* Standard bounds (ms). The first two can be shortened through the
 * environment (CPK_WAIT_MS, CPK_TEARDOWN_MS): the validator does so once a
 * probe has shown that the implementation hangs, so that a hanging
 * implementation is judged in bounded time. */
extern const int kWaitMs;     /* a callback that must come (5000) */
extern const int kTeardownMs; /* anything behind a final dec_ref (10000; literal: 2 s) */
constexpr int kQuietMs = 300; /* window after a sentinel for "must not happen" */

/* CLOCK_MONOTONIC in ns. Inline: the interposer, linked without the rest of
 * the harness (the soak), uses it too. */
inline int64_t mono_ns() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline int64_t ms_to_ns(int64_t ms) { return ms * 1000000; }

/* A one-shot gate: wait() blocks until open() (bounded). Allocation-free. */
class Latch {
public:
    void open();
    bool is_open() const { return open_.load(); }
    bool wait(int timeout_ms) const; /* true if opened in time */
private:
    std::atomic<bool> open_{false};
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
};

/* Runs fn on its own thread; the test waits for it with a bound.
 * done_ns() is the monotonic time fn returned (0 while running).
 * Destruction joins; if fn is still running it waits kTeardownMs more and then
 * detaches the thread with a message on stderr (the test's Guard then reports
 * the extra thread): a hung call fails the test instead of hanging it. fn must
 * therefore capture by value whatever it uses. */
class AsyncCall : NoCopy {
public:
    explicit AsyncCall(std::function<void()> fn, const char* label = "async call");
    ~AsyncCall();
    bool wait(int timeout_ms); /* true if fn returned in time */
    bool done() const { return done_ns() != 0; }
    int64_t start_ns() const { return start_ns_; }
    int64_t done_ns() const;
    pid_t tid() const; /* the thread's kernel tid (waits for it to start) */
private:
    struct State;
    std::shared_ptr<State> st_;
    std::thread th_;
    int64_t start_ns_ = 0;
    const char* label_;
};

/* Ends the process with "cpk watchdog: <what>" on stderr and exit status 3
 * unless disarmed (destroyed) within `seconds`. For tests whose failure mode
 * is a deadlock of the test thread itself. One at a time (SIGALRM). */
class Watchdog : NoCopy {
public:
    Watchdog(int seconds, const char* what);
    ~Watchdog();
};

} // namespace cpk

#endif
