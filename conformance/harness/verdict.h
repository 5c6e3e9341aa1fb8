/* Violations are data. Every check names the one requirement it checks; a
 * failed check is written to the test process's result file as a JSON line
 * (format: tools/RESULTS.md), which is what the verdict engine reads. Nothing
 * in a verdict depends on parsing a message.
 *
 *   CPK_CHECK("CPL_RECV_002", one_callback(...) == "");     // CHECK
 *   CPK_REQUIRE("CPL_ADD_007", completion_port_add(...) == 0);  // REQUIRE
 *   CPK_FAIL_CHECK("CPL_X", "what happened");               // FAIL_CHECK
 *   CPK_KIT_REQUIRE(sp.ok());   // the kit's own precondition: a failure is a
 *                               // kit error (no verdict), never a violation
 *
 * A Catch2 listener (listener.cpp) turns each failed assertion into a record,
 * with the requirement of the innermost CheckScope of the thread (none: the
 * record names no requirement and the engine applies its rules). It also
 * writes the phase the test is in (body, release, guard, end), so that a
 * crash, a hang or a leak report at exit can be attributed by rule. */
#ifndef CPK_VERDICT_H
#define CPK_VERDICT_H

#include <string>

#include "cpk_catch.h"
#include "nocopy.h"

namespace cpk {

/* While one exists, failed Catch2 assertions of this thread are not written
 * to the result file: the caller has written a richer record itself with
 * record_violation (a property test's trace and replay string). */
class RecordedScope : NoCopy {
public:
    RecordedScope();
    ~RecordedScope();
};
bool assertions_recorded_elsewhere();

/* The pseudo-requirement of the kit's own preconditions. */
constexpr const char* kKit = "KIT";

/* While one exists, the Catch2 assertions of this thread check `req`. */
class CheckScope : NoCopy {
public:
    CheckScope(const char* req, const char* file, int line);
    ~CheckScope();

private:
    const char* prev_req_;
    const char* prev_file_;
    int prev_line_;
};

/* The requirement of the innermost CheckScope of this thread, or nullptr. */
const char* current_requirement();

/* While one exists, the test is in `phase` ("release", "guard", ...); the
 * previous phase is restored after. Writes a phase record each time. */
class PhaseScope : NoCopy {
public:
    explicit PhaseScope(const char* phase);
    ~PhaseScope();

private:
    const char* prev_;
};

/* While one exists, the test is running the case of one requirement (a row
 * of a table): a crash, a hang or a sanitizer report meanwhile counts against
 * `req`, not against every tag of the table (tools/RESULTS.md, section 2). */
class RunningScope : NoCopy {
public:
    RunningScope(const char* req, const std::string& what);
    ~RunningScope();
};

void set_phase(const char* phase);
const char* current_phase();

/* The first requirement tag of the running test ("" if none), set by the
 * listener: what a whole-test RunningScope (a property) names. */
void set_test_requirement(const std::string& id);
std::string current_test_requirement();

/* One record of the result file. Each field is a JSON value already. */
struct ViolationRecord {
    const char* requirement = nullptr; /* nullptr: unattributed; kKit: kit error */
    std::string check;                 /* the check as written, e.g. CHECK( x == 0 ) */
    std::string expanded;              /* with values, e.g. 3 == 0 */
    std::string message;               /* FAIL text, exception text */
    std::string info;                  /* INFO/CAPTURE context, lines joined */
    std::string trace;                 /* property tests: the shrunk steps */
    std::string replay;                /* property tests: the command that replays the case */
    const char* kind = "check";        /* check | exception | fatal | property */
    const char* file = "";
    int line = 0;
};

/* Appends a violation (or kit error) record; allocation is fine, never inside
 * a NoTrack-sensitive section. No-op without CPK_RESULT_FILE. */
void record_violation(const ViolationRecord& v);

/* Appends {"type": type, <extra>} where extra is a JSON object body without
 * braces ("" for none), e.g. record_event("start", "\"test\":\"x\""). */
void record_event(const char* type, const std::string& extra = "");

/* JSON string literal for s (quotes included). */
std::string json_string(const std::string& s);

} // namespace cpk

#define CPK_SCOPED_(req, ...)                                                                                          \
    do {                                                                                                               \
        ::cpk::CheckScope cpk_check_scope_((req), __FILE__, __LINE__);                                                 \
        __VA_ARGS__;                                                                                                   \
    } while (0)

#define CPK_CHECK(req, ...) CPK_SCOPED_(req, CHECK(__VA_ARGS__))
#define CPK_REQUIRE(req, ...) CPK_SCOPED_(req, REQUIRE(__VA_ARGS__))
#define CPK_CHECK_FALSE(req, ...) CPK_SCOPED_(req, CHECK_FALSE(__VA_ARGS__))
#define CPK_REQUIRE_FALSE(req, ...) CPK_SCOPED_(req, REQUIRE_FALSE(__VA_ARGS__))
#define CPK_FAIL_CHECK(req, msg) CPK_SCOPED_(req, FAIL_CHECK(msg))
#define CPK_FAIL(req, msg) CPK_SCOPED_(req, FAIL(msg))
#define CPK_KIT_REQUIRE(...) CPK_SCOPED_(::cpk::kKit, REQUIRE(__VA_ARGS__))
#define CPK_KIT_FAIL(msg) CPK_SCOPED_(::cpk::kKit, FAIL(msg))

#endif
