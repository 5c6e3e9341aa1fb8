/* Cooperation with LeakSanitizer (present when the implementation is built
 * from sources with -fsanitize=address; absent otherwise: then a no-op). */
#ifndef CPK_SANITIZER_H
#define CPK_SANITIZER_H

namespace cpk {

/* While one exists, allocations of the current thread are ignored by
 * LeakSanitizer's exit-time report. Wrap the single call of a normative
 * failure-path test (a create or add that must fail) so that what the failed
 * call leaks is reported by the recommended leak requirements (CPL_CREATE_008,
 * CPL_ADD_015), not as a crash of the normative test. */
class LsanIgnore {
public:
    LsanIgnore();
    ~LsanIgnore();
    LsanIgnore(const LsanIgnore&) = delete;
    LsanIgnore& operator=(const LsanIgnore&) = delete;
};

} // namespace cpk

#endif
