/* completion_port_add at the edges of its argument checks (CPL_ADD_007,
 * CPL_ADD_013): the smallest values that are refused and the largest that are
 * not. Found by mutation testing (tools/mutation/): an off-by-one in these
 * checks passed every other test. */
#include "cpk_catch.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "harness.h"

namespace {

/* Puts `fd` on descriptor 0 for the test and gives the old descriptor 0 back
 * when it ends (a test process may have none). */
class OnDescriptorZero {
public:
    explicit OnDescriptorZero(int fd) : saved_(fcntl(0, F_DUPFD_CLOEXEC, 3)), ok_(dup2(fd, 0) == 0) {}
    ~OnDescriptorZero() {
        if (saved_ >= 0) {
            (void)dup2(saved_, 0);
            (void)close(saved_);
        } else {
            (void)close(0);
        }
    }
    bool ok() const { return ok_; }

private:
    int saved_;
    bool ok_;
};

} // namespace

TEST_CASE("add: a socket on descriptor 0 is a valid socket", "[CPL_ADD_007]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder();
    {
        cpk::SocketPair sp = cpk::unix_pair();
        CPK_KIT_REQUIRE(sp.ok());
        OnDescriptorZero zero(sp.a);
        CPK_KIT_REQUIRE(zero.ok());
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        static char buf[4];
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, 0, buf, sizeof buf);
        const uint64_t mark = cpk::thread_ctl_mark();
        const int rc = completion_port_add(p.handle, &in);
        INFO("completion_port_add of descriptor 0 returned " << rc << "; " << cpk::describe_ctl_since(mark));
        CPK_CHECK(cpk::add_failure_requirement(mark, "CPL_ADD_007"), rc == 0);
        if (rc == 0) {
            CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
            INFO(rec.dump());
            CPK_CHECK("CPL_ADD_007", rec.wait_op(0, cpk::kWaitMs));
        }
        CPK_RELEASE(p.handle);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a NULL buffer is refused from length 1 on and accepted at length 0",
                 "[CPL_ADD_013]") {
    auto [one, none] = cpk::unix_pairs<2>();
    COMPLETION_PORT_INGRESS_DATA in1 = rec.ingress(0, EPOLLIN, one.a, nullptr, 1);
    int rc1;
    {
        cpk::LsanIgnore lsan; /* a leak of a wrongly refused add is CPL_ADD_015's */
        rc1 = completion_port_add(p.handle, &in1);
    }
    INFO("NULL buffer, length 1: completion_port_add returned " << rc1);
    CPK_CHECK("CPL_ADD_013", rc1 != 0);
    /* Length 0 reads nothing: a NULL buffer is no reason to refuse it. */
    COMPLETION_PORT_INGRESS_DATA in0 = rec.ingress(1, EPOLLIN, none.a, nullptr, 0);
    const uint64_t mark = cpk::thread_ctl_mark();
    const int rc0 = completion_port_add(p.handle, &in0);
    INFO("NULL buffer, length 0: completion_port_add returned " << rc0 << "; " << cpk::describe_ctl_since(mark));
    CPK_CHECK(cpk::add_failure_requirement(mark, "CPL_ADD_013"), rc0 == 0);
    if (rc0 == 0) {
        CPK_KIT_REQUIRE(cpk::write_all(none.b, "x", 1));
        INFO(rec.dump());
        CPK_CHECK("CPL_ADD_013", rec.wait_op(1, cpk::kWaitMs));
    }
    finish(one, none);
}

TEST_CASE_METHOD(cpk::PortCase, "add: a length of exactly INT32_MAX is accepted", "[CPL_ADD_014]") {
    cpk::SocketPair sp = unix_sockets();
    /* No byte ever arrives and the op is removed before any event: the
     * buffer behind the length is never touched. */
    static char buf[4];
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(0, EPOLLIN, sp.a, buf, static_cast<uint32_t>(INT32_MAX));
    const uint64_t mark = cpk::thread_ctl_mark();
    const int rc = completion_port_add(p.handle, &in);
    INFO("length INT32_MAX: completion_port_add returned " << rc << "; " << cpk::describe_ctl_since(mark));
    CPK_CHECK(cpk::add_failure_requirement(mark, "CPL_ADD_014"), rc == 0);
    completion_port_remove(p.handle, sp.a);
    finish(sp);
}

TEST_CASE("create: a port whose descriptors start at 0 works and closes them", "[CPL_CREATE_004][CPL_DECREF_003]") {
    cpk::Guard guard;
    /* With descriptor 0 free, the port's epoll instance (or eventfd) takes it:
     * 0 is a valid descriptor for create to keep and for dec_ref to close. */
    const int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
    (void)close(0);
    std::string zero;
    bool released = false;
    {
        cpk::PortInfo p = cpk::create_port();
        char link[64] = {0};
        if (readlink("/proc/self/fd/0", link, sizeof link - 1) > 0) zero = link;
        INFO("descriptor 0 after create: " << (zero.empty() ? std::string("closed") : zero));
        CPK_CHECK("CPL_CREATE_004", p.handle != nullptr);
        if (p.handle != nullptr) {
            CPK_RELEASE(p.handle);
            released = true;
        }
    }
    const bool zero_open = fcntl(0, F_GETFD) != -1;
    if (saved >= 0) {
        (void)dup2(saved, 0);
        (void)close(saved);
    }
    if (released && zero.rfind("anon_inode:", 0) == 0) {
        INFO("descriptor 0 was the port's " << zero);
        CPK_CHECK("CPL_DECREF_003", !zero_open);
    }
    CPK_GUARD_END(guard);
}
