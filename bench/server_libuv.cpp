// libuv echo: a uv_pipe_t per socket, uv_read_start into a per-socket buffer,
// uv_try_write, and uv_write of the rest (reading paused) if the socket is full.
#include <pthread.h>
#include <unistd.h>
#include <uv.h>

#include <thread>
#include <vector>

#include "servers.h"
#include "util.h"

namespace bench {
namespace {

struct Conn {
    uv_pipe_t pipe;
    uv_write_t write;
    std::vector<char> buffer;
};

void check(int rc, const char* what) {
    if (rc != 0) {
        fail(std::string(what) + ": " + uv_strerror(rc));
    }
}

class LibuvServer final : public EchoServer {
public:
    void start(const std::vector<int>& fds, size_t message_size) override {
        check(uv_loop_init(&loop_), "uv_loop_init");
        check(uv_async_init(&loop_, &stop_, on_stop), "uv_async_init");
        stop_.data = this;
        conns_.resize(fds.size());
        for (size_t i = 0; i < fds.size(); ++i) {
            Conn& c = conns_[i];
            c.buffer.resize(message_size);
            check(uv_pipe_init(&loop_, &c.pipe, 0), "uv_pipe_init");
            c.pipe.data = &c;
            // libuv closes what it opens: it gets a duplicate, the caller keeps fds[i].
            const int fd = dup(fds[i]);
            if (fd < 0) {
                fail("dup failed");
            }
            check(uv_pipe_open(&c.pipe, fd), "uv_pipe_open");
            check(uv_read_start(reinterpret_cast<uv_stream_t*>(&c.pipe), on_alloc, on_read), "uv_read_start");
        }
        thread_ = std::thread([this] {
            (void)pthread_setname_np(pthread_self(), "bench-libuv");
            (void)uv_run(&loop_, UV_RUN_DEFAULT);
        });
    }

    void stop() override {
        check(uv_async_send(&stop_), "uv_async_send");
        thread_.join();
        check(uv_loop_close(&loop_), "uv_loop_close");
    }

private:
    static void on_stop(uv_async_t* async) {
        LibuvServer* self = static_cast<LibuvServer*>(async->data);
        for (Conn& c : self->conns_) {
            uv_close(reinterpret_cast<uv_handle_t*>(&c.pipe), nullptr);
        }
        uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr); // the loop then runs out
    }

    static void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
        Conn* c = static_cast<Conn*>(handle->data);
        *buf = uv_buf_init(c->buffer.data(), static_cast<unsigned>(c->buffer.size()));
    }

    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        if (nread <= 0) {
            if (nread < 0 && nread != UV_EOF) {
                fail(std::string("libuv read: ") + uv_strerror(static_cast<int>(nread)));
            }
            return; // 0 is EAGAIN; EOF: the client went away
        }
        Conn* c = static_cast<Conn*>(stream->data);
        uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(nread));
        const int sent = uv_try_write(stream, &out, 1);
        if (sent == nread) {
            return;
        }
        if (sent < 0 && sent != UV_EAGAIN) {
            fail(std::string("uv_try_write: ") + uv_strerror(sent));
        }
        const unsigned done = sent > 0 ? static_cast<unsigned>(sent) : 0;
        out = uv_buf_init(buf->base + done, static_cast<unsigned>(nread) - done);
        check(uv_read_stop(stream), "uv_read_stop"); // the buffer is in use until the write ends
        check(uv_write(&c->write, stream, &out, 1, on_written), "uv_write");
    }

    static void on_written(uv_write_t* req, int status) {
        if (status != 0) {
            return; // closing
        }
        check(uv_read_start(req->handle, on_alloc, on_read), "uv_read_start");
    }

    uv_loop_t loop_;
    uv_async_t stop_;
    std::vector<Conn> conns_;
    std::thread thread_;
};

} // namespace

std::unique_ptr<EchoServer> make_libuv_server() { return std::unique_ptr<EchoServer>(new LibuvServer()); }

} // namespace bench
