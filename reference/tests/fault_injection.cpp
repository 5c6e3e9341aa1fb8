#include "fault_injection.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>

namespace fault
{
namespace
{

struct Rule
{
    std::atomic<int> nth{0};  // 0: no failure armed
    std::atomic<int> error{0};
    std::atomic<int> fd{-1};
    std::atomic<int> seen{0};  // matching calls since armed
    std::atomic<int> calls{0};
    std::atomic<bool> zero{false};  // the nth call returns 0 instead of failing
};

struct Hook
{
    std::mutex mutex;
    int fd = -1;
    void (*fn)(void*) = nullptr;
    void* arg = nullptr;
};

Rule rules[FN_COUNT];
Hook hooks[FN_COUNT];
std::atomic<int> limit_fd[FN_COUNT];
std::atomic<size_t> limit_bytes[FN_COUNT];
std::atomic<int> timeouts_to_fake{0};
std::atomic<int> min_timeout{1 << 30};
std::atomic<int> max_timeout{-(1 << 30)};

std::mutex ctl_mutex;
CtlCall ctl_log[512];
size_t ctl_count = 0;

// True if this call must fail (errno is then set).
bool should_fail(Fn fn, int fd)
{
    Rule& rule = rules[fn];
    rule.calls.fetch_add(1);
    const int nth = rule.nth.load();
    if (nth == 0)
    {
        return false;
    }
    const int only_fd = rule.fd.load();
    if (only_fd >= 0 && only_fd != fd)
    {
        return false;
    }
    if (rule.seen.fetch_add(1) + 1 != nth)
    {
        return false;
    }
    if (!rule.zero.load())
    {
        errno = rule.error.load();
    }
    return true;
}

// What a call chosen by should_fail returns: 0 for zero_nth, else -1.
ssize_t forced_result(Fn fn)
{
    return rules[fn].zero.load() ? 0 : -1;
}

// Runs (and disarms) the hook armed for fn on fd, if any.
void run_hook(Fn fn, int fd)
{
    Hook& hook = hooks[fn];
    void (*callback)(void*) = nullptr;
    void* arg = nullptr;
    {
        std::lock_guard<std::mutex> lock(hook.mutex);
        if (hook.fn == nullptr || hook.fd != fd)
        {
            return;
        }
        callback = hook.fn;
        arg = hook.arg;
        hook.fn = nullptr;
    }
    callback(arg);
}

size_t capped(Fn fn, int fd, size_t length)
{
    if (limit_fd[fn].load() == fd && length > limit_bytes[fn].load())
    {
        return limit_bytes[fn].load();
    }
    return length;
}

template <typename F>
F next(const char* name)
{
    void* symbol = dlsym(RTLD_NEXT, name);
    if (symbol == nullptr)
    {
        abort();
    }
    return reinterpret_cast<F>(symbol);
}

thread_local int tls_scopes = 0;
thread_local int tls_fail_at = 0;
thread_local int tls_allocations = 0;
thread_local long tls_live = 0;

// Returns NULL when the scope says this allocation fails.
void* allocate(size_t size)
{
    if (tls_scopes > 0)
    {
        tls_allocations++;
        if (tls_allocations == tls_fail_at)
        {
            return nullptr;
        }
    }
    void* p = std::malloc(size == 0 ? 1 : size);
    if (p != nullptr && tls_scopes > 0)
    {
        tls_live++;
    }
    return p;
}

void deallocate(void* p)
{
    if (p != nullptr && tls_scopes > 0)
    {
        tls_live--;
    }
    std::free(p);
}

}  // namespace

void fail_nth(Fn fn, int nth, int error, int fd)
{
    rules[fn].error = error;
    rules[fn].fd = fd;
    rules[fn].seen = 0;
    rules[fn].zero = false;
    rules[fn].nth = nth;
}

void zero_nth(Fn fn, int nth, int fd)
{
    fail_nth(fn, nth, 0, fd);
    rules[fn].zero = true;
}

void on_next_call(Fn fn, int fd, void (*hook)(void*), void* arg)
{
    std::lock_guard<std::mutex> lock(hooks[fn].mutex);
    hooks[fn].fd = fd;
    hooks[fn].fn = hook;
    hooks[fn].arg = arg;
}

void limit_transfer(Fn fn, int fd, size_t max_bytes)
{
    limit_bytes[fn] = max_bytes;
    limit_fd[fn] = fd;
}

void fake_timeouts(int times)
{
    timeouts_to_fake = times;
}

void reset()
{
    for (int i = 0; i < FN_COUNT; ++i)
    {
        rules[i].nth = 0;
        rules[i].fd = -1;
        rules[i].seen = 0;
        rules[i].calls = 0;
        rules[i].zero = false;
        limit_fd[i] = -1;
        std::lock_guard<std::mutex> lock(hooks[i].mutex);
        hooks[i].fn = nullptr;
    }
    timeouts_to_fake = 0;
    min_timeout = 1 << 30;
    max_timeout = -(1 << 30);
    std::lock_guard<std::mutex> lock(ctl_mutex);
    ctl_count = 0;
}

int calls(Fn fn)
{
    return rules[fn].calls.load();
}

size_t ctl_calls(CtlCall* out, size_t max)
{
    std::lock_guard<std::mutex> lock(ctl_mutex);
    size_t n = ctl_count < max ? ctl_count : max;
    for (size_t i = 0; i < n; ++i)
    {
        out[i] = ctl_log[i];
    }
    return n;
}

int min_wait_timeout()
{
    return min_timeout.load();
}

int max_wait_timeout()
{
    return max_timeout.load();
}

AllocScope::AllocScope(int fail_nth)
{
    tls_scopes++;
    tls_fail_at = fail_nth;
    tls_allocations = 0;
    tls_live = 0;
}

AllocScope::~AllocScope()
{
    tls_scopes--;
    tls_fail_at = 0;
}

int AllocScope::allocations() const
{
    return tls_allocations;
}

long AllocScope::live() const
{
    return tls_live;
}

}  // namespace fault

