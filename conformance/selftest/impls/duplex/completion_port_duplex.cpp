// completion_port_duplex.cpp — a DELIBERATELY WRONG implementation for the
// kit's self-test (conformance/selftest/README.md).
//
// Structure (independent of the literal and slots ones): C++, one entry per
// socket in a std::unordered_map holding at most one reader op (EPOLLIN and/or
// EPOLLRDHUP) and one writer op (EPOLLOUT), registered with the union of
// their masks and the socket descriptor as epoll data (full duplex); a
// std::thread worker woken by an eventfd; CLOSING completions from remove
// and the final dec_ref.
//
// THE DEFECT (CPL_RDHUP_002): the reader op tests EPOLLRDHUP and EPOLLIN with
// two independent ifs, so a hang-up (which always carries EPOLLIN as well)
// gives the hang-up callback AND a recv callback for the same op. The op is
// freed once, so there is no double free: only the second callback is wrong.
// Everything else aims to conform.
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "c_pal/completion_port_linux.h"

namespace {

constexpr int kWaitTimeoutMs = 2000;
constexpr int kEventsPerWait = 32;

struct Op
{
    uint32_t mask = 0;
    ON_COMPLETION_PORT_EVENT_COMPLETE callback = nullptr;
    void* context = nullptr;
    uint8_t* buffer = nullptr;
    uint32_t length = 0;
    uint32_t done = 0;

    void complete(COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, uint32_t amount) const
    {
        callback(context, action, result, static_cast<int32_t>(amount));
    }
};

struct Entry
{
    std::unique_ptr<Op> reader;
    std::unique_ptr<Op> writer;
    uint32_t mask() const
    {
        return (reader ? reader->mask : 0u) | (writer ? writer->mask : 0u);
    }
};

// What a serving step decided for one op.
enum class Outcome { done, again };

Outcome serve_reader(int fd, Op& op, uint32_t happened)
{
    bool handled = false;
    if ((happened & EPOLLRDHUP) && (op.mask & EPOLLRDHUP))
    {
        op.complete(COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, 0);
        handled = true;
    }
    // THE DEFECT: this should be `else if`.
    if ((happened & EPOLLIN) && (op.mask & EPOLLIN))
    {
        for (;;)
        {
            ssize_t got = recv(fd, op.buffer + op.done, op.length - op.done, MSG_DONTWAIT);
            if (got > 0)
            {
                op.done += static_cast<uint32_t>(got);
                if (op.done < op.length)
                {
                    continue;
                }
                op.complete(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, op.done);
            }
            else if (got == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            {
                op.complete(COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, op.done);
            }
            else if (errno == EINTR)
            {
                continue;
            }
            else
            {
                op.complete(COMPLETION_PORT_EPOLL_EPOLLIN,
                    errno == ECONNRESET ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR, op.done);
            }
            break;
        }
        handled = true;
    }
    if (!handled)
    {
        op.complete((op.mask & EPOLLIN) ? COMPLETION_PORT_EPOLL_EPOLLIN : COMPLETION_PORT_EPOLL_EPOLLRDHUP,
            COMPLETION_PORT_RESULT_ERROR, op.done);
    }
    return Outcome::done;
}

Outcome serve_writer(int fd, Op& op, uint32_t happened)
{
    if ((happened & EPOLLRDHUP) && (op.mask & EPOLLRDHUP))
    {
        op.complete(COMPLETION_PORT_EPOLL_EPOLLRDHUP, COMPLETION_PORT_RESULT_ABANDONED, 0);
        return Outcome::done;
    }
    if (!(happened & EPOLLOUT))
    {
        op.complete(COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_ERROR, op.done);
        return Outcome::done;
    }
    while (op.done < op.length)
    {
        ssize_t sent = send(fd, op.buffer + op.done, op.length - op.done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent >= 0)
        {
            op.done += static_cast<uint32_t>(sent);
        }
        else if (errno == EINTR)
        {
            continue;
        }
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
            return Outcome::again;
        }
        else
        {
            op.complete(COMPLETION_PORT_EPOLL_EPOLLOUT,
                errno == ECONNRESET ? COMPLETION_PORT_RESULT_ABANDONED : COMPLETION_PORT_RESULT_ERROR, op.done);
            return Outcome::done;
        }
    }
    op.complete(COMPLETION_PORT_EPOLL_EPOLLOUT, COMPLETION_PORT_RESULT_OK, op.done);
    return Outcome::done;
}

} // namespace

