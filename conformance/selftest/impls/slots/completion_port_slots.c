/* completion_port_slots.c — a DELIBERATELY WRONG implementation for the
 * kit's self-test (conformance/selftest/README.md).
 *
 * Structure (independent of the literal one): ops live in a growable array
 * of slots; epoll carries (generation << 32 | index) instead of a pointer, so a
 * stale event never reaches a reused slot; an eventfd wakes the worker at
 * teardown; pending ops get CLOSING completions from remove and the final
 * dec_ref.
 *
 * THE DEFECT (CPL_RECV_005): the worker calls recv once and completes the op
 * with whatever that call returned, even when it filled only part of the
 * buffer and more data may be waiting. Everything else aims to conform.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "c_pal/completion_port_linux.h"

#define WAIT_TIMEOUT_MS 2000
#define EVENTS_PER_WAIT 32
#define INITIAL_SLOTS 16
#define WAKE_KEY UINT64_MAX

typedef enum { SLOT_FREE, SLOT_PENDING, SLOT_RUNNING } SLOT_STATE;

typedef struct
{
    SLOT_STATE state;
    uint32_t generation;
    SOCKET_HANDLE socket;
    uint32_t events;
    ON_COMPLETION_PORT_EVENT_COMPLETE callback;
    void* context;
    uint8_t* buffer;
    uint32_t length;
    uint32_t done; /* bytes already sent by a suspended send */
} SLOT;

typedef struct COMPLETION_PORT_TAG
{
    int epoll_fd;
    int wake_fd;
    pthread_t worker;
    int32_t refs;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool stopping;
    bool released_by_worker; /* final dec_ref ran inside a callback */
    SOCKET_HANDLE running_socket; /* socket whose op the worker is serving */
    SLOT* slots;
    uint32_t slot_count;
} PORT;

static uint64_t key_of(const PORT* port, uint32_t index)
{
    return ((uint64_t)port->slots[index].generation << 32) | index;
}

static void release_slot(PORT* port, uint32_t index)
{
    port->slots[index].state = SLOT_FREE;
    port->slots[index].generation++;
}

static void closing(const SLOT* op)
{
    op->callback(op->context, COMPLETION_PORT_CLOSING, COMPLETION_PORT_RESULT_ABANDONED, 0);
}

/* Completes every pending op of `socket` (or of all sockets when socket is
 * INVALID_SOCKET) with CLOSING, one at a time, the lock released around each
 * callback. Called with the lock held. */
static void close_pending(PORT* port, SOCKET_HANDLE socket)
{
    for (uint32_t i = 0; i < port->slot_count; i++)
    {
        SLOT* slot = &port->slots[i];
        if (slot->state == SLOT_PENDING && (socket == INVALID_SOCKET || slot->socket == socket))
        {
            SLOT op = *slot;
            release_slot(port, i);
            (void)pthread_mutex_unlock(&port->lock);
            closing(&op);
            (void)pthread_mutex_lock(&port->lock);
            i = (uint32_t)-1; /* the array may have moved: rescan */
        }
    }
}

static int rearm(PORT* port, uint32_t index, SOCKET_HANDLE socket, uint32_t events)
{
    struct epoll_event ev = { .events = events | EPOLLONESHOT, .data.u64 = key_of(port, index) };
    return epoll_ctl(port->epoll_fd, EPOLL_CTL_MOD, socket, &ev);
}

/* THE DEFECT: one recv, never continued. */
static void serve_recv(SLOT* op)
{
    ssize_t got;
    do
    {
        got = recv(op->socket, op->buffer, op->length, MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got >= 0)
    {
        op->callback(op->context, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, (int32_t)got);
    }
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
    {
        op->callback(op->context, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, 0);
    }
    else
    {
        op->callback(op->context, COMPLETION_PORT_EPOLL_EPOLLIN,
            errno == ECONNRESET ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR, 0);
    }
}

/* Returns true when the op completed, false when the socket is full and the
 * op must wait for writability (op->done says how far it got). */
static bool serve_send(SLOT* op)
{
    while (op->done < op->length)
    {
        ssize_t sent = send(op->socket, op->buffer + op->done, op->length - op->done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent >= 0)
        {
            op->done += (uint32_t)sent;
        }
        else if (errno == EINTR)
        {
            continue;
        }
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
            return false;
        }
        else
        {
            op->callback(op->context, COMPLETION_PORT_EPOLL_EPOLLOUT,
                errno == ECONNRESET ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR, (int32_t)op->done);
            return true;
        }
    }
    op->callback(op->context, COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, (int32_t)op->done);
    return true;
}

