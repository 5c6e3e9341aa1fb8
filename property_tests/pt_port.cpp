#include "pt_port.h"

#include <algorithm>
#include <cstdio>
#include <fcntl.h>

#include "pt_failure.h"
#include "pt_track.h"

namespace pt {

void port_open(PortCtx& p, bool track) {
    p = PortCtx();
    const cpk::FdList before = cpk::list_fds();
    const uint64_t created_before = cpk::threads_created();
    if (track) {
        cpk::alloc_track_start();
        p.tracked = true;
    }
    p.info = api_create_port();
    p.h = p.info.handle;
    if (!p.h) fail("CPL_CREATE_004", "completion_port_create returned NULL");
    p.alive = true;
    const cpk::FdList after = cpk::list_fds();
    for (int i = 0; i < after.n; ++i)
        if (!before.contains(after.fd[i])) p.own_fds.push_back(after.fd[i]);
    if (p.info.epfd < 0)
        fail("CPL_CREATE_002", "create did not open exactly one new eventpoll descriptor (new descriptors: " +
                                   cpk::fd_diff(before, after) + ")");
    if (cpk::threads_created() - created_before != 1 || p.info.worker == 0)
        fail("CPL_CREATE_003", "create did not start exactly one thread (" +
                                   std::to_string(cpk::threads_created() - created_before) + " pthread_create calls, " +
                                   std::to_string(cpk::count_threads() - p.info.threads_before) + " new threads)");
}

void port_release(PortCtx& p) {
    if (!p.alive) return;
    COMPLETION_PORT_HANDLE h = p.h;
    p.release_call_ns = cpk::mono_ns();
    {
        cpk::AsyncCall call([h] { api_final_dec_ref(h); }, "final completion_port_dec_ref");
        p.released_by = call.tid();
        if (!call.wait(cpk::kTeardownMs))
            fail("CPL_DECREF_004",
                 "the final completion_port_dec_ref did not return within " + std::to_string(cpk::kTeardownMs) + " ms");
        p.released_ns = call.done_ns();
    }
    p.alive = false;
}

void check_port_kept(const PortCtx& p, int refs_left) {
    if (p.info.epfd >= 0 && !cpk::is_epoll_fd(p.info.epfd))
        fail("CPL_DECREF_001",
             "a dec_ref that left " + std::to_string(refs_left) +
                 " reference(s) (taken with inc_ref) released the port: its epoll descriptor is closed");
}

void port_release_both(PortCtx& a, PortCtx& b) {
    COMPLETION_PORT_HANDLE ha = a.h;
    COMPLETION_PORT_HANDLE hb = b.h;
    a.release_call_ns = b.release_call_ns = cpk::mono_ns();
    {
        cpk::AsyncCall ca([ha] { api_final_dec_ref(ha); }, "final completion_port_dec_ref (first port)");
        cpk::AsyncCall cb([hb] { api_final_dec_ref(hb); }, "final completion_port_dec_ref (second port)");
        a.released_by = ca.tid();
        b.released_by = cb.tid();
        if (!ca.wait(cpk::kTeardownMs) || !cb.wait(cpk::kTeardownMs))
            fail("CPL_DECREF_004",
                 "a final completion_port_dec_ref did not return within " + std::to_string(cpk::kTeardownMs) + " ms");
        a.released_ns = ca.done_ns();
        b.released_ns = cb.done_ns();
    }
    a.alive = b.alive = false;
}

void port_check_released(PortCtx& p, const std::vector<int>& test_fds) {
    if (p.info.worker != 0 && !cpk::wait_thread_gone(p.info.worker, 3000))
        fail("CPL_DECREF_002", "the worker thread " + std::to_string(p.info.worker) +
                                   " is still running 3 s after the final dec_ref returned");
    if (!cpk::wait_thread_count_at_most(p.info.threads_before, 3000))
        fail("CPL_DECREF_004", "" + std::to_string(cpk::count_threads()) + " threads after the final dec_ref, " +
                                   std::to_string(p.info.threads_before) + " before create");
    for (int fd : p.own_fds) {
        if (std::find(test_fds.begin(), test_fds.end(), fd) != test_fds.end()) continue;
        if (fcntl(fd, F_GETFD) != -1)
            fail("CPL_DECREF_003", "descriptor " + std::to_string(fd) + " (" + cpk::fd_target(fd) +
                                       ") opened by create is still open after the final dec_ref");
    }
    if (cpk::count_epoll_fds() > p.info.epoll_fds_before)
        fail("CPL_DECREF_003", "" + std::to_string(cpk::count_epoll_fds()) +
                                   " eventpoll descriptors after the final dec_ref, " +
                                   std::to_string(p.info.epoll_fds_before) + " before create");
    if (p.tracked) {
        cpk::alloc_track_stop();
        p.tracked = false;
        const size_t live = cpk::live_tracked();
        if (cpk::alloc_track_overflow())
            fail(cpk::kKit, "test limit: allocation tracking overflowed, the live allocations are unknown");
        if (live != 0) {
            size_t sizes[8];
            const size_t n = cpk::live_tracked_sizes(sizes, 8);
            std::string s;
            for (size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
            fail("CPL_DECREF_005", "" + std::to_string(live) + " allocation(s) made by the implementation (" +
                                       std::to_string(cpk::live_tracked_bytes()) + " bytes; sizes " + s +
                                       ") are still live after the final dec_ref");
        }
    }
}

} // namespace pt
