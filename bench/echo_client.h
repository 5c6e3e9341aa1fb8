// The echo client: one thread, P socketpairs; a round sends an M-byte
// message on every pair and waits for every echo, checking its bytes.
#ifndef CPK_BENCH_ECHO_CLIENT_H
#define CPK_BENCH_ECHO_CLIENT_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench {

class EchoClient {
public:
    EchoClient(const std::vector<int>& fds, size_t message_size);
    ~EchoClient();
    EchoClient(const EchoClient&) = delete;
    EchoClient& operator=(const EchoClient&) = delete;

    // One round; fails the bench on a wrong byte or after 10 s without an echo.
    void round();
    // Fails the bench if any socket holds a byte nobody sent.
    void check_quiet();
    uint64_t rounds() const { return rounds_; }

private:
    const unsigned char* message(size_t pair) const;
    void send_all(int fd, const unsigned char* data);

    std::vector<int> fds_;
    size_t size_;
    int epoll_fd_;
    uint64_t rounds_ = 0;
    std::vector<unsigned char> pattern_;  // messages are windows of it
    std::vector<unsigned char> received_; // P * size_
    std::vector<size_t> got_;
};

} // namespace bench

#endif // CPK_BENCH_ECHO_CLIENT_H
