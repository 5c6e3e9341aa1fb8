/* The fault sweep (SQLite-style anomaly testing): for create, add (from the
 * test's thread and from inside a callback), remove and the final dec_ref,
 * count the interposed calls the operation makes on its thread, then fail
 * the k-th one for every k, alone and together with every later one, and
 * check the operation fails the way the spec says or succeeds, leaves
 * nothing behind, completes every op exactly once and leaves a working port
 * (CPL_CREATE_009, CPL_ADD_019, CPL_REMOVE_008, CPL_DECREF_011; leaks of a
 * failed create or add: CPL_CREATE_008, CPL_ADD_015). Each sweep prints one
 * line "fault sweep: <operation>: N fault points ..." (make faults). */
#include "cpk_catch.h"

#include <climits>
#include <cstdio>
#include <iterator>
#include <string>

#include "harness.h"

namespace {

/* One kind of call the sweep fails, and the error it fails with. */
struct CallClass {
    cpk::Fn fn;
    int err;
    const char* name;
};
const CallClass kClasses[] = {
    {cpk::Fn::alloc, ENOMEM, "allocation"},    {cpk::Fn::epoll_any_create, EMFILE, "epoll_create"},
    {cpk::Fn::eventfd, EMFILE, "eventfd"},     {cpk::Fn::pthread_create, EAGAIN, "pthread_create"},
    {cpk::Fn::epoll_ctl, ENOMEM, "epoll_ctl"},
};
constexpr size_t kNClasses = std::size(kClasses);

/* How many calls of each class an operation made on its thread. */
struct Counts {
    unsigned n[kNClasses] = {};
    bool injected = true; /* every counting slot was free */
    unsigned total() const {
        unsigned t = 0;
        for (unsigned v : n) t += v;
        return t;
    }
};

/* `f` affects only the calling thread (tid 0) or thread `tid`. */
void scope_to(cpk::Fault& f, pid_t tid) {
    f.scope = tid ? cpk::Scope::tid : cpk::Scope::caller;
    f.tid = tid;
}

/* Arms one never-firing fault per class on the calling thread (or thread
 * `tid`); finish() reads what the operation in between made. Allocation-free:
 * usable inside a callback and while allocation tracking is armed. */
class Counter {
public:
    explicit Counter(pid_t tid = 0) {
        for (size_t i = 0; i < kNClasses; ++i) {
            cpk::Fault f = cpk::failing(kClasses[i].fn, -1, kClasses[i].err, UINT_MAX, 1);
            scope_to(f, tid);
            ids_[i] = cpk::inject(f);
        }
    }
    Counts finish(bool clear = true) {
        Counts c;
        for (size_t i = 0; i < kNClasses; ++i) {
            if (ids_[i] < 0)
                c.injected = false;
            else
                c.n[i] = cpk::fault_hits(ids_[i]);
        }
        if (clear) cpk::clear_faults();
        return c;
    }

private:
    int ids_[kNClasses];
};

/* One fault point: the k-th call of a class fails, alone or with every later one. */
struct Point {
    size_t cls;
    unsigned k;
    bool persistent;
    bool on_worker = false; /* a call of the port's worker thread, not the caller's */
    std::string name() const {
        return std::string(kClasses[cls].name) + " #" + std::to_string(k) + (persistent ? " and every later one" : "") +
               (on_worker ? " on the worker" : "");
    }
    /* The fault, on the caller or on thread `worker`. */
    cpk::Fault fault(pid_t worker = 0) const {
        cpk::Fault f = cpk::failing(kClasses[cls].fn, -1, kClasses[cls].err, k, persistent ? 0 : 1);
        scope_to(f, on_worker ? worker : 0);
        return f;
    }
};

std::vector<Point> points_of(const Counts& c, bool on_worker = false) {
    std::vector<Point> v;
    for (size_t i = 0; i < kNClasses; ++i)
        for (unsigned k = 1; k <= c.n[i]; ++k) {
            v.push_back(Point{i, k, false, on_worker});
            v.push_back(Point{i, k, true, on_worker});
        }
    return v;
}

/* What one sweep saw, printed as one line for make faults. */
struct Tally {
    const char* operation;
    Counts counts;
    unsigned failed = 0;      /* the operation reported failure */
    unsigned succeeded = 0;   /* it succeeded despite the fault */
    unsigned not_reached = 0; /* the k-th call did not happen in that run */
    unsigned problems = 0;
    std::string line() const {
        std::string s = std::string("fault sweep: ") + operation + ": " + std::to_string(counts.total()) + " calls, " +
                        std::to_string(2 * counts.total()) + " fault points (";
        for (size_t i = 0; i < kNClasses; ++i)
            s += std::string(i ? ", " : "") + kClasses[i].name + " " + std::to_string(counts.n[i]);
        s += "): " + std::to_string(failed) + " failed cleanly, " + std::to_string(succeeded) + " succeeded, " +
             std::to_string(not_reached) + " not reached, " + std::to_string(problems) + " problem(s)";
        return s;
    }
    void print() const {
        std::printf("%s\n", line().c_str());
        std::fflush(stdout);
    }
    /* One point's outcome: its k-th call did not happen, or the operation
     * succeeded or failed despite the fault. */
    void count(bool fired, bool ok) {
        if (!fired)
            ++not_reached;
        else if (ok)
            ++succeeded;
        else
            ++failed;
    }
};

/* Appends "point: what" to `problems` and counts it. */
void note(std::string& problems, Tally& t, const Point& p, const std::string& what) {
    problems += p.name() + ": " + what + "\n";
    ++t.problems;
}

/* Prints the sweep's line and checks what it collected: the leaks of failed
 * operations against leak_req, every other problem against problem_req. */
void check_sweep(const Tally& t, const std::string& context, const char* leak_req, const std::string& leaks,
                 const char* problem_req, const std::string& problems) {
    t.print();
    INFO(t.line() << "\n" << context);
    {
        INFO(leaks);
        CPK_CHECK(leak_req, leaks == "");
    }
    {
        INFO(problems);
        CPK_CHECK(problem_req, problems == "");
    }
}

/* Callbacks of op `op` after its first: the exactly-once part of a check. */
bool at_most_once(const cpk::Recorder& rec, size_t op) { return rec.calls(op) <= 1; }

/* The checks every swept add gets once the peer wrote: an op the add (`what`)
 * accepted completes, one it refused gets no callback, none gets two, and the
 * port still completes ops (sentinel_op). */
void check_added(std::string& problems, Tally& t, const Point& pt, cpk::Recorder& rec, COMPLETION_PORT_HANDLE port,
                 const char* what, int rc, size_t op, size_t sentinel_op) {
    if (rc == 0 && !rec.wait_op(op, cpk::kWaitMs))
        note(problems, t, pt, std::string(what) + " returned 0 but its op never completed");
    if (!cpk::sentinel(port, rec, sentinel_op, 20)) note(problems, t, pt, "the port stopped completing ops");
    if (rc != 0 && rec.calls(op) != 0) note(problems, t, pt, std::string(what) + " failed but its op got a callback");
    if (!at_most_once(rec, op)) note(problems, t, pt, "the op got " + std::to_string(rec.calls(op)) + " callbacks");
}

char g_bufs[1024][4]; /* outlive a late callback of a broken port */

} // namespace

