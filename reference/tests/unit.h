/* The reference's unit tests use the conformance harness (harness.h); this
 * layer adds only what a unit test of the reference needs: its test hooks
 * (test_hooks.h, the internal requirements), a port that a failed REQUIRE
 * still releases (all unit tests share one process), the port's wake-up
 * descriptor, and what one call did to the heap. */
#ifndef CPL_REFERENCE_UNIT_H
#define CPL_REFERENCE_UNIT_H

#include "cpk_catch.h"

#include <vector>

#include "harness.h"
#include "nocopy.h"
#include "test_hooks.h"

namespace reftest {

/* A port from cpk::create_port, released at scope exit unless the test
 * released it. Converts to its handle. */
class Port : cpk::NoCopy {
public:
    Port();
    ~Port() { release(); }
    operator COMPLETION_PORT_HANDLE() const { return info.handle; }
    /* The final dec_ref, on this thread; returns how long it took (ns). */
    int64_t release();

    cpk::PortInfo info;
    int wake_fd = -1; /* the eventfd the port opened (anon_inode:[eventfd]), -1 if none */
};

/* A test's usual start, as Catch2 fixtures (TEST_CASE_METHOD): a leak guard,
 * a recorder and one non-blocking socket pair; OnePort adds a port. Members
 * are destroyed after the test body's locals, so a test whose hooks capture
 * its locals (latches, ingress data) declares its own Port after them. */
struct OnePair {
    OnePair() { REQUIRE(sp.ok()); }
    /* Adds recv op `op` on sp.a into buf, writes `data` from sp.b and waits
     * for the op's callback, each step REQUIREd. */
    void recv_from_peer(COMPLETION_PORT_HANDLE port, size_t op, void* buf, uint32_t len, const char* data);
    cpk::Guard guard;
    cpk::Recorder rec;
    cpk::SocketPair sp = cpk::unix_pair();
};

struct OnePort : OnePair {
    Port port;
};

/* Socket pairs with one op each on their port end, into buffers of their own.
 * Declared before the Port the ops go to, so that the port is released before
 * the sockets close. */
struct PairsWithOps : cpk::NoCopy {
    PairsWithOps(size_t n, size_t buf_bytes); /* n unix pairs (REQUIREd), no op yet */
    /* Adds op first_op + i on pair i with events_of(i) (nullptr: EPOLLIN), each REQUIREd to return 0. */
    void add_each(cpk::Recorder& rec, COMPLETION_PORT_HANDLE port, size_t first_op = 0,
                  int (*events_of)(size_t) = nullptr);
    char* buf(size_t i) { return &bytes[i * each]; }

    std::vector<cpk::SocketPair> pairs;
    size_t each;
    std::vector<char> bytes;
};

/* The first callback of op `op` (all fields 0 when it has none). */
cpk::CallbackRecord first(const cpk::Recorder& rec, size_t op);

/* Checks the action, result and amount of op `op`'s first callback. */
void check_first(const cpk::Recorder& rec, size_t op, int action, int result, int32_t amount);

/* Checks that every callback rec saw is a closing completion (CLOSING,
 * ABANDONED, 0) that ran on the calling thread. */
void check_all_closed_here(const cpk::Recorder& rec);

/* What one call did to the heap. */
struct HeapRun {
    unsigned allocations = 0; /* allocations the calling thread made */
    size_t live = 0;          /* allocations made meanwhile (any thread) still live after it */
};

/* False when the harness's allocator is not the one called (valgrind
 * replaces malloc and operator new in the executable): heap runs see nothing. */
bool heap_visible();

/* Runs call() with the fail_nth-th allocation of this thread failing (0: none
 * fails). call must not allocate except through the reference. */
template <class Call> HeapRun heap_run(unsigned fail_nth, Call call) {
    /* No Catch2 assertion between inject and call: it would allocate. */
    int id = cpk::inject(cpk::alloc_failure(fail_nth ? fail_nth : ~0u));
    cpk::alloc_track_start();
    call();
    cpk::alloc_track_stop();
    HeapRun r;
    r.live = cpk::live_tracked();
    if (id >= 0) {
        r.allocations = cpk::fault_hits(id);
        cpk::remove_fault(id);
    }
    CPK_KIT_REQUIRE(id >= 0);
    return r;
}

} // namespace reftest

#endif
