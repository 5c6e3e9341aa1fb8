// libevent echo: a persistent EV_READ event per socket (recv, then send right
// away); a full socket switches it to a one-shot EV_WRITE event for the rest.
#include <event2/event.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "servers.h"
#include "util.h"

namespace bench {
namespace {

struct Conn {
    int fd;
    event* readable;
    event* writable;
    size_t filled;
    size_t sent;
    std::vector<unsigned char> buffer;
};

class LibeventServer final : public EchoServer {
public:
    void start(const std::vector<int>& fds, size_t message_size) override {
        base_ = event_base_new();
        stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (base_ == nullptr || stop_fd_ < 0) {
            fail("event_base_new or eventfd failed");
        }
        stop_event_ = event_new(base_, stop_fd_, EV_READ, on_stop, base_);
        conns_.resize(fds.size());
        for (size_t i = 0; i < fds.size(); ++i) {
            Conn& c = conns_[i];
            c.fd = fds[i];
            c.filled = c.sent = 0;
            c.buffer.resize(message_size);
            c.readable = event_new(base_, c.fd, EV_READ | EV_PERSIST, on_readable, &c);
            c.writable = event_new(base_, c.fd, EV_WRITE, on_writable, &c);
            if (c.readable == nullptr || c.writable == nullptr || event_add(c.readable, nullptr) != 0) {
                fail("event_new or event_add failed");
            }
        }
        if (stop_event_ == nullptr || event_add(stop_event_, nullptr) != 0) {
            fail("event_add of the stop event failed");
        }
        thread_ = std::thread([this] {
            (void)pthread_setname_np(pthread_self(), "bench-libevent");
            (void)event_base_dispatch(base_);
        });
    }

    void stop() override {
        const uint64_t one = 1;
        if (write(stop_fd_, &one, sizeof one) != sizeof one) {
            fail("eventfd write failed");
        }
        thread_.join();
        for (Conn& c : conns_) {
            event_free(c.readable);
            event_free(c.writable);
        }
        event_free(stop_event_);
        event_base_free(base_);
        close(stop_fd_);
    }

private:
    static void on_stop(evutil_socket_t, short, void* base) {
        (void)event_base_loopbreak(static_cast<event_base*>(base));
    }

    // send until all is sent (true) or EAGAIN (false).
    static bool transmit(Conn* c) {
        if (!send_pending(c->fd, c->buffer.data(), c->filled, c->sent, MSG_NOSIGNAL, "libevent echo send")) {
            return false;
        }
        c->filled = c->sent = 0;
        return true;
    }

    static void on_readable(evutil_socket_t, short, void* context) {
        Conn* c = static_cast<Conn*>(context);
        const ssize_t n = recv(c->fd, c->buffer.data(), c->buffer.size(), 0);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                (void)event_del(c->readable); // end of stream: the client went away
            }
            return;
        }
        c->filled = static_cast<size_t>(n);
        if (!transmit(c)) {
            (void)event_del(c->readable); // the buffer is in use until the rest is sent
            (void)event_add(c->writable, nullptr);
        }
    }

    static void on_writable(evutil_socket_t, short, void* context) {
        Conn* c = static_cast<Conn*>(context);
        (void)event_add(transmit(c) ? c->readable : c->writable, nullptr);
    }

    event_base* base_ = nullptr;
    event* stop_event_ = nullptr;
    int stop_fd_ = -1;
    std::vector<Conn> conns_;
    std::thread thread_;
};

} // namespace

std::unique_ptr<EchoServer> make_libevent_server() { return std::unique_ptr<EchoServer>(new LibeventServer()); }

} // namespace bench
