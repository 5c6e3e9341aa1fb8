// completion_port_add: validate, record the op, arm the socket.
#include <stdint.h>
#include <sys/epoll.h>

#include "cpl_internal.h"

using cpl::Op;
using cpl::Port;
using cpl::SocketEntry;

// The recommended argument checks; each rejected op would otherwise crash the
// worker or never complete.
static bool ingress_is_valid(const Port* port, const COMPLETION_PORT_INGRESS_DATA* in) {
    const bool moves_bytes = (in->epoll_op & (EPOLLIN | EPOLLOUT)) != 0;
    // CPL_ADD_011: INVALID_SOCKET (and any negative value) is refused.
    return cpl::is_callers_socket(port, in->socket)
           // CPL_ADD_012: the worker would call through NULL.
           && in->event_callback != nullptr
           // CPL_ADD_013: the worker would recv into or send from address 0.
           && !(moves_bytes && in->buffer_data.buffer == nullptr && in->buffer_data.length > 0)
           // CPL_ADD_014: the amount is reported as int32_t.
           && in->buffer_data.length <= static_cast<uint32_t>(INT32_MAX);
}

// The op's slot, and (CPL_EVENT_001) the action an ERR/HUP completion reports.
static cpl::Slot slot_for(uint32_t interest) {
    return (interest & EPOLLIN) != 0 ? cpl::SLOT_RECV : (interest & EPOLLOUT) != 0 ? cpl::SLOT_SEND : cpl::SLOT_WATCH;
}
static const COMPLETION_PORT_EPOLL_ACTION SLOT_ACTION[cpl::SLOT_COUNT] = {
    COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_EPOLL_EPOLLRDHUP};

// Finds the socket's entry (*found) or makes one (*created). False, nothing
// changed, when the map cannot grow (CPL_ADD_003) or a remove of this socket is
// under way.
static bool entry_for(Port* port, int fd, SocketEntry** found, bool* created) {
    const cpl::EntryMap::iterator it = port->entries.find(fd);
    *created = it == port->entries.end();
    if (!*created) {
        *found = &it->second;
        return !it->second.removing;
    }
    SocketEntry entry = {};
    // Wraps after 2^32 entries: a stale event would have to outlive that many.
    entry.generation = ++port->next_generation;
    try {
        *found = cpl::insert_entry(port, fd, entry);
    } catch (...) {
        *created = false;
        return false; // bad_alloc must not cross the C ABI
    }
    return true;
}

// CPL_ABI_001
CPL_API int completion_port_add(COMPLETION_PORT_HANDLE completion_port,
                                const COMPLETION_PORT_INGRESS_DATA* ingress_data) {
    Port* port = reinterpret_cast<Port*>(completion_port);
    // CPL_ADD_001, CPL_ADD_002: non-zero, no callback.
    if (port == nullptr || ingress_data == nullptr || !ingress_is_valid(port, ingress_data)) {
        return MU_FAILURE;
    }
    const uint32_t interest = static_cast<uint32_t>(ingress_data->epoll_op) & ~cpl::PORT_CONTROLLED_BITS;
    const cpl::Slot slot = slot_for(interest);
    const int fd = ingress_data->socket;

    // CPL_ADD_018: one mutex guards the map, the slots, the free ops and
    // epoll_ctl, so adds, removes and the worker's re-arm never interleave on
    // one socket.
    (void)pthread_mutex_lock(&port->mutex);
    bool created = false;
    SocketEntry* entry = nullptr;
    const bool found = entry_for(port, fd, &entry, &created);
    // A second op of the same kind on one socket is refused: which of the two
    // would own the next bytes is undefined.
    bool ok = found && entry->slots[slot] == nullptr;
    // CPL_ADD_003: the seed's EPOLL_THREAD_DATA; allocation failure is a
    // non-zero return, never an exception. CPL_ADD_019: so is every failure
    // below, from any thread. CPL_ADD_020: only add allocates; the worker
    // completes ops without memory.
    Op* op = ok ? cpl::take_op(port) : nullptr;
    ok = op != nullptr;
    if (ok) {
        op->callback = ingress_data->event_callback;
        op->context = ingress_data->event_callback_ctx;
        op->buffer = static_cast<uint8_t*>(ingress_data->buffer_data.buffer);
        op->length = ingress_data->buffer_data.length;
        op->interest = interest;
        op->action = SLOT_ACTION[slot];
        // CPL_ADD_004: the op is recorded until it completes or is closed.
        // CPL_ADD_005, CPL_ADD_006, CPL_ADD_009. CPL_ADD_008: any other
        // epoll_ctl failure: non-zero, no callback, and the op is undone.
        entry->slots[slot] = op;
        ok = cpl::arm_entry(port, fd, *entry, true);
        entry->slots[slot] = ok ? op : nullptr;
    }
    if (!ok && created) {
        // CPL_ADD_015: the socket keeps only the registration it had before.
        port->entries.erase(fd);
    }
    (void)pthread_mutex_unlock(&port->mutex);

    if (!ok) {
        delete op; // CPL_ADD_015. NULL if none was taken
    }
    return ok ? 0 : MU_FAILURE; // CPL_ADD_007: 0 on success
}
