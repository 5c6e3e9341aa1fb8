// Port lifecycle: completion_port_create, _inc_ref and _dec_ref.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "cpl_internal.h"

using cpl::Port;

// Room for this many sockets before the map first allocates a bigger bucket
// array, so a failed add on a young port leaves no allocation behind (CPL_ADD_015).
constexpr size_t INITIAL_BUCKETS = 64;

static void close_fd(int fd) {
    if (fd >= 0) {
        (void)close(fd);
    }
}

// CPL_DECREF_003, CPL_DECREF_005: closes the descriptors and frees the port,
// once the worker is joined or as the worker's last act; after a failed
// create, undoes whatever was made (CPL_CREATE_008).
void cpl::release_port_resources(Port* port) {
    close_fd(port->wake_fd);
    close_fd(port->epoll_fd);
    (void)pthread_cond_destroy(&port->worker_idle);
    (void)pthread_mutex_destroy(&port->mutex);
    cpl::free_op_pool(port);
    delete port; // LCOV_EXCL_BR_LINE: the null check `delete` adds; port is never NULL here
}

static void* worker_thread_main(void* port) {
    (void)cpl::epoll_worker_func(port);
    return nullptr;
}

// The steps of create after the allocation, in order; false at the first
// that fails.
static bool start_port(Port* port) {
    try {
        port->entries.reserve(INITIAL_BUCKETS);
    } catch (...) {
        return false; // CPL_CREATE_007
    }
    // CPL_CREATE_002: one epoll instance. CPL_CREATE_005: its failure is NULL.
    port->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (port->epoll_fd < 0) {
        return false;
    }
    // CPL_DECREF_009: an eventfd in the same epoll set lets the final dec_ref
    // wake the worker instead of waiting out its 2 s epoll_wait. CPL_WORKER_006:
    // it starts at 0 and is written only then, so it never wakes an idle worker.
    port->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = cpl::WAKE_KEY;
    if (port->wake_fd < 0 || epoll_ctl(port->epoll_fd, EPOLL_CTL_ADD, port->wake_fd, &ev) != 0) {
        return false;
    }
    // CPL_CREATE_003: one worker thread running epoll_worker_func.
    // CPL_CREATE_006: pthread_create failing makes create return NULL.
    return pthread_create(&port->worker, nullptr, worker_thread_main, port) == 0;
}

// CPL_CREATE_001: each call makes an independent port (own epoll, thread, map).
// CPL_ABI_001: exported with C linkage, exactly the seed's signature.
CPL_API COMPLETION_PORT_HANDLE completion_port_create(void) {
    // CPL_CREATE_007: allocations fail by returning NULL, never by throwing.
    Port* port = new (std::nothrow) Port();
    if (port == nullptr) {
        return nullptr;
    }
    (void)pthread_mutex_init(&port->mutex, nullptr);
    (void)pthread_cond_init(&port->worker_idle, nullptr);
    if (!start_port(port)) {
        cpl::release_port_resources(port); // CPL_CREATE_008, CPL_CREATE_009: nothing is left behind
        return nullptr;
    }
    return reinterpret_cast<COMPLETION_PORT_HANDLE>(port); // CPL_CREATE_004
}

// CPL_ABI_001. CPL_INCREF_001: NULL is ignored. CPL_INCREF_002: one more
// reference. CPL_ADD_018: atomic, from any thread.
CPL_API void completion_port_inc_ref(COMPLETION_PORT_HANDLE completion_port) {
    if (completion_port != nullptr) {
        reinterpret_cast<Port*>(completion_port)->refcount.fetch_add(1, std::memory_order_relaxed);
    }
}

// CPL_ABI_001
CPL_API void completion_port_dec_ref(COMPLETION_PORT_HANDLE completion_port) {
    Port* port = reinterpret_cast<Port*>(completion_port);
    // CPL_DECREF_007: NULL is ignored. CPL_DECREF_001: a dec_ref that leaves
    // references changes nothing else. CPL_ADD_018: acq_rel, so that the final
    // one sees every other thread's writes.
    if (port == nullptr || port->refcount.fetch_sub(1, std::memory_order_acq_rel) != 1) {
        return;
    }

    // The final dec_ref. The seed: "increment the flag signaling that the
    // threads can complete" (CPL_DECREF_002, CPL_WORKER_003).
    port->stopping = true;
    if (cpl::is_worker_of(port)) {
        // CPL_DECREF_010: called from a callback on the worker, which cannot
        // join itself. Complete the pending ops here (CPL_DECREF_008); the
        // worker frees the port and detaches itself once this callback returns.
        port->released_by_worker = true;
        cpl::drain_all_closing(port);
        return;
    }

    // CPL_DECREF_009: wake the worker now. If the write failed the worker
    // would still see `stopping` after its 2 s timeout. CPL_DECREF_011: no
    // call from here on can change what the caller sees.
    const uint64_t one = 1;
    (void)write(port->wake_fd, &one, sizeof(one));

    // CPL_DECREF_004: join first (the worker finishes any in-flight op), then
    // close: the seed's close-then-join lets the worker use a closed, maybe
    // reused, descriptor (spec note N3). CPL_DECREF_006: after the join no
    // event-driven callback can start.
    (void)pthread_join(port->worker, nullptr);

    // CPL_DECREF_008: the ops still pending complete once as closing, on this
    // thread, before dec_ref returns. Drained before the descriptors close so
    // that an add made from one of these callbacks never reaches a closed fd.
    cpl::drain_all_closing(port);
    cpl::release_port_resources(port); // CPL_DECREF_003, CPL_DECREF_005
}