TEST_CASE("fault sweep: create fails cleanly or works at every call it makes", "[CPL_CREATE_009][CPL_CREATE_008]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(512);
    size_t next_op = 0;
    Tally t{"create", {}};
    /* Each point starts once the ports released before it are gone: a worker
     * still running (or crashing) would be counted against the point. */
    const int threads0 = cpk::count_threads();
    auto settle = [threads0] { cpk::wait_thread_count_at_most(threads0, 3000); };
    {
        /* Warm-up: what libc sets up once for the first thread is not the port's. */
        COMPLETION_PORT_HANDLE warm = completion_port_create();
        CPK_REQUIRE("CPL_CREATE_004", warm != nullptr);
        CPK_RELEASE(warm);
        settle();
        Counter counter;
        COMPLETION_PORT_HANDLE h = completion_port_create();
        t.counts = counter.finish();
        CPK_KIT_REQUIRE(t.counts.injected);
        CPK_REQUIRE("CPL_CREATE_004", h != nullptr);
        CPK_RELEASE(h);
        settle();
    }
    std::string leaks;    /* CPL_CREATE_008 */
    std::string problems; /* CPL_CREATE_009 */
    for (const Point& p : points_of(t.counts)) {
        cpk::RunningScope running("CPL_CREATE_009", p.name()); /* a crash here is this point's */
        cpk::FdList fds = cpk::list_fds();
        int threads = cpk::count_threads();
        cpk::Fault f = p.fault();
        cpk::alloc_track_start();
        int id = cpk::inject(f);
        COMPLETION_PORT_HANDLE h;
        {
            cpk::LsanIgnore lsan; /* what a failed create leaks is reported below */
            h = completion_port_create();
        }
        bool fired = cpk::fault_fired(id) > 0;
        cpk::clear_faults();
        cpk::alloc_track_stop();
        CPK_KIT_REQUIRE(id >= 0);
        if (!fired) {
            /* create made fewer calls of this class this time: an untouched create */
            ++t.not_reached;
            if (h) CPK_RELEASE(h);
            settle();
            continue;
        }
        t.count(true, h != nullptr);
        if (h) {
            if (!cpk::completes_a_recv(h, rec, next_op++))
                note(problems, t, p, "create returned a port that does not complete a recv");
            if (!cpk::release_port(h)) {
                note(problems, t, p, "the final dec_ref of the port it returned did not return");
                continue;
            }
        }
        bool threads_back = cpk::wait_thread_count_at_most(threads, 3000);
        bool freed = cpk::eventually([] { return cpk::live_tracked() == 0; }, 2000);
        size_t live = cpk::live_tracked();
        std::string fd_left = cpk::fd_diff(fds, cpk::list_fds());
        std::string& into = h ? problems : leaks;
        const char* after = h ? " after the final dec_ref" : " after create returned NULL";
        if (!threads_back) note(into, t, p, std::string("a thread is left") + after);
        if (!freed) note(into, t, p, std::to_string(live) + " allocation(s) left" + after);
        if (!fd_left.empty()) note(into, t, p, "descriptors left" + std::string(after) + ": " + fd_left);
    }
    check_sweep(t, "", "CPL_CREATE_008", leaks, "CPL_CREATE_009", problems);
    /* The sweep left a process in which create works. */
    COMPLETION_PORT_HANDLE again = completion_port_create();
    CPK_CHECK("CPL_CREATE_009", again != nullptr);
    if (again) {
        CPK_CHECK("CPL_CREATE_009", cpk::completes_a_recv(again, rec, next_op++));
        CPK_RELEASE(again);
    }
    CPK_GUARD_END(guard);
}

