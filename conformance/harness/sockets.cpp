/* Socket helpers. Bytes move through raw sendto/recvfrom system calls so the
 * interposer never sees (or faults) the test's own I/O. */
#include "sockets.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cpk {

namespace {

int64_t now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

ssize_t raw_send(int fd, const void* buf, size_t n) {
    return syscall(SYS_sendto, fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT, nullptr, 0);
}

ssize_t raw_recv(int fd, void* buf, size_t n) {
    return syscall(SYS_recvfrom, fd, buf, n, MSG_DONTWAIT, nullptr, nullptr);
}

} // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) {
        close();
        fd_ = o.release();
    }
    return *this;
}

void Fd::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void Fd::reset_close() {
    if (fd_ < 0) return;
    struct linger lg;
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close();
}

bool set_nonblocking(int fd, bool on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return false;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) == 0;
}

SocketPair unix_pair(bool nonblocking) {
    SocketPair p;
    int sv[2];
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    if (socketpair(AF_UNIX, type, 0, sv) != 0) return p;
    p.a = Fd(sv[0]);
    p.b = Fd(sv[1]);
    return p;
}

SocketPair tcp_pair(bool nonblocking) {
    SocketPair p;
    Fd lst(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!lst.valid()) return p;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(lst, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0 || listen(lst, 4) != 0 ||
        getsockname(lst, reinterpret_cast<struct sockaddr*>(&addr), &len) != 0)
        return p;
    Fd cli(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!cli.valid()) return p;
    if (connect(cli, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) return p;
    Fd srv(accept4(lst, nullptr, nullptr, SOCK_CLOEXEC));
    if (!srv.valid()) return p;
    if (nonblocking && (!set_nonblocking(cli, true) || !set_nonblocking(srv, true))) return p;
    p.a = std::move(cli);
    p.b = std::move(srv);
    return p;
}

bool set_send_buffer(int fd, int bytes) { return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) == 0; }

bool set_recv_buffer(int fd, int bytes) { return setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) == 0; }

void fill_pattern(void* buf, size_t n, size_t offset) {
    uint8_t* b = static_cast<uint8_t*>(buf);
    for (size_t i = 0; i < n; ++i) b[i] = pattern_byte(offset + i);
}

size_t check_pattern(const void* buf, size_t n, size_t offset) {
    const uint8_t* b = static_cast<const uint8_t*>(buf);
    for (size_t i = 0; i < n; ++i)
        if (b[i] != pattern_byte(offset + i)) return i;
    return n;
}

size_t fill_send_buffer(int fd, size_t pattern_offset) {
    uint8_t chunk[4096];
    size_t total = 0;
    for (;;) {
        fill_pattern(chunk, sizeof chunk, pattern_offset + total);
        ssize_t n = raw_send(fd, chunk, sizeof chunk);
        if (n > 0) {
            total += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        /* unix sockets accept smaller writes when a full chunk does not fit */
        if (n < 0 && errno == EAGAIN) {
            ssize_t one = raw_send(fd, chunk, 1);
            while (one < 0 && errno == EINTR) one = raw_send(fd, chunk, 1);
            if (one == 1) {
                /* The byte sent was pattern_byte(offset + total): chunk[0]. */
                total += 1;
                continue;
            }
        }
        break;
    }
    return total;
}

bool write_all(int fd, const void* buf, size_t n, int timeout_ms) {
    const char* p = static_cast<const char*>(buf);
    int64_t deadline = now_ms() + timeout_ms;
    size_t done = 0;
    while (done < n) {
        ssize_t k = raw_send(fd, p + done, n - done);
        if (k > 0) {
            done += static_cast<size_t>(k);
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno != EAGAIN) return false;
        int64_t left = deadline - now_ms();
        if (left <= 0) return false;
        wait_poll(fd, POLLOUT, static_cast<int>(left));
    }
    return true;
}

bool send_pattern(int fd, size_t n, size_t pattern_offset, int timeout_ms) {
    uint8_t chunk[4096];
    int64_t deadline = now_ms() + timeout_ms;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
        fill_pattern(chunk, k, pattern_offset + done);
        int64_t left = deadline - now_ms();
        if (left <= 0 || !write_all(fd, chunk, k, static_cast<int>(left))) return false;
        done += k;
    }
    return true;
}

bool read_exact(int fd, void* buf, size_t n, int timeout_ms, size_t* got) {
    char* p = static_cast<char*>(buf);
    int64_t deadline = now_ms() + timeout_ms;
    size_t done = 0;
    bool ok = true;
    while (done < n) {
        ssize_t k = raw_recv(fd, p + done, n - done);
        if (k > 0) {
            done += static_cast<size_t>(k);
            continue;
        }
        if (k == 0) {
            ok = false;
            break;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            ok = false;
            break;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            ok = false;
            break;
        }
        wait_poll(fd, POLLIN, static_cast<int>(left));
    }
    if (got) *got = done;
    return ok && done == n;
}

size_t drain(int fd) {
    char chunk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t k = raw_recv(fd, chunk, sizeof chunk);
        if (k > 0) {
            total += static_cast<size_t>(k);
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        break;
    }
    return total;
}

int readable_bytes(int fd) {
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

short wait_poll(int fd, short events, int timeout_ms) {
    struct pollfd p;
    p.fd = fd;
    p.events = events;
    p.revents = 0;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int left = static_cast<int>(deadline - now_ms());
        if (left < 0) left = 0;
        int rc = poll(&p, 1, left);
        if (rc > 0) return p.revents;
        if (rc == 0) return 0;
        if (errno != EINTR) return 0;
    }
}

bool shutdown_wr(int fd) { return ::shutdown(fd, SHUT_WR) == 0; }
bool shutdown_rd(int fd) { return ::shutdown(fd, SHUT_RD) == 0; }

int closed_fd_number() {
    /* A high number nobody opens soon (the lowest free one would be reused by
     * the next open of any thread). */
    for (int fd = 999; fd > 2; --fd)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) return fd;
    return 100000;
}

Fd regular_file() {
    char name[] = "/tmp/cpk_regular_XXXXXX";
    int fd = mkostemp(name, O_CLOEXEC);
    if (fd >= 0) unlink(name);
    return Fd(fd);
}

} // namespace cpk
