/* The unit-test layer over the harness (unit.h). */
#include "unit.h"

#include <cstdlib>
#include <cstring>

namespace reftest {

Port::Port() {
    cpk::FdList before = cpk::list_fds();
    info = cpk::create_port();
    REQUIRE(info.handle != nullptr);
    cpk::FdList now = cpk::list_fds();
    for (int i = 0; i < now.n && wake_fd < 0; ++i)
        if (!before.contains(now.fd[i]) && cpk::fd_target(now.fd[i]) == "anon_inode:[eventfd]") wake_fd = now.fd[i];
}

int64_t Port::release() {
    if (info.handle == nullptr) return 0;
    COMPLETION_PORT_HANDLE h = info.handle;
    info.handle = nullptr;
    return cpk::timed_dec_ref(h);
}

PairsWithOps::PairsWithOps(size_t n, size_t buf_bytes) : pairs(n), each(buf_bytes), bytes(n * buf_bytes) {
    for (cpk::SocketPair& sp : pairs) {
        sp = cpk::unix_pair();
        REQUIRE(sp.ok());
    }
}

void PairsWithOps::add_each(cpk::Recorder& rec, COMPLETION_PORT_HANDLE port, size_t first_op,
                            int (*events_of)(size_t)) {
    for (size_t i = 0; i < pairs.size(); ++i) {
        auto in = rec.ingress(first_op + i, events_of ? events_of(i) : int(EPOLLIN), pairs[i].a, buf(i), each);
        REQUIRE(completion_port_add(port, &in) == 0);
    }
}

void OnePair::recv_from_peer(COMPLETION_PORT_HANDLE port, size_t op, void* buf, uint32_t len, const char* data) {
    auto in = rec.ingress(op, EPOLLIN, sp.a, buf, len);
    REQUIRE(completion_port_add(port, &in) == 0);
    REQUIRE(cpk::write_all(sp.b, data, strlen(data)));
    REQUIRE(rec.wait_op_finished(op, cpk::kWaitMs));
}

bool heap_visible() {
    HeapRun r = heap_run(0, [] {
        void* volatile p = malloc(1); /* volatile: the pair is not optimized away */
        free(p);
    });
    return r.allocations == 1;
}

cpk::CallbackRecord first(const cpk::Recorder& rec, size_t op) {
    std::vector<cpk::CallbackRecord> v = rec.for_op(op);
    if (!v.empty()) return v[0];
    cpk::CallbackRecord none;
    memset(&none, 0, sizeof none);
    return none;
}

void check_first(const cpk::Recorder& rec, size_t op, int action, int result, int32_t amount) {
    INFO("op " << op << ": " << rec.dump());
    const cpk::CallbackRecord c = first(rec, op);
    CHECK(c.action == action);
    CHECK(c.result == result);
    CHECK(c.amount == amount);
}

void check_all_closed_here(const cpk::Recorder& rec) {
    for (const cpk::CallbackRecord& c : rec.all()) {
        CHECK(c.action == COMPLETION_PORT_CLOSING);
        CHECK(c.result == COMPLETION_PORT_RESULT_ABANDONED);
        CHECK(c.amount == 0);
        CHECK(c.tid == cpk::current_tid());
    }
}

} // namespace reftest
