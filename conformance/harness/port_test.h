/* The frame most tests share, written once: a leak guard, a port, the test's
 * body, then the guard's checks. */
#ifndef CPK_PORT_TEST_H
#define CPK_PORT_TEST_H

#include "guard.h"
#include "port.h"
#include "recorder.h"
#include "sockets.h"
#include "verdict.h"

namespace cpk {

/* Creates a Guard and a port (CPK_REQUIRE_PORT: CPL_CREATE_004) and runs
 * body(port, rec). The body ends with the port's final dec_ref (CPK_RELEASE)
 * and closes its sockets by returning; then CPK_GUARD_END (CPL_DECREF_003,
 * CPL_DECREF_002). rec: a persistent_recorder() of the test's size. */
template <class Body> void port_test(Recorder& rec, Body body) {
    Guard guard;
    {
        PortInfo p = create_port();
        CPK_REQUIRE_PORT(p);
        body(p, rec);
    }
    CPK_GUARD_END(guard);
}
template <class Body> void port_test(Body body) { port_test(persistent_recorder(), body); }

/* The same with a unix socket pair made first (the kit's precondition):
 * body(port, rec, sp). sp closes after the body returns, so after the
 * body's final dec_ref. */
template <class Body> void port_pair_test(Recorder& rec, Body body) {
    port_test(rec, [&body](PortInfo& p, Recorder& r) {
        SocketPair sp = unix_pair();
        CPK_KIT_REQUIRE(sp.ok());
        body(p, r, sp);
    });
}
template <class Body> void port_pair_test(Body body) { port_pair_test(persistent_recorder(), body); }

} // namespace cpk

#endif
