// Internal state of the reference completion port, shared by its source files.
// Not installed, not part of the ABI: everything here has hidden visibility.
#ifndef COMPLETION_PORT_REFERENCE_INTERNAL_H
#define COMPLETION_PORT_REFERENCE_INTERNAL_H

#include <pthread.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "c_pal/completion_port_linux.h"

// The five API functions are the only symbols the shared object exports
// (CPL_ABI_001); the build also uses -fvisibility=hidden and a version script.
#define CPL_API extern "C" __attribute__((visibility("default")))

namespace cpl {

// An op waits in one of three slots of its socket, chosen by its epoll_op:
// EPOLLIN -> recv, else EPOLLOUT -> send, else a hang-up watcher. One op per
// slot: that is what lets a recv and a send be pending together (CPL_ADD_016).
enum Slot : unsigned { SLOT_RECV, SLOT_SEND, SLOT_WATCH, SLOT_COUNT };

// One successful completion_port_add (the seed's EPOLL_THREAD_DATA).
struct Op {
    ON_COMPLETION_PORT_EVENT_COMPLETE callback;
    void* context;
    uint8_t* buffer;
    uint32_t length;
    uint32_t progress;                   // bytes moved so far, the amount reported; a suspended send resumes here
    uint32_t interest;                   // epoll bits this op waits for (its epoll_op, cleaned)
    COMPLETION_PORT_EPOLL_ACTION action; // set by slot at add; a started send's is EPOLLOUT
    bool in_flight;                      // the worker is doing its I/O without the lock
    Op* next;                            // intrusive list: closing ops, and the port's free ops
};

// The ops pending on one socket. Stored by value in the map: unordered_map
// references stay valid across rehashes, and it saves one allocation per socket.
struct SocketEntry {
    uint32_t generation; // unique per entry: tells stale events apart
    bool removing;       // a remove is waiting for the worker to leave it
    Op* slots[SLOT_COUNT];
};

using EntryMap = std::unordered_map<int, SocketEntry>;
constexpr size_t SPARE_ENTRIES = 64;

struct Port {
    std::atomic<uint32_t> refcount{1};
    std::atomic<bool> stopping{false}; // the seed's "threads can complete" flag
    int epoll_fd = -1;
    int wake_fd = -1; // eventfd: makes the final dec_ref take microseconds
    pthread_t worker{};
    pthread_mutex_t mutex;
    pthread_cond_t worker_idle; // signalled when the worker leaves busy_fd

    // Guarded by mutex.
    EntryMap entries;
    uint32_t next_generation = 0;
    int busy_fd = -1;       // socket whose op the worker is handling unlocked
    Op* free_ops = nullptr; // completed ops kept for the next add: no allocation per op
    // Nodes of entries whose last op went, kept for the next new entry (a
    // callback re-arming its socket takes its node back at once).
    EntryMap::node_type spare_entries[SPARE_ENTRIES];
    size_t spare_count = 0;

    bool released_by_worker = false; // touched only by the worker thread
};

// Key stored in epoll_event.data.u64: generation in the high half, fd low.
// The wake-up key's low half is 0xffffffff: fd -1, which no entry has.
constexpr uint64_t WAKE_KEY = ~static_cast<uint64_t>(0);
inline uint64_t event_key(int fd, uint32_t generation) {
    return (static_cast<uint64_t>(generation) << 32) | static_cast<uint32_t>(fd);
}

// Bits the port controls itself; never taken from a caller's epoll_op.
// EPOLLONESHOT is always added; EPOLLEXCLUSIVE is invalid with EPOLL_CTL_MOD and
// EPOLLONESHOT. EPOLLET stays the caller's: CPL_ADD_005 registers epoll_op as
// given, and edge triggering is harmless on a one-shot registration.
constexpr uint32_t PORT_CONTROLLED_BITS = EPOLLONESHOT | EPOLLEXCLUSIVE;

// Not a result: the send waits for EPOLLOUT. Never reported (CPL_ABI_003).
constexpr COMPLETION_PORT_RESULT SUSPENDED = COMPLETION_PORT_RESULT_INVALID;

// A descriptor a caller may add or remove: not negative (INVALID_SOCKET is -1,
// CPL_ABI_004), not the port's own (a MOD or DEL would break the final dec_ref).
inline bool is_callers_socket(const Port* port, int fd) {
    return fd >= 0 && fd != port->wake_fd && fd != port->epoll_fd;
}

// registry.cpp: the record and the registration (the mutex held), closing.
bool arm_entry(Port* port, int fd, const SocketEntry& entry, bool add_if_missing);
SocketEntry* insert_entry(Port* port, int fd, const SocketEntry& entry);
void erase_if_empty(Port* port, EntryMap::iterator it);
Op* take_op(Port* port);
void recycle_op(Port* port, Op* op);
void free_op_pool(Port* port); // without the mutex, once nothing else uses the port
void detach_all_ops(SocketEntry& entry, Op** list);
void complete_closing_list(Op* list);
void drain_all_closing(Port* port);

COMPLETION_PORT_RESULT run_io(int fd, Op* op, bool sending); // io.cpp, without the mutex
int epoll_worker_func(void* parameter);                      // worker.cpp
bool is_worker_of(const Port* port);                         // worker.cpp
void release_port_resources(Port* port);                     // completion_port.cpp

} // namespace cpl

#endif // COMPLETION_PORT_REFERENCE_INTERNAL_H
