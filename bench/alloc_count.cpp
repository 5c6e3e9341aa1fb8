// Counts heap allocations by interposing the allocator in the bench binary:
// shared libraries (libuv, libevent, libstdc++) resolve malloc here first.
// Each call forwards to glibc's own entry points.
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "counters.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<uint64_t> counted{0};
thread_local bool excluded = false;

inline void count() {
    if (!excluded) {
        counted.fetch_add(1, std::memory_order_relaxed);
    }
}
} // namespace

namespace bench {
uint64_t allocations() { return counted.load(std::memory_order_relaxed); }
void exclude_this_thread_from_allocations() { excluded = true; }
} // namespace bench

extern "C" {
void* malloc(size_t size) {
    count();
    return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) {
    count();
    return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) {
    count();
    return __libc_realloc(p, size);
}
void free(void* p) { __libc_free(p); }
void* memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) {
        return 22; // EINVAL
    }
    count();
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr) {
        return 12; // ENOMEM
    }
    *out = p;
    return 0;
}
}
