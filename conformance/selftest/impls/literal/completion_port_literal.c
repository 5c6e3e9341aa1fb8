/* completion_port_literal.c — the seed implemented LITERALLY, as a careful
 * engineer would who reads nothing but the seed: it meets every NORMATIVE
 * requirement of spec/completion_port_linux.md and does nothing more.
 *
 * Deliberately literal (the self-test expects these RECOMMENDED requirements
 * to fail, reported NON-STRICT): no COMPLETION_PORT_CLOSING completions
 * (pending ops are freed silently), the final dec_ref waits out the 2 s
 * epoll_wait (no wake-up), one registration per socket (no full duplex), a
 * blocking recv on blocking sockets, EAGAIN on send is a busy retry, no input
 * validation beyond the seed's NULL checks, remove does not wait for a running
 * callback, a final dec_ref from a callback cannot join the worker (it is the
 * worker) and frees the port under it.
 *
 * MUTANT_xxx switches (one .txt per mutant in impls/literal/mutants) each break exactly
 * one normative requirement, as cheap extra evidence that the suite catches
 * it. Without any MUTANT_ macro the code below is the literal implementation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sched.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "c_pal/completion_port_linux.h"

/* CPL_WORKER_002: "a timeout of 2 Seconds". */
#ifdef MUTANT_WAIT_TIMEOUT
#define EPOLL_WAIT_TIMEOUT_MS 500
#else
#define EPOLL_WAIT_TIMEOUT_MS 2000
#endif
#define MAX_EVENTS 64

/* CPL_ADD_003: the seed's per-op object; CPL_ADD_004: its list. */
typedef struct EPOLL_THREAD_DATA_TAG
{
    struct EPOLL_THREAD_DATA_TAG* next;
    struct EPOLL_THREAD_DATA_TAG* prev;
    SOCKET_HANDLE socket;
    ON_COMPLETION_PORT_EVENT_COMPLETE event_callback;
    void* event_callback_ctx;
    EPOLL_BUFFER_DATA buffer_data;
} EPOLL_THREAD_DATA;

typedef struct COMPLETION_PORT_TAG
{
    int epoll;
    pthread_t thread;
    int32_t ref_count;          /* __atomic builtins */
    int32_t thread_access_cnt;  /* the seed's "flag": incremented to stop the worker */
    pthread_mutex_t list_lock;  /* guards the op list, shared by callers and the worker */
    EPOLL_THREAD_DATA* list_head;
} COMPLETION_PORT;

static void list_insert(COMPLETION_PORT* port, EPOLL_THREAD_DATA* data)
{
    (void)pthread_mutex_lock(&port->list_lock);
    data->prev = NULL;
    data->next = port->list_head;
    if (port->list_head != NULL)
    {
        port->list_head->prev = data;
    }
    port->list_head = data;
    (void)pthread_mutex_unlock(&port->list_lock);
}

/* "Then remove the EPOLL_THREAD_DATA from the list and free the object"
 * (CPL_RDHUP_003, CPL_RECV_007, CPL_SEND_005). */
static void list_remove_and_free(COMPLETION_PORT* port, EPOLL_THREAD_DATA* data)
{
    (void)pthread_mutex_lock(&port->list_lock);
    if (data->prev != NULL)
    {
        data->prev->next = data->next;
    }
    else
    {
        port->list_head = data->next;
    }
    if (data->next != NULL)
    {
        data->next->prev = data->prev;
    }
    (void)pthread_mutex_unlock(&port->list_lock);
    free(data);
}

static bool stop_requested(COMPLETION_PORT* port)
{
    return __atomic_load_n(&port->thread_access_cnt, __ATOMIC_ACQUIRE) != 0;
}

/* EPOLLIN: recv until the buffer is full (CPL_RECV_005), the socket has
 * nothing more (EAGAIN, CPL_RECV_002), the peer shut down (0, CPL_RECV_004)
 * or the connection was reset (CPL_RECV_003). The seed names no other errno:
 * such an op gets no callback. */
static void handle_recv(EPOLL_THREAD_DATA* data)
{
    uint8_t* buffer = data->buffer_data.buffer;
    uint32_t length = data->buffer_data.length;
    uint32_t total = 0;
    bool report = true;
    COMPLETION_PORT_RESULT result = COMPLETION_PORT_RESULT_OK;

    for (;;)
    {
        ssize_t received = recv(data->socket, buffer + total, length - total, 0);
        if (received < 0)
        {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
                result = COMPLETION_PORT_RESULT_OK;
            }
            else if (errno == ECONNRESET)
            {
                result = COMPLETION_PORT_RESULT_ABANDONED;
            }
            else
            {
                report = false;
            }
            break;
        }
        if (received == 0)
        {
            result = COMPLETION_PORT_RESULT_OK;
            break;
        }
        total += (uint32_t)received;
#ifdef MUTANT_RECV_ONCE
        break;
#endif
        if (total >= length)
        {
            result = COMPLETION_PORT_RESULT_OK;
            break;
        }
    }
    if (report)
    {
        data->event_callback(data->event_callback_ctx, COMPLETION_PORT_EPOLL_EPOLLIN, result, (int32_t)total);
    }
}

