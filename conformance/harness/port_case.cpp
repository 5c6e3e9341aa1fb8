#include "port_case.h"

#include "cpk_catch.h"
#include "expect.h"
#include "verdict.h"

namespace cpk {

PortCase::PortCase() : PortCase(persistent_recorder()) {}

PortCase::PortCase(Recorder& recorder) : rec(recorder), bad_context_before(bad_context_callbacks()), p(create_port()) {
    CPK_REQUIRE_PORT(p);
}

SocketPair PortCase::unix_sockets(bool nonblocking) {
    SocketPair s = unix_pair(nonblocking);
    CPK_KIT_REQUIRE(s.ok());
    return s;
}

SocketPair PortCase::tcp_sockets() {
    SocketPair s = tcp_pair();
    CPK_KIT_REQUIRE(s.ok());
    return s;
}

void PortCase::add(size_t op, int epoll_op, int fd, void* buffer, uint32_t length) {
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, epoll_op, fd, buffer, length);
    CPK_REQUIRE_ADD(p.handle, &in);
}

void PortCase::release() {
    if (released_) return;
    released_ = true;
    CPK_RELEASE(p.handle);
}

void PortCase::guard_end() { CPK_GUARD_END(guard); }

} // namespace cpk
