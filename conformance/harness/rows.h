/* Table-driven tests (test262 style): one row = one case as data, a table is
 * one Catch2 test case. Helpers a row needs that must not end the whole
 * table when one row fails. */
#ifndef CPK_ROWS_H
#define CPK_ROWS_H

#include <cstddef>
#include <vector>

#include "c_pal/completion_port_linux.h"

namespace cpk {

/* completion_port_add as a row's setup step: on failure a CPK_CHECK of the
 * requirement CPK_REQUIRE_ADD would name (CPL_ADD_007, or CPL_ADD_006), and
 * false, so the table goes on with its next row. */
bool row_add(COMPLETION_PORT_HANDLE port, const COMPLETION_PORT_INGRESS_DATA* in);

/* The final dec_ref of every port in `ports`, all at once on their own
 * threads (a literal dec_ref waits out its 2 s epoll_wait: in parallel, a
 * table pays that once). In the release phase; a call that has not returned
 * within timeout_ms fails CPL_DECREF_004. Clears `ports`. */
void release_ports(std::vector<COMPLETION_PORT_HANDLE>& ports, int timeout_ms);

} // namespace cpk

#endif
