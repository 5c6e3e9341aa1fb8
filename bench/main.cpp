// cpkit bench: the implementation under test against the conformant floor,
// raw epoll, libuv and libevent (echo.json), its teardown latency
// (teardown.json) and per-op cost against pending ops (scaling.json).
// Usage: cpkit_bench --out DIR [--name NAME] [--smoke] [--pin split|same] [--pairs P,...] [--sizes M,...]
//                    [--only echo|teardown|scaling]
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "echo_bench.h"
#include "json.h"
#include "port_bench.h"
#include "util.h"

namespace bench {
void write_file(const std::string& path, const std::string& text) {
    FILE* file = std::fopen(path.c_str(), "w");
    if (file == nullptr || std::fwrite(text.data(), 1, text.size(), file) != text.size() || std::fclose(file) != 0) {
        fail("cannot write " + path);
    }
}
} // namespace bench

int main(int argc, char** argv) {
    std::string out = "build/bench";
    std::string name = "reference";
    bool smoke = false;
    std::string pin;
    std::string only;
    bool pairs_given = false;
    std::vector<size_t> pairs = {1, 64, 1024}, sizes = {64, 16384};
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--out" && i + 1 < argc) {
            out = argv[++i];
        } else if (arg == "--name" && i + 1 < argc) {
            name = argv[++i];
        } else if (arg == "--smoke") {
            smoke = true;
        } else if (arg == "--only" && i + 1 < argc) {
            only = argv[++i];
        } else if (arg == "--pin" && i + 1 < argc &&
                   (std::strcmp(argv[i + 1], "split") == 0 || std::strcmp(argv[i + 1], "same") == 0)) {
            pin = argv[++i];
        } else if ((arg == "--pairs" || arg == "--sizes") && i + 1 < argc) {
            std::vector<size_t>& into = arg == "--pairs" ? pairs : sizes;
            pairs_given = pairs_given || arg == "--pairs";
            into.clear();
            for (const char* p = argv[++i]; *p != '\0'; ++p) {
                into.push_back(std::strtoul(p, const_cast<char**>(&p), 10));
                if (into.back() == 0 || (*p != ',' && *p != '\0')) {
                    std::fprintf(stderr, "%s: %s wants positive numbers separated by commas\n", argv[0], arg.c_str());
                    return 2;
                }
                if (*p == '\0') {
                    break;
                }
            }
        } else {
            std::fprintf(stderr,
                         "usage: %s --out DIR [--name NAME] [--smoke] [--pin split|same] [--pairs P,...] [--sizes "
                         "M,...] [--only echo|teardown|scaling]\n",
                         argv[0]);
            return 2;
        }
    }
    (void)mkdir(out.c_str(), 0755);
    // A server that fails mid-run must not kill the bench with SIGPIPE.
    (void)std::signal(SIGPIPE, SIG_IGN);
    (void)bench::raise_fd_limit();

    bench::EchoConfig echo;
    echo.impl_name = name;
    // Smoke: 200 pairs are more than an epoll_wait batch of 128, at a fraction of 1024's setup.
    echo.pairs = smoke && !pairs_given ? std::vector<size_t>{1, 200} : pairs;
    echo.sizes = sizes;
    echo.repetitions = smoke ? 1 : 7;
    echo.slice_s = smoke ? 0.01 : 0.1;
    echo.slices = smoke ? 2 : 5;
    echo.warm_s = smoke ? 0.005 : 0.05;
    echo.count_s = smoke ? 0.01 : 0.2;
    echo.pin = pin;
    echo.progress = !smoke;
    if (only.empty() || only == "echo") {
        bench::write_file(out + "/echo.json", bench::run_echo_bench(echo));
    }

    if (only.empty() || only == "teardown") {
        bench::write_file(out + "/teardown.json", bench::run_teardown_bench(name, smoke ? 3 : 20, smoke ? 5 : 50));
    }

    bench::ScalingConfig scaling;
    scaling.impl_name = name;
    scaling.pending = smoke ? std::vector<size_t>{10, 1000} : std::vector<size_t>{10, 1000, 10000, 100000};
    scaling.active = 64;
    scaling.rounds = smoke ? 5 : 25;
    scaling.repetitions = smoke ? 1 : 41;
    if (only.empty() || only == "scaling") {
        bench::write_file(out + "/scaling.json", bench::run_scaling_bench(scaling));
    }
    return 0;
}
