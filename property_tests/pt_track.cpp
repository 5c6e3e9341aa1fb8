#include "pt_track.h"

namespace pt {

namespace {

/* Plain pointer: a thread_local with a destructor would allocate its
 * registration on first use. */
thread_local std::optional<cpk::NoTrack>* t_untracked = nullptr;

/* Lifts the thread's NoTrack for one API call (nested calls, e.g. an add
 * from a closing callback inside remove, find it already lifted). */
class Tracked {
public:
    Tracked() : lifted_(t_untracked != nullptr && t_untracked->has_value()) {
        if (lifted_) t_untracked->reset();
    }
    ~Tracked() {
        if (lifted_) t_untracked->emplace();
    }
    Tracked(const Tracked&) = delete;
    Tracked& operator=(const Tracked&) = delete;
private:
    bool lifted_;
};

} // namespace

/* Nested scopes share the outermost NoTrack: a second one would keep the
 * thread untracked while an API call lifts only the innermost. */
UntrackedThread::UntrackedThread() : prev_(t_untracked) {
    if (prev_) return;
    nt_.emplace();
    t_untracked = &nt_;
}

UntrackedThread::~UntrackedThread() {
    if (prev_) return;
    t_untracked = nullptr;
}

COMPLETION_PORT_HANDLE api_create() {
    Tracked t;
    return completion_port_create();
}

cpk::PortInfo api_create_port() {
    Tracked t;
    return cpk::create_port();
}

void api_inc_ref(COMPLETION_PORT_HANDLE h) {
    Tracked t;
    completion_port_inc_ref(h);
}

void api_dec_ref(COMPLETION_PORT_HANDLE h) {
    Tracked t;
    completion_port_dec_ref(h);
}

int api_add(COMPLETION_PORT_HANDLE h, const COMPLETION_PORT_INGRESS_DATA* in) {
    Tracked t;
    return completion_port_add(h, in);
}

void api_remove(COMPLETION_PORT_HANDLE h, SOCKET_HANDLE s) {
    Tracked t;
    completion_port_remove(h, s);
}

} // namespace pt
