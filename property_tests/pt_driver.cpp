#include "pt_driver.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <thread>

#include "cpk_catch.h"

#include "faults.h"
#include "guard.h"
#include "pt_failure.h"
#include "pt_runner.h"
#include "pt_track.h"

namespace pt {

namespace {

constexpr size_t kOpsPerRecorder = 4096;
constexpr size_t kRecordsPerCase = 16384;

/* Ports and buffers of failed cases: never released (the implementation may
 * still use them), kept reachable for LeakSanitizer. */
std::vector<void*>& kept() {
    static std::vector<void*>* v = new std::vector<void*>();
    return *v;
}

std::string describe_fds(const cpk::FdList& before, const cpk::FdList& now) { return cpk::fd_diff(before, now); }

bool same_fds(const cpk::FdList& a, const cpk::FdList& b) {
    if (a.n != b.n) return false;
    for (int i = 0; i < a.n; ++i)
        if (a.fd[i] != b.fd[i]) return false;
    return true;
}

/* The fixed case a shared port ends with: ops left pending at the release. */
CaseSpec epilogue_case() {
    CaseSpec c;
    c.socks = {SockSpec{SockKind::UnixDefault, false, false}, SockSpec{SockKind::UnixDefault, false, false},
               SockSpec{SockKind::UnixSmall, false, false}};
    c.steps = {
        Step{StepKind::AddRecv, 0, 100, 0}, /* no data: pending at the release */
        Step{StepKind::AddWatch, 1, 0, 0},  /* peer open: pending at the release */
        Step{StepKind::PeerWrite, 2, 10, 0},     Step{StepKind::AddRecv, 2, 1000, kOneshot}, /* completes */
        Step{StepKind::AddSend, 2, 500, kRdhup},                                             /* completes */
    };
    return c;
}

} // namespace

Driver::Driver(const DriverOptions& o) : o_(o) {
    for (int i = 0; i < (o.models < 1 ? 1 : o.models); ++i) {
        Slot s;
        s.rec = &cpk::persistent_recorder(kOpsPerRecorder, kRecordsPerCase);
        s.pool = std::make_unique<IndexPool>(kOpsPerRecorder);
        slots_.push_back(std::move(s));
    }
}

Driver::~Driver() = default;

void Driver::open_port() {
    port_open(port_, o_.track);
    open_ = true;
}

void Driver::taint() {
    if (open_) {
        kept().push_back(port_.h); /* never released */
        if (port_.tracked) cpk::alloc_track_stop();
    }
    for (auto& v : graveyard_) kept().push_back(new std::vector<uint8_t>(std::move(v)));
    graveyard_.clear();
    port_ = PortCtx();
    open_ = false;
    /* Fresh recorders: the old ones' slots may still be called back. */
    for (Slot& s : slots_) {
        s.rec = &cpk::persistent_recorder(kOpsPerRecorder, kRecordsPerCase);
        s.pool = std::make_unique<IndexPool>(kOpsPerRecorder);
    }
    cpk::clear_faults();
    cpk::record_stop();
}

void Driver::install_caps(const CaseSpec& c) {
    cpk::clear_faults();
    const pid_t w = port_.info.worker;
    if (w == 0) return;
    /* Every recv/send of the worker, on any socket, moves at most the cap. */
    auto on_worker = [w](cpk::Fault f) {
        f.scope = cpk::Scope::tid;
        f.tid = w;
        (void)cpk::inject(f);
    };
    if (c.recv_cap) on_worker(cpk::capped(cpk::Fn::recv, -1, c.recv_cap));
    if (c.send_cap) on_worker(cpk::capped(cpk::Fn::send, -1, c.send_cap));
}

ModelEnv Driver::env_for(size_t slot) {
    ModelEnv e;
    e.port = &port_;
    e.rec = slots_[slot].rec;
    e.pool = slots_[slot].pool.get();
    e.graveyard = &graveyard_;
    e.feat = o_.feat;
    if (const char* w = getenv("PT_WAIT_MS")) e.wait_ms = atoi(w) > 0 ? atoi(w) : e.wait_ms;
    if (shrinking()) e.wait_ms = std::min(e.wait_ms, shrink_wait_ms());
    e.sys = o_.sys;
    e.faults = o_.faults && o_.models <= 1;
    e.serial_base = serial_;
    serial_ += 10000; /* a case makes fewer ops and sockets (the recorder has 4096 slots) */
    return e;
}

void Driver::check_case_leaks(const cpk::FdList& fds, int threads) {
    const cpk::FdList now = cpk::list_fds();
    /* On a shared port the implementation opened them while in use; on a
     * per-case port they outlived its release. */
    if (!same_fds(fds, now)) fail("CPL_DECREF_003", "the case left descriptors behind: " + describe_fds(fds, now));
    if (!cpk::wait_thread_count_at_most(threads, 3000))
        fail(o_.shared_port ? "CPL_CREATE_003" : "CPL_DECREF_004",
             "the case left threads behind: " + std::to_string(cpk::count_threads()) + " now, " +
                 std::to_string(threads) + " before");
}

/* The final dec_ref of a per-case port (or the shared port's last case). */
void Driver::release_sequence(Model& m) {
    m.end_settle();
    m.drop_extra_refs();
    m.before_release(0);
    port_release(port_);
    const int64_t took_ms = (port_.released_ns - port_.release_call_ns) / 1000000;
    m.after_release();
    m.poke_after_release();
    port_check_released(port_, m.fds());
    m.check_quiet_after_release();
    if (o_.teardown_bound_ms > 0 && took_ms > o_.teardown_bound_ms)
        fail("CPL_DECREF_009", "the final dec_ref took " + std::to_string(took_ms) + " ms (this property allows " +
                                   std::to_string(o_.teardown_bound_ms) +
                                   " ms; the requirement says 100 ms with an idle worker)");
}

void Driver::run_case(const CaseSpec& c) {
    UntrackedThread untracked;
    const int threads0 = cpk::count_threads();
    const cpk::FdList fds0 = cpk::list_fds(); /* before a per-case port: its fds count */
    Slot& slot = slots_[0];
    size_t kept_bytes = 0;
    for (const auto& v : graveyard_) kept_bytes += v.size();
    if (o_.shared_port && open_ && (slot.pool->available() < kOpsPerRecorder / 4 || kept_bytes > (64u << 20))) {
        finish(); /* long runs: recorder slots or kept buffers run high, a fresh port */
    }
    if (!open_) open_port();
    const int threads_case = o_.shared_port ? cpk::count_threads() : threads0;
    const cpk::FdList fds_case = o_.shared_port ? cpk::list_fds() : fds0;
    slot.rec->reset();
    install_caps(c);
    if (o_.sys) cpk::record_start();
    Model m(env_for(0), c);
    try {
        m.setup();
        for (const Step& s : c.steps) m.run(s);
        if (o_.shared_port) {
            m.end_shared();
        } else if (o_.release_in_callback) {
            m.release_from_callback();
            port_check_released(port_, m.fds());
            m.poke_after_release();
            m.check_quiet_after_release();
        } else {
            release_sequence(m);
        }
        m.close_sockets();
        cpk::clear_faults();
        cpk::record_stop();
        if (!o_.shared_port) {
            open_ = false;
            slot.pool->release_held();
            graveyard_.clear();
        }
        check_case_leaks(fds_case, threads_case);
    } catch (...) {
        m.abandon();
        taint();
        throw;
    }
}

void Driver::run_case_threads(const std::vector<CaseSpec>& cases) {
    UntrackedThread untracked;
    if (!open_) open_port();
    const int threads_case = cpk::count_threads();
    const cpk::FdList fds_case = cpk::list_fds();
    cpk::clear_faults();
    if (o_.sys) cpk::record_start();
    const size_t n = std::min(cases.size(), slots_.size());
    std::vector<std::unique_ptr<Model>> models;
    for (size_t i = 0; i < n; ++i) {
        slots_[i].rec->reset();
        models.push_back(std::make_unique<Model>(env_for(i), cases[i]));
    }
    std::vector<std::exception_ptr> errors(n);
    {
        std::vector<std::thread> threads;
        for (size_t i = 0; i < n; ++i) {
            threads.emplace_back([&, i] {
                UntrackedThread t;
                try {
                    models[i]->setup();
                    for (const Step& s : cases[i].steps) models[i]->run(s);
                    models[i]->end_shared();
                } catch (...) {
                    errors[i] = std::current_exception();
                }
            });
        }
        for (auto& t : threads) t.join();
    }
    for (size_t i = 0; i < n; ++i) {
        if (!errors[i]) continue;
        for (auto& m : models) m->abandon();
        taint();
        try {
            std::rethrow_exception(errors[i]);
        } catch (const Failure& e) {
            throw Failure(e.requirement(), "caller thread " + std::to_string(i) + ": " + e.what(), e.context());
        } catch (const std::exception& e) {
            fail(cpk::kKit, "caller thread " + std::to_string(i) + ": " + e.what());
        }
    }
    for (auto& m : models) m->close_sockets();
    cpk::record_stop();
    try {
        check_case_leaks(fds_case, threads_case);
    } catch (...) {
        taint();
        throw;
    }
}

void Driver::finish() {
    if (!open_) return;
    UntrackedThread untracked;
    Slot& slot = slots_[0];
    slot.rec->reset();
    cpk::clear_faults();
    if (o_.sys) cpk::record_start();
    const CaseSpec c = epilogue_case();
    ModelEnv env = env_for(0);
    env.feat.closing = false; /* what a release does to pending ops is a recommended matter */
    Model m(env, c);
    try {
        m.setup();
        for (const Step& s : c.steps) m.run(s);
        release_sequence(m);
        m.close_sockets();
    } catch (...) {
        m.abandon();
        taint();
        throw;
    }
    cpk::record_stop();
    open_ = false;
    for (Slot& s : slots_) s.pool->release_held();
    graveyard_.clear();
}

void check_driven_property(const char* name, const DriverOptions& o, const Profile& p) {
    cpk::Guard guard;
    Driver d(o);
    check_property(name, [&] { d.run_case(*gen_case(p)); });
    check_step("release of the shared port", [&] { d.finish(); });
    CPK_GUARD_END(guard);
}

} // namespace pt
