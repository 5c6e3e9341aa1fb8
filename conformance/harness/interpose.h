/* Control of the harness's libc interposition (interpose_*.cpp).
 *
 * The harness defines epoll_create, epoll_create1, epoll_ctl, epoll_wait,
 * epoll_pwait, recv, __recv_chk, send, eventfd, pthread_create and the whole allocator
 * family (malloc, calloc, realloc, reallocarray, free, aligned_alloc,
 * memalign, posix_memalign, every operator new/delete). They are linked as
 * objects into the test executable with -rdynamic, so an implementation given
 * as sources, a static archive or a shared object calls them; each forwards to
 * the next definition (libc, or the sanitizer runtime) via dlsym(RTLD_NEXT).
 *
 * Everything is disarmed by default: the functions only forward and keep a
 * few always-on counters. A test arms what it needs (recording, faults,
 * allocation tracking) and the Guard (guard.h) disarms everything at its end.
 *
 * Nothing in this header allocates except the functions documented as
 * returning std::vector / std::string; call those only while allocation
 * tracking is stopped (or inside a NoTrack scope). */
#ifndef CPK_INTERPOSE_H
#define CPK_INTERPOSE_H

#include "nocopy.h"
#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace cpk {

/* The interposed functions. `alloc` is a pseudo-function matching every
 * allocation (malloc, calloc, realloc, reallocarray, aligned_alloc, memalign,
 * posix_memalign, any operator new) when used in a Fault. `any` matches every
 * recorded function in record queries. */
enum class Fn : uint8_t {
    epoll_create,
    epoll_create1,
    epoll_ctl,
    epoll_wait, /* epoll_wait and epoll_pwait are separate entries ...  */
    epoll_pwait,
    recv, /* recv and __recv_chk both count as recv */
    send,
    pthread_create,
    eventfd,
    malloc,
    calloc,
    realloc,
    aligned_alloc,    /* aligned_alloc, memalign, posix_memalign */
    op_new,           /* every operator new / new[] form */
    alloc,            /* Fault only: any of the allocation functions above */
    epoll_any_wait,   /* Fault / query only: epoll_wait or epoll_pwait */
    epoll_any_create, /* Fault / query only: epoll_create or epoll_create1 */
    any,              /* query only */
    count_
};

const char* fn_name(Fn fn);

/* One recorded call of a non-allocation function (written when it returns). */
struct CallRecord {
    uint64_t seq;     /* 0-based order of recording */
    int64_t start_ns; /* monotonic, when the call entered */
    int64_t end_ns;   /* monotonic, when it returned */
    pid_t tid;        /* calling thread */
    Fn fn;
    bool injected;   /* the result is an injected fault, the real function was not called
                        (or, for a cap, called with a shortened length) */
    int fd;          /* epfd for epoll_ctl/epoll_wait/epoll_pwait; socket for recv/send; -1 otherwise */
    int op;          /* epoll_ctl: EPOLL_CTL_ADD/MOD/DEL */
    int target;      /* epoll_ctl: target fd; -1 otherwise */
    uint32_t events; /* epoll_ctl: event mask passed (0 when event is NULL) */
    uint64_t data;   /* epoll_ctl: event data (u64) passed */
    int timeout;     /* epoll_wait/epoll_pwait: timeout in ms; epoll_create: size; eventfd: initval */
    int flags;       /* recv/send flags; epoll_create1 and eventfd flags */
    size_t length;   /* recv/send: length asked by the caller */
    const void* buf; /* recv/send: buffer pointer */
    long result;     /* return value (pthread_create: its error number, 0 on success) */
    int err;         /* errno after the call when result < 0, else 0 */
    /* epoll_wait/epoll_pwait: the first returned events (after any rewrite),
     * each with the socket fd the harness maps its data to (-1 if unknown). */
    int nev;
    struct {
        uint32_t events;
        int fd;
    } ev[4];
};

/* ---- Recording ---------------------------------------------------------- */

/* Clears the record buffer and starts recording every call of the
 * non-allocation functions (all threads). Capacity: record_capacity(). */
void record_start();
void record_stop();
size_t record_capacity();
size_t record_count();   /* records written so far (<= capacity) */
size_t record_dropped(); /* calls not recorded because the buffer was full */
/* Copy of record i (0 <= i < record_count()); allocation-free. */
CallRecord record_at(size_t i);
/* Copies of all records of `fn` (Fn::any: all; Fn::epoll_any_wait: both waits;
 * Fn::epoll_any_create: both creates),
 * optionally only those on a given fd (CallRecord::fd) or target (epoll_ctl). Allocates. */
std::vector<CallRecord> records(Fn fn = Fn::any, int fd = -1);
std::vector<CallRecord> epoll_ctl_records(int target_fd);
std::string describe(const CallRecord& r);

/* Always-on counters since process start (not reset by anything): calls that
 * entered / returned. For Fn::epoll_any_wait both waits are summed. Lets a
 * test see that a worker is blocked in epoll_wait (entered > returned).
 * Fn::epoll_any_create sums both creates. Allocation functions: 0. */
uint64_t calls_entered(Fn fn);
uint64_t calls_returned(Fn fn);

/* ---- Faults ------------------------------------------------------------- */

enum class FaultKind : uint8_t {
    fail,    /* return failure with `err` without calling the real function:
                -1/errno; pthread_create returns err; allocations return NULL
                (errno ENOMEM) and operator new throws std::bad_alloc
                (nothrow forms return NULL) */
    cap,     /* recv/send only: call the real function with min(length, cap) */
    zero,    /* epoll_wait/epoll_pwait only: return 0 at once (a timeout) */
    rewrite, /* epoll_wait/epoll_pwait only: after the real call, for each
                returned event that maps to socket `fd`:
                events = (events & ~clear_events) | set_events.
                (Matching = a returned event for that socket.) */
    hook     /* recv/send only: call hook(hook_arg) on the calling thread, then
                the real function, unchanged: holds a worker inside its I/O
                (the reference's unit tests force a race with it) */
};

