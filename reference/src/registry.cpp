// The port's record of pending ops (CPL_ADD_004): a hash map fd -> SocketEntry,
// O(1) per add, completion and remove instead of the seed's list walk. All but
// the last two functions are called with the port's mutex held.
#include <errno.h>
#include <sys/epoll.h>

#include <algorithm>

#include "cpl_internal.h"

namespace cpl {

// CPL_ADD_005: a lone op registers exactly its epoll_op (| EPOLLONESHOT).
// CPL_ADD_016: with several ops, the union, so none of them is stranded.
// CPL_ADD_010: EPOLLONESHOT always: a level-triggered re-fire cannot reach an
// op that already completed; the port re-arms only for ops still pending.
// An op whose I/O is running is left out: it needs no event until it is back.
static uint32_t entry_interest(const SocketEntry& entry) {
    uint32_t events = EPOLLONESHOT;
    for (const Op* op : entry.slots) {
        if (op != nullptr && !op->in_flight) {
            events |= op->interest;
        }
    }
    return events;
}

// CPL_ADD_005: EPOLL_CTL_MOD first, with the events above.
// CPL_ADD_006: on ENOENT, EPOLL_CTL_ADD with the same events (only for add;
// the worker's re-arm never re-registers a socket that remove deleted).
bool arm_entry(Port* port, int fd, const SocketEntry& entry, bool add_if_missing) {
    struct epoll_event ev = {};
    ev.events = entry_interest(entry);
    ev.data.u64 = event_key(fd, entry.generation);
    if (epoll_ctl(port->epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0) {
        return true;
    }
    return add_if_missing && errno == ENOENT && epoll_ctl(port->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

// An entry with no op is dropped at once: memory returns to what it was
// before the add. The socket stays registered with epoll, disarmed by
// EPOLLONESHOT, so the next add's EPOLL_CTL_MOD succeeds (CPL_ADD_009).
void erase_if_empty(Port* port, EntryMap::iterator it) {
    const Op* const* slots = it->second.slots;
    if (std::all_of(slots, slots + SLOT_COUNT, [](const Op* op) { return op == nullptr; })) {
        port->entries.erase(it);
    }
}

// Moves every op of the entry onto a list.
void detach_all_ops(SocketEntry& entry, Op** list) {
    for (Op*& op : entry.slots) {
        if (op != nullptr) {
            op->next = *list;
            *list = op;
            op = nullptr;
        }
    }
}

// CPL_REMOVE_005, CPL_DECREF_008: the closing completion, the op's one and
// only callback, then its memory is released. Called without the mutex, so
// the callback may call any API function (CPL_ADD_017).
void complete_closing_list(Op* list) {
    while (list != nullptr) {
        Op* op = list;
        list = op->next;
        // CPL_WORKER_005: the op's own callback and context.
        op->callback(op->context, COMPLETION_PORT_CLOSING, COMPLETION_PORT_RESULT_ABANDONED, 0);
        delete op; // LCOV_EXCL_BR_LINE: the null check `delete` adds; op is never NULL here
    }
}

// CPL_DECREF_008: completes every pending op as closing on the calling thread,
// until none is left (a closing callback may add again).
void drain_all_closing(Port* port) {
    for (;;) {
        Op* list = nullptr;
        (void)pthread_mutex_lock(&port->mutex);
        for (auto& item : port->entries) {
            detach_all_ops(item.second, &list);
        }
        port->entries.clear();
        (void)pthread_mutex_unlock(&port->mutex);
        if (list == nullptr) {
            return;
        }
        complete_closing_list(list);
    }
}

} // namespace cpl
