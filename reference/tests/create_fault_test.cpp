// completion_port_create's failure paths: each step failing returns NULL and
// undoes the steps before it.
#include "cpk_catch.h"

#include <errno.h>

#include "fault_injection.h"
#include "test_util.h"

using namespace reftest;

TEST_CASE("create: a failing epoll_create1 gives NULL and leaves nothing", "[CPL_CREATE_005][CPL_CREATE_008]")
{
    ResourceSnapshot before;
    fault::reset();
    fault::fail_nth(fault::EPOLL_CREATE1, 1, EMFILE);
    COMPLETION_PORT_HANDLE port = completion_port_create();
    fault::reset();
    CHECK(port == nullptr);
    CHECK(before.clean());
}

TEST_CASE("create: a failing pthread_create gives NULL and leaves nothing", "[CPL_CREATE_006][CPL_CREATE_008]")
{
    ResourceSnapshot before;
    fault::reset();
    fault::fail_nth(fault::PTHREAD_CREATE, 1, EAGAIN);
    long live = -1;
    COMPLETION_PORT_HANDLE port = nullptr;
    {
        fault::AllocScope scope;
        port = completion_port_create();
        live = scope.live();
    }
    fault::reset();
    CHECK(port == nullptr);
    CHECK(live == 0);
    CHECK(before.clean());
}

TEST_CASE("create: a failing registration of the wake-up descriptor gives NULL and leaves nothing",
          "[CPL_CREATE_008]")
{
    ResourceSnapshot before;
    fault::reset();
    fault::fail_nth(fault::EPOLL_CTL, 1, ENOMEM);
    COMPLETION_PORT_HANDLE port = completion_port_create();
    fault::reset();
    CHECK(port == nullptr);
    CHECK(before.clean());
}

TEST_CASE("create: every allocation failing in turn gives NULL and leaves nothing",
          "[CPL_CREATE_007][CPL_CREATE_008]")
{
    ResourceSnapshot before;
    int failed = 0;
    for (int nth = 1; nth < 10; ++nth)
    {
        COMPLETION_PORT_HANDLE port = nullptr;
        int allocations = 0;
        long live = -1;
        {
            fault::AllocScope scope(nth);
            port = completion_port_create();
            allocations = scope.allocations();
            live = scope.live();
        }
        if (nth > allocations)
        {
            REQUIRE(port != nullptr);  // all of create's allocations were failed once
            completion_port_dec_ref(port);
            break;
        }
        CHECK(port == nullptr);
        CHECK(live == 0);
        failed++;
    }
    CHECK(failed >= 2);  // the port and the map's bucket array
    CHECK(before.clean());
}
