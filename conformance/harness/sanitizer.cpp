/* LsanIgnore: __lsan_disable/__lsan_enable when the LSan runtime is linked;
 * start_sanitizer_threads: a thread round trip when the TSan runtime is. */
#include "sanitizer.h"

#include <pthread.h>

extern "C" {
void __lsan_disable() __attribute__((weak));
void __lsan_enable() __attribute__((weak));
void __tsan_init() __attribute__((weak));
}

namespace cpk {

LsanIgnore::LsanIgnore() {
    if (__lsan_disable) __lsan_disable();
}

LsanIgnore::~LsanIgnore() {
    if (__lsan_enable) __lsan_enable();
}

namespace {
void* no_op(void*) { return nullptr; }
} // namespace

void start_sanitizer_threads() {
    static bool started = false;
    if (started || !__tsan_init) return;
    started = true;
    pthread_t t;
    if (pthread_create(&t, nullptr, no_op, nullptr) == 0) (void)pthread_join(t, nullptr);
}

} // namespace cpk