/* EPOLLOUT: "loop through the total buffers and send the data" (CPL_SEND_001).
 * MSG_NOSIGNAL turns a dead peer into EPIPE instead of killing the process
 * (CPL_SEND_004). EAGAIN is not a failure in the seed, so the loop retries
 * until the peer drains, giving up silently only when the port is stopping. */
static void handle_send(COMPLETION_PORT* port, EPOLL_THREAD_DATA* data)
{
    const uint8_t* buffer = data->buffer_data.buffer;
    uint32_t length = data->buffer_data.length;
    uint32_t total = 0;
    COMPLETION_PORT_RESULT result = COMPLETION_PORT_RESULT_OK;
#ifdef MUTANT_SEND_SIGPIPE
    const int flags = 0;
#else
    const int flags = MSG_NOSIGNAL;
#endif

    while (total < length)
    {
        ssize_t sent = send(data->socket, buffer + total, length - total, flags);
        if (sent < 0)
        {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
                if (stop_requested(port))
                {
                    return;
                }
                (void)sched_yield();
                continue;
            }
#ifdef MUTANT_SEND_RESET_IS_ERROR
            result = COMPLETION_PORT_RESULT_ERROR;
#else
            result = (errno == ECONNRESET) ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR;
#endif
            break;
        }
        total += (uint32_t)sent;
    }
    data->event_callback(data->event_callback_ctx, COMPLETION_PORT_EPOLL_EPOLLOUT, result, (int32_t)total);
}

/* The seed's worker: epoll_wait with 2 s timeout until the flag is raised
 * (CPL_WORKER_002, CPL_WORKER_003). One event gives one callback: the three
 * cases are exclusive, hang-up first (CPL_RDHUP_002). Events the seed does not
 * name (EPOLLERR/EPOLLHUP alone) leave the op in the list; the final dec_ref
 * frees it. */
static int epoll_worker_func(void* parameter)
{
    if (parameter == NULL)
    {
        return 0; /* CPL_WORKER_001 */
    }
    COMPLETION_PORT* port = parameter;
    struct epoll_event events[MAX_EVENTS];

    while (!stop_requested(port))
    {
        int count = epoll_wait(port->epoll, events, MAX_EVENTS, EPOLL_WAIT_TIMEOUT_MS);
        if (count < 0)
        {
            /* EINTR (and anything else): look at the flag and wait again. */
            continue;
        }
        for (int i = 0; i < count; i++)
        {
            EPOLL_THREAD_DATA* data = events[i].data.ptr;
            uint32_t mask = events[i].events;
            if ((mask & EPOLLRDHUP) != 0)
            {
                data->event_callback(data->event_callback_ctx, COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, 0);
                list_remove_and_free(port, data);
            }
            else if ((mask & EPOLLIN) != 0)
            {
                handle_recv(data);
                list_remove_and_free(port, data);
            }
            else if ((mask & EPOLLOUT) != 0)
            {
                handle_send(port, data);
                list_remove_and_free(port, data);
            }
        }
    }
    return 0;
}

static void* worker_thread_start(void* parameter)
{
    (void)epoll_worker_func(parameter);
    return NULL;
}

COMPLETION_PORT_HANDLE completion_port_create(void)
{
    COMPLETION_PORT* port = malloc(sizeof(*port)); /* CPL_CREATE_001 */
    if (port == NULL)
    {
        return NULL; /* CPL_CREATE_007 */
    }
    port->ref_count = 1;
    port->thread_access_cnt = 0;
    port->list_head = NULL;
    if (pthread_mutex_init(&port->list_lock, NULL) != 0)
    {
        free(port);
        return NULL;
    }
    port->epoll = epoll_create(MAX_EVENTS); /* CPL_CREATE_002 */
    if (port->epoll < 0)
    {
#ifdef MUTANT_CREATE_IGNORES_EPOLL_FAILURE
        return port;
#else
        (void)pthread_mutex_destroy(&port->list_lock);
        free(port);
        return NULL; /* CPL_CREATE_005 */
#endif
    }
    if (pthread_create(&port->thread, NULL, worker_thread_start, port) != 0) /* CPL_CREATE_003 */
    {
        (void)close(port->epoll);
        (void)pthread_mutex_destroy(&port->list_lock);
        free(port);
        return NULL; /* CPL_CREATE_006 */
    }
    return port; /* CPL_CREATE_004 */
}

