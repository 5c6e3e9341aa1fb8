/* Table-driven test helpers (rows.h). */
#include "rows.h"

#include <memory>

#include "cpk_catch.h"
#include "expect.h"
#include "port.h"
#include "verdict.h"

namespace cpk {

bool row_add(COMPLETION_PORT_HANDLE port, const COMPLETION_PORT_INGRESS_DATA* in) {
    uint64_t mark = thread_ctl_mark();
    int rc = completion_port_add(port, in);
    if (rc == 0) return true;
    const char* req = add_failure_requirement(mark);
    INFO("completion_port_add returned " << rc << "; its epoll_ctl calls: " << describe_ctl_since(mark));
    CPK_CHECK(req, rc == 0);
    return false;
}

void release_ports(std::vector<COMPLETION_PORT_HANDLE>& ports, int timeout_ms) {
    PhaseScope phase("release");
    std::vector<std::unique_ptr<AsyncCall>> calls;
    for (COMPLETION_PORT_HANDLE h : ports)
        calls.emplace_back(new AsyncCall([h] { completion_port_dec_ref(h); }, "final completion_port_dec_ref"));
    int64_t deadline = mono_ns() + ms_to_ns(timeout_ms);
    size_t late = 0;
    for (auto& c : calls) {
        int64_t left = (deadline - mono_ns()) / 1000000;
        if (!c->wait(left > 0 ? static_cast<int>(left) : 0)) ++late;
    }
    INFO(late << " of " << ports.size() << " final dec_refs did not return within " << timeout_ms << " ms");
    CPK_CHECK("CPL_DECREF_004", late == 0);
    ports.clear();
}

} // namespace cpk
