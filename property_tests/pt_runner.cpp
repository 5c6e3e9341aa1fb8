#include "pt_runner.h"

#include <csignal>
#include <cstdlib>
#include <unistd.h>
#include <iostream>
#include <sstream>

#include <catch2/catch.hpp>
#include <rapidcheck.h>

#include "pt_track.h"
#include "sync.h"

namespace pt {

namespace {

int64_t shrink_budget_ns() {
    const char* s = getenv("PT_SHRINK_SECONDS");
    double v = s ? atof(s) : 10.0;
    if (v <= 0) v = 10.0;
    return static_cast<int64_t>(v * 1e9);
}

std::string failure_text(const std::string& id, const rc::detail::FailureResult& f, int cases_run,
                         const std::string& last_failure, bool cut) {
    using namespace rc::detail;
    Configuration replay = configuration();
    replay.reproduce.clear();
    replay.reproduce[id] = f.reproduce;
    std::ostringstream os;
    os << "property falsified: " << id << "\n"
       << "after " << f.numSuccess << " passing case(s) (" << cases_run << " run(s) including shrinking"
       << (cut ? "; shrinking stopped after PT_SHRINK_SECONDS" : "") << ")\n\n"
       << (last_failure.empty() ? f.description : last_failure) << "\n\n"
       << "smallest failing case found:\n";
    for (const auto& item : f.counterExample) os << "  " << item.second << "\n";
    os << "\nreplay exactly this case:\n"
       << "  RC_PARAMS=\"" << configToMinimalString(replay) << "\" <binary> \"" << Catch::getResultCapture().getCurrentTestName() << "\"\n"
       << "(the implementation runs threads: a replay re-runs the same steps; README.md, Replaying a failure)\n";
    return os.str();
}

bool g_shrinking = false;

/* CPL_SEND_004: a send to a closed peer must not raise SIGPIPE. With the
 * default disposition the process would die without a word; this handler
 * (installed before main) says why, then exits as the signal would have. */
void on_sigpipe(int) {
    static const char msg[] =
        "\nCPL_SEND_004: the process received SIGPIPE: the implementation sent to a closed peer "
        "without MSG_NOSIGNAL\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(128 + SIGPIPE);
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

void check_property(const std::string& name, const std::function<void()>& body, const RunOptions& o) {
    using namespace rc::detail;
    UntrackedThread untracked;  /* rapidcheck and Catch2 stay out of the allocation tracking */
    HangMonitor monitor;        /* an API call that never returns ends the test with a message */
    TestMetadata md;
    md.id = Catch::getResultCapture().getCurrentTestName() + " / " + name;
    md.description = name;
    TestParams params = configuration().testParams;
    if (o.max_cases >= 0 && o.max_cases < params.maxSuccess) params.maxSuccess = o.max_cases;

    struct State {
        bool failed = false;
        bool cut = false;
        int64_t stop_ns = 0;
        int runs = 0;
        std::string last_failure;  /* of the last failing run: the reported case */
    } st;
    const int64_t budget = shrink_budget_ns();
    const int64_t t0 = cpk::mono_ns();
    auto wrapped = [&]() {
        if (st.failed && cpk::mono_ns() > st.stop_ns) {
            st.cut = true;
            throw CaseResult(CaseResult::Type::Success, "shrinking stopped: PT_SHRINK_SECONDS spent");
        }
        ++st.runs;
        try {
            body();
        } catch (const std::exception& e) {
            st.last_failure = e.what();
            if (!st.failed) {
                st.failed = true;
                g_shrinking = true;
                st.stop_ns = cpk::mono_ns() + budget;
            }
            throw;
        } catch (...) {
            g_shrinking = true;
            if (!st.failed) {
                st.failed = true;
                st.stop_ns = cpk::mono_ns() + budget;
            }
            throw;
        }
    };
    g_shrinking = false;
    const TestResult result = checkProperty(toProperty(wrapped), md, params);
    g_shrinking = false;
    const double secs = static_cast<double>(cpk::mono_ns() - t0) / 1e9;

    if (result.template is<SuccessResult>()) {
        std::cout << "property " << md.id << ": " << result.template get<SuccessResult>().numSuccess
                  << " cases passed in " << secs << " s\n";
        SUCCEED();
        return;
    }
    std::string text;
    if (result.template is<FailureResult>()) {
        text = failure_text(md.id, result.template get<FailureResult>(), st.runs, st.last_failure, st.cut);
    } else {
        std::ostringstream os;
        printResultMessage(result, os);
        text = "property " + md.id + " could not run: " + os.str();
    }
    std::cerr << text << std::flush;
    INFO(text);
    FAIL("property falsified: " << name);
}

void check_step(const char* what, const std::function<void()>& f) {
    UntrackedThread untracked;
    std::string text;
    try {
        f();
        return;
    } catch (const std::exception& e) {
        text = e.what();
    }
    std::cerr << what << ": " << text << std::endl;
    INFO(text);
    FAIL(what);
}

} // namespace pt
