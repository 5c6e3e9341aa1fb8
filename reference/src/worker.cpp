// The worker thread: the epoll loop and the dispatch of an event to the ops of its socket.
#include <sys/epoll.h>

#include <cassert>

#include "cpl_internal.h"

namespace cpl {

// CPL_WORKER_002: the seed's 2 second timeout, on every epoll_wait.
constexpr int EPOLL_WAIT_TIMEOUT_MS = 2000;
// Events fetched per epoll_wait: large enough to amortise the syscall.
constexpr int EVENT_BATCH = 128;

// The port whose worker runs on this thread, if any. Lets remove and dec_ref
// know they are called from inside a callback of that port.
static thread_local const Port* tls_worker_port = nullptr;

bool is_worker_of(const Port* port) { return tls_worker_port == port; }

enum class Step { NONE, HANGUP, RECV, SEND, FAILURE };

// What one event means for one op (NONE: nothing, it stays pending). Priority:
// RDHUP, IN, OUT, ERR/HUP; one step, so one callback per event (CPL_ADD_010).
// epoll reports ERR and HUP whether asked or not; other bits only if some op
// of the socket asked, and they concern only the ops that asked.
static Step choose_step(const Op* op, uint32_t events) {
    const uint32_t bits = events & (op->interest | EPOLLERR | EPOLLHUP);
    // CPL_RDHUP_001; CPL_RDHUP_002: RDHUP with IN is one hang-up callback.
    // CPL_EVENT_001: FAILURE is ERR/HUP without RDHUP, IN or OUT.
    return (bits & EPOLLRDHUP) != 0              ? Step::HANGUP
           : (bits & EPOLLIN) != 0               ? Step::RECV
           : (bits & EPOLLOUT) != 0              ? Step::SEND
           : (bits & (EPOLLERR | EPOLLHUP)) != 0 ? Step::FAILURE
                                                 : Step::NONE;
}

// The entry an event was meant for, or NULL if it was removed (and perhaps
// re-added under a new generation) since: such a stale event is dropped.
static SocketEntry* live_entry(Port* port, int fd, uint32_t generation) {
    const EntryMap::iterator end = port->entries.end(); // hoisted: in the condition, gcov sees a branch never taken
    const EntryMap::iterator it = port->entries.find(fd);
    if (it == end || it->second.generation != generation || it->second.removing) {
        return nullptr;
    }
    return &it->second;
}

// Runs the step for the op in slot k. Called and returns with the mutex held;
// releases it for the I/O and the callback.
static void run_step(Port* port, int fd, unsigned k, Op* op, Step step) {
    // CPL_REMOVE_006: a remove from another thread waits while busy_fd == fd.
    port->busy_fd = fd;
    // CPL_RDHUP_001: a hang-up is ABANDONED. CPL_EVENT_001: ERR/HUP alone is
    // an ERROR with the op's own action. Both report the bytes moved (0 unless
    // a send was under way, CPL_EVENT_002).
    COMPLETION_PORT_RESULT result =
        step == Step::HANGUP ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR;
    if (step == Step::RECV || step == Step::SEND) {
        // The I/O runs unlocked; the op stays in its slot, so a second op of
        // the same kind is still refused while it runs.
        op->in_flight = true;
        (void)pthread_mutex_unlock(&port->mutex);
        result = run_io(fd, op, step == Step::SEND);
        (void)pthread_mutex_lock(&port->mutex);
        op->in_flight = false;
    }
    if (result == SUSPENDED) {
        // CPL_SEND_006: wait for EPOLLOUT (and a hang-up if asked) only.
        op->interest = EPOLLOUT | (op->interest & EPOLLRDHUP);
    } else {
        // Take the op out of the record (CPL_ADD_004; the seed's "remove the
        // EPOLL_THREAD_DATA from the list"). The entry and the op are still
        // there after the unlocked I/O: while busy_fd == fd a remove from
        // another thread waits, an add can neither take slot k nor erase the
        // entry, the final dec_ref touches entries only after joining us, and
        // no callback runs.
        const EntryMap::iterator it = port->entries.find(fd);
        assert(it != port->entries.end() && it->second.slots[k] == op); // LCOV_EXCL_BR_LINE: assert's failure arm
        it->second.slots[k] = nullptr;
        erase_if_empty(port, it);
        const COMPLETION_PORT_EPOLL_ACTION action =
            step == Step::HANGUP ? COMPLETION_PORT_EPOLL_EPOLLRDHUP : op->action;
        const ON_COMPLETION_PORT_EVENT_COMPLETE callback = op->callback;
        void* const context = op->context;
        // The cast is exact: progress <= length <= INT32_MAX (CPL_ADD_014).
        const int32_t amount = static_cast<int32_t>(op->progress);
        // CPL_RECV_007, CPL_SEND_005, CPL_RDHUP_003: released before its one
        // callback, so that the add the callback makes reuses it.
        recycle_op(port, op);

        // CPL_ADD_017, CPL_DECREF_010: no lock is held during the callback, so
        // it may add, remove, inc_ref or dec_ref. CPL_WORKER_004: on this thread.
        (void)pthread_mutex_unlock(&port->mutex);
        // CPL_WORKER_005: the op's own callback with its own context, and
        // (CPL_ABI_002, CPL_ABI_003) the header's named values, never _INVALID.
        callback(context, action, result, amount);
        (void)pthread_mutex_lock(&port->mutex);
    }
    port->busy_fd = -1;
    (void)pthread_cond_broadcast(&port->worker_idle); // CPL_REMOVE_006
}

// Dispatches one epoll event to the ops of its socket, one op at a time; after
// each op the entry is looked up again by key, since a callback may have
// removed it or the final dec_ref may have begun.
static void handle_event(Port* port, uint64_t key, uint32_t events) {
    const int fd = static_cast<int>(key & 0xffffffffu);
    const uint32_t generation = static_cast<uint32_t>(key >> 32);

    (void)pthread_mutex_lock(&port->mutex);
    // CPL_RECV_011: each slot is visited once per event, so an op added into a
    // visited slot meanwhile waits for an event of its own. CPL_DECREF_006,
    // CPL_DECREF_010: no callback once the port is being released; dec_ref
    // completes what is left as closing.
    for (unsigned k = 0; k < SLOT_COUNT && !port->stopping; ++k) {
        SocketEntry* entry = live_entry(port, fd, generation);
        if (entry == nullptr) {
            break;
        }
        Op* op = entry->slots[k];
        const Step step = op == nullptr ? Step::NONE : choose_step(op, events);
        if (step != Step::NONE) {
            run_step(port, fd, k, op, step);
        } else if (op != nullptr) {
            // CPL_WORKER_006: bits it asked for that no step handles (EPOLLPRI,
            // ...) would re-fire at once after the re-arm: stop asking for
            // them, so the worker never spins; the op still waits for the rest.
            op->interest &= ~(events & ~static_cast<uint32_t>(EPOLLERR | EPOLLHUP));
        }
    }

    // EPOLLONESHOT disarmed the socket: arm it again for the ops still
    // pending (CPL_ADD_016). An empty entry is already gone.
    const SocketEntry* entry = live_entry(port, fd, generation);
    if (!port->stopping && entry != nullptr) {
        (void)arm_entry(port, fd, *entry, false);
    }
    (void)pthread_mutex_unlock(&port->mutex);
}

// The seed's epoll_worker_func.
int epoll_worker_func(void* parameter) {
    // CPL_WORKER_001: NULL: do nothing.
    if (parameter == nullptr) {
        return 0;
    }
    Port* port = static_cast<Port*>(parameter);
    tls_worker_port = port;

    struct epoll_event events[EVENT_BATCH];
    // CPL_WORKER_003: wait again until the final dec_ref sets `stopping`; it is
    // read after each event (the wake-up eventfd's too, which stays readable
    // once written: handle_event finds no entry for it) and on a timeout.
    while (!port->stopping) {
        // CPL_WORKER_002: 2000 ms, every time.
        const int count = epoll_wait(port->epoll_fd, events, EVENT_BATCH, EPOLL_WAIT_TIMEOUT_MS);
        // CPL_WORKER_003: a timeout (0) or EINTR (-1) just waits again.
        for (int i = 0; i < count && !port->stopping; ++i) {
            handle_event(port, events[i].data.u64, events[i].events);
        }
    }
    tls_worker_port = nullptr;

    if (port->released_by_worker) {
        // CPL_DECREF_010: the final dec_ref ran inside one of our callbacks;
        // nobody will join us, so we free the port and detach ourselves.
        drain_all_closing(port);
        (void)pthread_detach(pthread_self());
        release_port_resources(port);
    }
    return 0;
}

} // namespace cpl
