/* Sockets for tests: AF_UNIX stream pairs, TCP over 127.0.0.1, resets,
 * filling and draining, bounded reads and writes. Every helper reports
 * failure through its return value; none throws. */
#ifndef CPK_SOCKETS_H
#define CPK_SOCKETS_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace cpk {

/* Owns a descriptor; closes it on destruction. */
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { close(); }
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    operator int() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() {
        int f = fd_;
        fd_ = -1;
        return f;
    }
    void close();
    /* SO_LINGER {1, 0} then close: a TCP peer sees a reset (ECONNRESET). */
    void reset_close();

private:
    int fd_ = -1;
};

/* Destruction and move-assignment close `a` first: the port's end leaves its
 * epoll set before the peer's close could raise events on it. */
struct SocketPair {
    Fd a; /* give this one to the port */
    Fd b; /* the peer the test drives */
    bool ok() const { return a.valid() && b.valid(); }
    SocketPair() = default;
    SocketPair(SocketPair&&) = default;
    SocketPair& operator=(SocketPair&&) = default;
    ~SocketPair() {
        a.close();
        b.close();
    }
};

/* AF_UNIX SOCK_STREAM pair (SOCK_CLOEXEC); both ends non-blocking unless
 * `nonblocking` is false. */
SocketPair unix_pair(bool nonblocking = true);

/* A connected TCP pair on 127.0.0.1 (listener closed after accept):
 * a = the connecting side, b = the accepted side. */
SocketPair tcp_pair(bool nonblocking = true);

bool set_nonblocking(int fd, bool on);
bool set_send_buffer(int fd, int bytes); /* SO_SNDBUF */
bool set_recv_buffer(int fd, int bytes); /* SO_RCVBUF */

/* Writes until the socket's send path is full (EAGAIN), temporarily
 * non-blocking; returns the bytes written: pattern bytes from
 * pattern_offset on (see pattern_byte).
 *
 * The helpers here move bytes with raw sendto/recvfrom system calls, so
 * they never appear in the interposer's recv/send records or faults (those
 * are the implementation's), and never raise SIGPIPE. */
size_t fill_send_buffer(int fd, size_t pattern_offset = 0);

/* Byte i of the kit's test pattern (distinct, non-zero-heavy sequence). */
inline uint8_t pattern_byte(size_t i) { return static_cast<uint8_t>((i * 131u + 7u) ^ (i >> 8)); }
void fill_pattern(void* buf, size_t n, size_t offset = 0);
/* Index of the first byte that differs from the pattern, or n if all match. */
size_t check_pattern(const void* buf, size_t n, size_t offset = 0);

/* Writes all n bytes, waiting (poll) up to timeout_ms in total. */
bool write_all(int fd, const void* buf, size_t n, int timeout_ms = 5000);
/* Writes n pattern bytes, from pattern_offset on, as write_all does (any n;
 * allocation-free). */
bool send_pattern(int fd, size_t n, size_t pattern_offset = 0, int timeout_ms = 5000);
/* Reads exactly n bytes, waiting up to timeout_ms in total; false on EOF,
 * error or timeout (then *got, if given, holds what was read). */
bool read_exact(int fd, void* buf, size_t n, int timeout_ms = 5000, size_t* got = nullptr);
/* Reads whatever is available without waiting; returns bytes discarded. */
size_t drain(int fd);
/* Bytes waiting to be read (FIONREAD), -1 on error. */
int readable_bytes(int fd);
/* poll() for `events` up to timeout_ms; returns revents (0 on timeout). */
short wait_poll(int fd, short events, int timeout_ms);

bool shutdown_wr(int fd);
bool shutdown_rd(int fd);

/* A descriptor number that is certainly closed right now (for EBADF tests). */
int closed_fd_number();

/* A regular (non-pollable) file, unlinked: epoll_ctl gives EPERM on it. */
Fd regular_file();

} // namespace cpk

#endif
