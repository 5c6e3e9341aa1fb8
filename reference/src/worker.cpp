// The worker thread: the epoll loop and the dispatch of one event to the ops
// of its socket.
#include <errno.h>
#include <sys/epoll.h>

#include <cassert>

#include "cpl_internal.h"

namespace cpl
{
namespace
{

// CPL_WORKER_002: the seed's 2 second timeout, on every epoll_wait.
constexpr int EPOLL_WAIT_TIMEOUT_MS = 2000;
// Events fetched per epoll_wait: large enough to amortise the syscall.
constexpr int EVENT_BATCH = 128;

// The port whose worker runs on this thread, if any. Lets remove and dec_ref
// know they are called from inside a callback of that port.
thread_local const Port* tls_worker_port = nullptr;

enum class Step
{
    NONE,     // the event does not concern this op: it stays pending
    HANGUP,   // EPOLLRDHUP it asked for
    RECV,
    SEND,
    FAILURE   // only EPOLLERR / EPOLLHUP
};

// What one event means for one op. Priority: RDHUP, IN, OUT, ERR/HUP; exactly
// one step, so an op gets exactly one callback per event (CPL_ADD_010).
Step choose_step(const Op* op, uint32_t events)
{
    // epoll reports ERR and HUP whether asked or not; other bits only if some
    // op of the socket asked, and they concern only the ops that asked.
    const uint32_t bits = events & (op->interest | EPOLLERR | EPOLLHUP);
    if ((bits & EPOLLRDHUP) != 0)
    {
        // CPL_RDHUP_001; CPL_RDHUP_002: RDHUP with IN is one hang-up callback.
        return Step::HANGUP;
    }
    if ((bits & EPOLLIN) != 0)
    {
        return Step::RECV;
    }
    if ((bits & EPOLLOUT) != 0)
    {
        return Step::SEND;
    }
    if ((bits & (EPOLLERR | EPOLLHUP)) != 0)
    {
        return Step::FAILURE;  // CPL_EVENT_001
    }
    return Step::NONE;
}

// CPL_EVENT_001: ERR/HUP alone completes the op with its own action.
COMPLETION_PORT_EPOLL_ACTION own_action(const Op* op)
{
    if (op->sending || op->slot == SLOT_SEND)
    {
        return COMPLETION_PORT_EPOLL_EPOLLOUT;
    }
    return op->slot == SLOT_RECV ? COMPLETION_PORT_EPOLL_EPOLLIN : COMPLETION_PORT_EPOLL_EPOLLRDHUP;
}

// The entry an event was meant for, or end() if it was removed (and perhaps
// re-added under a new generation) since: such a stale event is dropped.
EntryMap::iterator live_entry(Port* port, int fd, uint32_t generation)
{
    const EntryMap::iterator end = port->entries.end();
    EntryMap::iterator it = port->entries.find(fd);
    if (it == end || it->second.generation != generation || it->second.removing)
    {
        return end;
    }
    return it;
}

void leave_busy(Port* port)
{
    port->busy_fd = -1;
    (void)pthread_cond_broadcast(&port->worker_idle);  // CPL_REMOVE_006
}

// Runs the step for the op in slot k. Called and returns with the mutex held;
// releases it for the I/O and the callback.
void run_step(Port* port, int fd, unsigned k, Op* op, Step step)
{
    // CPL_REMOVE_006: a remove from another thread waits while busy_fd == fd.
    port->busy_fd = fd;
    IoOutcome outcome{false, own_action(op), COMPLETION_PORT_RESULT_ERROR, 0};
    if (step == Step::HANGUP)
    {
        // CPL_RDHUP_001, CPL_EVENT_002: ABANDONED with the bytes moved (0
        // unless a send was under way).
        outcome = IoOutcome{false, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED,
                            static_cast<int32_t>(op->progress)};
    }
    else if (step == Step::FAILURE)
    {
        // CPL_EVENT_001, CPL_EVENT_002
        outcome.amount = static_cast<int32_t>(op->progress);
    }
    else
    {
        // The I/O runs unlocked; the op stays in its slot, so a second op of
        // the same kind is still refused while it runs.
        op->in_flight = true;
        (void)pthread_mutex_unlock(&port->mutex);
        outcome = (step == Step::RECV) ? run_recv(fd, op) : run_send(fd, op);
        (void)pthread_mutex_lock(&port->mutex);
        op->in_flight = false;
        if (outcome.suspended)
        {
            // CPL_SEND_006: wait for EPOLLOUT (and a hang-up if asked) only.
            op->interest = EPOLLOUT | (op->interest & EPOLLRDHUP);
            leave_busy(port);
            return;
        }
    }

    // Take the op out of the record (CPL_ADD_004; the seed's "remove the
    // EPOLL_THREAD_DATA from the list"). The entry and the op are still there
    // after the unlocked I/O: while busy_fd == fd a remove from another thread
    // waits, an add can neither take slot k nor erase the entry, the final
    // dec_ref touches entries only after joining us, and no callback runs.
    EntryMap::iterator it = port->entries.find(fd);
    assert(it != port->entries.end() && it->second.slots[k] == op);  // LCOV_EXCL_BR_LINE: assert's failure arm
    it->second.slots[k] = nullptr;
    port->pending_ops--;
    erase_if_empty(port, it);

    // CPL_ADD_017, CPL_DECREF_010: no lock is held during the callback, so it
    // may add, remove, inc_ref or dec_ref. CPL_WORKER_004: on this thread.
    (void)pthread_mutex_unlock(&port->mutex);
    // CPL_WORKER_005: the op's own callback with its own context.
    op->callback(op->context, outcome.action, outcome.result, outcome.amount);
    // CPL_RECV_007, CPL_SEND_005, CPL_RDHUP_003: freed after its one callback.
    delete op;  // LCOV_EXCL_BR_LINE: the null check `delete` adds; op is never NULL here
    (void)pthread_mutex_lock(&port->mutex);
    leave_busy(port);
}

// Dispatches one epoll event to the ops of its socket, one op at a time; after
// each op the entry is looked up again by key, since a callback may have
// removed it or the final dec_ref may have begun. Returns `stopping`.
bool handle_event(Port* port, uint64_t key, uint32_t events)
{
    const int fd = static_cast<int>(key & 0xffffffffu);
    const uint32_t generation = static_cast<uint32_t>(key >> 32);

    (void)pthread_mutex_lock(&port->mutex);
    // CPL_RECV_011: each slot is visited once per event, so an op added into a
    // visited slot meanwhile waits for an event of its own (live_entry drops
    // events of an entry removed since).
    for (unsigned k = 0; k < SLOT_COUNT; ++k)
    {
        // CPL_DECREF_006, CPL_DECREF_010: no callback once the port is being
        // released; what is left completes as closing in dec_ref.
        if (port->stopping)
        {
            break;
        }
        EntryMap::iterator it = live_entry(port, fd, generation);
        if (it == port->entries.end())
        {
            break;
        }
        Op* op = it->second.slots[k];
        if (op == nullptr)
        {
            continue;
        }
        const Step step = choose_step(op, events);
        if (step == Step::NONE)
        {
            // Bits it asked for that no step handles (EPOLLPRI, ...) would
            // re-fire at once after the re-arm: stop asking for them, so the
            // worker never spins; the op still waits for the rest.
            op->interest &= ~(events & ~static_cast<uint32_t>(EPOLLERR | EPOLLHUP));
            continue;
        }
        run_step(port, fd, k, op, step);
    }

    // EPOLLONESHOT disarmed the socket: arm it again for the ops still
    // pending (CPL_ADD_016). An empty entry is already gone.
    const bool stopping = port->stopping;
    if (!stopping)
    {
        EntryMap::iterator it = live_entry(port, fd, generation);
        if (it != port->entries.end())
        {
            (void)arm_entry(port, fd, it->second, false);
        }
    }
    (void)pthread_mutex_unlock(&port->mutex);
    return stopping;
}

bool stopping_locked(Port* port)
{
    (void)pthread_mutex_lock(&port->mutex);
    const bool stopping = port->stopping;
    (void)pthread_mutex_unlock(&port->mutex);
    return stopping;
}

}  // namespace

bool is_worker_of(const Port* port)
{
    return tls_worker_port == port;
}

// The seed's epoll_worker_func.
int epoll_worker_func(void* parameter)
{
    // CPL_WORKER_001: NULL: do nothing.
    if (parameter == nullptr)
    {
        return 0;
    }
    Port* port = static_cast<Port*>(parameter);
    tls_worker_port = port;

    struct epoll_event events[EVENT_BATCH];
    // CPL_WORKER_003: wait again while the port is referenced; `stopping` is
    // the seed's flag, set by the final dec_ref (the count reached 0). It is
    // read under the mutex: when the wake-up eventfd fires (it stays readable
    // once written), after each event, and on a timeout in case the wake-up
    // write had failed.
    bool stopping = false;
    while (!stopping)
    {
        // CPL_WORKER_002: 2000 ms, every time.
        const int count = epoll_wait(port->epoll_fd, events, EVENT_BATCH, EPOLL_WAIT_TIMEOUT_MS);
        if (count == 0)
        {
            stopping = stopping_locked(port);
        }
        // CPL_WORKER_003: a timeout (0) or EINTR (-1) just waits again.
        for (int i = 0; i < count && !stopping; ++i)
        {
            stopping = events[i].data.u64 == WAKE_KEY ? stopping_locked(port)
                                                      : handle_event(port, events[i].data.u64, events[i].events);
        }
    }
    tls_worker_port = nullptr;

    if (port->released_by_worker)
    {
        // CPL_DECREF_010: the final dec_ref ran inside one of our callbacks;
        // nobody will join us, so we free the port and detach ourselves.
        drain_all_closing(port);
        (void)pthread_detach(pthread_self());
        release_port_resources(port);
    }
    return 0;
}

void* worker_thread_main(void* parameter)
{
    (void)epoll_worker_func(parameter);
    return nullptr;
}

}  // namespace cpl
