/* A violated property, as data. Thrown by the model and the port checks (on
 * any thread); rapidcheck turns it into a failing case and pt_runner writes
 * the final one as a violation record (tools/RESULTS.md).
 * - requirement: the ONE spec ID the check enforces, or cpk::kKit when the
 *   kit itself could not go on (a socket pair could not be made, a limit was
 *   hit, a model invariant broke): a kit error, never a verdict;
 * - what(): one line, what broke, with the action / result / amount seen;
 * - context: what the model saw (its last lines), possibly empty. */
#ifndef PT_FAILURE_H
#define PT_FAILURE_H

#include <stdexcept>
#include <string>

#include "verdict.h"

namespace pt {

class Failure : public std::runtime_error {
public:
    Failure(const char* requirement, const std::string& what, const std::string& context = std::string())
        : std::runtime_error(what), requirement_(requirement ? requirement : cpk::kKit), context_(context) {}
    const char* requirement() const { return requirement_; }
    const std::string& context() const { return context_; }
    bool kit_error() const { return std::string(requirement_) == cpk::kKit; }
    /* "<requirement>: <what>" (or "kit error: <what>") and the context: for stderr. */
    std::string text() const {
        return (kit_error() ? std::string("kit error") : std::string(requirement_)) + ": " + what() +
               (context_.empty() ? std::string() : "\n\n" + context_);
    }

private:
    const char* requirement_; /* a string literal (a spec ID) or cpk::kKit */
    std::string context_;
};

[[noreturn]] inline void fail(const char* requirement, const std::string& what) { throw Failure(requirement, what); }

} // namespace pt

#endif
