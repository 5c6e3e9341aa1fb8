// The implementation under test, through its public API only: per socket a
// recv op; its callback adds a send op of the bytes received, whose callback
// adds the next recv op.
#include <pthread.h>
#include <sys/epoll.h>

#include <atomic>
#include <string>
#include <vector>

#include "c_pal/completion_port_linux.h"
#include "servers.h"
#include "util.h"

namespace bench {
namespace {

class ImplServer;

// Names the thread the callbacks run on, once, for `perf report --comm bench-impl`.
void name_this_thread() {
    static thread_local bool named = false;
    if (!named) {
        named = true;
        (void)pthread_setname_np(pthread_self(), "bench-impl");
    }
}

struct Conn {
    ImplServer* server;
    int fd;
    std::vector<unsigned char> buffer;
};

class ImplServer final : public EchoServer {
public:
    void start(const std::vector<int>& fds, size_t message_size) override {
        port_ = completion_port_create();
        if (port_ == nullptr) {
            fail("completion_port_create returned NULL");
        }
        conns_.resize(fds.size());
        for (size_t i = 0; i < fds.size(); ++i) {
            conns_[i].server = this;
            conns_[i].fd = fds[i];
            conns_[i].buffer.resize(message_size);
        }
        for (Conn& conn : conns_) {
            if (!add(&conn, EPOLLIN, conn.buffer.size())) {
                fail("completion_port_add of a recv op failed");
            }
        }
    }

    void stop() override {
        // The last echo's callback may still run: an add it makes while the
        // final dec_ref proceeds may fail, and that is no failure.
        stopping_ = true;
        completion_port_dec_ref(port_); // the pending recv ops complete as closing
        port_ = nullptr;
        if (failures_.load() != 0) {
            fail(std::to_string(failures_.load()) + " echo ops went wrong; the first: " + first_failure_);
        }
    }

    bool add(Conn* conn, int epoll_op, size_t length) {
        COMPLETION_PORT_INGRESS_DATA in{};
        in.epoll_op = epoll_op;
        in.socket = conn->fd;
        in.event_callback = epoll_op == EPOLLIN ? on_recv : on_send;
        in.event_callback_ctx = conn;
        in.buffer_data.buffer = conn->buffer.data();
        in.buffer_data.length = static_cast<uint32_t>(length);
        return completion_port_add(port_, &in) == 0;
    }

    // The op's connection, or null for the closing completion of a stop.
    static Conn* live(void* context, COMPLETION_PORT_EPOLL_ACTION action) {
        Conn* conn = static_cast<Conn*>(context);
        return action == COMPLETION_PORT_CLOSING && conn->server->stopping_ ? nullptr : conn;
    }

    static void on_recv(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                        int32_t amount) {
        Conn* conn = live(context, action);
        if (conn == nullptr) {
            return;
        }
        ImplServer* self = conn->server;
        name_this_thread();
        if (action != COMPLETION_PORT_EPOLL_EPOLLIN || result != COMPLETION_PORT_RESULT_OK || amount <= 0 ||
            static_cast<size_t>(amount) > conn->buffer.size()) {
            self->failed("a recv op completed with", action, result, amount);
        } else if (!self->add(conn, EPOLLOUT, static_cast<size_t>(amount)) && !self->stopping_) {
            self->failed("completion_port_add of a send op failed after a recv op completed with", action, result,
                         amount);
        }
    }

    static void on_send(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result,
                        int32_t amount) {
        Conn* conn = live(context, action);
        if (conn == nullptr) {
            return;
        }
        ImplServer* self = conn->server;
        if (action != COMPLETION_PORT_EPOLL_EPOLLOUT || result != COMPLETION_PORT_RESULT_OK) {
            self->failed("a send op completed with", action, result, amount);
        } else if (!self->add(conn, EPOLLIN, conn->buffer.size()) && !self->stopping_) {
            self->failed("completion_port_add of a recv op failed after a send op completed with", action, result,
                         amount);
        }
    }

    // Callbacks run on the worker, one at a time: the first text is written once.
    void failed(const char* what, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t amount) {
        if (failures_.fetch_add(1) == 0) {
            first_failure_ = std::string(what) + " (action " + std::to_string(static_cast<int>(action)) + ", result " +
                             std::to_string(static_cast<int>(result)) + ", amount " + std::to_string(amount) + ")";
        }
    }

private:
    COMPLETION_PORT_HANDLE port_ = nullptr;
    std::vector<Conn> conns_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> failures_{0};
    std::string first_failure_;
};

} // namespace

std::unique_ptr<EchoServer> make_impl_server() { return std::unique_ptr<EchoServer>(new ImplServer()); }

} // namespace bench
