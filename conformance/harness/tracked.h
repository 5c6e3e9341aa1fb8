/* What allocation tracking saw, taken in one step when it stops. */
#ifndef CPK_TRACKED_H
#define CPK_TRACKED_H

#include <cstddef>

#include "interpose.h"

namespace cpk {

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

} // namespace cpk

#endif
