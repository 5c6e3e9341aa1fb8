#include "pt_runner.h"

#include <climits>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#include <sstream>
#include <unistd.h>

#include "cpk_catch.h" /* before rapidcheck: its Catch2 integration expects Catch2 first */
#include <rapidcheck.h>

#include "pt_failure.h"
#include "pt_track.h"
#include "sync.h"
#include "verdict.h"

namespace pt {

namespace {

int64_t shrink_budget_ns() {
    const char* s = getenv("PT_SHRINK_SECONDS");
    double v = s ? atof(s) : 10.0;
    if (v <= 0) v = 10.0;
    return static_cast<int64_t>(v * 1e9);
}

/* A shell word in double quotes. */
std::string shell_quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
        out += c;
    }
    return out + "\"";
}

/* This binary's path relative to the kit's root (the directory above it that
 * holds spec/completion_port_linux.md), which is where rerun commands start;
 * "<binary>" when it is not inside a kit. */
std::string kit_relative_binary() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "<binary>";
    const std::string exe(buf, static_cast<size_t>(n));
    for (size_t cut = exe.rfind('/'); cut != std::string::npos && cut > 0; cut = exe.rfind('/', cut - 1)) {
        const std::string root = exe.substr(0, cut);
        if (access((root + "/spec/completion_port_linux.md").c_str(), R_OK) == 0) return exe.substr(cut + 1);
    }
    return "<binary>";
}

std::string current_test() { return Catch::getResultCapture().getCurrentTestName(); }

/* The command that runs this test case with these rapidcheck parameters. */
std::string replay_command(const std::string& rc_params) {
    return "RC_PARAMS=" + shell_quote(rc_params) + " " + kit_relative_binary() + " " + shell_quote(current_test());
}

/* What the last failing run threw: for the smallest case, the reported one. */
struct Violation {
    const char* requirement = cpk::kKit;
    std::string what;
    std::string context;
};

