/* Runs a property inside the current Catch2 test case with rapidcheck.
 * - Honours RC_PARAMS (max_success, seed, reproduce, ...); default 100 cases.
 * - Once falsified (after shrinking), writes ONE violation record (kind
 *   "property", tools/RESULTS.md): the requirement the smallest case's
 *   pt::Failure names (cpk::kKit: a kit error), its first line, the counts,
 *   the shrunk steps with the model's last lines, and the command replaying
 *   exactly that case; then fails the Catch2 test without a second record.
 *   The same text goes to stderr.
 * - Shrinking a property whose failing runs each wait out a timeout could take
 *   minutes; after the first failure, shrinking stops once PT_SHRINK_SECONDS
 *   (default 10) have passed and the smallest case found so far is reported. */
#ifndef PT_RUNNER_H
#define PT_RUNNER_H

#include <functional>
#include <string>

namespace pt {

struct RunOptions {
    int max_cases = -1; /* lower the case count (adaptive properties); -1: RC_PARAMS */
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

/* Runs f; a pt::Failure (or any exception: a kit error) is recorded and fails
 * the Catch2 test the same way, with the run's seed as the replay. */
void check_step(const char* what, const std::function<void()>& f);

} // namespace pt

#endif
