/* cpkit conformance harness: the one header a test includes (after
 * "cpk_catch.h", which picks Catch2 v2 or v3) as #include "harness.h" (the build adds
 * -Iconformance/harness). Namespace cpk.
 *
 *   interpose.h  syscall/allocator interposition: recording, fault injection,
 *                allocation tracking, threads created, epoll fds created
 *   recorder.h   completion callback recorder with bounded waits
 *   sockets.h    socketpairs, TCP pairs, resets, fill/drain, bounded I/O,
 *                pattern bytes (send_pattern, check_pattern)
 *   process.h    /proc/self/fd, /proc/self/task, /proc/self/fdinfo (epoll)
 *   sync.h       time, Latch, AsyncCall, Watchdog, standard wait bounds
 *   guard.h      per-test leak guard (fds, threads) + CPK_GUARD_END
 *   port.h       create_port() with epfd/worker discovery, timed_dec_ref,
 *                sentinel(), wait_blocked_in_epoll_wait()
 *   expect.h     release_port, eventually, one_callback, wait_all_ops,
 *                closed_during_call, describe_calls, discontinuous_calls,
 *                allocation_balance
 *   faults.h     fault shorthands: failing, capped, hooked, alloc_failure,
 *                fail_recv/cap_recv, fail_send/cap_send
 *   rows.h       tables of cases: row_add, release_ports
 *   held.h       hold_callback (a callback held on a latch), call_while_held
 *   verdict.h    CPK_CHECK/CPK_REQUIRE(req, ...): checks that name their
 *                requirement as data; CPK_KIT_REQUIRE for the kit's own
 *                preconditions; phases (tools/RESULTS.md)
 *   sanitizer.h  LsanIgnore (keep a failure path's leak out of LSan's report)
 *
 * Typical test:
 *   cpk::Guard guard;
 *   cpk::Recorder& rec = cpk::persistent_recorder();
 *   cpk::PortInfo p = cpk::create_port();
 *   CPK_REQUIRE_PORT(p);                        // CPL_CREATE_004
 *   cpk::SocketPair sp = cpk::unix_pair();
 *   CPK_KIT_REQUIRE(sp.ok());                   // the kit's own precondition
 *   static char buf[16];           // outlives a late callback of a broken port
 *   auto in = rec.ingress(0, EPOLLIN, sp.a, buf, sizeof buf);
 *   CPK_REQUIRE_ADD(p.handle, &in);             // CPL_ADD_007 (or CPL_ADD_006)
 *   CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
 *   CPK_REQUIRE("CPL_RECV_001", rec.wait_op(0, cpk::kWaitMs));
 *   CPK_RELEASE(p.handle);                      // CPL_DECREF_004
 *   sp = {};                       // close sockets before the guard check
 *   CPK_GUARD_END(guard);                       // CPL_DECREF_003, CPL_DECREF_002
 */
#ifndef CPK_HARNESS_H
#define CPK_HARNESS_H

#include <cerrno>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "c_pal/completion_port_linux.h"
#include "expect.h"
#include "faults.h"
#include "guard.h"
#include "held.h"
#include "interpose.h"
#include "nocopy.h"
#include "port.h"
#include "process.h"
#include "recorder.h"
#include "rows.h"
#include "sanitizer.h"
#include "sockets.h"
#include "sync.h"
#include "verdict.h"

#endif
