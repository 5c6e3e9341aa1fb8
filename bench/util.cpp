#include "util.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace bench {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void fail(const std::string& what) {
    std::fprintf(stderr, "bench: %s\n", what.c_str());
    std::exit(1);
}

double quantile(std::vector<double> values, double q) {
    if (values.empty()) {
        return 0.0;
    }
    std::sort(values.begin(), values.end());
    const size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

std::vector<pid_t> thread_ids() {
    std::vector<pid_t> ids;
    if (DIR* dir = opendir("/proc/self/task")) {
        while (struct dirent* entry = readdir(dir)) {
            if (entry->d_name[0] != '.') {
                ids.push_back(static_cast<pid_t>(std::atoi(entry->d_name)));
            }
        }
        closedir(dir);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<pid_t> new_threads(const std::vector<pid_t>& before, const std::vector<pid_t>& after) {
    std::vector<pid_t> fresh;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(fresh));
    return fresh;
}

double cpu_ns(const std::vector<pid_t>& tids) {
    static const double tick_ns = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
    double total = 0;
    for (pid_t tid : tids) {
        const std::string dir = "/proc/self/task/" + std::to_string(tid);
        std::ifstream schedstat(dir + "/schedstat");
        double on_cpu = 0;
        if (schedstat >> on_cpu) {
            total += on_cpu;
            continue;
        }
        // Without schedstat: utime and stime (fields 14 and 15), in ticks.
        std::ifstream stat(dir + "/stat");
        std::string line;
        std::getline(stat, line);
        const size_t paren = line.rfind(')');
        if (paren == std::string::npos) {
            continue; // the thread has exited
        }
        std::istringstream fields(line.substr(paren + 2));
        std::string field;
        double utime = 0, stime = 0;
        for (int i = 3; i <= 15 && fields >> field; ++i) {
            if (i == 14) utime = std::atof(field.c_str());
            if (i == 15) stime = std::atof(field.c_str());
        }
        total += (utime + stime) * tick_ns;
    }
    return total;
}

namespace {
std::vector<int> read_allowed_cpus() {
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
            if (CPU_ISSET(cpu, &set)) {
                cpus.push_back(cpu);
            }
        }
    }
    return cpus;
}
} // namespace

std::vector<int> allowed_cpus() {
    // The process's set, read once: pinning the calling thread later narrows
    // what sched_getaffinity reports for it.
    static const std::vector<int> cpus = read_allowed_cpus();
    return cpus;
}

void pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int allowed : allowed_cpus()) {
        if (cpu < 0 || cpu == allowed) {
            CPU_SET(allowed, &set);
        }
    }
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

size_t raise_fd_limit() {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return 1024;
    }
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);
    (void)getrlimit(RLIMIT_NOFILE, &limit);
    return static_cast<size_t>(limit.rlim_cur);
}

size_t open_fd_count() {
    size_t count = 0;
    if (DIR* dir = opendir("/proc/self/fd")) {
        while (struct dirent* entry = readdir(dir)) {
            count += entry->d_name[0] != '.' ? 1 : 0;
        }
        closedir(dir);
    }
    return count > 0 ? count - 1 : 0; // opendir's own descriptor
}

void socket_pair(int* a, int* b) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        fail(std::string("socketpair: ") + std::strerror(errno));
    }
    *a = fds[0];
    *b = fds[1];
}

bool send_pending(int fd, const unsigned char* buf, size_t filled, size_t& sent, int flags, const char* what) {
    while (sent < filled) {
        const ssize_t n = send(fd, buf + sent, filled - sent, flags);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return false;
        }
        fail(std::string(what) + ": " + std::strerror(errno));
    }
    return true;
}

} // namespace bench
