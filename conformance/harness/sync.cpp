/* Latch, AsyncCall, Watchdog, monotonic time. */
#include "sync.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/time.h>
#include <unistd.h>

namespace cpk {

namespace {

int env_ms(const char* name, int fallback) {
    const char* s = getenv(name);
    int v = s ? atoi(s) : 0;
    return v > 0 ? v : fallback;
}

} // namespace

const int kWaitMs = env_ms("CPK_WAIT_MS", 5000);
const int kTeardownMs = env_ms("CPK_TEARDOWN_MS", 10000);

void Latch::open() {
    {
        std::lock_guard<std::mutex> l(mu_);
        open_.store(true);
    }
    cv_.notify_all();
}

bool Latch::wait(int timeout_ms) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return open_.load(); });
}

struct AsyncCall::State {
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<pid_t> tid{0};
    std::atomic<int64_t> done_ns{0};
    bool done = false;
};

AsyncCall::AsyncCall(std::function<void()> fn, const char* label) : st_(std::make_shared<State>()), label_(label) {
    start_ns_ = mono_ns();
    /* The thread owns a reference to the state: it may outlive this object. */
    std::shared_ptr<State> st = st_;
    th_ = std::thread([st, fn = std::move(fn)] {
        {
            std::lock_guard<std::mutex> l(st->mu);
            st->tid.store(static_cast<pid_t>(gettid()));
        }
        st->cv.notify_all();
        fn();
        int64_t t = mono_ns();
        {
            std::lock_guard<std::mutex> l(st->mu);
            st->done_ns.store(t);
            st->done = true;
        }
        st->cv.notify_all();
    });
}

AsyncCall::~AsyncCall() {
    if (wait(kTeardownMs)) {
        th_.join();
        return;
    }
    fprintf(stderr, "cpk: %s still blocked %d ms after the test stopped waiting; thread left running\n", label_,
            kTeardownMs);
    fflush(stderr);
    th_.detach();
}

bool AsyncCall::wait(int timeout_ms) {
    std::unique_lock<std::mutex> l(st_->mu);
    return st_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return st_->done; });
}

int64_t AsyncCall::done_ns() const { return st_->done_ns.load(); }

pid_t AsyncCall::tid() const {
    std::unique_lock<std::mutex> l(st_->mu);
    st_->cv.wait_for(l, std::chrono::milliseconds(kWaitMs), [&] { return st_->tid.load() != 0; });
    return st_->tid.load();
}

namespace {
char g_watch_msg[256];
struct sigaction g_old_alarm;

void on_alarm(int) {
    static const char head[] = "\ncpk watchdog: ";
    (void)!write(2, head, sizeof head - 1);
    (void)!write(2, g_watch_msg, strlen(g_watch_msg));
    (void)!write(2, "\n", 1);
    _exit(3);
}
} // namespace

Watchdog::Watchdog(int seconds, const char* what) {
    snprintf(g_watch_msg, sizeof g_watch_msg, "%s (no progress for %d s)", what, seconds);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &g_old_alarm);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = seconds;
    setitimer(ITIMER_REAL, &it, nullptr);
}

Watchdog::~Watchdog() {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, nullptr);
    sigaction(SIGALRM, &g_old_alarm, nullptr);
}

} // namespace cpk
