/* /proc/self introspection without allocation: getdents64 into stack
 * buffers, readlink, and a line scanner for /proc/self/fdinfo. */
#include "process.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cpk {

namespace {

struct Dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Calls fn(number) for each numeric entry of dir; returns the dir's own fd
 * (already closed) so callers can skip it. */
template <typename F> int for_each_number(const char* dir, F fn) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    alignas(8) char buf[8192];
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            Dirent64* d = reinterpret_cast<Dirent64*>(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
            fn(atoi(d->d_name));
        }
    }
    close(dfd);
    return dfd;
}

int64_t now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

/* Short bounded pause between polls of /proc (the kernel offers no event). */
void nap() {
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, nullptr);
}

bool link_is(int fd, const char* what) {
    char path[64];
    char target[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return false;
    target[n] = 0;
    return strcmp(target, what) == 0;
}

} // namespace

bool FdList::contains(int f) const { return std::binary_search(fd, fd + n, f); }

FdList list_fds() {
    FdList l;
    int own = -1;
    int tmp[FdList::kMax];
    int k = 0;
    own = for_each_number("/proc/self/fd", [&](int f) {
        if (k < FdList::kMax) tmp[k++] = f;
    });
    for (int i = 0; i < k; ++i)
        if (tmp[i] != own) l.fd[l.n++] = tmp[i];
    std::sort(l.fd, l.fd + l.n);
    return l;
}

int count_fds() { return list_fds().n; }

bool is_epoll_fd(int fd) { return link_is(fd, "anon_inode:[eventpoll]"); }

int count_epoll_fds() {
    FdList l = list_fds();
    int c = 0;
    for (int i = 0; i < l.n; ++i)
        if (is_epoll_fd(l.fd[i])) ++c;
    return c;
}

std::string fd_target(int fd) {
    char path[64];
    char target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return "(closed)";
    target[n] = 0;
    return target;
}

std::string fd_diff(const FdList& before, const FdList& now) {
    std::string s;
    for (int i = 0; i < now.n; ++i)
        if (!before.contains(now.fd[i]))
            s += "new fd " + std::to_string(now.fd[i]) + " -> " + fd_target(now.fd[i]) + "; ";
    for (int i = 0; i < before.n; ++i)
        if (!now.contains(before.fd[i])) s += "closed fd " + std::to_string(before.fd[i]) + "; ";
    return s;
}

int new_epoll_fd(const FdList& before, const FdList& now) {
    int found = -1;
    for (int i = 0; i < now.n; ++i) {
        if (before.contains(now.fd[i]) || !is_epoll_fd(now.fd[i])) continue;
        if (found != -1) return -1;
        found = now.fd[i];
    }
    return found;
}

bool TaskList::contains(pid_t t) const {
    for (int i = 0; i < n; ++i)
        if (tid[i] == t) return true;
    return false;
}

TaskList list_tasks() {
    TaskList l;
    for_each_number("/proc/self/task", [&](int t) {
        if (l.n < TaskList::kMax) l.tid[l.n++] = t;
    });
    return l;
}

int count_threads() { return list_tasks().n; }

bool thread_alive(pid_t tid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", static_cast<int>(tid));
    return access(path, F_OK) == 0;
}

bool wait_thread_count(int expected, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (count_threads() == expected) return true;
        if (now_ms() >= deadline) return false;
        nap();
    }
}

bool wait_thread_count_at_most(int max, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (count_threads() <= max) return true;
        if (now_ms() >= deadline) return false;
        nap();
    }
}

bool wait_thread_gone(pid_t tid, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!thread_alive(tid)) return true;
        if (now_ms() >= deadline) return false;
        nap();
    }
}

int new_threads(const TaskList& before, const TaskList& now, pid_t* out, int max) {
    int c = 0;
    for (int i = 0; i < now.n; ++i) {
        if (before.contains(now.tid[i])) continue;
        if (c < max) out[c] = now.tid[i];
        ++c;
    }
    return c;
}

pid_t current_tid() { return static_cast<pid_t>(gettid()); }

namespace {

/* Scans /proc/self/fdinfo/<epfd>; calls fn(tfd, events) per registration.
 * Returns false if the file cannot be read. */
template <typename F> bool scan_epoll(int epfd, F fn) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return false;
    char buf[4096];
    char line[512];
    size_t ll = 0;
    for (;;) {
        ssize_t n = read(f, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) {
            char c = buf[i];
            if (c != '\n') {
                if (ll < sizeof line - 1) line[ll++] = c;
                continue;
            }
            line[ll] = 0;
            ll = 0;
            /* "tfd:        5 events:       19 data: ..." */
            if (strncmp(line, "tfd:", 4) != 0) continue;
            int tfd = atoi(line + 4);
            const char* ev = strstr(line, "events:");
            uint32_t events = ev ? static_cast<uint32_t>(strtoul(ev + 7, nullptr, 16)) : 0;
            fn(tfd, events);
        }
    }
    close(f);
    return true;
}

} // namespace

bool epoll_registered(int epfd, int fd, uint32_t* events) {
    bool found = false;
    scan_epoll(epfd, [&](int tfd, uint32_t ev) {
        if (tfd == fd) {
            found = true;
            if (events) *events = ev;
        }
    });
    return found;
}

int epoll_registration_count(int epfd) {
    int c = 0;
    if (!scan_epoll(epfd, [&](int, uint32_t) { ++c; })) return -1;
    return c;
}

bool sigpipe_at_default() {
    struct sigaction sa;
    sigset_t mask;
    return sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL &&
           pthread_sigmask(SIG_BLOCK, nullptr, &mask) == 0 && sigismember(&mask, SIGPIPE) == 0;
}

} // namespace cpk
