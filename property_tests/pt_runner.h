/* Runs a property inside the current Catch2 test case with rapidcheck.
 * - Honours RC_PARAMS (max_success, seed, reproduce, ...); default 100 cases.
 * - On failure, fails the Catch2 test with the property's message, the shrunk
 *   case as readable steps and the RC_PARAMS line that replays exactly that
 *   case (README.md, "Replaying a failure"); the same text goes to stderr.
 * - Shrinking a property whose failing runs each wait out a timeout could take
 *   minutes; after the first failure, shrinking stops once PT_SHRINK_SECONDS
 *   (default 10) have passed and the smallest case found so far is reported. */
#ifndef PT_RUNNER_H
#define PT_RUNNER_H

#include <functional>
#include <string>

namespace pt {

struct RunOptions {
    int max_cases = -1;   /* lower the case count (adaptive properties); -1: RC_PARAMS */
};

/* True once the running property failed (rapidcheck is shrinking): waits for
 * ops that must complete may then be shorter (PT_SHRINK_WAIT_MS, default
 * 1000 ms) so that more smaller cases are tried within PT_SHRINK_SECONDS. */
bool shrinking();
int shrink_wait_ms();

/* The case count RC_PARAMS asks for (max_success; rapidcheck's default 100). */
int configured_cases();

/* `body` draws its inputs with *gen inside and throws on a violation. */
void check_property(const std::string& name, const std::function<void()>& body, const RunOptions& o = RunOptions());

/* Runs f; a pt::Failure (or any exception) fails the Catch2 test with its text. */
void check_step(const char* what, const std::function<void()>& f);

} // namespace pt

#endif
