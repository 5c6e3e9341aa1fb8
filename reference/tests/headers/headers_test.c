/* Header compile test: built as C99, C11, C++17 and C++20 with -Wall -Wextra
 * -Werror -pedantic, linked against the static library and run.
 * Checks CPL_ABI_001 (types, members in order, prototypes), CPL_ABI_002 and
 * CPL_ABI_003 (enum values), CPL_ABI_004 (SOCKET_HANDLE, INVALID_SOCKET). */
#include "c_pal/completion_port_linux.h"
#include "c_pal/socket_handle.h"
#include "macro_utils/macro_utils.h"
#include "umock_c/umock_c_prod.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* A compile-time check valid in C99 (no _Static_assert) and in C++. */
#define CPKIT_CHECK(name, condition) typedef char cpkit_check_##name[(condition) ? 1 : -1]

/* CPL_ABI_002: _INVALID = 0, then the seed's order. */
CPKIT_CHECK(action_invalid, COMPLETION_PORT_EPOLL_ACTION_INVALID == 0);
CPKIT_CHECK(action_rdhup, COMPLETION_PORT_EPOLL_EPOLLRDHUP == 1);
CPKIT_CHECK(action_in, COMPLETION_PORT_EPOLL_EPOLLIN == 2);
CPKIT_CHECK(action_out, COMPLETION_PORT_EPOLL_EPOLLOUT == 3);
CPKIT_CHECK(action_closing, COMPLETION_PORT_CLOSING == 4);

/* CPL_ABI_003 */
CPKIT_CHECK(result_invalid, COMPLETION_PORT_RESULT_INVALID == 0);
CPKIT_CHECK(result_ok, COMPLETION_PORT_RESULT_OK == 1);
CPKIT_CHECK(result_error, COMPLETION_PORT_RESULT_ERROR == 2);
CPKIT_CHECK(result_abandoned, COMPLETION_PORT_RESULT_ABANDONED == 3);

/* CPL_ABI_004 */
CPKIT_CHECK(invalid_socket, INVALID_SOCKET == -1);
CPKIT_CHECK(socket_handle_size, sizeof(SOCKET_HANDLE) == sizeof(int));

/* CPL_ABI_001: the members, in the seed's order. */
CPKIT_CHECK(ingress_epoll_op_first, offsetof(COMPLETION_PORT_INGRESS_DATA, epoll_op) == 0);
CPKIT_CHECK(ingress_socket_after_op,
            offsetof(COMPLETION_PORT_INGRESS_DATA, socket) > offsetof(COMPLETION_PORT_INGRESS_DATA, epoll_op));
CPKIT_CHECK(ingress_callback_after_socket,
            offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback) > offsetof(COMPLETION_PORT_INGRESS_DATA, socket));
CPKIT_CHECK(ingress_ctx_after_callback, offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback_ctx) >
                                            offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback));
CPKIT_CHECK(ingress_buffer_after_ctx, offsetof(COMPLETION_PORT_INGRESS_DATA, buffer_data) >
                                          offsetof(COMPLETION_PORT_INGRESS_DATA, event_callback_ctx));
CPKIT_CHECK(ingress_buffer_last, offsetof(COMPLETION_PORT_INGRESS_DATA, buffer_data) + sizeof(EPOLL_BUFFER_DATA) ==
                                     sizeof(COMPLETION_PORT_INGRESS_DATA));
CPKIT_CHECK(buffer_pointer_first, offsetof(EPOLL_BUFFER_DATA, buffer) == 0);
CPKIT_CHECK(buffer_length_after, offsetof(EPOLL_BUFFER_DATA, length) > offsetof(EPOLL_BUFFER_DATA, buffer));
CPKIT_CHECK(buffer_length_size, sizeof(((EPOLL_BUFFER_DATA*)0)->length) == 4);

MU_DEFINE_ENUM_STRINGS(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_EPOLL_ACTION_VALUES)
MU_DEFINE_ENUM_STRINGS(COMPLETION_PORT_RESULT, COMPLETION_PORT_RESULT_VALUES)

/* A callback of exactly the seed's type. */
static void on_event(void* context, COMPLETION_PORT_EPOLL_ACTION epoll_action, COMPLETION_PORT_RESULT result,
                     int32_t amount_transfered) {
    (void)context;
    (void)epoll_action;
    (void)result;
    (void)amount_transfered;
}

/* Member types: a pointer of the wrong type is an error (C++) or, with
 * -Werror -pedantic, an incompatible-pointer error (C). */
static int check_member_types(COMPLETION_PORT_INGRESS_DATA* data) {
    int* epoll_op = &data->epoll_op;
    SOCKET_HANDLE* socket_handle = &data->socket;
    int* socket_as_int = &data->socket;
    ON_COMPLETION_PORT_EVENT_COMPLETE* callback = &data->event_callback;
    void** context = &data->event_callback_ctx;
    EPOLL_BUFFER_DATA* buffer_data = &data->buffer_data;
    void** buffer = &data->buffer_data.buffer;
    uint32_t* length = &data->buffer_data.length;
    *callback = on_event;
    return epoll_op != NULL && socket_handle == socket_as_int && context != NULL && buffer_data != NULL &&
           buffer != NULL && length != NULL;
}

/* The five prototypes, exactly (CPL_ABI_001). */
static int check_prototypes(void) {
    COMPLETION_PORT_HANDLE (*create)(void) = completion_port_create;
    void (*inc_ref)(COMPLETION_PORT_HANDLE) = completion_port_inc_ref;
    void (*dec_ref)(COMPLETION_PORT_HANDLE) = completion_port_dec_ref;
    int (*add)(COMPLETION_PORT_HANDLE, const COMPLETION_PORT_INGRESS_DATA*) = completion_port_add;
    void (*remove)(COMPLETION_PORT_HANDLE, SOCKET_HANDLE) = completion_port_remove;
    return create != NULL && inc_ref != NULL && dec_ref != NULL && add != NULL && remove != NULL;
}

static int expect_string(const char* got, const char* expected) {
    if (strcmp(got, expected) != 0) {
        (void)fprintf(stderr, "headers_test: got \"%s\", expected \"%s\"\n", got, expected);
        return 1;
    }
    return 0;
}

int main(void) {
    COMPLETION_PORT_INGRESS_DATA data;
    int failures = 0;
    memset(&data, 0, sizeof(data));
    failures += !check_member_types(&data);
    failures += data.event_callback != on_event;
    failures += !check_prototypes();
    failures += expect_string(MU_ENUM_TO_STRING(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_EPOLL_ACTION_INVALID),
                              "COMPLETION_PORT_EPOLL_ACTION_INVALID");
    failures += expect_string(MU_ENUM_TO_STRING(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_EPOLL_EPOLLRDHUP),
                              "COMPLETION_PORT_EPOLL_EPOLLRDHUP");
    failures += expect_string(MU_ENUM_TO_STRING(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_CLOSING),
                              "COMPLETION_PORT_CLOSING");
    failures += expect_string(MU_ENUM_TO_STRING(COMPLETION_PORT_RESULT, COMPLETION_PORT_RESULT_OK),
                              "COMPLETION_PORT_RESULT_OK");
    failures += expect_string(MU_ENUM_TO_STRING(COMPLETION_PORT_RESULT, COMPLETION_PORT_RESULT_ABANDONED),
                              "COMPLETION_PORT_RESULT_ABANDONED");
    if (failures != 0) {
        (void)fprintf(stderr, "headers_test: %d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
