/* Shared expectation helpers (asked for in API_REQUESTS.md section 2). */
#ifndef CPK_EXPECT_H
#define CPK_EXPECT_H

#include <cstddef>
#include <ctime>
#include <string>

#include "c_pal/completion_port_linux.h"
#include "recorder.h"
#include "sync.h"

namespace cpk {

/* completion_port_dec_ref on an AsyncCall: false if it did not return within
 * timeout_ms (a literal dec_ref takes up to 2 s; the call is then left running). */
bool release_port(COMPLETION_PORT_HANDLE h, int timeout_ms = kTeardownMs);

/* Polls pred every ~1 ms until it holds (true) or timeout_ms passes (false).
 * Allocation-free: usable while allocation tracking is armed. For conditions
 * the harness cannot wait on (/proc, live allocations, interposer counters). */
template <class Pred>
bool eventually(Pred pred, int timeout_ms) {
    int64_t deadline = mono_ns() + ms_to_ns(timeout_ms);
    for (;;) {
        if (pred()) return true;
        if (mono_ns() >= deadline) return false;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
}

/* "" if op `op` of rec got exactly one callback with this action, result and
 * amount (amount -1: any value >= 0); otherwise what it got, followed by the
 * dump of all callbacks. */
std::string one_callback(const Recorder& rec, size_t op, int action, int result, long amount);

/* Waits until every op in [first, first + n) has at least one callback, within
 * one overall deadline. */
bool wait_all_ops(const Recorder& rec, size_t first, size_t n, int timeout_ms);

} // namespace cpk

#endif
