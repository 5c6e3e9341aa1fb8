/* Fault shorthands: the faults several test files inject (interpose.h has the
 * whole Fault). When one socket gets both a failure and a cap, inject the
 * failure first: the first matching fault slot wins. */
#ifndef CPK_FAULTS_H
#define CPK_FAULTS_H

#include <cstddef>

#include "interpose.h"

namespace cpk {

/* Calls of `fn` concerning `fd` (-1: any) fail with `err`: the nth matching call
 * from now on and the times - 1 after it (times 0: every one from the nth on). */
Fault failing(Fn fn, int fd, int err, unsigned nth = 1, unsigned times = 1);

/* Every recv or send (`fn`) on `fd` moves at most `cap` bytes: the real call,
 * with a shortened length. */
Fault capped(Fn fn, int fd, size_t cap);

/* The nth allocation the calling thread makes from now on fails. */
Fault alloc_failure(unsigned nth);

/* The next recv or send (`fn`) on `fd` first calls hook(arg) on the calling
 * thread (FaultKind::hook): a test holds the worker inside that call. */
Fault hooked(Fn fn, int fd, void (*hook)(void*), void* arg);

/* Injected at once; each returns the fault's id (inject()). */
int fail_recv(int fd, int err, unsigned nth = 1, unsigned times = 1);
int cap_recv(int fd, size_t cap);
int fail_send(int fd, int err, unsigned nth = 1, unsigned times = 1);
int cap_send(int fd, size_t cap);

} // namespace cpk

#endif
