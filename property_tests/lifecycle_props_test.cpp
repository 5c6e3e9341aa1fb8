/* Normative lifecycle property: every case creates two ports, uses both at
 * once (ops, inc_ref / dec_ref that leave references), releases both, and
 * checks that nothing is left: worker threads, descriptors, allocations, and
 * no callback after the final dec_ref even when the sockets then fire.
 *
 * A literal implementation's final dec_ref waits out its 2 s epoll_wait: the
 * case count is adapted to the teardown time measured first, to stay within
 * PT_LIFECYCLE_BUDGET_S (default 15 s); the output says so. */
#include "cpk_catch.h"

#include <cstdlib>
#include <iostream>

#include "harness.h"
#include "pt_failure.h"
#include "pt_gen.h"
#include "pt_model.h"
#include "pt_port.h"
#include "pt_runner.h"
#include "pt_track.h"

namespace {

using pt::StepKind;

struct LifeCase {
    pt::CaseSpec a;
    pt::CaseSpec b;
    uint8_t refs_a = 0; /* inc_refs made right after create, dropped before the release */
    uint8_t refs_b = 0;
};

void showValue(const LifeCase& c, std::ostream& os) {
    os << "first port, " << int(c.refs_a) << " extra reference(s) taken at create: ";
    pt::showValue(c.a, os);
    os << "  second port, " << int(c.refs_b) << " extra reference(s): ";
    pt::showValue(c.b, os);
}

pt::Profile life_profile() {
    pt::Profile p{{StepKind::AddRecv, 4},   {StepKind::AddSend, 2}, {StepKind::AddWatch, 1}, {StepKind::PeerWrite, 4},
                  {StepKind::PeerClose, 1}, {StepKind::IncRef, 2},  {StepKind::DecRef, 2},   {StepKind::Remove, 1}};
    p.max_socks = 4;
    p.caps = false;
    return p;
}

rc::Gen<LifeCase> gen_life() {
    const pt::Profile p = life_profile();
    return rc::gen::build<LifeCase>(rc::gen::set(&LifeCase::a, rc::gen::resize(12, pt::gen_case(p))),
                                    rc::gen::set(&LifeCase::b, rc::gen::resize(12, pt::gen_case(p))),
                                    rc::gen::set(&LifeCase::refs_a, rc::gen::inRange<uint8_t>(0, 4)),
                                    rc::gen::set(&LifeCase::refs_b, rc::gen::inRange<uint8_t>(0, 4)));
}

struct Side {
    cpk::Recorder* rec;
    std::unique_ptr<pt::IndexPool> pool;
    pt::Graveyard graveyard;
    pt::PortCtx port;
};

pt::ModelEnv env_for(Side& s, uint32_t serial) {
    pt::ModelEnv e;
    e.port = &s.port;
    e.rec = s.rec;
    e.pool = s.pool.get();
    e.graveyard = &s.graveyard;
    e.sys = false; /* both ports' calls share one record buffer: not needed here */
    e.faults = false;
    e.serial_base = serial;
    return e;
}

void run_life(const LifeCase& c, Side& x, Side& y, uint32_t serial) {
    pt::UntrackedThread untracked;
    const int threads0 = cpk::count_threads();
    const cpk::FdList fds0 = cpk::list_fds();
    x.rec->reset();
    y.rec->reset();
    pt::port_open(x.port, true); /* tracking covers both ports' allocations */
    pt::port_open(y.port, false);
    if (x.port.h == y.port.h || x.port.info.epfd == y.port.info.epfd || x.port.info.worker == y.port.info.worker)
        pt::fail("CPL_CREATE_001", "two creates returned ports that share a handle, an epoll descriptor or a worker");
    for (int i = 0; i < c.refs_a; ++i) pt::api_inc_ref(x.port.h); /* CPL_INCREF_002 */
    for (int i = 0; i < c.refs_b; ++i) pt::api_inc_ref(y.port.h);
    pt::Model ma(env_for(x, serial), c.a);
    pt::Model mb(env_for(y, serial + 5000), c.b);
    try {
        ma.setup();
        mb.setup();
        const size_t n = std::max(c.a.steps.size(), c.b.steps.size());
        for (size_t i = 0; i < n; ++i) { /* both ports busy at once, independently (CPL_CREATE_001) */
            if (i < c.a.steps.size()) ma.run(c.a.steps[i]);
            if (i < c.b.steps.size()) mb.run(c.b.steps[i]);
        }
        ma.end_settle();
        mb.end_settle();
        ma.drop_extra_refs();
        mb.drop_extra_refs();
        /* CPL_DECREF_001: dec_refs that leave a reference keep the port working */
        for (int i = 0; i < c.refs_a; ++i) {
            pt::api_dec_ref(x.port.h);
            pt::check_port_kept(x.port, c.refs_a - i);
        }
        for (int i = 0; i < c.refs_b; ++i) {
            pt::api_dec_ref(y.port.h);
            pt::check_port_kept(y.port, c.refs_b - i);
        }
        ma.end_settle();
        mb.end_settle();
        ma.before_release(0);
        mb.before_release(0);
        pt::port_release_both(x.port, y.port);
        ma.after_release();
        mb.after_release();
        ma.poke_after_release();
        mb.poke_after_release();
        std::vector<int> fds = ma.fds();
        for (int f : mb.fds()) fds.push_back(f);
        pt::port_check_released(y.port, fds);
        pt::port_check_released(x.port, fds);
        ma.check_quiet_after_release();
        mb.check_quiet_after_release();
        ma.close_sockets();
        mb.close_sockets();
    } catch (...) {
        ma.abandon();
        mb.abandon();
        if (x.port.tracked) cpk::alloc_track_stop();
        throw;
    }
    x.pool->release_held();
    y.pool->release_held();
    x.graveyard.clear();
    y.graveyard.clear();
    if (!cpk::wait_thread_count_at_most(threads0, 3000))
        pt::fail("CPL_DECREF_002", "the case left threads behind: " + std::to_string(cpk::count_threads()) + " now, " +
                                       std::to_string(threads0) + " before");
    const cpk::FdList now = cpk::list_fds();
    if (now.n != fds0.n) pt::fail("CPL_DECREF_003", "the case left descriptors behind: " + cpk::fd_diff(fds0, now));
}

/* How long one final dec_ref of an idle port takes here. */
int64_t teardown_ms() {
    pt::UntrackedThread untracked;
    pt::PortCtx p;
    pt::port_open(p, false);
    pt::port_release(p);
    pt::port_check_released(p, {});
    return (p.released_ns - p.release_call_ns) / 1000000;
}

} // namespace