TEST_CASE("fault sweep: add fails cleanly or completes at every call it makes", "[CPL_ADD_019][CPL_ADD_015]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(1024);
    Tally t{"add", {}};
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        size_t next_op = 0;
        /* Warm-up: whatever the port allocates once for its first socket stays. */
        CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, next_op++, 0));
        {
            cpk::SocketPair sp = cpk::unix_pair();
            CPK_KIT_REQUIRE(sp.ok());
            size_t op = next_op++;
            COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, sp.a, g_bufs[op], 1);
            uint64_t mark = cpk::thread_ctl_mark();
            Counter counter;
            int rc = completion_port_add(p.handle, &in);
            t.counts = counter.finish();
            CPK_KIT_REQUIRE(t.counts.injected);
            CPK_REQUIRE(rc == 0 ? "CPL_ADD_007" : cpk::add_failure_requirement(mark), rc == 0);
            CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
            CPK_REQUIRE("CPL_ADD_007", rec.wait_op(op, cpk::kWaitMs));
            completion_port_remove(p.handle, sp.a);
        }
        std::string leaks;    /* CPL_ADD_015 */
        std::string problems; /* CPL_ADD_019 */
        for (const Point& pt : points_of(t.counts)) {
            cpk::RunningScope running("CPL_ADD_019", pt.name());
            cpk::SocketPair sp = cpk::unix_pair();
            CPK_KIT_REQUIRE(sp.ok());
            size_t op = next_op++;
            size_t sentinel_op = next_op++;
            CPK_KIT_REQUIRE(sentinel_op < rec.max_ops());
            COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, sp.a, g_bufs[op], 1);
            cpk::Fault f = pt.fault();
            cpk::FdList fds = cpk::list_fds();
            cpk::alloc_track_start();
            int id = cpk::inject(f);
            int rc = completion_port_add(p.handle, &in);
            bool fired = cpk::fault_fired(id) > 0;
            cpk::clear_faults();
            cpk::alloc_track_stop();
            CPK_KIT_REQUIRE(id >= 0);
            size_t live = cpk::live_tracked();
            bool registered = p.epfd >= 0 && cpk::epoll_registered(p.epfd, sp.a);
            std::string fd_left = cpk::fd_diff(fds, cpk::list_fds());
            CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
            t.count(fired, rc == 0);
            if (rc != 0 && fired) {
                if (live != 0) note(leaks, t, pt, "add failed and left " + std::to_string(live) + " allocation(s)");
                if (registered) note(leaks, t, pt, "add failed and left the socket registered");
                if (!fd_left.empty()) note(leaks, t, pt, "add failed and left descriptors: " + fd_left);
            }
            check_added(problems, t, pt, rec, p.handle, "add", rc, op, sentinel_op);
            completion_port_remove(p.handle, sp.a);
        }
        check_sweep(t, rec.dump(), "CPL_ADD_015", leaks, "CPL_ADD_019", problems);
        CPK_RELEASE(p.handle);
    }
    CPK_GUARD_END(guard);
}

