// The implementation under test, through its public API only: per socket a
// recv op; its callback adds a send op of the bytes received, whose callback
// adds the next recv op.
#include <pthread.h>
#include <sys/epoll.h>

#include <atomic>
#include <vector>

#include "c_pal/completion_port_linux.h"
#include "servers.h"
#include "util.h"

namespace bench
{
namespace
{

class ImplServer;

// Names the thread the callbacks run on, once, for `perf report --comm bench-impl`.
void name_this_thread()
{
    static thread_local bool named = false;
    if (!named)
    {
        named = true;
        (void)pthread_setname_np(pthread_self(), "bench-impl");
    }
}

struct Conn
{
    ImplServer* server;
    int fd;
    std::vector<unsigned char> buffer;
};

class ImplServer final : public EchoServer
{
public:
    void start(const std::vector<int>& fds, size_t message_size) override
    {
        port_ = completion_port_create();
        if (port_ == nullptr)
        {
            fail("completion_port_create returned NULL");
        }
        conns_.resize(fds.size());
        for (size_t i = 0; i < fds.size(); ++i)
        {
            conns_[i].server = this;
            conns_[i].fd = fds[i];
            conns_[i].buffer.resize(message_size);
        }
        for (Conn& conn : conns_)
        {
            if (!add(&conn, EPOLLIN, conn.buffer.size()))
            {
                fail("completion_port_add of a recv op failed");
            }
        }
    }

    void stop() override
    {
        stopping_ = true;
        completion_port_dec_ref(port_);  // the pending recv ops complete as closing
        port_ = nullptr;
        if (failures_.load() != 0)
        {
            fail("the implementation completed an echo op with an unexpected action, result or amount, or refused an add");
        }
    }

    bool add(Conn* conn, int epoll_op, size_t length)
    {
        COMPLETION_PORT_INGRESS_DATA in{};
        in.epoll_op = epoll_op;
        in.socket = conn->fd;
        in.event_callback = epoll_op == EPOLLIN ? on_recv : on_send;
        in.event_callback_ctx = conn;
        in.buffer_data.buffer = conn->buffer.data();
        in.buffer_data.length = static_cast<uint32_t>(length);
        return completion_port_add(port_, &in) == 0;
    }

    static void on_recv(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t amount)
    {
        Conn* conn = static_cast<Conn*>(context);
        ImplServer* self = conn->server;
        if (action == COMPLETION_PORT_CLOSING && self->stopping_)
        {
            return;
        }
        name_this_thread();
        if (action != COMPLETION_PORT_EPOLL_EPOLLIN || result != COMPLETION_PORT_RESULT_OK || amount <= 0 ||
            static_cast<size_t>(amount) > conn->buffer.size() || !self->add(conn, EPOLLOUT, static_cast<size_t>(amount)))
        {
            self->failures_.fetch_add(1);
        }
    }

    static void on_send(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t)
    {
        Conn* conn = static_cast<Conn*>(context);
        ImplServer* self = conn->server;
        if (action == COMPLETION_PORT_CLOSING && self->stopping_)
        {
            return;
        }
        if (action != COMPLETION_PORT_EPOLL_EPOLLOUT || result != COMPLETION_PORT_RESULT_OK ||
            !self->add(conn, EPOLLIN, conn->buffer.size()))
        {
            self->failures_.fetch_add(1);
        }
    }

private:
    COMPLETION_PORT_HANDLE port_ = nullptr;
    std::vector<Conn> conns_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> failures_{0};
};

}  // namespace

std::unique_ptr<EchoServer> make_impl_server()
{
    return std::unique_ptr<EchoServer>(new ImplServer());
}

}  // namespace bench
