/* The frame most tests share, as a Catch2 fixture (TEST_CASE_METHOD): the
 * leak guard first, the persistent recorder, one port (CPL_CREATE_004); the
 * test's last statement is finish(sockets...): the final dec_ref
 * (CPL_DECREF_004), the sockets closed, then the guard's check
 * (CPL_DECREF_003, CPL_DECREF_002). */
#ifndef CPK_PORT_CASE_H
#define CPK_PORT_CASE_H

#include <cstddef>
#include <cstdint>

#include "c_pal/completion_port_linux.h"
#include "guard.h"
#include "nocopy.h"
#include "port.h"
#include "recorder.h"
#include "sockets.h"

namespace cpk {

class PortCase : NoCopy {
public:
    PortCase();

    Guard guard;
    Recorder& rec;
    const uint64_t bad_context_before; /* bad_context_callbacks() before create */
    PortInfo p;

    /* Socket pairs the kit needs (CPK_KIT_REQUIRE). */
    static SocketPair unix_sockets(bool nonblocking = true);
    static SocketPair tcp_sockets();

    /* Adds rec.ingress(op, epoll_op, fd, buffer, length) (CPK_REQUIRE_ADD). */
    void add(size_t op, int epoll_op, int fd, void* buffer = nullptr, uint32_t length = 0);

    /* The final dec_ref (CPL_DECREF_004); later calls do nothing. */
    void release();

    template <class... Sockets> void finish(Sockets&... sockets) {
        release();
        (close_all(sockets), ...);
        guard_end();
    }

private:
    static void close_all(SocketPair& s) { s = SocketPair(); }
    template <size_t N> static void close_all(SocketPair (&s)[N]) {
        for (SocketPair& one : s) close_all(one);
    }
    void guard_end();
    bool released_ = false;
};

} // namespace cpk

#endif
