/* LsanIgnore: __lsan_disable/__lsan_enable when the LSan runtime is linked. */
#include "sanitizer.h"

extern "C" {
void __lsan_disable() __attribute__((weak));
void __lsan_enable() __attribute__((weak));
}

namespace cpk {

LsanIgnore::LsanIgnore() {
    if (__lsan_disable) __lsan_disable();
}

LsanIgnore::~LsanIgnore() {
    if (__lsan_enable) __lsan_enable();
}

} // namespace cpk
