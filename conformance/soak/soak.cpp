/* Soak: one port, thousands of socketpairs, at least a million completions.
 *
 * Four driver threads own a share of the pairs each. On every pair a recv op
 * (on every other pair with EPOLLRDHUP too) and a send op are pending on the
 * port's end; each callback checks what its
 * op moved and re-arms the op from inside the callback. The drivers play the
 * peers (write pattern bytes, read and check what the port sent) and, at
 * random, retire a pair by a remove, an orderly peer close or a peer reset
 * (a close with unread bytes), then open a new pair in its place and add its
 * ops: adds and removes from four threads at once while the worker re-arms.
 *
 * Checked: every op completes exactly once (the final dec_ref closes those
 * still pending), both byte streams arrive intact and in order and keep
 * flowing (most bytes the peers wrote are received), RSS stays
 * flat after warm-up, and no descriptor, thread or allocation is left at the
 * end (the harness's interposer tracks allocations). Prints one summary line
 * "soak: N ops ..., lost L, duplicated D ..." and exits 0 only when all hold.
 *
 * Settings (environment): SOAK_OPS (1000000), SOAK_PAIRS (2000),
 * SOAK_THREADS (4), SOAK_SECONDS (80: stop early, and fail, if the ops are
 * not reached by then), SOAK_SEED. */
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "c_pal/completion_port_linux.h"
#include "interpose.h"
#include "process.h"
#include "sockets.h"

