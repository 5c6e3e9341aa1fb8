/* completion_port_linux: the seed's "Exposed API", unchanged (CPL_ABI_001).
 * An epoll worker thread performs recv/send for its callers and reports each
 * completion through ON_COMPLETION_PORT_EVENT_COMPLETE. */
#ifndef COMPLETION_PORT_LINUX_H
#define COMPLETION_PORT_LINUX_H

#ifdef __cplusplus
#include <cstdint>
#else
#include <stdint.h>
#endif

/* The real macro_utils and umock_c when the consumer has them (c-pal code, the
 * kit's own build); otherwise plain C with the same layout, so that the installed
 * header stands alone. */
#if defined(__has_include)
#if __has_include("macro_utils/macro_utils.h")
#define COMPLETION_PORT_LINUX_HAS_MACRO_UTILS 1
#endif
#if __has_include("umock_c/umock_c_prod.h")
#define COMPLETION_PORT_LINUX_HAS_UMOCK_C 1
#endif
#endif

#ifdef COMPLETION_PORT_LINUX_HAS_MACRO_UTILS
#include "macro_utils/macro_utils.h"
#endif
#ifdef COMPLETION_PORT_LINUX_HAS_UMOCK_C
#include "umock_c/umock_c_prod.h"
#endif
#include "c_pal/socket_handle.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct COMPLETION_PORT_TAG* COMPLETION_PORT_HANDLE;

/* Values: _INVALID = 0, EPOLLRDHUP = 1, EPOLLIN = 2, EPOLLOUT = 3, CLOSING = 4 (CPL_ABI_002). */
#define COMPLETION_PORT_EPOLL_ACTION_VALUES                                                                            \
    COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_EPOLL_EPOLLOUT,                   \
        COMPLETION_PORT_CLOSING

#ifdef COMPLETION_PORT_LINUX_HAS_MACRO_UTILS
MU_DEFINE_ENUM(COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_EPOLL_ACTION_VALUES)
#else
typedef enum COMPLETION_PORT_EPOLL_ACTION_TAG {
    COMPLETION_PORT_EPOLL_ACTION_INVALID = 0,
    COMPLETION_PORT_EPOLL_ACTION_VALUES
} COMPLETION_PORT_EPOLL_ACTION;
#endif

/* Values: _INVALID = 0, OK = 1, ERROR = 2, ABANDONED = 3 (CPL_ABI_003).
 * The seed defines COMPLETION_PORT_EPOLL_RESULT_VALUES but expands
 * COMPLETION_PORT_RESULT_VALUES; both names are provided. */
#define COMPLETION_PORT_EPOLL_RESULT_VALUES                                                                            \
    COMPLETION_PORT_RESULT_OK, COMPLETION_PORT_RESULT_ERROR, COMPLETION_PORT_RESULT_ABANDONED
#define COMPLETION_PORT_RESULT_VALUES COMPLETION_PORT_EPOLL_RESULT_VALUES

#ifdef COMPLETION_PORT_LINUX_HAS_MACRO_UTILS
MU_DEFINE_ENUM(COMPLETION_PORT_RESULT, COMPLETION_PORT_RESULT_VALUES)
#else
typedef enum COMPLETION_PORT_RESULT_TAG {
    COMPLETION_PORT_RESULT_INVALID = 0,
    COMPLETION_PORT_RESULT_VALUES
} COMPLETION_PORT_RESULT;
#endif

typedef void (*ON_COMPLETION_PORT_EVENT_COMPLETE)(void* context, COMPLETION_PORT_EPOLL_ACTION epoll_action,
                                                  COMPLETION_PORT_RESULT result, int32_t amount_transfered);

typedef struct EPOLL_BUFFER_DATA_TAG {
    void* buffer;
    uint32_t length;
} EPOLL_BUFFER_DATA;

typedef struct COMPLETION_PORT_INGRESS_DATA_TAG {
    int epoll_op; /* epoll event mask: EPOLLIN, EPOLLOUT, EPOLLRDHUP, ... */
    SOCKET_HANDLE socket;
    ON_COMPLETION_PORT_EVENT_COMPLETE event_callback;
    void* event_callback_ctx;
    EPOLL_BUFFER_DATA buffer_data;
} COMPLETION_PORT_INGRESS_DATA;

#ifdef COMPLETION_PORT_LINUX_HAS_UMOCK_C
MOCKABLE_FUNCTION(, COMPLETION_PORT_HANDLE, completion_port_create);
MOCKABLE_FUNCTION(, void, completion_port_inc_ref, COMPLETION_PORT_HANDLE, completion_port);
MOCKABLE_FUNCTION(, void, completion_port_dec_ref, COMPLETION_PORT_HANDLE, completion_port);
MOCKABLE_FUNCTION(, int, completion_port_add, COMPLETION_PORT_HANDLE, completion_port,
                  const COMPLETION_PORT_INGRESS_DATA*, ingress_data);
MOCKABLE_FUNCTION(, void, completion_port_remove, COMPLETION_PORT_HANDLE, completion_port, SOCKET_HANDLE, socket);
#else
COMPLETION_PORT_HANDLE completion_port_create(void);
void completion_port_inc_ref(COMPLETION_PORT_HANDLE completion_port);
void completion_port_dec_ref(COMPLETION_PORT_HANDLE completion_port);
int completion_port_add(COMPLETION_PORT_HANDLE completion_port, const COMPLETION_PORT_INGRESS_DATA* ingress_data);
void completion_port_remove(COMPLETION_PORT_HANDLE completion_port, SOCKET_HANDLE socket);
#endif

#ifdef __cplusplus
}
#endif

#endif /* COMPLETION_PORT_LINUX_H */
