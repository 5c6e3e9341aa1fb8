/* SOCKET_HANDLE as c-pal defines it on Linux (CPL_ABI_004). */
#ifndef SOCKET_HANDLE_H
#define SOCKET_HANDLE_H

typedef int SOCKET_HANDLE;
#define INVALID_SOCKET -1

#endif /* SOCKET_HANDLE_H */