struct COMPLETION_PORT_TAG
{
    int epoll_fd = -1;
    int wake_fd = -1;
    std::thread worker;
    std::thread::id worker_id;
    std::mutex lock;
    std::condition_variable idle;
    std::unordered_map<int, Entry> sockets;
    int running_fd = -1;
    bool stopping = false;
    bool released_by_worker = false;
    int refs = 1; // guarded by `lock`

    ~COMPLETION_PORT_TAG()
    {
        if (wake_fd >= 0)
        {
            close(wake_fd);
        }
        if (epoll_fd >= 0)
        {
            close(epoll_fd);
        }
    }

    bool on_worker() const
    {
        return std::this_thread::get_id() == worker_id;
    }

    // Moves one pending op (of `fd`, or of any socket when fd < 0) out of the
    // map, or returns null. No allocation, so closing never fails.
    std::unique_ptr<Op> pop_one(int fd)
    {
        for (auto it = sockets.begin(); it != sockets.end(); ++it)
        {
            if (fd >= 0 && it->first != fd)
            {
                continue;
            }
            std::unique_ptr<Op> op = it->second.reader ? std::move(it->second.reader) : std::move(it->second.writer);
            if (!it->second.reader && !it->second.writer)
            {
                sockets.erase(it);
            }
            if (op)
            {
                return op;
            }
            return pop_one(fd); // the entry held no op (one is running): look again
        }
        return nullptr;
    }

    // Completes the pending ops of `fd` (all when fd < 0) with CLOSING, one at a
    // time, the lock released around each callback.
    void close_pending(std::unique_lock<std::mutex>& guard, int fd)
    {
        while (std::unique_ptr<Op> op = pop_one(fd))
        {
            guard.unlock();
            op->complete(COMPLETION_PORT_CLOSING, COMPLETION_PORT_RESULT_ABANDONED, 0);
            guard.lock();
        }
    }

    int arm(int fd, uint32_t mask, bool first)
    {
        epoll_event ev{};
        ev.events = mask | EPOLLONESHOT;
        ev.data.fd = fd;
        int result = epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
        if (result != 0 && errno == ENOENT && first)
        {
            result = epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
        }
        return result;
    }

    void serve(int fd, uint32_t happened)
    {
        std::unique_ptr<Op> reader;
        std::unique_ptr<Op> writer;
        {
            std::lock_guard<std::mutex> guard(lock);
            auto it = sockets.find(fd);
            if (it == sockets.end())
            {
                return;
            }
            const uint32_t trouble = EPOLLERR | EPOLLHUP;
            if (it->second.reader && (happened & (it->second.reader->mask | trouble)))
            {
                reader = std::move(it->second.reader);
            }
            if (it->second.writer && (happened & (it->second.writer->mask | trouble)))
            {
                writer = std::move(it->second.writer);
            }
            running_fd = fd;
        }
        Outcome writer_outcome = Outcome::done;
        if (reader)
        {
            (void)serve_reader(fd, *reader, happened);
        }
        if (writer)
        {
            writer_outcome = serve_writer(fd, *writer, happened);
        }
        std::unique_ptr<Op> orphan;
        {
            std::lock_guard<std::mutex> guard(lock);
            auto it = sockets.find(fd);
            if (it == sockets.end())
            {
                orphan = std::move(writer); // closed by dec_ref meanwhile
            }
            else
            {
                if (writer_outcome == Outcome::again)
                {
                    it->second.writer = std::move(writer);
                }
                if (it->second.mask() != 0)
                {
                    (void)arm(fd, it->second.mask(), false);
                }
                else
                {
                    sockets.erase(it);
                }
            }
            running_fd = -1;
        }
        idle.notify_all();
        if (orphan && writer_outcome == Outcome::again)
        {
            orphan->complete(COMPLETION_PORT_CLOSING, COMPLETION_PORT_RESULT_ABANDONED, 0);
        }
    }

    void run()
    {
        epoll_event events[kEventsPerWait];
        for (;;)
        {
            {
                std::lock_guard<std::mutex> guard(lock);
                if (stopping)
                {
                    break;
                }
            }
            int count = epoll_wait(epoll_fd, events, kEventsPerWait, kWaitTimeoutMs);
            for (int i = 0; i < count; i++)
            {
                if (events[i].data.fd == wake_fd)
                {
                    continue;
                }
                serve(events[i].data.fd, events[i].events);
                std::lock_guard<std::mutex> guard(lock);
                if (stopping)
                {
                    break;
                }
            }
        }
        if (released_by_worker)
        {
            worker.detach();
            delete this;
        }
    }
};