namespace {

/* The add a callback makes under a fault, and what it saw. Written by the
 * worker inside the hook, read by the test after the hook returned. */
struct Rearm {
    COMPLETION_PORT_HANDLE port = nullptr;
    COMPLETION_PORT_INGRESS_DATA next{};
    bool counting = false;
    cpk::Fault fault;
    Counts counts;
    int rc = -1;
    bool fired = false;
    bool injected = false;
    size_t live = 0;
};
Rearm g_rearm;

void rearm_hook(cpk::Op&, const cpk::CallbackRecord&) {
    Rearm& r = g_rearm;
    if (r.counting) {
        Counter counter;
        r.rc = completion_port_add(r.port, &r.next);
        r.counts = counter.finish();
        return;
    }
    cpk::alloc_track_start();
    int id = cpk::inject(r.fault);
    r.rc = completion_port_add(r.port, &r.next);
    r.fired = cpk::fault_fired(id) > 0;
    r.injected = id >= 0;
    cpk::clear_faults();
    cpk::alloc_track_stop();
    r.live = cpk::live_tracked();
}

} // namespace

TEST_CASE("fault sweep: an add from inside a callback fails cleanly or completes at every call it makes",
          "[CPL_ADD_019]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(1024);
    Tally t{"add from a callback", {}};
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        size_t next_op = 0;
        CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, next_op++, 0));
        g_rearm.port = p.handle;
        /* One round: op `first` on a fresh socket re-arms the socket with op
         * `second` from its callback; true if the first op's callback ran. */
        auto round = [&](cpk::SocketPair& sp, size_t first, size_t second) {
            rec.op(first).hook = rearm_hook;
            g_rearm.next = rec.ingress(second, EPOLLIN, sp.a, g_bufs[second], 1);
            COMPLETION_PORT_INGRESS_DATA in = rec.ingress(first, EPOLLIN, sp.a, g_bufs[first], 1);
            if (!cpk::row_add(p.handle, &in)) return false;
            CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
            return rec.wait_op_finished(first, cpk::kWaitMs);
        };
        {
            cpk::SocketPair sp = cpk::unix_pair();
            CPK_KIT_REQUIRE(sp.ok());
            size_t first = next_op++, second = next_op++;
            g_rearm.counting = true;
            bool ran = round(sp, first, second);
            g_rearm.counting = false;
            CPK_REQUIRE("CPL_ADD_017", ran);
            t.counts = g_rearm.counts;
            CPK_KIT_REQUIRE(t.counts.injected);
            CPK_REQUIRE("CPL_ADD_017", g_rearm.rc == 0);
            CPK_KIT_REQUIRE(cpk::write_all(sp.b, "y", 1));
            CPK_REQUIRE("CPL_ADD_017", rec.wait_op(second, cpk::kWaitMs));
            completion_port_remove(p.handle, sp.a);
        }
        std::string leaks;
        std::string problems;
        for (const Point& pt : points_of(t.counts)) {
            cpk::RunningScope running("CPL_ADD_019", pt.name());
            cpk::SocketPair sp = cpk::unix_pair();
            CPK_KIT_REQUIRE(sp.ok());
            size_t first = next_op++, second = next_op++, sentinel_op = next_op++;
            CPK_KIT_REQUIRE(sentinel_op < rec.max_ops());
            g_rearm.fault = pt.fault();
            g_rearm.rc = -1;
            g_rearm.fired = false;
            if (!round(sp, first, second)) {
                note(problems, t, pt, "the first op's callback never came");
                break;
            }
            CPK_KIT_REQUIRE(g_rearm.injected);
            t.count(g_rearm.fired, g_rearm.rc == 0);
            CPK_KIT_REQUIRE(cpk::write_all(sp.b, "y", 1));
            if (g_rearm.rc != 0 && g_rearm.fired && g_rearm.live != 0)
                note(leaks, t, pt, "the re-arm failed and left " + std::to_string(g_rearm.live) + " allocation(s)");
            check_added(problems, t, pt, rec, p.handle, "the re-arm", g_rearm.rc, second, sentinel_op);
            if (!at_most_once(rec, first)) note(problems, t, pt, "the first op got more than one callback");
            completion_port_remove(p.handle, sp.a);
        }
        check_sweep(t, rec.dump(), "CPL_ADD_019", leaks, "CPL_ADD_019", problems);
        CPK_RELEASE(p.handle);
    }
    CPK_GUARD_END(guard);
}

