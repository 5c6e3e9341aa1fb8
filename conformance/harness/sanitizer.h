/* Cooperation with LeakSanitizer (present when the implementation is built
 * from sources with -fsanitize=address; absent otherwise: then a no-op) and
 * with ThreadSanitizer (-fsanitize=thread, SANITIZE=thread). */
#ifndef CPK_SANITIZER_H
#define CPK_SANITIZER_H

#include "nocopy.h"

namespace cpk {

/* While one exists, allocations of the current thread are ignored by
 * LeakSanitizer's exit-time report. Wrap the single call of a normative
 * failure-path test (a create or add that must fail) so that what the failed
 * call leaks is reported by the recommended leak requirements (CPL_CREATE_008,
 * CPL_ADD_015), not as a crash of the normative test. */
class LsanIgnore : NoCopy {
public:
    LsanIgnore();
    ~LsanIgnore();
};

/* Under ThreadSanitizer (absent otherwise: a no-op), starts the runtime's
 * background thread now, by creating and joining a thread: it would start
 * with the implementation's first pthread_create and count as a thread the
 * port left behind. Called once per process, before the test case. */
void start_sanitizer_threads();

} // namespace cpk

#endif
