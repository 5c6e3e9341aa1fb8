#include "echo_client.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "util.h"

namespace bench {
namespace {
constexpr int TIMEOUT_MS = 10000;
constexpr size_t WINDOWS = 251; // a prime: pair and round shift the window
} // namespace

EchoClient::EchoClient(const std::vector<int>& fds, size_t message_size)
    : fds_(fds), size_(message_size), received_(fds.size() * message_size), got_(fds.size()) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        fail("client epoll_create1 failed");
    }
    for (size_t i = 0; i < fds_.size(); ++i) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = i;
        if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fds_[i], &event) != 0) {
            fail("client epoll_ctl failed");
        }
    }
    pattern_.resize(size_ + WINDOWS);
    uint32_t x = 2463534242u;
    for (unsigned char& byte : pattern_) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        byte = static_cast<unsigned char>(x);
    }
}

EchoClient::~EchoClient() { close(epoll_fd_); }

const unsigned char* EchoClient::message(size_t pair) const { return pattern_.data() + (rounds_ * 7 + pair) % WINDOWS; }

void EchoClient::send_all(int fd, const unsigned char* data) {
    size_t sent = 0;
    while (!send_pending(fd, data, size_, sent, MSG_NOSIGNAL, "client send")) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, TIMEOUT_MS) != 1) {
            fail("the server read nothing for 10 s");
        }
    }
}

void EchoClient::round() {
    const size_t pairs = fds_.size();
    for (size_t i = 0; i < pairs; ++i) {
        got_[i] = 0;
        send_all(fds_[i], message(i));
    }
    size_t done = 0;
    epoll_event events[256];
    while (done < pairs) {
        const int count = epoll_wait(epoll_fd_, events, 256, TIMEOUT_MS);
        if (count == 0) {
            fail("no echo for 10 s (" + std::to_string(pairs - done) + " of " + std::to_string(pairs) +
                 " pairs missing)");
        }
        for (int e = 0; e < count; ++e) {
            const size_t i = static_cast<size_t>(events[e].data.u64);
            unsigned char* into = received_.data() + i * size_;
            while (got_[i] < size_) {
                const ssize_t n = recv(fds_[i], into + got_[i], size_ - got_[i], 0);
                if (n > 0) {
                    got_[i] += static_cast<size_t>(n);
                    continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                    break;
                }
                fail(n == 0 ? "the server closed a socket" : std::string("client recv: ") + std::strerror(errno));
            }
            if (got_[i] == size_) {
                if (std::memcmp(into, message(i), size_) != 0) {
                    fail("an echo differs from the message sent (pair " + std::to_string(i) + ")");
                }
                got_[i] = size_ + 1; // counted once; more bytes would show as EPOLLIN again
                ++done;
            } else if (got_[i] > size_) {
                fail("more bytes came back than were sent (pair " + std::to_string(i) + ")");
            }
        }
    }
    ++rounds_;
}

void EchoClient::check_quiet() {
    unsigned char byte;
    for (int fd : fds_) {
        if (recv(fd, &byte, 1, MSG_DONTWAIT) >= 0) {
            fail("a socket holds bytes that were never sent");
        }
    }
}

} // namespace bench
