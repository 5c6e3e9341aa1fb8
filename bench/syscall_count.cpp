// Syscall entries of chosen threads, counted by the kernel's
// raw_syscalls:sys_enter tracepoint through perf_event_open.
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "counters.h"

namespace bench {
namespace {

long tracepoint_id() {
    for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        std::ifstream id(std::string(root) + "/events/raw_syscalls/sys_enter/id");
        long value = -1;
        if (id >> value) {
            return value;
        }
    }
    return -1;
}

int open_counter(long id, pid_t tid) {
    perf_event_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.size = sizeof attr;
    attr.config = static_cast<uint64_t>(id);
    attr.disabled = 0;
    return static_cast<int>(syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

} // namespace

std::string SyscallCounter::unavailable_reason() {
    const long id = tracepoint_id();
    if (id < 0) {
        return "no raw_syscalls:sys_enter tracepoint (tracefs not mounted)";
    }
    const int fd = open_counter(id, 0);
    if (fd < 0) {
        return std::string("perf_event_open: ") + std::strerror(errno);
    }
    close(fd);
    return "";
}

SyscallCounter::SyscallCounter(const std::vector<pid_t>& tids) {
    const long id = tracepoint_id();
    ok_ = id >= 0 && !tids.empty();
    for (pid_t tid : tids) {
        if (!ok_) {
            break;
        }
        const int fd = open_counter(id, tid);
        ok_ = fd >= 0;
        if (ok_) {
            fds_.push_back(fd);
        }
    }
}

SyscallCounter::~SyscallCounter() {
    for (int fd : fds_) {
        close(fd);
    }
}

uint64_t SyscallCounter::read() const {
    uint64_t total = 0;
    for (int fd : fds_) {
        uint64_t value = 0;
        if (::read(fd, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
            total += value;
        }
    }
    return total;
}

} // namespace bench