namespace {

long env_long(const char* name, long dflt) {
    const char* v = getenv(name);
    return v && *v ? strtol(v, nullptr, 10) : dflt;
}

constexpr uint32_t kRecvLen = 256; /* recv op buffer */
constexpr uint32_t kSendMax = 300; /* send op length: 1..kSendMax */
constexpr unsigned kRing = 8;      /* contexts per direction, reused round robin */

struct Pair;

/* The context of one op. Reused only kRing ops later, so a late second
 * callback still lands on its own op's count. */
struct Ctx {
    Pair* pair = nullptr;
    bool is_send = false;
    std::atomic<int> calls{0};
    std::atomic<bool> added{false};
};

struct Totals {
    std::atomic<uint64_t> ops{0};   /* callbacks */
    std::atomic<uint64_t> added{0}; /* successful adds */
    std::atomic<uint64_t> add_failed{0};
    std::atomic<uint64_t> duplicated{0}; /* callbacks past an op's first */
    std::atomic<uint64_t> corrupt{0};    /* bytes not what the peer sent */
    std::atomic<uint64_t> bad_amount{0}; /* amount outside 0..length, or a short OK send */
    std::atomic<uint64_t> closing{0};
    std::atomic<uint64_t> hangups{0};
    std::atomic<uint64_t> stuck{0};     /* a retired pair whose ops never completed */
    std::atomic<uint64_t> written{0};   /* peer -> port, written by the peers */
    std::atomic<uint64_t> bytes_in{0};  /* peer -> port, received and checked */
    std::atomic<uint64_t> bytes_out{0}; /* port -> peer, checked */
    std::atomic<uint64_t> retired[3] = {{0}, {0}, {0}};
};
Totals g;
COMPLETION_PORT_HANDLE g_port = nullptr;

uint8_t stream_byte(uint64_t base, uint64_t off) { return cpk::pattern_byte(static_cast<size_t>(base + off)); }

struct Pair {
    int a = -1;            /* the port's end */
    int b = -1;            /* the peer, driven by the owner thread */
    uint64_t base_in = 0;  /* stream the peer writes */
    uint64_t base_out = 0; /* stream the port sends */
    bool rdhup = false;    /* its recv ops also ask for EPOLLRDHUP */
    std::atomic<bool> retiring{false};
    std::atomic<int> pending{0}; /* ops added and not completed */
    /* peer -> port: the owner writes at w_off; callbacks receive at r_off */
    uint64_t w_off = 0;
    std::atomic<uint64_t> r_off{0};
    /* port -> peer: callbacks send at s_off; the owner reads at p_off */
    std::atomic<uint64_t> s_off{0};
    uint64_t p_off = 0;
    uint32_t send_len = 0;
    uint8_t rbuf[kRecvLen];
    uint8_t sbuf[kSendMax];
    Ctx rctx[kRing], sctx[kRing];
    unsigned rnext = 0, snext = 0;
    uint32_t rng = 1;
};

uint32_t next_rand(uint32_t& s) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

void on_complete(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t amount);

/* Takes the next context of a direction, settling the count of its last op. */
Ctx& take_ctx(Ctx* ring, unsigned& next) {
    Ctx& c = ring[next++ % kRing];
    c.calls.store(0);
    return c;
}

/* Adds an op; on failure the pair just has one op fewer until it is retired. */
bool add_op(Pair& p, bool is_send) {
    Ctx& c = is_send ? take_ctx(p.sctx, p.snext) : take_ctx(p.rctx, p.rnext);
    c.pair = &p;
    c.is_send = is_send;
    COMPLETION_PORT_INGRESS_DATA in;
    memset(&in, 0, sizeof in);
    in.socket = p.a;
    in.event_callback = on_complete;
    in.event_callback_ctx = &c;
    if (is_send) {
        uint64_t off = p.s_off.load(std::memory_order_relaxed);
        p.send_len = 1 + next_rand(p.rng) % kSendMax;
        for (uint32_t i = 0; i < p.send_len; ++i) p.sbuf[i] = stream_byte(p.base_out, off + i);
        in.epoll_op = EPOLLOUT;
        in.buffer_data.buffer = p.sbuf;
        in.buffer_data.length = p.send_len;
    } else {
        in.epoll_op = p.rdhup ? EPOLLIN | EPOLLRDHUP : EPOLLIN;
        in.buffer_data.buffer = p.rbuf;
        in.buffer_data.length = kRecvLen;
    }
    p.pending.fetch_add(1);
    c.added.store(true);
    if (completion_port_add(g_port, &in) != 0) {
        c.added.store(false);
        p.pending.fetch_sub(1);
        g.add_failed.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    g.added.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void on_complete(void* context, COMPLETION_PORT_EPOLL_ACTION action, COMPLETION_PORT_RESULT result, int32_t amount) {
    Ctx& c = *static_cast<Ctx*>(context);
    g.ops.fetch_add(1, std::memory_order_relaxed);
    if (c.calls.fetch_add(1) != 0) {
        g.duplicated.fetch_add(1);
        return;
    }
    Pair& p = *c.pair;
    bool rearm = false;
    if (action == COMPLETION_PORT_CLOSING) {
        g.closing.fetch_add(1, std::memory_order_relaxed);
    } else if (action == COMPLETION_PORT_EPOLL_EPOLLRDHUP) {
        /* a hang-up: nothing was received */
        if (c.is_send || !p.rdhup || amount < 0 || static_cast<uint32_t>(amount) > kRecvLen) g.bad_amount.fetch_add(1);
        g.hangups.fetch_add(1, std::memory_order_relaxed);
    } else if (!c.is_send) {
        uint64_t off = p.r_off.load(std::memory_order_relaxed);
        if (amount < 0 || static_cast<uint32_t>(amount) > kRecvLen) {
            g.bad_amount.fetch_add(1);
        } else {
            for (int32_t i = 0; i < amount; ++i)
                if (p.rbuf[i] != stream_byte(p.base_in, off + static_cast<uint64_t>(i))) {
                    g.corrupt.fetch_add(1);
                    break;
                }
            p.r_off.store(off + static_cast<uint64_t>(amount), std::memory_order_relaxed);
            g.bytes_in.fetch_add(static_cast<uint64_t>(amount), std::memory_order_relaxed);
            rearm = result == COMPLETION_PORT_RESULT_OK && amount > 0;
        }
    } else {
        if (amount < 0 || static_cast<uint32_t>(amount) > p.send_len ||
            (result == COMPLETION_PORT_RESULT_OK && static_cast<uint32_t>(amount) != p.send_len)) {
            g.bad_amount.fetch_add(1);
        } else {
            p.s_off.fetch_add(static_cast<uint64_t>(amount), std::memory_order_relaxed);
            rearm = result == COMPLETION_PORT_RESULT_OK;
        }
    }
    /* The re-arm counts as pending before this op stops counting: a retiring
     * owner that sees 0 closes the socket, whose number may be reused at once. */
    if (rearm && !p.retiring.load()) add_op(p, c.is_send);
    p.pending.fetch_sub(1);
}

/* The peer's side of one visit: write some of its stream, read and check
 * what the port sent. True if it moved a byte. */
bool drive_peer(Pair& p) {
    bool moved = false;
    uint8_t buf[2048];
    /* Keep about two recv ops' worth in flight: bytes are not the point, ops are. */
    if (p.w_off - p.r_off.load(std::memory_order_relaxed) < 2 * kRecvLen) {
        uint32_t n = 1 + next_rand(p.rng) % (2 * kRecvLen);
        for (uint32_t i = 0; i < n; ++i) buf[i] = stream_byte(p.base_in, p.w_off + i);
        ssize_t w = write(p.b, buf, n);
        if (w > 0) {
            p.w_off += static_cast<uint64_t>(w);
            g.written.fetch_add(static_cast<uint64_t>(w), std::memory_order_relaxed);
        }
        moved = w > 0;
    }
    ssize_t r = read(p.b, buf, sizeof buf);
    if (r > 0) {
        for (ssize_t i = 0; i < r; ++i)
            if (buf[i] != stream_byte(p.base_out, p.p_off + static_cast<uint64_t>(i))) {
                g.corrupt.fetch_add(1);
                break;
            }
        p.p_off += static_cast<uint64_t>(r);
        g.bytes_out.fetch_add(static_cast<uint64_t>(r), std::memory_order_relaxed);
        moved = true;
    }
    return moved;
}

std::atomic<uint64_t> g_serial{1};

bool open_pair(Pair& p) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return false;
    p.a = sv[0];
    p.b = sv[1];
    uint64_t serial = g_serial.fetch_add(1);
    p.base_in = serial << 33;
    p.base_out = (serial << 33) + (uint64_t(1) << 32);
    p.rdhup = serial % 2 == 0;
    p.w_off = p.p_off = 0;
    p.r_off.store(0);
    p.s_off.store(0);
    p.retiring.store(false);
    add_op(p, false);
    add_op(p, true);
    return true;
}

/* Retires a pair: `how` 0 remove, 1 orderly peer close, 2 peer reset (the
 * peer closes with bytes the port sent still unread). Every op pending on it
 * completes before this returns, or the pair counts as stuck. */
void retire(Pair& p, unsigned how) {
    g.retired[how].fetch_add(1, std::memory_order_relaxed);
    if (how == 1) {
        shutdown(p.b, SHUT_WR);
        close(p.b);
        p.b = -1;
    } else if (how == 2) {
        close(p.b); /* unread bytes in its queue make this a reset for the port's end */
        p.b = -1;
    }
    if (how != 0) {
        /* Give the ops a moment to complete on the hang-up or reset themselves. */
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
        while (p.pending.load() != 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    p.retiring.store(true);
    /* Remove until nothing is pending: a callback that read `retiring` before
     * it was set may have re-armed while the first remove ran. */
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    do {
        completion_port_remove(g_port, p.a);
        if (p.pending.load() == 0) break;
        std::this_thread::yield();
    } while (std::chrono::steady_clock::now() < deadline);
    if (p.pending.load() != 0) {
        g.stuck.fetch_add(1);
        return; /* left open: the final dec_ref must still close its ops */
    }
    close(p.a);
    if (p.b >= 0) close(p.b);
    p.a = p.b = -1;
}

std::atomic<bool> g_stop{false};
std::atomic<bool> g_go{false};

void driver(std::vector<Pair>* pairs, size_t first, size_t count, uint32_t seed) {
    uint32_t rng = seed | 1;
    while (!g_go.load()) std::this_thread::yield();
    while (!g_stop.load(std::memory_order_relaxed)) {
        size_t moved = 0;
        for (size_t i = first; i < first + count && !g_stop.load(std::memory_order_relaxed); ++i) {
            Pair& p = (*pairs)[i];
            if (p.a < 0) {
                if (!open_pair(p)) g.stuck.fetch_add(1);
                continue;
            }
            if (drive_peer(p)) ++moved;
            uint32_t r = next_rand(rng);
            if (r % 2000 == 0) {
                retire(p, (r / 2000) % 3);
                if (p.a < 0 && !open_pair(p)) g.stuck.fetch_add(1);
            }
        }
        /* A round that found little to do leaves the cores to the worker. */
        if (moved < count / 8) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

/* Resident set size in bytes (/proc/self/statm). */
long rss_bytes() {
    FILE* f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long size = 0, res = 0;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
    fclose(f);
    return res * sysconf(_SC_PAGESIZE);
}

double mb(long bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

} // namespace

int main() {
    const uint64_t target = static_cast<uint64_t>(env_long("SOAK_OPS", 1000000));
    const size_t npairs = static_cast<size_t>(env_long("SOAK_PAIRS", 2000));
    const int nthreads = static_cast<int>(env_long("SOAK_THREADS", 4));
    const long seconds = env_long("SOAK_SECONDS", 80);
    const uint32_t seed = static_cast<uint32_t>(env_long("SOAK_SEED", 12345));

    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    rlim_t need = static_cast<rlim_t>(2 * npairs + 256);
    if (lim.rlim_cur < need) {
        lim.rlim_cur = lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= need ? need : lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (lim.rlim_cur < need) {
        std::fprintf(stderr, "soak: RLIMIT_NOFILE hard limit %ld is below the %ld descriptors %zu pairs need\n",
                     static_cast<long>(lim.rlim_max), static_cast<long>(need), npairs);
        return 2;
    }

    int fds_before = cpk::count_fds();
    int threads_before = cpk::count_threads();
    std::vector<Pair> pairs(npairs);
    for (size_t i = 0; i < npairs; ++i) pairs[i].rng = seed * 2654435761u + static_cast<uint32_t>(i) + 1;
    std::vector<std::thread> drivers;
    size_t share = (npairs + nthreads - 1) / nthreads;
    for (int t = 0; t < nthreads; ++t) {
        size_t first = t * share;
        size_t count = first >= npairs ? 0 : std::min(share, npairs - first);
        drivers.emplace_back(driver, &pairs, first, count, seed + 7919u * (t + 1));
    }

    /* Everything the port allocates from its create to its final dec_ref. */
    cpk::alloc_track_start();
    g_port = completion_port_create();
    if (!g_port) {
        std::fprintf(stderr, "soak: completion_port_create returned NULL\n");
        g_stop.store(true);
        g_go.store(true);
        for (std::thread& d : drivers) d.join();
        return 1;
    }
    auto t0 = std::chrono::steady_clock::now();
    g_go.store(true);
    long rss_warm = 0, rss_peak = 0;
    bool timed_out = false;
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        uint64_t ops = g.ops.load();
        long rss = rss_bytes();
        if (rss_warm == 0 && ops >= target / 5) rss_warm = rss;
        if (rss_warm != 0 && rss > rss_peak) rss_peak = rss;
        if (ops >= target) break;
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(seconds)) {
            timed_out = true;
            break;
        }
    }
    g_stop.store(true);
    for (std::thread& d : drivers) d.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    /* The final dec_ref closes every op still pending. */
    for (Pair& p : pairs) p.retiring.store(true);
    /* A callback that read `retiring` just before may still re-arm: let it. */
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    completion_port_dec_ref(g_port);
    cpk::alloc_track_stop();
    uint64_t lost = 0;
    for (Pair& p : pairs) {
        for (unsigned i = 0; i < kRing; ++i) {
            if (p.rctx[i].added.load() && p.rctx[i].calls.load() == 0) ++lost;
            if (p.sctx[i].added.load() && p.sctx[i].calls.load() == 0) ++lost;
        }
        if (p.a >= 0) close(p.a);
        if (p.b >= 0) close(p.b);
    }
    bool threads_back = cpk::wait_thread_count_at_most(threads_before, 3000);
    bool freed = false;
    for (int i = 0; i < 200 && !(freed = cpk::live_tracked() == 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    int fds_left = cpk::count_fds() - fds_before;
    long rss_growth = rss_peak - rss_warm;
    /* A recv op stranded until its remove (a registration replaced by the send
     * op's) leaves the peer's bytes unread: most of them must arrive. Each
     * pair holds at most two recv buffers' worth unread. */
    bool streams_flow = g.bytes_in.load() * 2 >= g.written.load();
    /* Flat: after warm-up the peak grows by at most 16 MB or a quarter. */
    bool flat = rss_growth <= std::max<long>(16L << 20, rss_warm / 4);

    uint64_t ops = g.ops.load();
    std::printf("soak: %" PRIu64 " ops in %.1f s (%.0f/s), %zu socketpairs, %d threads; %" PRIu64 " adds (%" PRIu64
                " failed), %" PRIu64 " closing, %" PRIu64 " hang-ups; pairs retired: %" PRIu64 " removed, %" PRIu64
                " peer closed, %" PRIu64 " reset; bytes checked: %" PRIu64 " in (of %" PRIu64 " written)%s, %" PRIu64
                " out\n",
                ops, secs, ops / secs, npairs, nthreads, g.added.load(), g.add_failed.load(), g.closing.load(),
                g.hangups.load(), g.retired[0].load(), g.retired[1].load(), g.retired[2].load(), g.bytes_in.load(),
                g.written.load(), streams_flow ? "" : " STALLED", g.bytes_out.load());
    std::printf(
        "soak: lost %" PRIu64 ", duplicated %" PRIu64 ", corrupt %" PRIu64 ", bad amounts %" PRIu64
        ", stuck pairs %" PRIu64
        "; peak RSS %.1f MB (%.1f MB at warm-up, %+.1f MB after)%s; left: %d descriptor(s), %s, %zu allocation(s)%s\n",
        lost, g.duplicated.load(), g.corrupt.load(), g.bad_amount.load(), g.stuck.load(), mb(rss_peak), mb(rss_warm),
        mb(rss_growth), flat ? "" : " NOT FLAT", fds_left, threads_back ? "no thread" : "a thread", cpk::live_tracked(),
        cpk::alloc_track_overflow() ? " (tracker overflowed)" : "");
    bool ok = !timed_out && ops >= target && lost == 0 && g.duplicated.load() == 0 && g.corrupt.load() == 0 &&
              g.bad_amount.load() == 0 && g.stuck.load() == 0 && streams_flow && flat && fds_left <= 0 &&
              threads_back && freed && !cpk::alloc_track_overflow();
    if (timed_out) std::printf("soak: stopped after %ld s with %" PRIu64 " of %" PRIu64 " ops\n", seconds, ops, target);
    std::printf("soak: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