COMPLETION_PORT_HANDLE completion_port_create(void)
{
    COMPLETION_PORT_TAG* port = new (std::nothrow) COMPLETION_PORT_TAG();
    if (port == nullptr)
    {
        return nullptr;
    }
    port->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    port->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event wake{};
    wake.events = EPOLLIN;
    if (port->epoll_fd < 0 || port->wake_fd < 0 ||
        (wake.data.fd = port->wake_fd, epoll_ctl(port->epoll_fd, EPOLL_CTL_ADD, port->wake_fd, &wake)) != 0)
    {
        delete port;
        return nullptr;
    }
    try
    {
        std::unique_lock<std::mutex> guard(port->lock);
        port->worker = std::thread([port] { port->run(); });
        port->worker_id = port->worker.get_id();
    }
    catch (...)
    {
        delete port;
        return nullptr;
    }
    return port;
}

void completion_port_inc_ref(COMPLETION_PORT_HANDLE completion_port)
{
    if (completion_port != nullptr)
    {
        std::lock_guard<std::mutex> guard(completion_port->lock);
        completion_port->refs++;
    }
}

void completion_port_dec_ref(COMPLETION_PORT_HANDLE completion_port)
{
    if (completion_port == nullptr)
    {
        return;
    }
    bool on_worker = completion_port->on_worker();
    {
        std::unique_lock<std::mutex> guard(completion_port->lock);
        if (--completion_port->refs != 0)
        {
            return;
        }
        completion_port->stopping = true;
        completion_port->released_by_worker = on_worker;
        completion_port->close_pending(guard, -1);
    }
    if (on_worker)
    {
        return; // the worker deletes the port once this callback returns
    }
    uint64_t one = 1;
    (void)!write(completion_port->wake_fd, &one, sizeof(one));
    completion_port->worker.join();
    delete completion_port;
}

int completion_port_add(COMPLETION_PORT_HANDLE completion_port, const COMPLETION_PORT_INGRESS_DATA* ingress_data)
{
    if (completion_port == nullptr || ingress_data == nullptr)
    {
        return MU_FAILURE;
    }
    const COMPLETION_PORT_INGRESS_DATA& in = *ingress_data;
    const uint32_t mask = static_cast<uint32_t>(in.epoll_op);
    // A send op may also watch for hang-ups (EPOLLOUT|EPOLLRDHUP): it is still the writer.
    const bool is_writer = (mask & EPOLLOUT) && !(mask & EPOLLIN);
    if (in.socket == INVALID_SOCKET || in.event_callback == nullptr || in.buffer_data.length > INT32_MAX ||
        (in.buffer_data.buffer == nullptr && in.buffer_data.length > 0 && (mask & (EPOLLIN | EPOLLOUT))))
    {
        return MU_FAILURE;
    }
    try
    {
        std::unique_ptr<Op> op(new Op());
        op->mask = mask;
        op->callback = in.event_callback;
        op->context = in.event_callback_ctx;
        op->buffer = static_cast<uint8_t*>(in.buffer_data.buffer);
        op->length = in.buffer_data.length;

        std::lock_guard<std::mutex> guard(completion_port->lock);
        if (completion_port->stopping)
        {
            return MU_FAILURE;
        }
        auto found = completion_port->sockets.find(in.socket);
        const bool first = found == completion_port->sockets.end();
        Entry& entry = first ? completion_port->sockets[in.socket] : found->second;
        std::unique_ptr<Op>& place = is_writer ? entry.writer : entry.reader;
        if (place)
        {
            if (first)
            {
                completion_port->sockets.erase(in.socket);
            }
            return MU_FAILURE; // one reader and one writer at a time
        }
        place = std::move(op);
        // The worker leaves a running op's registration to us only after it
        // has re-armed what stays pending, so the union is always complete.
        uint32_t union_mask = first ? mask : entry.mask();
        if (completion_port->arm(in.socket, union_mask, true) != 0)
        {
            place.reset();
            if (entry.mask() == 0)
            {
                completion_port->sockets.erase(in.socket);
            }
            return MU_FAILURE;
        }
        return 0;
    }
    catch (const std::bad_alloc&)
    {
        return MU_FAILURE;
    }
}

void completion_port_remove(COMPLETION_PORT_HANDLE completion_port, SOCKET_HANDLE socket)
{
    if (completion_port == nullptr || socket == INVALID_SOCKET)
    {
        return;
    }
    (void)epoll_ctl(completion_port->epoll_fd, EPOLL_CTL_DEL, socket, nullptr);
    std::unique_lock<std::mutex> guard(completion_port->lock);
    if (!completion_port->on_worker())
    {
        completion_port->idle.wait(guard, [&] { return completion_port->running_fd != socket; });
    }
    completion_port->close_pending(guard, socket);
}
