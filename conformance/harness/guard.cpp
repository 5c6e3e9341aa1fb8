/* Guard: per-test leak check of descriptors and threads. */
#include "guard.h"

#include "interpose.h"

namespace cpk {

Guard::Guard() {
    disarm_all();
    forget_unfollowed_mod_enoent();
    fds_ = list_fds();
    threads_ = count_threads();
}

Guard::~Guard() { disarm_all(); }

Leaks Guard::leaks(int thread_grace_ms) {
    disarm_all();
    Leaks l;
    FdList now = list_fds();
    bool same = now.n == fds_.n;
    for (int i = 0; same && i < now.n; ++i) same = now.fd[i] == fds_.fd[i];
    if (!same) l.descriptors = "descriptors differ from test start: " + fd_diff(fds_, now);
    if (!wait_thread_count_at_most(threads_, thread_grace_ms)) {
        l.threads = "threads: " + std::to_string(count_threads()) + " after " + std::to_string(thread_grace_ms) +
                    " ms, " + std::to_string(threads_) + " at test start";
    }
    return l;
}

std::string Guard::finish(int thread_grace_ms) {
    Leaks l = leaks(thread_grace_ms);
    return l.descriptors + l.threads;
}

} // namespace cpk
