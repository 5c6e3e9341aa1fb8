#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace reftest
{
namespace
{

size_t count_dir_entries(const char* path)
{
    DIR* dir = opendir(path);
    if (dir == nullptr)
    {
        throw std::runtime_error("opendir failed");
    }
    size_t count = 0;
    while (struct dirent* entry = readdir(dir))
    {
        if (entry->d_name[0] != '.')
        {
            count++;
        }
    }
    closedir(dir);
    return count;
}

}  // namespace

pid_t current_tid()
{
    return static_cast<pid_t>(syscall(SYS_gettid));
}

size_t count_fds()
{
    // opendir's own descriptor is listed too; it is the same every time.
    return count_dir_entries("/proc/self/fd");
}

size_t count_threads()
{
    return count_dir_entries("/proc/self/task");
}

bool wait_thread_count(size_t expected, std::chrono::milliseconds limit)
{
    const auto deadline = Clock::now() + limit;
    while (count_threads() != expected)
    {
        if (Clock::now() > deadline)
        {
            return false;
        }
        // The kernel reaps a joined thread a moment after pthread_join returns.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::vector<int> open_fds()
{
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr)
    {
        throw std::runtime_error("opendir failed");
    }
    std::vector<int> fds;
    while (struct dirent* entry = readdir(dir))
    {
        // The directory's own descriptor is not one of the process's.
        if (entry->d_name[0] != '.' && atoi(entry->d_name) != dirfd(dir))
        {
            fds.push_back(atoi(entry->d_name));
        }
    }
    closedir(dir);
    return fds;
}

int new_fd_linked_to(const std::vector<int>& before, const std::string& link)
{
    for (int fd : open_fds())
    {
        if (std::find(before.begin(), before.end(), fd) != before.end())
        {
            continue;
        }
        char target[256];
        const std::string path = "/proc/self/fd/" + std::to_string(fd);
        const ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
        if (n > 0 && std::string(target, static_cast<size_t>(n)) == link)
        {
            return fd;
        }
    }
    return -1;
}

SocketPair::SocketPair(bool nonblocking)
{
    int fds[2];
    const int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    if (socketpair(AF_UNIX, type, 0, fds) != 0)
    {
        throw std::runtime_error("socketpair failed");
    }
    a = fds[0];
    b = fds[1];
}

SocketPair::~SocketPair()
{
    close_a();
    close_b();
}

void SocketPair::close_a()
{
    if (a >= 0)
    {
        close(a);
        a = -1;
    }
}

void SocketPair::close_b()
{
    if (b >= 0)
    {
        close(b);
        b = -1;
    }
}

void write_all(int fd, const void* data, size_t length)
{
    const char* p = static_cast<const char*>(data);
    while (length > 0)
    {
        ssize_t n = write(fd, p, length);
        if (n < 0 && errno == EAGAIN)
        {
            struct pollfd pfd = {fd, POLLOUT, 0};
            if (poll(&pfd, 1, 5000) <= 0)
            {
                throw std::runtime_error("write_all: peer not draining");
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
        {
            continue;
        }
        if (n <= 0)
        {
            throw std::runtime_error("write_all failed");
        }
        p += n;
        length -= static_cast<size_t>(n);
    }
}

size_t read_exact(int fd, void* data, size_t length, std::chrono::milliseconds limit)
{
    const auto deadline = Clock::now() + limit;
    char* p = static_cast<char*>(data);
    size_t total = 0;
    while (total < length)
    {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0)
        {
            break;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
        {
            continue;
        }
        ssize_t n = read(fd, p + total, length - total);
        if (n == 0)
        {
            break;
        }
        if (n > 0)
        {
            total += static_cast<size_t>(n);
        }
    }
    return total;
}

void Recorder::callback(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                        int32_t amount)
{
    OpContext* op = static_cast<OpContext*>(context);
    Recorder* self = op->recorder;
    Completion completion{op->id, action, result, amount, current_tid(), false};
    {
        std::lock_guard<std::mutex> lock(self->mutex_);
        completion.overlapped = self->running_ > 0;
        self->running_++;
        self->completions_.push_back(completion);
    }
    if (self->on_completion)
    {
        self->on_completion(completion);
    }
    // Notify with the lock held: a waiter may destroy the recorder as soon as
    // it sees the count, so nothing may touch it after the unlock.
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->running_--;
    self->changed_.notify_all();
}

bool Recorder::wait_for_count(size_t count, std::chrono::milliseconds limit)
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return completions_.size() >= count && running_ == 0; });
}

bool Recorder::wait_for_id(int id, std::chrono::milliseconds limit)
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, limit, [&] {
        for (const Completion& c : completions_)
        {
            if (c.id == id)
            {
                return running_ == 0;
            }
        }
        return false;
    });
}

std::vector<Completion> Recorder::snapshot()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return completions_;
}

size_t Recorder::count()
{
    std::lock_guard<std::mutex> lock(mutex_);
    return completions_.size();
}

size_t Recorder::count_for(int id)
{
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const Completion& c : completions_)
    {
        n += c.id == id ? 1 : 0;
    }
    return n;
}

Completion Recorder::first_for(int id)
{
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Completion& c : completions_)
    {
        if (c.id == id)
        {
            return c;
        }
    }
    return Completion{-1, COMPLETION_PORT_EPOLL_ACTION_INVALID, COMPLETION_PORT_RESULT_INVALID, -1, 0, false};
}

COMPLETION_PORT_INGRESS_DATA make_ingress(int epoll_op, int fd, OpContext* context, void* buffer, uint32_t length)
{
    COMPLETION_PORT_INGRESS_DATA data{};
    data.epoll_op = epoll_op;
    data.socket = fd;
    data.event_callback = &Recorder::callback;
    data.event_callback_ctx = context;
    data.buffer_data.buffer = buffer;
    data.buffer_data.length = length;
    return data;
}

PortGuard::PortGuard() : port(completion_port_create())
{
    if (port == nullptr)
    {
        throw std::runtime_error("completion_port_create failed");
    }
}

PortGuard::~PortGuard()
{
    release();
}

void PortGuard::release()
{
    if (port != nullptr)
    {
        completion_port_dec_ref(port);
        port = nullptr;
    }
}

ResourceSnapshot::ResourceSnapshot() : fds(count_fds()), threads(count_threads())
{
}

bool ResourceSnapshot::clean() const
{
    return wait_thread_count(threads) && count_fds() == fds;
}

}  // namespace reftest
