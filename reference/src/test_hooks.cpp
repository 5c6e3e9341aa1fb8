// Test-only view of the port's internals, for the reference's unit tests of
// the `internal` requirements. Linked into test builds only, never into the
// shipped libraries (reference/reference.mk checks both).
#include "test_hooks.h"

#include "cpl_internal.h"

// CPL_ADD_004: how many ops the port records right now (an op whose I/O is
// running counts until it is taken out for its callback).
size_t cpl_test_pending_ops(COMPLETION_PORT_HANDLE completion_port) {
    cpl::Port* port = reinterpret_cast<cpl::Port*>(completion_port);
    size_t count = 0;
    (void)pthread_mutex_lock(&port->mutex);
    for (const auto& item : port->entries) {
        for (const cpl::Op* op : item.second.slots) {
            count += op != nullptr ? 1 : 0;
        }
    }
    (void)pthread_mutex_unlock(&port->mutex);
    return count;
}

// How many sockets have a record (an entry with at least one op).
size_t cpl_test_tracked_sockets(COMPLETION_PORT_HANDLE completion_port) {
    cpl::Port* port = reinterpret_cast<cpl::Port*>(completion_port);
    (void)pthread_mutex_lock(&port->mutex);
    const size_t count = port->entries.size();
    (void)pthread_mutex_unlock(&port->mutex);
    return count;
}

// CPL_REMOVE_006: a remove from another thread has marked the socket's entry
// and waits for the worker to leave it.
int cpl_test_socket_removing(COMPLETION_PORT_HANDLE completion_port, int socket) {
    cpl::Port* port = reinterpret_cast<cpl::Port*>(completion_port);
    (void)pthread_mutex_lock(&port->mutex);
    auto it = port->entries.find(socket);
    bool removing = false;
    if (it != port->entries.end()) {
        removing = it->second.removing;
    }
    (void)pthread_mutex_unlock(&port->mutex);
    return removing;
}

// CPL_WORKER_001: the worker entry point itself, callable with NULL.
int cpl_test_epoll_worker_func(void* parameter) { return cpl::epoll_worker_func(parameter); }
