/* A small consumer of an installed completion_port: echoes one message over a
 * socketpair. The port receives on one end what the peer wrote, sends it back,
 * and the peer reads it. Exits 0 when the echo comes back intact. */
#define _GNU_SOURCE
#include <c_pal/completion_port_linux.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SECONDS 10

typedef struct COMPLETION_TAG {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int completed;
    COMPLETION_PORT_EPOLL_ACTION action;
    COMPLETION_PORT_RESULT result;
    int32_t amount;
} COMPLETION;

static void on_complete(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                        int32_t amount) {
    COMPLETION* c = context;
    pthread_mutex_lock(&c->lock);
    c->action = action;
    c->result = result;
    c->amount = amount;
    c->completed = 1;
    pthread_cond_signal(&c->done);
    pthread_mutex_unlock(&c->lock);
}

/* Adds one op on socket and waits (bounded) for its completion; 0 on success. */
static int run_op(COMPLETION_PORT_HANDLE port, int socket, int epoll_op, void* buffer, uint32_t length, COMPLETION* c) {
    COMPLETION_PORT_INGRESS_DATA op;
    struct timespec deadline;
    int timed_out = 0;

    c->completed = 0;
    memset(&op, 0, sizeof(op));
    op.epoll_op = epoll_op;
    op.socket = socket;
    op.event_callback = on_complete;
    op.event_callback_ctx = c;
    op.buffer_data.buffer = buffer;
    op.buffer_data.length = length;
    if (completion_port_add(port, &op) != 0) {
        fprintf(stderr, "echo: completion_port_add failed\n");
        return -1;
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_SECONDS;
    pthread_mutex_lock(&c->lock);
    while (!c->completed && !timed_out) {
        timed_out = pthread_cond_timedwait(&c->done, &c->lock, &deadline) == ETIMEDOUT;
    }
    pthread_mutex_unlock(&c->lock);
    if (!c->completed) {
        fprintf(stderr, "echo: no completion within %d s\n", WAIT_SECONDS);
        return -1;
    }
    if (c->result != COMPLETION_PORT_RESULT_OK) {
        fprintf(stderr, "echo: completion result %d, expected OK\n", (int)c->result);
        return -1;
    }
    return 0;
}

int main(void) {
    static const char message[] = "hello through the completion port";
    char received[sizeof(message)];
    char echoed[sizeof(message)];
    size_t got = 0;
    int fds[2];
    int status = 1;
    COMPLETION c;
    COMPLETION_PORT_HANDLE port;

    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.done, NULL);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        perror("echo: socketpair");
        return 1;
    }
    (void)fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    port = completion_port_create();
    if (port == NULL) {
        fprintf(stderr, "echo: completion_port_create failed\n");
        return 1;
    }
    if (write(fds[0], message, sizeof(message)) != (ssize_t)sizeof(message)) {
        perror("echo: write");
    } else if (run_op(port, fds[1], EPOLLIN, received, sizeof(received), &c) == 0 &&
               c.action == COMPLETION_PORT_EPOLL_EPOLLIN &&
               run_op(port, fds[1], EPOLLOUT, received, (uint32_t)c.amount, &c) == 0 &&
               c.action == COMPLETION_PORT_EPOLL_EPOLLOUT) {
        struct pollfd p = {fds[0], POLLIN, 0};
        while (got < sizeof(echoed) && poll(&p, 1, WAIT_SECONDS * 1000) == 1) {
            ssize_t n = read(fds[0], echoed + got, sizeof(echoed) - got);
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        if (got == sizeof(message) && memcmp(echoed, message, sizeof(message)) == 0) {
            printf("echo: \"%s\" came back\n", echoed);
            status = 0;
        } else {
            fprintf(stderr, "echo: %zu of %zu bytes came back\n", got, sizeof(message));
        }
    }
    completion_port_remove(port, fds[1]);
    completion_port_dec_ref(port);
    close(fds[0]);
    close(fds[1]);
    return status;
}