namespace {

/* What a remove of a socket with one pending recv op did. */
struct RemoveRun {
    bool added = false;
    bool fired = false;
    bool injected = true;
    Counts counts;
    int calls_at_return = 0; /* callbacks of the op when remove returned */
    size_t live = 0;         /* allocations of the add and remove still live */
    bool late_event = false; /* an event-driven callback after remove returned */
    bool port_works = false;
};

/* Adds a recv op on a fresh socket, removes the socket under `f` (nullptr:
 * none; `count`: count instead), then makes the socket readable. */
RemoveRun remove_under(COMPLETION_PORT_HANDLE port, cpk::Recorder& rec, size_t op, size_t sentinel_op,
                       const cpk::Fault* f, bool count) {
    RemoveRun r;
    cpk::SocketPair sp = cpk::unix_pair();
    CPK_KIT_REQUIRE(sp.ok());
    COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op, EPOLLIN, sp.a, g_bufs[op], 1);
    cpk::alloc_track_start();
    r.added = cpk::row_add(port, &in); /* a failure is checked as what it violates */
    if (!r.added) {
        cpk::alloc_track_stop();
        return r;
    }
    if (count) {
        Counter counter;
        completion_port_remove(port, sp.a);
        r.counts = counter.finish();
        r.injected = r.counts.injected;
    } else {
        int id = f ? cpk::inject(*f) : -1;
        completion_port_remove(port, sp.a);
        r.fired = f && cpk::fault_fired(id) > 0;
        r.injected = !f || id >= 0;
        cpk::clear_faults();
    }
    cpk::alloc_track_stop();
    r.calls_at_return = rec.calls(op);
    CPK_KIT_REQUIRE(cpk::write_all(sp.b, "x", 1));
    r.port_works = cpk::sentinel(port, rec, sentinel_op, 20);
    for (const cpk::CallbackRecord& c : rec.for_op(op))
        if (c.action != COMPLETION_PORT_CLOSING && c.op_call_index >= r.calls_at_return) r.late_event = true;
    sp = {};
    cpk::eventually([] { return cpk::live_tracked() == 0; }, 200);
    r.live = cpk::live_tracked();
    return r;
}

} // namespace

