// The echo servers the bench compares. Each echoes every byte it receives on
// the server ends of the socketpairs, from threads of its own.
#ifndef CPK_BENCH_SERVERS_H
#define CPK_BENCH_SERVERS_H

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace bench {

class EchoServer {
public:
    virtual ~EchoServer() = default;
    // Starts echoing on `fds` (non-blocking, owned by the caller) with
    // buffers of `message_size` bytes; the threads it starts are its own.
    virtual void start(const std::vector<int>& fds, size_t message_size) = 0;
    // Stops and joins the server's threads; the descriptors stay open.
    virtual void stop() = 0;
};

// "impl" (the completion port under test, through its public API), "floor",
// "raw-epoll", "libuv", "libevent".
std::unique_ptr<EchoServer> make_impl_server();
std::unique_ptr<EchoServer> make_floor_server();
std::unique_ptr<EchoServer> make_raw_epoll_server();
std::unique_ptr<EchoServer> make_libuv_server();
std::unique_ptr<EchoServer> make_libevent_server();

} // namespace bench

#endif // CPK_BENCH_SERVERS_H
