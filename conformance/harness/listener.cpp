/* The Catch2 listener that turns test events into result-file records
 * (verdict.h, tools/RESULTS.md): start and end of each test case, and one
 * violation record per failed assertion, with the requirement of the
 * innermost CheckScope. */
/* Catch2 v2 declares its reporter bases only for TUs that ask for them. */
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include "verdict.h"

#include <string>

#include "sanitizer.h"

namespace cpk {

namespace {

const char* kind_of(Catch::ResultWas::OfType t) {
    switch (t) {
    case Catch::ResultWas::ThrewException: return "exception";
    case Catch::ResultWas::FatalErrorCondition: return "fatal";
    default: return "check";
    }
}

#if CPK_CATCH_V3
using ListenerBase = Catch::EventListenerBase;
#else
using ListenerBase = Catch::TestEventListenerBase;
#endif

struct ResultListener : ListenerBase {
    using ListenerBase::ListenerBase;

    void testCaseStarting(Catch::TestCaseInfo const& info) override {
        start_sanitizer_threads();
        record_event("start", "\"test\":" + json_string(std::string(info.name)));
        set_test_requirement(first_requirement_tag(info));
        set_phase("body");
    }

    static std::string first_requirement_tag(Catch::TestCaseInfo const& info) {
        for (const auto& tag : info.tags) {
#if CPK_CATCH_V3
            const std::string t(tag.original);
#else
            const std::string& t = tag;
#endif
            if (t.compare(0, 4, "CPL_") == 0) return t;
        }
        return "";
    }

    void testCaseEnded(Catch::TestCaseStats const& stats) override {
        set_phase("end");
#if CPK_CATCH_V3
        const std::string name(stats.testInfo->name);
#else
        const std::string name(stats.testInfo.name);
#endif
        record_event("end", "\"test\":" + json_string(name) +
                                ",\"passed\":" + (stats.totals.assertions.failed == 0 ? "true" : "false"));
    }

#if CPK_CATCH_V3
    void assertionEnded(Catch::AssertionStats const& stats) override { record(stats); }
#else
    bool assertionEnded(Catch::AssertionStats const& stats) override {
        record(stats);
        return true;
    }
#endif

    static void record(Catch::AssertionStats const& stats) {
        const Catch::AssertionResult& r = stats.assertionResult;
        if (r.isOk() || assertions_recorded_elsewhere()) return;
        ViolationRecord v;
        v.requirement = current_requirement();
        v.kind = kind_of(r.getResultType());
        if (r.hasExpression()) {
            v.check = r.getExpressionInMacro();
            v.expanded = r.getExpandedExpression();
        }
        v.message = std::string(r.getMessage());
        for (const Catch::MessageInfo& m : stats.infoMessages) {
            if (!v.info.empty()) v.info += "\n";
            v.info += m.message;
        }
        std::string file = r.getSourceInfo().file;
        v.file = file.c_str();
        v.line = static_cast<int>(r.getSourceInfo().line);
        record_violation(v);
    }
};

CATCH_REGISTER_LISTENER(ResultListener)

} // namespace

} // namespace cpk
