// Two hand-written epoll echo loops, on one thread each.
// floor: exactly the syscalls a conforming completion port must make per op
// and nothing else (no allocation, lock, callback or lookup): every op is a
// one-shot EPOLL_CTL_MOD, epoll_wait waits 2000 ms, recv runs until the
// buffer is full, EAGAIN or EOF, send loops until all is sent.
// raw-epoll: what a program without that contract does: one persistent
// level-triggered registration per socket, recv then send right away.
#include <pthread.h>
#include <sys/epoll.h>
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

constexpr int EVENT_BATCH = 128;
constexpr uint32_t STOP_KEY = UINT32_MAX;

struct Conn {
    int fd;
    bool sending;  // floor: the op armed is a send; raw: output is pending
    size_t filled; // bytes in buffer
    size_t sent;   // bytes of buffer already sent
    std::vector<unsigned char> buffer;
};

class EpollServer : public EchoServer {
public:
    explicit EpollServer(bool floor) : floor_(floor) {}

    void start(const std::vector<int>& fds, size_t message_size) override {
        epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
        stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (epoll_fd_ < 0 || stop_fd_ < 0) {
            fail("epoll_create1 or eventfd failed");
        }
        epoll_event stop_event{};
        stop_event.events = EPOLLIN;
        stop_event.data.u32 = STOP_KEY;
        ctl(EPOLL_CTL_ADD, stop_fd_, stop_event);
        conns_.resize(fds.size());
        for (size_t i = 0; i < fds.size(); ++i) {
            conns_[i] = Conn{fds[i], false, 0, 0, std::vector<unsigned char>(message_size)};
            // A completion port's first add: MOD, then ADD on ENOENT.
            arm(static_cast<uint32_t>(i), floor_ ? EPOLLIN | EPOLLONESHOT : EPOLLIN, true);
        }
        thread_ = std::thread([this] { run(); });
    }

    void stop() override {
        const uint64_t one = 1;
        if (write(stop_fd_, &one, sizeof one) != sizeof one) {
            fail("eventfd write failed");
        }
        thread_.join();
        close(stop_fd_);
        close(epoll_fd_);
    }

private:
    void ctl(int op, int fd, epoll_event& event) {
        if (epoll_ctl(epoll_fd_, op, fd, &event) != 0) {
            fail(std::string("epoll_ctl: ") + std::strerror(errno));
        }
    }

    void arm(uint32_t key, uint32_t events, bool first) {
        epoll_event event{};
        event.events = events;
        event.data.u32 = key;
        const int fd = conns_[key].fd;
        if (first && floor_) {
            if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) == 0 || errno != ENOENT) {
                fail("the first EPOLL_CTL_MOD did not fail with ENOENT");
            }
        }
        ctl(first ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, event);
    }

    // recv until the buffer is full, EAGAIN or EOF; false on EOF or error.
    bool receive(Conn& c) {
        while (c.filled < c.buffer.size()) {
            const ssize_t n = recv(c.fd, c.buffer.data() + c.filled, c.buffer.size() - c.filled, MSG_DONTWAIT);
            if (n > 0) {
                c.filled += static_cast<size_t>(n);
                if (!floor_) {
                    break; // raw: echo what one recv brought; level-triggered asks again
                }
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return n < 0 && errno == EAGAIN;
        }
        return true;
    }

    // send until all is sent (true) or EAGAIN (false).
    bool transmit(Conn& c) {
        if (!send_pending(c.fd, c.buffer.data(), c.filled, c.sent, MSG_NOSIGNAL | MSG_DONTWAIT, "echo send")) {
            return false;
        }
        c.filled = c.sent = 0;
        return true;
    }

    void on_floor_event(uint32_t key) {
        Conn& c = conns_[key];
        if (c.sending) {
            if (transmit(c)) {
                c.sending = false;
                arm(key, EPOLLIN | EPOLLONESHOT, false); // the next recv op
            } else {
                arm(key, EPOLLOUT | EPOLLONESHOT, false); // suspended send
            }
            return;
        }
        if (!receive(c)) {
            return; // end of stream or an error: the connection ends
        }
        c.sending = c.filled > 0;
        // The send op of what came, or (nothing came) the next recv op.
        arm(key, (c.sending ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT, false);
    }

    void on_raw_event(uint32_t key, uint32_t events) {
        Conn& c = conns_[key];
        if (c.sending) {
            if ((events & EPOLLOUT) != 0 && transmit(c)) {
                c.sending = false;
                arm(key, EPOLLIN, false);
            }
            return;
        }
        if (!receive(c)) {
            epoll_event unused{};
            ctl(EPOLL_CTL_DEL, c.fd, unused); // level-triggered EOF would fire forever
            return;
        }
        if (c.filled > 0 && !transmit(c)) {
            c.sending = true;
            arm(key, EPOLLOUT, false);
        }
    }

    void run() {
        (void)pthread_setname_np(pthread_self(), floor_ ? "bench-floor" : "bench-raw-epoll"); // for perf --comm
        epoll_event events[EVENT_BATCH];
        for (;;) {
            const int count = epoll_wait(epoll_fd_, events, EVENT_BATCH, 2000);
            for (int i = 0; i < count; ++i) {
                const uint32_t key = events[i].data.u32;
                if (key == STOP_KEY) {
                    return;
                }
                if (floor_) {
                    on_floor_event(key);
                } else {
                    on_raw_event(key, events[i].events);
                }
            }
        }
    }

    const bool floor_;
    int epoll_fd_ = -1;
    int stop_fd_ = -1;
    std::vector<Conn> conns_;
    std::thread thread_;
};

} // namespace

std::unique_ptr<EchoServer> make_floor_server() { return std::unique_ptr<EchoServer>(new EpollServer(true)); }

std::unique_ptr<EchoServer> make_raw_epoll_server() { return std::unique_ptr<EchoServer>(new EpollServer(false)); }

} // namespace bench