enum class Scope : uint8_t {
    any,    /* every thread */
    caller, /* only the thread that called inject() */
    others, /* every thread except the one that called inject() */
    tid     /* only thread Fault::tid */
};

struct Fault {
    Fn fn = Fn::any; /* required; Fn::alloc / Fn::epoll_any_wait allowed */
    FaultKind kind = FaultKind::fail;
    int err = 0;                   /* errno for `fail` (allocations: ignored, ENOMEM) */
    unsigned nth = 1;              /* first matching call to affect, 1-based, counted from inject() */
    unsigned times = 1;            /* how many matching calls to affect from nth on; 0 = unlimited */
    int fd = -1;                   /* only calls concerning this socket: recv/send fd, epoll_ctl
                                      target, rewrite socket; -1 = any */
    int epfd = -1;                 /* epoll_ctl/epoll_wait/epoll_pwait: only on this epoll fd */
    int op = 0;                    /* epoll_ctl: only this op (EPOLL_CTL_*); 0 = any */
    size_t cap = 0;                /* FaultKind::cap: at most this many bytes per call */
    uint32_t set_events = 0;       /* FaultKind::rewrite */
    uint32_t clear_events = 0;     /* FaultKind::rewrite */
    void (*hook)(void*) = nullptr; /* FaultKind::hook */
    void* hook_arg = nullptr;      /* FaultKind::hook */
    Scope scope = Scope::any;
    pid_t tid = 0; /* Scope::tid */
};

/* Installs a fault; returns its id (>= 0), or -1 when all 16 slots are used.
 * Faults stay installed until clear_faults() (or the Guard ends). */
int inject(const Fault& f);
void remove_fault(int id);
void clear_faults();
unsigned fault_hits(int id);  /* matching calls seen (injected or not) */
unsigned fault_fired(int id); /* calls actually affected */

/* ---- Allocation tracking ------------------------------------------------ */

/* Starts tracking: every allocation made from now on (any thread) is added to
 * a live set (pointer -> size); a free/realloc of a tracked pointer removes it
 * (also after alloc_track_stop()). Clears the previous live set. */
void alloc_track_start();
/* Stops adding new allocations (frees still remove tracked ones). */
void alloc_track_stop();
size_t live_tracked(); /* tracked allocations not yet freed */
size_t live_tracked_bytes();
uint64_t tracked_allocs();   /* allocations counted since alloc_track_start() */
bool alloc_track_overflow(); /* the live set ran out of room (results unreliable) */
/* Sizes of up to `max` live tracked allocations (for messages); allocation-free. */
size_t live_tracked_sizes(size_t* out, size_t max);

/* What tracking saw, taken in one step when it stops. */
struct Tracked {
    size_t live = 0;       /* tracked allocations not yet freed */
    size_t bytes = 0;      /* their bytes */
    bool overflow = false; /* the tracker ran out of room: figures unreliable */
};
/* alloc_track_stop(), then what is still live. Allocation-free, so a test
 * collects it before its first check. */
inline Tracked stop_tracking() {
    alloc_track_stop();
    Tracked t;
    t.live = live_tracked();
    t.bytes = live_tracked_bytes();
    t.overflow = alloc_track_overflow();
    return t;
}

/* While a NoTrack exists, allocations of the current thread are neither
 * tracked nor counted by faults (for test-side bookkeeping while armed). */
class NoTrack : NoCopy {
public:
    NoTrack();
    ~NoTrack();
};

/* ---- Threads created through pthread_create ----------------------------- */

/* Every successful pthread_create (always, armed or not) gets an index; the
 * harness wraps the start routine to learn the new thread's kernel tid. */
uint64_t threads_created(); /* count of successful pthread_create */
/* tid of the thread created with index `index` (0-based), waiting up to
 * `timeout_ms` for it to start; 0 if unknown (too old, or not started). */
pid_t created_thread_tid(uint64_t index, int timeout_ms = 2000);
/* The thread that called pthread_create for `index`; 0 if unknown. */
pid_t created_thread_creator(uint64_t index);
/* true once the start routine of thread `index` has returned (thread may
 * still be in the kernel's task list for a moment). */
bool created_thread_finished(uint64_t index);

/* ---- epoll registrations seen by the interposer ------------------------- */

/* The last fd returned by an interposed epoll_create/epoll_create1 (always
 * tracked), or -1. */
int last_epoll_fd_created();

/* ---- epoll_ctl calls of the current thread (always kept) ----------------- */

struct CtlCall {
    int op;     /* EPOLL_CTL_ADD/MOD/DEL */
    int target; /* the socket */
    int rc;     /* return value */
    int err;    /* errno when rc < 0, else 0 */
};
/* A mark to pass to thread_ctl_since(). */
uint64_t thread_ctl_mark();
/* Copies the epoll_ctl calls this thread made since `mark` (the last 8 at
 * most, oldest first) into out; returns how many. Allocation-free. */
int thread_ctl_since(uint64_t mark, CtlCall* out, int max);
/* How many EPOLL_CTL_MOD calls (any thread) failed with ENOENT and were not
 * followed by an EPOLL_CTL_ADD of the same socket on the same thread, since
 * forget_unfollowed_mod_enoent() (the Guard calls it). */
long unfollowed_mod_enoent();
void forget_unfollowed_mod_enoent();

/* ---- Everything ---------------------------------------------------------- */

/* Stops recording and allocation tracking and removes every fault. */
void disarm_all();

} // namespace cpk

#endif
