// A small interposer for the reference's unit tests: the test binary defines
// epoll_create1, epoll_ctl, epoll_wait, recv, send, pthread_create and the
// global operator new/delete, so calls made by the reference (linked into the
// same executable) reach these first. Disarmed, each forwards to the next
// definition (libc, or the sanitizer's interceptor).
#ifndef CPL_REFERENCE_FAULT_INJECTION_H
#define CPL_REFERENCE_FAULT_INJECTION_H

#include <cstddef>
#include <cstdint>

namespace fault
{

enum Fn
{
    EPOLL_CREATE1,
    EPOLL_CTL,
    EPOLL_WAIT,
    RECV,
    SEND,
    PTHREAD_CREATE,
    FN_COUNT
};

// Makes the nth call (1-based, counted from now) of fn fail with `error`;
// fd >= 0 restricts counting to calls on that descriptor.
void fail_nth(Fn fn, int nth, int error, int fd = -1);
// Makes the nth recv/send (as fail_nth counts) return 0 without moving a byte.
void zero_nth(Fn fn, int nth, int fd);
// Calls hook(arg) once, on the calling thread, at the start of the next recv
// or send on `fd`: lets a test hold the worker in the middle of its I/O.
void on_next_call(Fn fn, int fd, void (*hook)(void*), void* arg);
// recv/send on `fd` move at most `max_bytes` per call (short transfers).
void limit_transfer(Fn fn, int fd, size_t max_bytes);
// epoll_wait returns 0 (a timeout) `times` times without waiting.
void fake_timeouts(int times);
// Back to plain forwarding; counters reset.
void reset();
// Calls of fn since the last reset.
int calls(Fn fn);

// What epoll_ctl and epoll_wait were called with (since the last reset).
struct CtlCall
{
    int op;
    int fd;
    uint32_t events;
};
size_t ctl_calls(CtlCall* out, size_t max);
int min_wait_timeout();
int max_wait_timeout();

// Allocation failure, scoped to the constructing thread: the nth operator new
// made by this thread while the scope lives fails (nothrow: NULL; else
// std::bad_alloc). `allocations()` counts them; `live()` = news - deletes.
class AllocScope
{
public:
    explicit AllocScope(int fail_nth = 0);
    ~AllocScope();
    AllocScope(const AllocScope&) = delete;
    AllocScope& operator=(const AllocScope&) = delete;
    int allocations() const;
    long live() const;
};

}  // namespace fault

#endif  // CPL_REFERENCE_FAULT_INJECTION_H
