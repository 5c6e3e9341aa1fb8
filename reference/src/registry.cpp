// The port's record of pending ops (CPL_ADD_004): a hash map fd -> SocketEntry,
// O(1) per add, completion and remove instead of the seed's list walk, and the
// port's free ops. Called with the port's mutex held, except free_op_pool,
// complete_closing_list and drain_all_closing.
#include <errno.h>
#include <sys/epoll.h>

#include <algorithm>
#include <new>

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

// A new entry, in the node of one that went if there is one, so that a steady
// stream of ops allocates nothing. Throws bad_alloc with the map as it was.
SocketEntry* insert_entry(Port* port, int fd, const SocketEntry& entry) {
    if (port->spare_count == 0) {
        return &port->entries.emplace(fd, entry).first->second;
    }
    EntryMap::node_type& node = port->spare_entries[port->spare_count - 1];
    node.key() = fd;
    node.mapped() = entry;
    SocketEntry* inserted = &port->entries.insert(std::move(node)).position->second;
    --port->spare_count;
    return inserted;
}

// An entry with no op leaves the map at once; its node is kept for the next
// new entry while there is room (freed otherwise). The socket stays registered
// with epoll, disarmed by EPOLLONESHOT, so the next add's EPOLL_CTL_MOD
// succeeds (CPL_ADD_009).
void erase_if_empty(Port* port, EntryMap::iterator it) {
    const Op* const* slots = it->second.slots;
    if (!std::all_of(slots, slots + SLOT_COUNT, [](const Op* op) { return op == nullptr; })) {
        return;
    }
    if (port->spare_count < SPARE_ENTRIES) {
        port->spare_entries[port->spare_count++] = port->entries.extract(it);
    } else {
        port->entries.erase(it);
    }
}

// CPL_ADD_003: an op from the port's free list, or a new one when it is empty;
// NULL when that allocation fails.
Op* take_op(Port* port) {
    Op* op = port->free_ops;
    if (op == nullptr) {
        return new (std::nothrow) Op();
    }
    port->free_ops = op->next;
    *op = Op();
    return op;
}

// CPL_RECV_007, CPL_SEND_005, CPL_RDHUP_003: a completed op is released to the
// port's free list; the memory goes back at the final dec_ref (CPL_DECREF_005).
void recycle_op(Port* port, Op* op) {
    op->next = port->free_ops;
    port->free_ops = op;
}

void free_op_pool(Port* port) {
    while (port->free_ops != nullptr) {
        Op* op = port->free_ops;
        port->free_ops = op->next;
        delete op; // LCOV_EXCL_BR_LINE: the null check `delete` adds; op is never NULL here
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
