/* Racing API calls against the reference's own bookkeeping: what the
 * conformance suite's concurrency tests cannot see is that no op and no
 * socket stays recorded once every op has completed or been removed. */
#include "unit.h"

#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

TEST_CASE("internal: racing add remove inc_ref and dec_ref leave every op completed once and none recorded",
          "[CPL_ADD_004][CPL_ADD_018]") {
    cpk::Guard guard;
    constexpr size_t kThreads = 4;
    constexpr size_t kRounds = 300;
    cpk::Recorder rec(kThreads * kRounds, 2 * kThreads * kRounds);
    static char bufs[kThreads * kRounds][1];
    std::atomic<int> failures{0};
    {
        reftest::Port port;
        std::vector<std::thread> threads;
        for (size_t t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                cpk::SocketPair sp = cpk::unix_pair();
                if (!sp.ok()) {
                    failures++;
                    return;
                }
                for (size_t r = 0; r < kRounds; ++r) {
                    const size_t op = t * kRounds + r;
                    completion_port_inc_ref(port);
                    auto in = rec.ingress(op, EPOLLIN, sp.a, bufs[op], 1);
                    if (completion_port_add(port, &in) != 0) {
                        failures++;
                        completion_port_dec_ref(port);
                        continue;
                    }
                    switch (r % 3) {
                    case 0: /* plain completion */
                        if (!cpk::write_all(sp.b, "x", 1) || !rec.wait_op(op, cpk::kWaitMs)) failures++;
                        break;
                    case 1: /* remove races the completion */
                        if (!cpk::write_all(sp.b, "y", 1)) failures++;
                        completion_port_remove(port, sp.a);
                        break;
                    default: /* remove with nothing to read */ completion_port_remove(port, sp.a); break;
                    }
                    cpk::drain(sp.a); /* what the op did not take, for the next round */
                    completion_port_dec_ref(port);
                }
            });
        }
        for (std::thread& th : threads) th.join();
        CHECK(cpl_test_pending_ops(port) == 0);
        CHECK(cpl_test_tracked_sockets(port) == 0);
    }
    CHECK(failures == 0);
    int not_once = 0;
    for (size_t op = 0; op < kThreads * kRounds; ++op) not_once += rec.calls(op) == 1 ? 0 : 1;
    CHECK(not_once == 0);
    CHECK(guard.finish() == "");
}