TEST_CASE("fault sweep: remove keeps its promises at every call it makes", "[CPL_REMOVE_008]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(1024);
    Tally t{"remove", {}};
    {
        cpk::PortInfo p = cpk::create_port();
        CPK_REQUIRE_PORT(p);
        size_t next_op = 0;
        CPK_REQUIRE("CPL_ADD_007", cpk::sentinel(p.handle, rec, next_op++, 0));
        /* Without a fault: what remove does for the op, and what stays allocated. */
        size_t op = next_op++;
        size_t bsent = next_op++;
        RemoveRun base = remove_under(p.handle, rec, op, bsent, nullptr, false);
        CPK_REQUIRE("CPL_ADD_007", base.added);
        size_t cop = next_op++, csent = next_op++;
        RemoveRun counted = remove_under(p.handle, rec, cop, csent, nullptr, true);
        CPK_REQUIRE("CPL_ADD_007", counted.added);
        CPK_KIT_REQUIRE(counted.injected);
        t.counts = counted.counts;
        std::string problems;
        for (const Point& pt : points_of(t.counts)) {
            cpk::RunningScope running("CPL_REMOVE_008", pt.name());
            size_t o = next_op++, s = next_op++;
            CPK_KIT_REQUIRE(s < rec.max_ops());
            cpk::Fault f = pt.fault();
            RemoveRun r = remove_under(p.handle, rec, o, s, &f, false);
            CPK_KIT_REQUIRE(r.injected);
            if (!r.added) {
                note(problems, t, pt, "the add before remove failed");
                continue;
            }
            t.count(r.fired, true);
            if (r.calls_at_return != base.calls_at_return)
                note(problems, t, pt,
                     "the op had " + std::to_string(r.calls_at_return) + " callback(s) when remove returned, " +
                         std::to_string(base.calls_at_return) + " without the fault");
            if (r.late_event) note(problems, t, pt, "an event-driven callback reached the op after remove returned");
            if (!at_most_once(rec, o))
                note(problems, t, pt, "the op got " + std::to_string(rec.calls(o)) + " callbacks");
            if (r.live > base.live)
                note(problems, t, pt,
                     std::to_string(r.live) + " allocation(s) left, " + std::to_string(base.live) +
                         " without the fault");
            if (!r.port_works) note(problems, t, pt, "the port stopped completing ops");
        }
        t.print();
        INFO(t.line() << "\n" << problems << rec.dump());
        CPK_CHECK("CPL_REMOVE_008", problems == "");
        CPK_RELEASE(p.handle);
    }
    CPK_GUARD_END(guard);
}

namespace {

/* What a whole port life with a final dec_ref under a fault did. */
struct DecRefRun {
    bool created = false;
    bool added = false;
    bool fired = false;
    bool injected = true;
    Counts counts;        /* calls of the caller's thread */
    Counts worker_counts; /* calls of the worker from the dec_ref on */
    int calls_at_return[2] = {0, 0};
    bool late_callback = false;
    bool threads_back = false;
    size_t live = 0;
    std::string fds;
};

/* Creates a port with two pending recv ops and, once its worker waits in
 * epoll_wait, calls its final dec_ref on this thread with `pt`'s fault
 * (nullptr: none; `count`: counts the calls of both threads instead). */
DecRefRun dec_ref_under(cpk::Recorder& rec, size_t op0, const Point* pt, bool count) {
    DecRefRun r;
    cpk::SocketPair sp[2] = {cpk::unix_pair(), cpk::unix_pair()};
    CPK_KIT_REQUIRE(sp[0].ok());
    CPK_KIT_REQUIRE(sp[1].ok());
    cpk::FdList fds = cpk::list_fds();
    int threads = cpk::count_threads();
    uint64_t index = cpk::threads_created();
    cpk::alloc_track_start();
    COMPLETION_PORT_HANDLE h = completion_port_create();
    r.created = h != nullptr;
    if (!h) {
        cpk::alloc_track_stop();
        return r;
    }
    pid_t worker = cpk::threads_created() > index ? cpk::created_thread_tid(index) : 0;
    r.added = true;
    for (int i = 0; i < 2; ++i) {
        COMPLETION_PORT_INGRESS_DATA in = rec.ingress(op0 + i, EPOLLIN, sp[i].a, g_bufs[op0 + i], 1);
        if (!cpk::row_add(h, &in)) r.added = false; /* checked as what it violates */
    }
    /* The worker's calls are counted from a quiet point: blocked in its wait. */
    cpk::wait_blocked_in_epoll_wait(1000);
    if (count) {
        Counter on_worker(worker);
        Counter on_caller;
        completion_port_dec_ref(h);
        r.worker_counts = worker ? on_worker.finish(false) : Counts{};
        r.counts = on_caller.finish();
        r.injected = r.counts.injected && r.worker_counts.injected;
    } else {
        int id = -1;
        if (pt && (!pt->on_worker || worker)) id = cpk::inject(pt->fault(worker));
        completion_port_dec_ref(h);
        r.fired = id >= 0 && cpk::fault_fired(id) > 0;
        r.injected = !pt || id >= 0;
        cpk::clear_faults();
    }
    cpk::alloc_track_stop();
    for (int i = 0; i < 2; ++i) r.calls_at_return[i] = rec.calls(op0 + i);
    for (int i = 0; i < 2; ++i) CPK_KIT_REQUIRE(cpk::write_all(sp[i].b, "x", 1));
    r.threads_back = cpk::wait_thread_count_at_most(threads, 3000);
    /* Nothing may call back now: a wrong one has had the time the port needed. */
    r.late_callback = cpk::eventually(
        [&] { return rec.calls(op0) != r.calls_at_return[0] || rec.calls(op0 + 1) != r.calls_at_return[1]; }, 50);
    cpk::eventually([] { return cpk::live_tracked() == 0; }, 1000);
    r.live = cpk::live_tracked();
    r.fds = cpk::fd_diff(fds, cpk::list_fds());
    return r;
}

} // namespace

