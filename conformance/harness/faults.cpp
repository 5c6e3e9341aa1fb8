/* Fault shorthands (faults.h). */
#include "faults.h"

namespace cpk {

namespace {

Fault on(Fn fn, FaultKind kind, int fd) {
    Fault f;
    f.fn = fn;
    f.kind = kind;
    f.fd = fd;
    return f;
}

} // namespace

Fault failing(Fn fn, int fd, int err, unsigned nth, unsigned times) {
    Fault f = on(fn, FaultKind::fail, fd);
    f.err = err;
    f.nth = nth;
    f.times = times;
    return f;
}

Fault capped(Fn fn, int fd, size_t cap) {
    Fault f = on(fn, FaultKind::cap, fd);
    f.cap = cap;
    f.times = 0; /* every call */
    return f;
}

Fault hooked(Fn fn, int fd, void (*hook)(void*), void* arg) {
    Fault f = on(fn, FaultKind::hook, fd);
    f.hook = hook;
    f.hook_arg = arg;
    return f;
}

Fault alloc_failure(unsigned nth) {
    Fault f;
    f.fn = Fn::alloc;
    f.nth = nth;
    f.scope = Scope::caller;
    return f;
}

int fail_recv(int fd, int err, unsigned nth, unsigned times) { return inject(failing(Fn::recv, fd, err, nth, times)); }
int cap_recv(int fd, size_t cap) { return inject(capped(Fn::recv, fd, cap)); }
int fail_send(int fd, int err, unsigned nth, unsigned times) { return inject(failing(Fn::send, fd, err, nth, times)); }
int cap_send(int fd, size_t cap) { return inject(capped(Fn::send, fd, cap)); }

} // namespace cpk