TEST_CASE("property: two ports used at once and released leave no thread descriptor allocation or callback behind",
          "[property][CPL_CREATE_001][CPL_CREATE_002][CPL_CREATE_003][CPL_CREATE_004][CPL_INCREF_002][CPL_DECREF_001]"
          "[CPL_DECREF_002][CPL_DECREF_003][CPL_DECREF_004][CPL_DECREF_005][CPL_DECREF_006]") {
    cpk::Guard guard;
    int64_t t = 0;
    pt::check_step("calibration: create and release one port", [&] { t = teardown_ms(); });
    const char* b = getenv("PT_LIFECYCLE_BUDGET_S");
    const double budget_s = b && atof(b) > 0 ? atof(b) : 15.0;
    const int asked = pt::configured_cases();
    int cases = static_cast<int>(budget_s * 1000.0 / static_cast<double>(t + 20));
    cases = std::max(3, std::min(asked, cases));
    std::cout << "lifecycle: a final dec_ref takes " << t << " ms here; running " << cases << " of " << asked
              << " case(s) to stay within PT_LIFECYCLE_BUDGET_S=" << budget_s << " s\n";
    Side x{&cpk::persistent_recorder(1024, 4096), std::make_unique<pt::IndexPool>(1024), {}, {}};
    Side y{&cpk::persistent_recorder(1024, 4096), std::make_unique<pt::IndexPool>(1024), {}, {}};
    uint32_t serial = 10000;
    pt::RunOptions o;
    o.max_cases = cases;
    pt::check_property(
        "lifecycle",
        [&] {
            const LifeCase c = *gen_life();
            serial += 10000;
            run_life(c, x, y, serial);
        },
        o);
    CPK_GUARD_END(guard);
}