TEST_CASE("fault sweep: the final dec_ref keeps its promises at every call it makes", "[CPL_DECREF_011]") {
    cpk::Guard guard;
    cpk::Recorder& rec = cpk::persistent_recorder(1024);
    Tally t{"final dec_ref", {}};
    Tally tw{"final dec_ref, on the worker", {}};
    size_t next_op = 0;
    DecRefRun base = dec_ref_under(rec, next_op, nullptr, false);
    next_op += 2;
    CPK_REQUIRE("CPL_CREATE_004", base.created);
    CPK_REQUIRE("CPL_ADD_007", base.added);
    DecRefRun counted = dec_ref_under(rec, next_op, nullptr, true);
    next_op += 2;
    CPK_REQUIRE("CPL_CREATE_004", counted.created);
    CPK_KIT_REQUIRE(counted.injected);
    t.counts = counted.counts;
    tw.counts = counted.worker_counts;
    std::vector<Point> points = points_of(t.counts);
    for (const Point& w : points_of(tw.counts, true)) points.push_back(w);
    std::string problems;
    for (const Point& pt : points) {
        cpk::RunningScope running("CPL_DECREF_011", pt.name());
        Tally& tt = pt.on_worker ? tw : t;
        size_t op0 = next_op;
        next_op += 2;
        CPK_KIT_REQUIRE(next_op < rec.max_ops());
        DecRefRun r = dec_ref_under(rec, op0, &pt, false);
        CPK_KIT_REQUIRE(r.injected);
        if (!r.created || !r.added) {
            note(problems, tt, pt, "the port could not be set up");
            continue;
        }
        tt.count(r.fired, true);
        for (int i = 0; i < 2; ++i)
            if (r.calls_at_return[i] != base.calls_at_return[i])
                note(problems, tt, pt,
                     "op " + std::to_string(i) + " had " + std::to_string(r.calls_at_return[i]) +
                         " callback(s) when dec_ref returned, " + std::to_string(base.calls_at_return[i]) +
                         " without the fault");
        if (r.late_callback) note(problems, tt, pt, "a callback ran after the final dec_ref returned");
        if (!r.threads_back) note(problems, tt, pt, "the worker thread is left");
        if (r.live > base.live) note(problems, tt, pt, std::to_string(r.live) + " allocation(s) left");
        if (!r.fds.empty()) note(problems, tt, pt, "descriptors left: " + r.fds);
    }
    t.print();
    tw.print();
    INFO(t.line() << "\n" << tw.line() << "\n" << problems << rec.dump());
    CPK_CHECK("CPL_DECREF_011", problems == "");
    CPK_GUARD_END(guard);
}
