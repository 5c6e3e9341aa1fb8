/* rapidcheck generators for CaseSpec. A Profile says which steps a property
 * draws and how often, so each property aims at its own requirements while
 * sharing one model. */
#ifndef PT_GEN_H
#define PT_GEN_H

#include <initializer_list>

#include <rapidcheck.h>

#include "pt_spec.h"

namespace pt {

/* How often a profile draws one kind of step. */
struct Weight {
    StepKind kind;
    unsigned weight;
};

struct Profile {
    Profile() = default;
    Profile(std::initializer_list<Weight> weights) {
        for (const Weight& x : weights) w(x.kind, x.weight);
    }

    unsigned weight[static_cast<int>(StepKind::Count_)] = {}; /* 0: never drawn */
    int max_socks = 24;
    bool tcp = true;                       /* TcpSmall pairs may be drawn */
    bool lazy = true;                      /* lazy peers may be drawn */
    bool blocking = false;                 /* blocking port-side sockets may be drawn */
    bool caps = true;                      /* recv/send caps may be drawn */
    uint8_t add_flags = kOneshot | kRdhup; /* flags an add may carry */
    bool alt = true;                       /* kAlt may be drawn on the steps that know it */

    Profile& w(StepKind k, unsigned weight_) {
        weight[static_cast<int>(k)] = weight_;
        return *this;
    }
};

rc::Gen<CaseSpec> gen_case(const Profile& p);

} // namespace pt

#endif
