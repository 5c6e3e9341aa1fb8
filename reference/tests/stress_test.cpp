// Concurrency: add, remove, inc_ref and dec_ref from several threads at once.
#include "cpk_catch.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "test_hooks.h"
#include "test_util.h"

using namespace reftest;

namespace
{

struct CountedOp
{
    std::atomic<int> calls{0};
    std::atomic<int> last_action{0};
    char buffer[1];
};

void on_counted(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT, int32_t)
{
    CountedOp* op = static_cast<CountedOp*>(context);
    op->last_action = action;
    op->calls.fetch_add(1);
}

bool wait_called(const CountedOp& op)
{
    const auto deadline = Clock::now() + WAIT_LIMIT;
    while (op.calls.load() == 0)
    {
        if (Clock::now() > deadline)
        {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

}  // namespace

TEST_CASE("stress: concurrent add remove inc_ref and dec_ref keep exactly-once completions", "[CPL_ADD_018]")
{
    ResourceSnapshot before;
    constexpr int threads = 4;
    constexpr int rounds = 300;
    std::vector<std::unique_ptr<CountedOp>> ops(threads * rounds);
    for (auto& op : ops)
    {
        op.reset(new CountedOp());
    }
    std::atomic<int> failures{0};
    {
        PortGuard guard;
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t)
        {
            workers.emplace_back([&, t] {
                SocketPair pair;
                for (int r = 0; r < rounds; ++r)
                {
                    CountedOp& op = *ops[t * rounds + r];
                    completion_port_inc_ref(guard.port);
                    COMPLETION_PORT_INGRESS_DATA in{};
                    in.epoll_op = EPOLLIN;
                    in.socket = pair.a;
                    in.event_callback = on_counted;
                    in.event_callback_ctx = &op;
                    in.buffer_data.buffer = op.buffer;
                    in.buffer_data.length = 1;
                    if (completion_port_add(guard.port, &in) != 0)
                    {
                        failures++;
                        completion_port_dec_ref(guard.port);
                        continue;
                    }
                    switch (r % 3)
                    {
                    case 0:  // plain completion
                        write_all(pair.b, "x", 1);
                        if (!wait_called(op))
                        {
                            failures++;
                        }
                        break;
                    case 1:  // remove races the completion
                        write_all(pair.b, "y", 1);
                        completion_port_remove(guard.port, pair.a);
                        break;
                    default:  // remove with nothing to read
                        completion_port_remove(guard.port, pair.a);
                        break;
                    }
                    // Drain whatever the op did not take, for the next round.
                    char sink[4];
                    while (read(pair.a, sink, sizeof(sink)) > 0)
                    {
                    }
                    completion_port_dec_ref(guard.port);
                }
            });
        }
        for (auto& w : workers)
        {
            w.join();
        }
        CHECK(cpl_test_pending_ops(guard.port) == 0);
    }
    CHECK(failures == 0);
    int not_once = 0;
    for (const auto& op : ops)
    {
        not_once += op->calls.load() == 1 ? 0 : 1;
    }
    CHECK(not_once == 0);
    CHECK(before.clean());
}