void completion_port_inc_ref(COMPLETION_PORT_HANDLE completion_port)
{
#ifndef MUTANT_INCREF_NO_NULL_CHECK
    if (completion_port == NULL)
    {
        return; /* CPL_INCREF_001 */
    }
#endif
    (void)__atomic_add_fetch(&completion_port->ref_count, 1, __ATOMIC_ACQ_REL); /* CPL_INCREF_002 */
}

void completion_port_dec_ref(COMPLETION_PORT_HANDLE completion_port)
{
    if (completion_port == NULL)
    {
        return; /* not in the seed; costs nothing */
    }
    if (__atomic_sub_fetch(&completion_port->ref_count, 1, __ATOMIC_ACQ_REL) != 0)
    {
        return; /* CPL_DECREF_001 */
    }
    /* "increment the flag signaling that the threads can complete" (CPL_DECREF_002).
     * The worker sees it after its current epoll_wait, up to 2 s later. */
    (void)__atomic_add_fetch(&completion_port->thread_access_cnt, 1, __ATOMIC_ACQ_REL);
    /* Join before closing, so that the worker never waits on a closed (and
     * maybe reused) descriptor number (spec note N3) (CPL_DECREF_004). */
    (void)pthread_join(completion_port->thread, NULL);
    (void)close(completion_port->epoll); /* CPL_DECREF_003 */
    /* Ops still pending are freed without a callback: the seed names none. */
    EPOLL_THREAD_DATA* data = completion_port->list_head;
    while (data != NULL)
    {
        EPOLL_THREAD_DATA* next = data->next;
        free(data);
        data = next;
    }
    (void)pthread_mutex_destroy(&completion_port->list_lock);
#ifndef MUTANT_LEAK_PORT
    free(completion_port); /* CPL_DECREF_005 */
#endif
}

int completion_port_add(COMPLETION_PORT_HANDLE completion_port, const COMPLETION_PORT_INGRESS_DATA* ingress_data)
{
    if (completion_port == NULL || ingress_data == NULL)
    {
        return MU_FAILURE; /* CPL_ADD_001, CPL_ADD_002 */
    }
    EPOLL_THREAD_DATA* data = malloc(sizeof(*data));
    if (data == NULL)
    {
        return MU_FAILURE; /* CPL_ADD_003 */
    }
    data->socket = ingress_data->socket;
    data->event_callback = ingress_data->event_callback;
    data->event_callback_ctx = ingress_data->event_callback_ctx;
    data->buffer_data = ingress_data->buffer_data;
    list_insert(completion_port, data); /* CPL_ADD_004 */

    /* EPOLLONESHOT: one event per op, so a level-triggered event never
     * reaches an op already freed (CPL_ADD_010). */
    struct epoll_event ev;
    ev.events = (uint32_t)ingress_data->epoll_op | EPOLLONESHOT;
    ev.data.ptr = data;
#ifdef MUTANT_ADD_FIRST
    int result = epoll_ctl(completion_port->epoll, EPOLL_CTL_ADD, data->socket, &ev);
    if (result != 0 && errno == EEXIST)
    {
        result = epoll_ctl(completion_port->epoll, EPOLL_CTL_MOD, data->socket, &ev);
    }
#else
    int result = epoll_ctl(completion_port->epoll, EPOLL_CTL_MOD, data->socket, &ev); /* CPL_ADD_005 */
    if (result != 0 && errno == ENOENT)
    {
        result = epoll_ctl(completion_port->epoll, EPOLL_CTL_ADD, data->socket, &ev); /* CPL_ADD_006 */
    }
#endif
    if (result != 0)
    {
        /* No registration was made, so the worker cannot see this op. */
        list_remove_and_free(completion_port, data);
#ifdef MUTANT_ADD_IGNORES_CTL_FAILURE
        return 0;
#else
        return MU_FAILURE; /* CPL_ADD_008 */
#endif
    }
    /* From here on the worker may already have completed and freed the op. */
    return 0; /* CPL_ADD_007 */
}

void completion_port_remove(COMPLETION_PORT_HANDLE completion_port, SOCKET_HANDLE socket)
{
    if (completion_port == NULL)
    {
        return; /* CPL_REMOVE_001 */
    }
    if (socket == INVALID_SOCKET)
    {
        return; /* CPL_REMOVE_002 */
    }
#ifndef MUTANT_REMOVE_NO_DEL
    /* CPL_REMOVE_003, CPL_REMOVE_004. The socket's pending ops stay in the list
     * (an event fetched just before may still complete one); the final dec_ref
     * frees what is left. */
    (void)epoll_ctl(completion_port->epoll, EPOLL_CTL_DEL, socket, NULL);
#endif
}