using fault::should_fail;

extern "C" int epoll_create1(int flags)
{
    static auto real = fault::next<int (*)(int)>("epoll_create1");
    if (should_fail(fault::EPOLL_CREATE1, -1))
    {
        return -1;
    }
    return real(flags);
}

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event)
{
    static auto real = fault::next<int (*)(int, int, int, struct epoll_event*)>("epoll_ctl");
    {
        std::lock_guard<std::mutex> lock(fault::ctl_mutex);
        if (fault::ctl_count < sizeof(fault::ctl_log) / sizeof(fault::ctl_log[0]))
        {
            fault::ctl_log[fault::ctl_count++] = fault::CtlCall{op, fd, event != nullptr ? event->events : 0};
        }
    }
    if (should_fail(fault::EPOLL_CTL, fd))
    {
        return -1;
    }
    return real(epfd, op, fd, event);
}

extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout)
{
    static auto real = fault::next<int (*)(int, struct epoll_event*, int, int)>("epoll_wait");
    if (timeout < fault::min_timeout.load())
    {
        fault::min_timeout = timeout;
    }
    if (timeout > fault::max_timeout.load())
    {
        fault::max_timeout = timeout;
    }
    if (should_fail(fault::EPOLL_WAIT, epfd))
    {
        return -1;
    }
    int fake = fault::timeouts_to_fake.load();
    while (fake > 0)
    {
        if (fault::timeouts_to_fake.compare_exchange_weak(fake, fake - 1))
        {
            return 0;
        }
    }
    return real(epfd, events, maxevents, timeout);
}

extern "C" ssize_t recv(int fd, void* buffer, size_t length, int flags)
{
    static auto real = fault::next<ssize_t (*)(int, void*, size_t, int)>("recv");
    fault::run_hook(fault::RECV, fd);
    if (should_fail(fault::RECV, fd))
    {
        return fault::forced_result(fault::RECV);
    }
    return real(fd, buffer, fault::capped(fault::RECV, fd, length), flags);
}

extern "C" ssize_t send(int fd, const void* buffer, size_t length, int flags)
{
    static auto real = fault::next<ssize_t (*)(int, const void*, size_t, int)>("send");
    fault::run_hook(fault::SEND, fd);
    if (should_fail(fault::SEND, fd))
    {
        return fault::forced_result(fault::SEND);
    }
    return real(fd, buffer, fault::capped(fault::SEND, fd, length), flags);
}

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg)
{
    static auto real =
        fault::next<int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*)>("pthread_create");
    if (should_fail(fault::PTHREAD_CREATE, -1))
    {
        return errno;  // pthread functions return the error number
    }
    return real(thread, attr, start, arg);
}

// Global allocation functions: all forms the reference can reach, and the
// matching deallocation forms (so sanitizers never see a mismatched pair).
void* operator new(size_t size)
{
    void* p = fault::allocate(size);
    if (p == nullptr)
    {
        throw std::bad_alloc();
    }
    return p;
}

void* operator new[](size_t size)
{
    return operator new(size);
}

void* operator new(size_t size, const std::nothrow_t&) noexcept
{
    return fault::allocate(size);
}

void* operator new[](size_t size, const std::nothrow_t&) noexcept
{
    return fault::allocate(size);
}

void operator delete(void* p) noexcept
{
    fault::deallocate(p);
}

void operator delete[](void* p) noexcept
{
    fault::deallocate(p);
}

void operator delete(void* p, size_t) noexcept
{
    fault::deallocate(p);
}

void operator delete[](void* p, size_t) noexcept
{
    fault::deallocate(p);
}

void operator delete(void* p, const std::nothrow_t&) noexcept
{
    fault::deallocate(p);
}

void operator delete[](void* p, const std::nothrow_t&) noexcept
{
    fault::deallocate(p);
}
