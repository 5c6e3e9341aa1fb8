// (a) Latency of the final dec_ref with an idle worker (CPL_DECREF_009):
// without a wake-up it would wait out the worker's 2 s epoll_wait.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "bench_util.h"
#include "c_pal/completion_port_linux.h"

namespace bench
{
namespace
{

struct Done
{
    std::mutex mutex;
    std::condition_variable changed;
    bool done = false;
};

void on_done(void* context, COMPLETION_PORT_EPOLL_ACTION, COMPLETION_PORT_RESULT, int32_t)
{
    Done* d = static_cast<Done*>(context);
    std::lock_guard<std::mutex> lock(d->mutex);
    d->done = true;
    d->changed.notify_all();
}

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "bench: %s\n", what);
    std::exit(1);
}

}  // namespace

TeardownResult measure_teardown(int cycles)
{
    std::vector<double> create_us, decref_us;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    {
        fail("socketpair failed");
    }
    char out = 'x', in = 0;
    for (int i = 0; i < cycles; ++i)
    {
        const auto t0 = Clock::now();
        COMPLETION_PORT_HANDLE port = completion_port_create();
        const auto t1 = Clock::now();
        if (port == nullptr)
        {
            fail("completion_port_create failed");
        }
        // One round trip proves the worker is in its loop; the short pause
        // lets it go back to sleep in epoll_wait, so the dec_ref below meets
        // an idle worker, as the requirement states.
        Done done;
        COMPLETION_PORT_INGRESS_DATA ingress{};
        ingress.epoll_op = EPOLLOUT;
        ingress.socket = fds[0];
        ingress.event_callback = on_done;
        ingress.event_callback_ctx = &done;
        ingress.buffer_data.buffer = &out;
        ingress.buffer_data.length = 1;
        if (completion_port_add(port, &ingress) != 0)
        {
            fail("completion_port_add failed");
        }
        {
            std::unique_lock<std::mutex> lock(done.mutex);
            if (!done.changed.wait_for(lock, std::chrono::seconds(5), [&] { return done.done; }))
            {
                fail("no completion within 5 s");
            }
        }
        if (read(fds[1], &in, 1) != 1)
        {
            fail("read failed");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));

        const auto t2 = Clock::now();
        completion_port_dec_ref(port);
        const auto t3 = Clock::now();
        create_us.push_back(elapsed_ns(t0, t1) / 1000.0);
        decref_us.push_back(elapsed_ns(t2, t3) / 1000.0);
    }
    close(fds[0]);
    close(fds[1]);
    return TeardownResult{quantile(create_us, 0.5), quantile(decref_us, 0.5), quantile(decref_us, 0.99),
                          quantile(decref_us, 1.0), cycles};
}

}  // namespace bench
