// completion_port_add: validate, record the op, arm the socket.
#include <stdint.h>
#include <sys/epoll.h>

#include <new>
#include <utility>

#include "cpl_internal.h"

using cpl::Op;
using cpl::Port;
using cpl::SocketEntry;

namespace
{

// The recommended argument checks; each rejected op would otherwise crash the
// worker or never complete.
bool ingress_is_valid(const Port* port, const COMPLETION_PORT_INGRESS_DATA* in)
{
    // CPL_ADD_011: INVALID_SOCKET (and any negative value) is refused.
    // CPL_ABI_004: SOCKET_HANDLE is an int descriptor, INVALID_SOCKET is -1.
    if (in->socket == INVALID_SOCKET || in->socket < 0)
    {
        return false;
    }
    // The port's own descriptors are not sockets of the caller's: a MOD on
    // the wake-up eventfd would break the final dec_ref.
    if (in->socket == port->wake_fd || in->socket == port->epoll_fd)
    {
        return false;
    }
    // CPL_ADD_012: the worker would call through NULL.
    if (in->event_callback == nullptr)
    {
        return false;
    }
    // CPL_ADD_013: the worker would recv into or send from address 0.
    if ((in->epoll_op & (EPOLLIN | EPOLLOUT)) != 0 && in->buffer_data.buffer == nullptr &&
        in->buffer_data.length > 0)
    {
        return false;
    }
    // CPL_ADD_014: the amount is reported as int32_t.
    if (in->buffer_data.length > static_cast<uint32_t>(INT32_MAX))
    {
        return false;
    }
    return true;
}

// Finds the socket's entry or makes one. Returns false (nothing changed) when
// the map cannot grow (CPL_ADD_003) or a remove of this socket is under way.
bool find_or_create_entry(Port* port, int fd, cpl::EntryMap::iterator* it, bool* created)
{
    *it = port->entries.find(fd);
    *created = false;
    if (*it != port->entries.end())
    {
        return !(*it)->second.removing;
    }
    SocketEntry entry = {};
    // Wraps after 2^32 entries: a stale event would have to outlive that many.
    entry.generation = ++port->next_generation;
    try
    {
        *it = port->entries.emplace(fd, entry).first;
    }
    catch (...)
    {
        return false;  // bad_alloc must not cross the C ABI
    }
    *created = true;
    return true;
}

}  // namespace

// CPL_ABI_001
CPL_API int completion_port_add(COMPLETION_PORT_HANDLE completion_port, const COMPLETION_PORT_INGRESS_DATA* ingress_data)
{
    // CPL_ADD_001, CPL_ADD_002: non-zero, no callback.
    if (completion_port == nullptr || ingress_data == nullptr)
    {
        return MU_FAILURE;
    }
    Port* port = reinterpret_cast<Port*>(completion_port);
    if (!ingress_is_valid(port, ingress_data))
    {
        return MU_FAILURE;
    }

    // CPL_ADD_003: the seed's EPOLL_THREAD_DATA; allocation failure is a
    // non-zero return, never an exception. CPL_ADD_019: so is every failure
    // below, from any thread. CPL_ADD_020: only add allocates; the worker
    // completes ops without memory.
    Op* op = new (std::nothrow) Op();
    if (op == nullptr)
    {
        return MU_FAILURE;
    }
    op->callback = ingress_data->event_callback;
    op->context = ingress_data->event_callback_ctx;
    op->buffer = static_cast<uint8_t*>(ingress_data->buffer_data.buffer);
    op->length = ingress_data->buffer_data.length;
    op->interest = static_cast<uint32_t>(ingress_data->epoll_op) & ~cpl::PORT_CONTROLLED_BITS;
    op->slot = cpl::slot_for(op->interest);

    const int fd = ingress_data->socket;
    int result = 0;

    // CPL_ADD_018: one mutex guards the map, the slots and epoll_ctl, so adds,
    // removes and the worker's re-arm never interleave on one socket.
    (void)pthread_mutex_lock(&port->mutex);
    cpl::EntryMap::iterator it;
    bool created = false;
    if (!find_or_create_entry(port, fd, &it, &created))
    {
        result = MU_FAILURE;
    }
    else if (it->second.slots[op->slot] != nullptr)
    {
        // A second op of the same kind on one socket: which of the two would
        // own the next bytes is undefined, so it is refused.
        result = MU_FAILURE;
    }
    else
    {
        // CPL_ADD_004: the op is recorded until it completes or is closed.
        it->second.slots[op->slot] = op;
        // CPL_ADD_005, CPL_ADD_006, CPL_ADD_009
        if (cpl::arm_entry(port, fd, it->second, true) != 0)
        {
            // CPL_ADD_008: any other epoll_ctl failure: non-zero, no callback.
            // CPL_ADD_015: the op and a new entry are undone; the socket
            // keeps only the registration it had before.
            it->second.slots[op->slot] = nullptr;
            result = MU_FAILURE;
        }
        else
        {
            port->pending_ops++;
        }
    }
    if (result != 0 && created)
    {
        cpl::erase_if_empty(port, it);
    }
    (void)pthread_mutex_unlock(&port->mutex);

    if (result != 0)
    {
        delete op;  // LCOV_EXCL_BR_LINE: the null check `delete` adds; op is never NULL here
    }
    // CPL_ADD_007: 0 on success.
    return result;
}
