// completion_port_remove: deregister a socket and close its pending ops.
#include <sys/epoll.h>

#include "cpl_internal.h"

using cpl::Port;

// CPL_ABI_001
CPL_API void completion_port_remove(COMPLETION_PORT_HANDLE completion_port, SOCKET_HANDLE socket) {
    Port* port = reinterpret_cast<Port*>(completion_port);
    // CPL_REMOVE_001, CPL_REMOVE_002: NULL and INVALID_SOCKET are ignored, and
    // so are the port's own descriptors.
    if (port == nullptr || !cpl::is_callers_socket(port, socket)) {
        return;
    }

    cpl::Op* list = nullptr;
    (void)pthread_mutex_lock(&port->mutex);
    // CPL_REMOVE_006: wait until the worker is done with this socket's op (its
    // I/O and callback), unless we are that callback: it cannot wait for itself.
    // Marking the entry `removing` (again after each wake-up: a callback may
    // have made a new one) stops the worker from taking more of its ops.
    cpl::EntryMap::iterator it;
    const bool on_worker = cpl::is_worker_of(port);
    for (;;) {
        it = port->entries.find(socket);
        if (it != port->entries.end()) {
            it->second.removing = true;
        }
        if (on_worker || port->busy_fd != socket) {
            break;
        }
        (void)pthread_cond_wait(&port->worker_idle, &port->mutex);
    }

    // CPL_REMOVE_003: EPOLL_CTL_DEL, under the mutex so that no add or re-arm
    // can slip in between. CPL_REMOVE_007: ENOENT (never added) and EBADF are
    // not errors here. A non-NULL event keeps pre-2.6.9 semantics harmless.
    // CPL_REMOVE_008: nor is any other failure: the entry is erased below.
    struct epoll_event unused = {};
    (void)epoll_ctl(port->epoll_fd, EPOLL_CTL_DEL, socket, &unused);

    // `it` was looked up after the last wait. CPL_REMOVE_004: once the entry
    // is erased, no event can reach its ops (the worker drops events whose
    // entry or generation is gone).
    if (it != port->entries.end()) {
        cpl::detach_all_ops(it->second, &list);
        port->entries.erase(it);
    }
    (void)pthread_mutex_unlock(&port->mutex);

    // CPL_REMOVE_005: every op still pending completes once as closing, on
    // this thread, before remove returns; then its memory is released.
    cpl::complete_closing_list(list);
}
