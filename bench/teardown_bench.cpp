// Latency of the final dec_ref with an idle worker (CPL_DECREF_009): without
// a wake-up it would wait out the worker's 2 s epoll_wait.
#include <thread>

#include "c_pal/completion_port_linux.h"
#include "json.h"
#include "port_bench.h"
#include "util.h"

namespace bench {

std::string run_teardown_bench(const std::string& impl_name, int cycles, int idle_ms) {
    std::vector<double> create_us, decref_us;
    for (int i = 0; i < cycles; ++i) {
        const Clock::time_point t0 = Clock::now();
        COMPLETION_PORT_HANDLE port = completion_port_create();
        const double created = seconds_since(t0);
        if (port == nullptr) {
            fail("completion_port_create returned NULL");
        }
        // Idle: the worker is asleep in epoll_wait when dec_ref comes.
        std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
        const Clock::time_point t1 = Clock::now();
        completion_port_dec_ref(port);
        decref_us.push_back(seconds_since(t1) * 1e6);
        create_us.push_back(created * 1e6);
    }
    std::string all;
    for (double us : decref_us) {
        all += (all.empty() ? "" : ", ") + json_number(us, 1);
    }
    return "{\"server\": " + json_string(impl_name) + ", \"cycles\": " + std::to_string(cycles) +
           ", \"idle_ms\": " + std::to_string(idle_ms) +
           ", \"create_median_us\": " + json_number(median(create_us), 1) +
           ", \"decref_median_us\": " + json_number(median(decref_us), 1) +
           ", \"decref_max_us\": " + json_number(quantile(decref_us, 1.0), 1) + ", \"decref_us\": [" + all + "]}\n";
}

} // namespace bench
