/* Introspection of the process's own tables: /proc/self/fd, /proc/self/task
 * and /proc/self/fdinfo. All functions here are allocation-free unless they
 * return std::string / std::vector, so they can be used while allocation
 * tracking is armed. */
#ifndef CPK_PROCESS_H
#define CPK_PROCESS_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace cpk {

/* A snapshot of open descriptors (sorted). */
struct FdList {
    static const int kMax = 1024;
    int n = 0;
    int fd[kMax];
    bool contains(int f) const;
};

FdList list_fds(); /* /proc/self/fd, without the listing's own fd */
int count_fds();
bool is_epoll_fd(int fd); /* readlink == anon_inode:[eventpoll] */
int count_epoll_fds();
std::string fd_target(int fd); /* readlink of /proc/self/fd/N (allocates) */
/* Descriptors in `now` not in `before`, and the reverse (allocates). */
std::string fd_diff(const FdList& before, const FdList& now);
/* The single eventpoll fd in `now` that is not in `before`; -1 if none or several. */
int new_epoll_fd(const FdList& before, const FdList& now);

struct TaskList {
    static const int kMax = 512;
    int n = 0;
    pid_t tid[kMax];
    bool contains(pid_t t) const;
};
TaskList list_tasks(); /* /proc/self/task */
int count_threads();
bool thread_alive(pid_t tid); /* /proc/self/task/<tid> exists */
/* Waits until count_threads() == expected (true) or timeout (false). */
bool wait_thread_count(int expected, int timeout_ms);
/* Waits until count_threads() <= max. */
bool wait_thread_count_at_most(int max, int timeout_ms);
bool wait_thread_gone(pid_t tid, int timeout_ms);
/* Threads in `now` not in `before` (first `max` into out); returns how many. */
int new_threads(const TaskList& before, const TaskList& now, pid_t* out, int max);

pid_t current_tid(); /* gettid() */

/* Kernel view of an epoll instance (/proc/self/fdinfo/<epfd>): whether `fd`
 * is registered and, if so, its event mask. */
bool epoll_registered(int epfd, int fd, uint32_t* events = nullptr);
/* Number of descriptors registered in epfd (-1 if unreadable). */
int epoll_registration_count(int epfd);

/* SIGPIPE has its default disposition and the calling thread does not block
 * it: what a test of "no SIGPIPE" (CPL_SEND_004) needs to mean anything. */
bool sigpipe_at_default();

} // namespace cpk

#endif