static void serve_event(PORT* port, uint64_t key, uint32_t happened)
{
    uint32_t index = (uint32_t)key;
    (void)pthread_mutex_lock(&port->lock);
    if (index >= port->slot_count || port->slots[index].generation != (uint32_t)(key >> 32) ||
        port->slots[index].state != SLOT_PENDING)
    {
        (void)pthread_mutex_unlock(&port->lock); /* stale: removed or closed meanwhile */
        return;
    }
    port->slots[index].state = SLOT_RUNNING;
    port->running_socket = port->slots[index].socket;
    SLOT op = port->slots[index];
    (void)pthread_mutex_unlock(&port->lock);

    bool finished = true;
    if ((happened & EPOLLRDHUP) != 0 && (op.events & EPOLLRDHUP) != 0)
    {
        op.callback(op.context, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, 0);
    }
    else if ((happened & EPOLLIN) != 0 && (op.events & EPOLLIN) != 0)
    {
        serve_recv(&op);
    }
    else if ((happened & EPOLLOUT) != 0 && (op.events & EPOLLOUT) != 0)
    {
        finished = serve_send(&op);
    }
    else
    {
        /* EPOLLERR/EPOLLHUP alone: nothing asked for will ever come. */
        COMPLETION_PORT_EPOLL_ACTION action = (op.events & EPOLLIN) ? COMPLETION_PORT_EPOLL_EPOLLIN
            : (op.events & EPOLLOUT) ? COMPLETION_PORT_EPOLL_EPOLLOUT : COMPLETION_PORT_EPOLL_EPOLLRDHUP;
        op.callback(op.context, action, COMPLETION_PORT_RESULT_ERROR, 0);
    }

    (void)pthread_mutex_lock(&port->lock);
    if (finished)
    {
        release_slot(port, index);
    }
    else
    {
        port->slots[index].done = op.done;
        port->slots[index].state = SLOT_PENDING;
        /* ENOENT: removed meanwhile; remove or dec_ref closes the op. */
        (void)rearm(port, index, op.socket, EPOLLOUT);
    }
    port->running_socket = INVALID_SOCKET;
    (void)pthread_cond_broadcast(&port->changed);
    (void)pthread_mutex_unlock(&port->lock);
}

static void destroy(PORT* port)
{
    (void)close(port->wake_fd);
    (void)close(port->epoll_fd);
    (void)pthread_cond_destroy(&port->changed);
    (void)pthread_mutex_destroy(&port->lock);
    free(port->slots);
    free(port);
}

static void* worker_main(void* parameter)
{
    PORT* port = parameter;
    struct epoll_event events[EVENTS_PER_WAIT];
    for (;;)
    {
        (void)pthread_mutex_lock(&port->lock);
        bool stopping = port->stopping;
        (void)pthread_mutex_unlock(&port->lock);
        if (stopping)
        {
            break;
        }
        int count = epoll_wait(port->epoll_fd, events, EVENTS_PER_WAIT, WAIT_TIMEOUT_MS);
        for (int i = 0; i < count; i++)
        {
            if (events[i].data.u64 == WAKE_KEY)
            {
                continue; /* the eventfd stays readable: stopping is set */
            }
            serve_event(port, events[i].data.u64, events[i].events);
            (void)pthread_mutex_lock(&port->lock);
            stopping = port->stopping;
            (void)pthread_mutex_unlock(&port->lock);
            if (stopping)
            {
                break;
            }
        }
    }
    if (port->released_by_worker)
    {
        /* Nobody will join us: the last reference was dropped in a callback. */
        (void)pthread_detach(pthread_self());
        destroy(port);
    }
    return NULL;
}

COMPLETION_PORT_HANDLE completion_port_create(void)
{
    PORT* port = calloc(1, sizeof(*port));
    if (port == NULL)
    {
        return NULL;
    }
    port->refs = 1;
    port->running_socket = INVALID_SOCKET;
    port->slots = calloc(INITIAL_SLOTS, sizeof(SLOT));
    if (port->slots == NULL)
    {
        goto no_slots;
    }
    port->slot_count = INITIAL_SLOTS;
    if (pthread_mutex_init(&port->lock, NULL) != 0)
    {
        goto no_lock;
    }
    if (pthread_cond_init(&port->changed, NULL) != 0)
    {
        goto no_cond;
    }
    port->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (port->epoll_fd < 0)
    {
        goto no_epoll;
    }
    port->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (port->wake_fd < 0)
    {
        goto no_wake;
    }
    struct epoll_event wake = { .events = EPOLLIN, .data.u64 = WAKE_KEY };
    if (epoll_ctl(port->epoll_fd, EPOLL_CTL_ADD, port->wake_fd, &wake) != 0 ||
        pthread_create(&port->worker, NULL, worker_main, port) != 0)
    {
        goto no_worker;
    }
    return port;

no_worker:
    (void)close(port->wake_fd);
no_wake:
    (void)close(port->epoll_fd);
no_epoll:
    (void)pthread_cond_destroy(&port->changed);
no_cond:
    (void)pthread_mutex_destroy(&port->lock);
no_lock:
    free(port->slots);
no_slots:
    free(port);
    return NULL;
}

