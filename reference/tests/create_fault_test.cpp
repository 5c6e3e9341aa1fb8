/* completion_port_create's failure paths: each step failing returns NULL and
 * undoes the steps before it. */
#include "unit.h"

#include <cerrno>

namespace {

/* completion_port_create with `fault` injected for its duration. */
COMPLETION_PORT_HANDLE create_with(const cpk::Fault& fault) {
    int id = cpk::inject(fault);
    CPK_KIT_REQUIRE(id >= 0);
    COMPLETION_PORT_HANDLE port = completion_port_create();
    cpk::remove_fault(id);
    return port;
}

} // namespace

TEST_CASE("create: a failing epoll_create1 gives NULL and leaves nothing", "[CPL_CREATE_005][CPL_CREATE_008]") {
    cpk::Guard guard;
    COMPLETION_PORT_HANDLE port = create_with(cpk::failing(cpk::Fn::epoll_any_create, -1, EMFILE));
    CHECK(port == nullptr);
    completion_port_dec_ref(port); /* a port created anyway must not leak into the guard's check */
    CHECK(guard.finish() == "");
}

TEST_CASE("create: a failing pthread_create gives NULL and leaves nothing", "[CPL_CREATE_006][CPL_CREATE_008]") {
    cpk::Guard guard;
    COMPLETION_PORT_HANDLE port = nullptr;
    int fault = cpk::inject(cpk::failing(cpk::Fn::pthread_create, -1, EAGAIN));
    reftest::HeapRun heap = reftest::heap_run(0, [&] { port = completion_port_create(); });
    cpk::remove_fault(fault);
    CHECK(port == nullptr);
    CHECK(heap.live == 0);
    completion_port_dec_ref(port);
    CHECK(guard.finish() == "");
}

TEST_CASE("create: a failing registration of the wake-up descriptor gives NULL and leaves nothing",
          "[CPL_CREATE_008]") {
    cpk::Guard guard;
    COMPLETION_PORT_HANDLE port = create_with(cpk::failing(cpk::Fn::epoll_ctl, -1, ENOMEM));
    CHECK(port == nullptr);
    completion_port_dec_ref(port);
    CHECK(guard.finish() == "");
}

TEST_CASE("create: every allocation failing in turn gives NULL and leaves nothing",
          "[CPL_CREATE_007][CPL_CREATE_008]") {
    cpk::Guard guard;
    if (!reftest::heap_visible()) {
        WARN("the allocator is not the harness's (valgrind?): no allocation to fail");
        return;
    }
    int failed = 0;
    for (unsigned nth = 1; nth < 10; ++nth) {
        COMPLETION_PORT_HANDLE port = nullptr;
        reftest::HeapRun heap = reftest::heap_run(nth, [&] { port = completion_port_create(); });
        if (nth > heap.allocations) {
            REQUIRE(port != nullptr); /* all of create's allocations were failed once */
            completion_port_dec_ref(port);
            break;
        }
        CHECK(port == nullptr);
        CHECK(heap.live == 0);
        completion_port_dec_ref(port);
        failed++;
    }
    CHECK(failed >= 2); /* the port and the map's bucket array */
    CHECK(guard.finish() == "");
}
