/* cpkit conformance harness: the one header a test includes (after
 * "cpk_catch.h", which picks Catch2 v2 or v3) as #include "harness.h" (the build adds
 * -Iconformance/harness). Namespace cpk.
 *
 *   interpose.h  syscall/allocator interposition: recording, fault injection,
 *                allocation tracking (stop_tracking), threads created,
 *                epoll fds created
 *   recorder.h   completion callback recorder with bounded waits
 *   sockets.h    socketpairs, TCP pairs, resets, fill/drain, bounded I/O,
 *                pattern bytes (send_pattern, check_pattern)
 *   process.h    /proc/self/fd, /proc/self/task, /proc/self/fdinfo (epoll)
 *   sync.h       time, Latch, AsyncCall, Watchdog, standard wait bounds
 *   guard.h      per-test leak guard (fds, threads) + CPK_GUARD_END
 *   port.h       create_port() with epfd/worker discovery, timed_dec_ref,
 *                sentinel(), wait_blocked_in_epoll_wait()
 *   port_case.h  PortCase, the test frame (TEST_CASE_METHOD): guard, recorder,
 *                port, add(), finish(sockets...); unix_pairs<N>()
 *   op_checks.h  shared op checks: check_outcomes, check_received,
 *                check_received_pattern, check_stays_completed,
 *                check_ops_free_memory
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
 * Typical test (PortCase makes the guard, the recorder and the port first):
 *   TEST_CASE_METHOD(cpk::PortCase, "recv: ...", "[CPL_RECV_001]") {
 *       cpk::SocketPair sp = unix_sockets();    // CPK_KIT_REQUIRE: the kit's own precondition
 *       static char buf[16];       // outlives a late callback of a broken port
 *       add(0, EPOLLIN, sp.a, buf, sizeof buf); // CPL_ADD_007 (or CPL_ADD_006)
 *       CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
 *       CPK_REQUIRE("CPL_RECV_001", rec.wait_op(0, cpk::kWaitMs));
 *       finish(sp);   // CPL_DECREF_004, sockets closed, CPL_DECREF_003/002
 *   }
 * A test that creates its port late, or tracks allocations around create,
 * writes the frame out: cpk::Guard, persistent_recorder(), create_port() +
 * CPK_REQUIRE_PORT, ..., CPK_RELEASE, sockets closed, CPK_GUARD_END(guard).
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
#include "op_checks.h"
#include "port.h"
#include "port_case.h"
#include "process.h"
#include "recorder.h"
#include "rows.h"
#include "sanitizer.h"
#include "sockets.h"
#include "sync.h"
#include "verdict.h"

#endif