void completion_port_inc_ref(COMPLETION_PORT_HANDLE completion_port)
{
    if (completion_port != NULL)
    {
        (void)__atomic_add_fetch(&completion_port->refs, 1, __ATOMIC_ACQ_REL);
    }
}

void completion_port_dec_ref(COMPLETION_PORT_HANDLE completion_port)
{
    if (completion_port == NULL || __atomic_sub_fetch(&completion_port->refs, 1, __ATOMIC_ACQ_REL) != 0)
    {
        return;
    }
    PORT* port = completion_port;
    bool on_worker = pthread_equal(pthread_self(), port->worker) != 0;
    (void)pthread_mutex_lock(&port->lock);
    port->stopping = true;
    port->released_by_worker = on_worker;
    close_pending(port, INVALID_SOCKET);
    (void)pthread_mutex_unlock(&port->lock);
    if (on_worker)
    {
        return; /* the worker frees the port once this callback returns */
    }
    uint64_t one = 1;
    (void)write(port->wake_fd, &one, sizeof(one));
    (void)pthread_join(port->worker, NULL);
    /* An op added while we were stopping the worker. */
    (void)pthread_mutex_lock(&port->lock);
    close_pending(port, INVALID_SOCKET);
    (void)pthread_mutex_unlock(&port->lock);
    destroy(port);
}

static bool valid_ingress(const COMPLETION_PORT_INGRESS_DATA* in)
{
    return in->socket != INVALID_SOCKET && in->event_callback != NULL && in->buffer_data.length <= INT32_MAX &&
        !(in->buffer_data.buffer == NULL && in->buffer_data.length > 0 && (in->epoll_op & (EPOLLIN | EPOLLOUT)) != 0);
}

static int take_slot(PORT* port, uint32_t* index)
{
    for (uint32_t i = 0; i < port->slot_count; i++)
    {
        if (port->slots[i].state == SLOT_FREE)
        {
            *index = i;
            return 0;
        }
    }
    uint32_t count = port->slot_count * 2;
    SLOT* grown = realloc(port->slots, count * sizeof(SLOT));
    if (grown == NULL)
    {
        return -1;
    }
    for (uint32_t i = port->slot_count; i < count; i++)
    {
        grown[i] = (SLOT){ .state = SLOT_FREE };
    }
    *index = port->slot_count;
    port->slots = grown;
    port->slot_count = count;
    return 0;
}

int completion_port_add(COMPLETION_PORT_HANDLE completion_port, const COMPLETION_PORT_INGRESS_DATA* ingress_data)
{
    if (completion_port == NULL || ingress_data == NULL || !valid_ingress(ingress_data))
    {
        return MU_FAILURE;
    }
    PORT* port = completion_port;
    uint32_t index;
    (void)pthread_mutex_lock(&port->lock);
    if (port->stopping || take_slot(port, &index) != 0)
    {
        (void)pthread_mutex_unlock(&port->lock);
        return MU_FAILURE;
    }
    SLOT* slot = &port->slots[index];
    slot->state = SLOT_PENDING;
    slot->socket = ingress_data->socket;
    slot->events = (uint32_t)ingress_data->epoll_op;
    slot->callback = ingress_data->event_callback;
    slot->context = ingress_data->event_callback_ctx;
    slot->buffer = ingress_data->buffer_data.buffer;
    slot->length = ingress_data->buffer_data.length;
    slot->done = 0;
    struct epoll_event ev = { .events = slot->events | EPOLLONESHOT, .data.u64 = key_of(port, index) };
    /* Registered under the lock: the worker cannot run the op before we know
     * whether epoll accepted it. */
    int result = epoll_ctl(port->epoll_fd, EPOLL_CTL_MOD, ingress_data->socket, &ev);
    if (result != 0 && errno == ENOENT)
    {
        result = epoll_ctl(port->epoll_fd, EPOLL_CTL_ADD, ingress_data->socket, &ev);
    }
    if (result != 0)
    {
        release_slot(port, index);
    }
    (void)pthread_mutex_unlock(&port->lock);
    return result == 0 ? 0 : MU_FAILURE;
}

void completion_port_remove(COMPLETION_PORT_HANDLE completion_port, SOCKET_HANDLE socket)
{
    if (completion_port == NULL || socket == INVALID_SOCKET)
    {
        return;
    }
    PORT* port = completion_port;
    (void)epoll_ctl(port->epoll_fd, EPOLL_CTL_DEL, socket, NULL);
    bool on_worker = pthread_equal(pthread_self(), port->worker) != 0;
    (void)pthread_mutex_lock(&port->lock);
    while (!on_worker && port->running_socket == socket)
    {
        (void)pthread_cond_wait(&port->changed, &port->lock);
    }
    close_pending(port, socket);
    (void)pthread_mutex_unlock(&port->lock);
}
