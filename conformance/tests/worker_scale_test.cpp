/* Spec section 7: each callback is its own op's (CPL_WORKER_005), also with
 * many ops pending at once. A hundred sockets each get a recv op and all
 * become readable together; every op must complete once, with its own
 * context and its own socket's bytes. Then the same
 * again on the same sockets, whose records were dropped at the completions
 * and are made anew. Catches a record that loses, mixes up or corrupts
 * entries past some size (a table that rehashes, a cache of dropped records
 * that overflows). */
#include "cpk_catch.h"

#include "harness.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr size_t kSockets = 100;
constexpr uint32_t kLen = 8; /* "r<round>s<socket>" padded to 8 bytes */

void message(char (&out)[kLen + 1], int round, size_t socket) {
    std::snprintf(out, sizeof out, "r%ds%05zu", round, socket);
}

/* Round `round` (ops round * kSockets + i): adds every op, then writes every
 * peer; "" if each op completed once with (EPOLLIN, OK, kLen) and its own
 * socket's message, else the first that did not. */
std::string run_round(cpk::PortCase& t, cpk::SocketPair (&sp)[kSockets], int round) {
    static char bufs[2][kSockets][kLen + 1];
    const size_t first = static_cast<size_t>(round) * kSockets;
    for (size_t i = 0; i < kSockets; ++i) {
        std::memset(bufs[round][i], 0, sizeof bufs[round][i]);
        t.add(first + i, EPOLLIN, sp[i].a, bufs[round][i], kLen);
    }
    for (size_t i = 0; i < kSockets; ++i) {
        char m[kLen + 1];
        message(m, round, i);
        CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, m, kLen));
    }
    if (!cpk::wait_all_ops(t.rec, first, kSockets, cpk::kWaitMs))
        return "round " + std::to_string(round) + ": not every op got a callback of its own";
    for (size_t i = 0; i < kSockets; ++i) {
        char m[kLen + 1];
        message(m, round, i);
        std::string bad =
            cpk::one_callback(t.rec, first + i, COMPLETION_PORT_EPOLL_EPOLLIN, COMPLETION_PORT_RESULT_OK, kLen);
        if (bad.empty() && std::memcmp(bufs[round][i], m, kLen) != 0)
            bad = std::string("its buffer holds \"") + bufs[round][i] + "\", not \"" + m + "\"";
        if (!bad.empty()) return "round " + std::to_string(round) + ", socket " + std::to_string(i) + ": " + bad;
    }
    return "";
}

} // namespace

TEST_CASE_METHOD(cpk::PortCase, "worker: a hundred sockets with an op each all complete with their own bytes, twice",
                 "[CPL_WORKER_005]") {
    cpk::SocketPair sp[kSockets];
    for (cpk::SocketPair& s : sp) s = unix_sockets();
    for (int round = 0; round < 2; ++round) {
        const std::string bad = run_round(*this, sp, round);
        INFO(bad << "\n" << rec.dump());
        CPK_REQUIRE("CPL_WORKER_005", bad == "");
    }
    finish(sp);
}