Violation violation_of(const std::exception& e) {
    Violation v;
    if (const Failure* f = dynamic_cast<const Failure*>(&e)) {
        v.requirement = f->requirement();
        v.what = f->what();
        v.context = f->context();
    } else {
        v.what = std::string("the kit threw an unexpected exception: ") + e.what();
    }
    return v;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/* Writes the one record of a failed property or step, then fails the Catch2
 * test without a second record; the same text goes to stderr. */
[[noreturn]] void report(const Violation& v, const std::string& headline, const std::string& info,
                         const std::string& trace, const std::string& replay) {
    cpk::ViolationRecord rec;
    rec.requirement = v.requirement;
    rec.kind = "property";
    rec.message = first_line(v.what);
    rec.info = info;
    rec.trace = trace;
    rec.replay = replay;
    rec.file = __FILE__;
    cpk::record_violation(rec);
    const bool kit = std::string(v.requirement) == cpk::kKit;
    std::ostringstream os;
    os << headline << "\n"
       << info << "\n\n"
       << (kit ? "kit error (no verdict)" : v.requirement) << ": " << v.what << "\n\n"
       << trace << (trace.empty() || trace.back() == '\n' ? "" : "\n");
    if (!replay.empty()) os << "\nreplay:\n  " << replay << "\n";
    const std::string text = os.str();
    std::cerr << text << std::flush;
    cpk::RecordedScope recorded;
    INFO(text);
    FAIL(headline);
    std::abort(); /* FAIL throws */
}

bool g_shrinking = false;

/* CPL_SEND_004: a send to a closed peer must not raise SIGPIPE. With the
 * default disposition the process would die without a word; this handler
 * (installed before main) says why, then lets the signal kill the process, so
 * that validate sees a death by SIGPIPE. */
void on_sigpipe(int) {
    static const char msg[] = "\nCPL_SEND_004: the process received SIGPIPE: the implementation sent to a closed peer "
                              "without MSG_NOSIGNAL\n";
    (void)!write(2, msg, sizeof msg - 1);
    signal(SIGPIPE, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    raise(SIGPIPE);
    _exit(128 + SIGPIPE); /* not reached */
}

struct SigpipeReporter {
    SigpipeReporter() { signal(SIGPIPE, on_sigpipe); }
} g_sigpipe_reporter;

} // namespace

bool shrinking() { return g_shrinking; }

int shrink_wait_ms() {
    const char* s = getenv("PT_SHRINK_WAIT_MS");
    const int v = s ? atoi(s) : 0;
    return v > 0 ? v : 1000;
}

int configured_cases() { return rc::detail::configuration().testParams.maxSuccess; }

namespace {

/* Runs the property's body once per case; after the first failure it marks
 * the run as shrinking and, once PT_SHRINK_SECONDS have passed, answers every
 * further case with success so that rapidcheck stops shrinking. */
class CaseRunner {
public:
    explicit CaseRunner(const std::function<void()>& body) : body_(body), budget_ns_(shrink_budget_ns()) {}

    void operator()() {
        if (failed_ && cpk::mono_ns() > stop_ns_) {
            cut_ = true;
            throw rc::detail::CaseResult(rc::detail::CaseResult::Type::Success,
                                         "shrinking stopped: PT_SHRINK_SECONDS spent");
        }
        ++runs_;
        try {
            body_();
        } catch (const std::exception& e) {
            failed_with(violation_of(e));
            throw;
        } catch (...) {
            Violation v;
            v.what = "the kit threw something that is not a std::exception";
            failed_with(v);
            throw;
        }
    }

    bool cut() const { return cut_; }
    int runs() const { return runs_; }
    const Violation& last() const { return last_; } /* of the last failing run: the smallest case */

private:
    void failed_with(const Violation& v) {
        last_ = v;
        g_shrinking = true;
        if (!failed_) {
            failed_ = true;
            stop_ns_ = cpk::mono_ns() + budget_ns_;
        }
    }

    const std::function<void()>& body_;
    const int64_t budget_ns_;
    bool failed_ = false;
    bool cut_ = false;
    int64_t stop_ns_ = 0;
    int runs_ = 0;
    Violation last_;
};

/* rapidcheck's parameters for this run: RC_PARAMS, with the case count lowered to o's. */
rc::detail::TestParams params_for(const RunOptions& o) {
    rc::detail::TestParams params = rc::detail::configuration().testParams;
    if (o.max_cases >= 0 && o.max_cases < params.maxSuccess) params.maxSuccess = o.max_cases;
    return params;
}

/* A result that is neither a pass nor a falsification: rapidcheck could not run the property. */
[[noreturn]] void report_not_run(const std::string& name, const std::string& id, const rc::detail::TestResult& result) {
    std::ostringstream os;
    rc::detail::printResultMessage(result, os);
    Violation v;
    v.what = "property " + id + " could not run: " + first_line(os.str());
    report(v, "property could not run: " + name, os.str(), "", "");
}

/* The smallest failing case: its violation, counts, shrunk steps and replay command. */
[[noreturn]] void report_falsified(const std::string& id, const rc::detail::FailureResult& f,
                                   const CaseRunner& runner) {
    Violation v = runner.last();
    if (v.what.empty()) v.what = first_line(f.description); /* rapidcheck's own failure */
    rc::detail::Configuration replay = rc::detail::configuration();
    replay.reproduce.clear();
    replay.reproduce[id] = f.reproduce;
    std::ostringstream info;
    info << "after " << f.numSuccess << " passing case(s) (" << runner.runs() << " run(s) including shrinking"
         << (runner.cut() ? "; shrinking stopped after PT_SHRINK_SECONDS" : "") << ")";
    std::ostringstream trace;
    trace << "smallest failing case found:\n";
    for (const auto& item : f.counterExample) trace << "  " << item.second << "\n";
    if (!v.context.empty()) trace << "\n" << v.context;
    report(v, "property falsified: " + id, info.str(), trace.str(),
           replay_command(rc::detail::configToMinimalString(replay)));
}

} // namespace

void check_property(const std::string& name, const std::function<void()>& body, const RunOptions& o) {
    using namespace rc::detail;
    UntrackedThread untracked; /* rapidcheck and Catch2 stay out of the allocation tracking */
    HangMonitor monitor;       /* an API call that never returns ends the test with a message */
    /* A crash or sanitizer report in the middle of a case names no check: it
     * counts against the property's own (first) requirement, not every tag. */
    const std::string own = cpk::current_test_requirement();
    cpk::RunningScope running(own.empty() ? nullptr : own.c_str(), "property: " + name);
    TestMetadata md;
    md.id = current_test() + " / " + name;
    md.description = name;
    CaseRunner runner(body);
    const int64_t t0 = cpk::mono_ns();
    g_shrinking = false;
    const TestResult result = checkProperty(toProperty([&] { runner(); }), md, params_for(o));
    g_shrinking = false;
    if (result.template is<FailureResult>()) report_falsified(md.id, result.template get<FailureResult>(), runner);
    if (!result.template is<SuccessResult>()) report_not_run(name, md.id, result);
    std::cout << "property " << md.id << ": " << result.template get<SuccessResult>().numSuccess << " cases passed in "
              << static_cast<double>(cpk::mono_ns() - t0) / 1e9 << " s\n";
    SUCCEED();
}

/* A step outside the generated cases (a shared port's release): the whole run
 * replays with the same seed. */
void check_step(const char* what, const std::function<void()>& f) {
    UntrackedThread untracked;
    Violation v;
    try {
        f();
        return;
    } catch (const std::exception& e) {
        v = violation_of(e);
    } catch (...) {
        v.what = "the kit threw something that is not a std::exception";
    }
    report(v, std::string("failed: ") + what, std::string("step: ") + what, v.context,
           replay_command("seed=" + std::to_string(rc::detail::configuration().testParams.seed)));
}

} // namespace pt
