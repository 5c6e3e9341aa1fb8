// Port lifecycle: completion_port_create, _inc_ref and _dec_ref.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "cpl_internal.h"

namespace cpl
{
namespace
{

// Room for this many sockets before the map first allocates a bigger bucket
// array, so a failed add on a young port leaves no allocation behind
// (CPL_ADD_015).
constexpr size_t INITIAL_BUCKETS = 64;

void close_fd(int fd)
{
    if (fd >= 0)
    {
        (void)close(fd);
    }
}

}  // namespace

// Closes the descriptors and frees the port. The worker has been joined, or
// this runs on the worker itself as its last act (CPL_DECREF_003, CPL_DECREF_005).
void release_port_resources(Port* port)
{
    close_fd(port->wake_fd);
    close_fd(port->epoll_fd);
    (void)pthread_cond_destroy(&port->worker_idle);
    (void)pthread_mutex_destroy(&port->mutex);
    delete port;  // LCOV_EXCL_BR_LINE: the null check `delete` adds; port is never NULL here
}

}  // namespace cpl

using cpl::Port;

// CPL_CREATE_001: each call makes an independent port (own epoll, thread, map).
// CPL_ABI_001: exported with C linkage, exactly the seed's signature.
CPL_API COMPLETION_PORT_HANDLE completion_port_create(void)
{
    // CPL_CREATE_007: allocations fail by returning NULL, never by throwing.
    Port* port = new (std::nothrow) Port();
    if (port == nullptr)
    {
        return nullptr;
    }
    (void)pthread_mutex_init(&port->mutex, nullptr);
    (void)pthread_cond_init(&port->worker_idle, nullptr);

    bool ok = true;
    try
    {
        port->entries.reserve(cpl::INITIAL_BUCKETS);
    }
    catch (...)
    {
        ok = false;  // CPL_CREATE_007
    }

    // CPL_CREATE_002: one epoll instance. CPL_CREATE_005: its failure is NULL.
    if (ok)
    {
        port->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        ok = port->epoll_fd >= 0;
    }

    // CPL_DECREF_009: an eventfd in the same epoll set lets the final dec_ref
    // wake the worker instead of waiting out its 2 s epoll_wait.
    if (ok)
    {
        port->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ok = port->wake_fd >= 0;
    }
    if (ok)
    {
        struct epoll_event ev = {};
        ev.events = EPOLLIN;
        ev.data.u64 = cpl::WAKE_KEY;
        ok = epoll_ctl(port->epoll_fd, EPOLL_CTL_ADD, port->wake_fd, &ev) == 0;
    }

    // CPL_CREATE_003: one worker thread running epoll_worker_func.
    // CPL_CREATE_006: pthread_create failing makes create return NULL.
    if (ok)
    {
        ok = pthread_create(&port->worker, nullptr, cpl::worker_thread_main, port) == 0;
    }

    if (!ok)
    {
        // CPL_CREATE_008, CPL_CREATE_009: undo every earlier step; nothing is left behind.
        cpl::release_port_resources(port);
        return nullptr;
    }
    // CPL_CREATE_004: the handle on success.
    return reinterpret_cast<COMPLETION_PORT_HANDLE>(port);
}

// CPL_ABI_001
CPL_API void completion_port_inc_ref(COMPLETION_PORT_HANDLE completion_port)
{
    // CPL_INCREF_001: NULL is ignored.
    if (completion_port == nullptr)
    {
        return;
    }
    // CPL_INCREF_002: one more reference. CPL_ADD_018: atomic, any thread.
    reinterpret_cast<Port*>(completion_port)->refcount.fetch_add(1, std::memory_order_relaxed);
}

// CPL_ABI_001
CPL_API void completion_port_dec_ref(COMPLETION_PORT_HANDLE completion_port)
{
    // CPL_DECREF_007: NULL is ignored.
    if (completion_port == nullptr)
    {
        return;
    }
    Port* port = reinterpret_cast<Port*>(completion_port);

    // CPL_DECREF_001: a dec_ref that leaves references changes nothing else.
    // CPL_ADD_018: acq_rel so the final one sees every other thread's writes.
    if (port->refcount.fetch_sub(1, std::memory_order_acq_rel) != 1)
    {
        return;
    }

    // The final dec_ref. The seed: "increment the flag signaling that the
    // threads can complete" (CPL_DECREF_002, CPL_WORKER_003).
    (void)pthread_mutex_lock(&port->mutex);
    port->stopping = true;
    (void)pthread_mutex_unlock(&port->mutex);

    if (cpl::is_worker_of(port))
    {
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

    // CPL_DECREF_003, CPL_DECREF_005
    cpl::release_port_resources(port);
}
