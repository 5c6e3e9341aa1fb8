/* The frame tests share, as a Catch2 fixture (TEST_CASE_METHOD): the
 * leak guard first, the persistent recorder, one port (CPL_CREATE_004); the
 * test's last statement is finish(sockets...): the final dec_ref
 * (CPL_DECREF_004), the sockets closed, then the guard's check
 * (CPL_DECREF_003, CPL_DECREF_002). A test whose port is created late, or
 * with allocation tracking around create, writes the frame out instead. */
#ifndef CPK_PORT_CASE_H
#define CPK_PORT_CASE_H

#include <array>
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
    /* The test makes the final dec_ref itself (on another thread, say):
     * release() and finish() make none. */
    void released_by_test() { released_ = true; }

    template <class... Sockets> void finish(Sockets&... sockets) {
        release();
        (close_all(sockets), ...);
        guard_end();
    }

protected:
    /* For a recorder of another size (PortCaseOf). */
    explicit PortCase(Recorder& recorder);

private:
    static void close_all(SocketPair& s) { s = SocketPair(); }
    static void close_all(Fd& f) { f.close(); }
    template <size_t N> static void close_all(SocketPair (&s)[N]) {
        for (SocketPair& one : s) close_all(one);
    }
    void guard_end();
    bool released_ = false;
};

/* A PortCase whose recorder holds MaxOps ops. */
template <size_t MaxOps> class PortCaseOf : public PortCase {
public:
    PortCaseOf() : PortCase(persistent_recorder(MaxOps)) {}
};

/* N unix socket pairs, each checked like PortCase::unix_sockets().
 * Use: auto [r, s] = cpk::unix_pairs<2>(); */
template <size_t N> std::array<SocketPair, N> unix_pairs() {
    std::array<SocketPair, N> pairs;
    for (SocketPair& sp : pairs) sp = PortCase::unix_sockets();
    return pairs;
}

} // namespace cpk

#endif
