/* Runs generated cases: owns the port(s), recorders, recorder slots and the
 * per-case leak checks, so that a property body is one line.
 *
 * Shared port (default): one port serves every case of a property, so that
 * an implementation whose final dec_ref waits out its 2 s epoll_wait (the
 * literal one) pays it once; finish() releases it after a small fixed case
 * with ops left pending (CPL_DECREF_002..006). Per-case port: each case
 * creates and releases its own (CPL_DECREF_008/009/010).
 *
 * After every case: the descriptors and threads are those before the case.
 * At every release: worker gone, descriptors closed and, with tracking, no
 * allocation of the implementation left (pt_port.h).
 *
 * A failing case leaves its port running and its memory allocated (a buggy
 * implementation may still call back into it); the next case gets a new port. */
#ifndef PT_DRIVER_H
#define PT_DRIVER_H

#include <memory>
#include <vector>

#include "nocopy.h"
#include "pt_gen.h"
#include "pt_model.h"

namespace pt {

struct DriverOptions {
    Features feat;
    bool shared_port = true;
    bool sys = true;                  /* record syscalls: errno/amount/argument checks */
    bool track = true;                /* allocation tracking (CPL_DECREF_005) */
    bool release_in_callback = false; /* per-case port released from a callback (CPL_DECREF_010) */
    int teardown_bound_ms = 0;        /* a per-case final dec_ref must return within (CPL_DECREF_009) */
    bool faults = true;               /* SpuriousWake / Interrupt steps inject */
    int models = 1;                   /* caller threads per case (CPL_ADD_018) */
};

class Driver : cpk::NoCopy {
public:
    explicit Driver(const DriverOptions& o);
    ~Driver();

    /* One case; with models > 1, `cases` holds one CaseSpec per caller thread. */
    void run_case(const CaseSpec& c);
    void run_case_threads(const std::vector<CaseSpec>& cases);
    /* Shared port: the final release and its checks. Call once, at the end. */
    void finish();

private:
    struct Slot {
        cpk::Recorder* rec = nullptr;
        std::unique_ptr<IndexPool> pool;
    };
    void open_port();
    void taint();
    void install_caps(const CaseSpec& c);
    ModelEnv env_for(size_t slot);
    void release_sequence(Model& m);
    void check_case_leaks(const cpk::FdList& fds, int threads);

    DriverOptions o_;
    PortCtx port_;
    std::vector<Slot> slots_;
    Graveyard graveyard_;
    uint32_t serial_ = 10000;
    bool open_ = false;
};

/* A whole property test on one Driver: `name`'s cases drawn from `p`, then
 * the release of the shared port; fails the test if an fd or thread is left. */
void check_driven_property(const char* name, const DriverOptions& o, const Profile& p);

} // namespace pt

#endif
