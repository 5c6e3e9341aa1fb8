// Helpers for the reference's unit tests: sockets, a completion recorder with
// bounded waits, process introspection, and ingress construction.
#ifndef CPL_REFERENCE_TEST_UTIL_H
#define CPL_REFERENCE_TEST_UTIL_H

#include <sys/epoll.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "c_pal/completion_port_linux.h"

namespace reftest
{

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds WAIT_LIMIT{5000};

pid_t current_tid();
size_t count_fds();
size_t count_threads();
// Waits (bounded) until the process has `expected` threads.
bool wait_thread_count(size_t expected, std::chrono::milliseconds limit = WAIT_LIMIT);
// The open descriptors, and the first one not in `before` whose /proc/self/fd
// link is `link` (e.g. "anon_inode:[eventfd]"), or -1.
std::vector<int> open_fds();
int new_fd_linked_to(const std::vector<int>& before, const std::string& link);

// A one-shot gate a thread can block on, with a bounded wait.
class Latch
{
public:
    void open()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        changed_.notify_all();
    }
    bool wait(std::chrono::milliseconds limit = WAIT_LIMIT)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool open_ = false;
};

// An AF_UNIX stream socketpair, closed on destruction (each end -1 once closed).
struct SocketPair
{
    int a = -1;
    int b = -1;
    explicit SocketPair(bool nonblocking = true);
    ~SocketPair();
    SocketPair(const SocketPair&) = delete;
    SocketPair& operator=(const SocketPair&) = delete;
    void close_a();
    void close_b();
};

// Writes exactly `length` bytes (blocking loop with write()).
void write_all(int fd, const void* data, size_t length);
// Reads exactly `length` bytes within the deadline; returns bytes read.
size_t read_exact(int fd, void* data, size_t length, std::chrono::milliseconds limit = WAIT_LIMIT);

struct Completion
{
    int id;
    COMPLETION_PORT_EPOLL_ACTION action;
    COMPLETION_PORT_RESULT result;
    int32_t amount;
    pid_t tid;
    bool overlapped;  // another callback of this recorder was running
};

// Records callbacks. An op's context is an OpContext pointing at its recorder.
class Recorder;
struct OpContext
{
    Recorder* recorder;
    int id;
};

class Recorder
{
public:
    // Runs inside the callback, after the completion is recorded.
    std::function<void(const Completion&)> on_completion;

    static void callback(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                         int32_t amount);

    bool wait_for_count(size_t count, std::chrono::milliseconds limit = WAIT_LIMIT);
    bool wait_for_id(int id, std::chrono::milliseconds limit = WAIT_LIMIT);
    std::vector<Completion> snapshot();
    size_t count();
    size_t count_for(int id);
    Completion first_for(int id);

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Completion> completions_;
    int running_ = 0;
};

COMPLETION_PORT_INGRESS_DATA make_ingress(int epoll_op, int fd, OpContext* context, void* buffer = nullptr,
                                          uint32_t length = 0);

// A port released at scope exit unless released by the test.
struct PortGuard
{
    COMPLETION_PORT_HANDLE port;
    PortGuard();
    ~PortGuard();
    PortGuard(const PortGuard&) = delete;
    PortGuard& operator=(const PortGuard&) = delete;
    void release();
};

// Records descriptors and threads at construction; `clean()` tells whether
// they are back to that (threads with a bounded grace).
struct ResourceSnapshot
{
    size_t fds;
    size_t threads;
    ResourceSnapshot();
    bool clean() const;
};

}  // namespace reftest

#endif  // CPL_REFERENCE_TEST_UTIL_H
