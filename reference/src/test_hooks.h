/* Test-only entry points of the reference implementation, compiled from
 * test_hooks.cpp into the test builds only (never into libcompletion_port.a
 * or .so). Used by reference/tests for `internal` requirements. */
#ifndef COMPLETION_PORT_REFERENCE_TEST_HOOKS_H
#define COMPLETION_PORT_REFERENCE_TEST_HOOKS_H

#include <stddef.h>

#include "c_pal/completion_port_linux.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ops recorded by the port and not completed yet (CPL_ADD_004). */
size_t cpl_test_pending_ops(COMPLETION_PORT_HANDLE completion_port);

/* Sockets holding at least one recorded op. */
size_t cpl_test_tracked_sockets(COMPLETION_PORT_HANDLE completion_port);

/* Non-zero while a remove of `socket` waits for the worker to leave it. */
int cpl_test_socket_removing(COMPLETION_PORT_HANDLE completion_port, int socket);

/* The worker's entry point, epoll_worker_func (CPL_WORKER_001). */
int cpl_test_epoll_worker_func(void* parameter);

#ifdef __cplusplus
}
#endif

#endif /* COMPLETION_PORT_REFERENCE_TEST_HOOKS_H */
