/* Generators. Every field shrinks towards the simplest value (fewer pairs,
 * plain unix sockets, socket 0, size 0, no flags), so a shrunk counterexample
 * reads as the shortest story that still fails. */
#include "pt_gen.h"

#include <vector>

namespace pt {

namespace {

rc::Gen<SockSpec> gen_sock(const Profile& p) {
    const int kinds = p.tcp ? 3 : 2;
    return rc::gen::build<SockSpec>(
        rc::gen::set(&SockSpec::kind,
                     rc::gen::map(rc::gen::inRange(0, kinds), [](int k) { return static_cast<SockKind>(k); })),
        rc::gen::set(&SockSpec::lazy, p.lazy ? rc::gen::arbitrary<bool>() : rc::gen::just(false)),
        rc::gen::set(&SockSpec::blocking, p.blocking
                                              ? rc::gen::map(rc::gen::inRange(0, 4), [](int x) { return x == 3; })
                                              : rc::gen::just(false)));
}

/* Mostly small sizes (the interesting boundaries are near 0), sometimes up to
 * `max_pm` per mille of the socket buffer. */
rc::Gen<uint16_t> gen_size(uint16_t max_pm) {
    return rc::gen::weightedOneOf<uint16_t>({
        {5, rc::gen::inRange<uint16_t>(0, 40)},
        {3, rc::gen::inRange<uint16_t>(0, 1000)},
        {2, rc::gen::inRange<uint16_t>(0, static_cast<uint16_t>(max_pm + 1))},
    });
}

bool knows_alt(StepKind k) {
    return k == StepKind::PeerClose || k == StepKind::PeerRead || k == StepKind::Remove ||
           k == StepKind::SpuriousWake || k == StepKind::Interrupt;
}

bool is_add(StepKind k) { return k == StepKind::AddRecv || k == StepKind::AddSend || k == StepKind::AddWatch; }

rc::Gen<Step> gen_step(const Profile& p) {
    std::vector<StepKind> table; /* kind repeated `weight` times; index 0 shrinks first */
    for (int k = 0; k < static_cast<int>(StepKind::Count_); ++k)
        for (unsigned i = 0; i < p.weight[k]; ++i) table.push_back(static_cast<StepKind>(k));
    const int n = static_cast<int>(table.size());
    const uint8_t add_flags = p.add_flags;
    const bool alt = p.alt;
    return rc::gen::mapcat(rc::gen::inRange(0, n), [table, add_flags, alt](int i) {
        const StepKind kind = table[static_cast<size_t>(i)];
        const uint16_t max_pm = is_add(kind) ? 3000 : 2000;
        uint8_t mask = 0;
        if (is_add(kind)) mask = add_flags;
        if (alt && knows_alt(kind)) mask = kAlt;
        /* Hooks are exclusive: one of rearm / remove-self, maybe slow. */
        return rc::gen::build<Step>(
            rc::gen::set(&Step::kind, rc::gen::just(kind)), rc::gen::set(&Step::sock, rc::gen::inRange<uint8_t>(0, 32)),
            rc::gen::set(&Step::size, gen_size(max_pm)),
            rc::gen::set(&Step::flags, rc::gen::map(rc::gen::inRange<int>(0, 256), [mask](int f) {
                uint8_t v = static_cast<uint8_t>(f) & mask;
                if ((v & kRearm) && (v & kRemoveSelf)) v = static_cast<uint8_t>(v & ~kRemoveSelf);
                return v;
            })));
    });
}

} // namespace

rc::Gen<CaseSpec> gen_case(const Profile& p) {
    const Profile prof = p;
    return rc::gen::build<CaseSpec>(
        rc::gen::set(&CaseSpec::socks, rc::gen::mapcat(rc::gen::inRange(1, prof.max_socks + 1),
                                                       [prof](int k) {
                                                           return rc::gen::container<std::vector<SockSpec>>(
                                                               static_cast<size_t>(k), gen_sock(prof));
                                                       })),
        rc::gen::set(&CaseSpec::recv_cap,
                     prof.caps ? rc::gen::weightedOneOf<uint16_t>(
                                     {{3, rc::gen::just<uint16_t>(0)}, {1, rc::gen::inRange<uint16_t>(64, 4097)}})
                               : rc::gen::just<uint16_t>(0)),
        rc::gen::set(&CaseSpec::send_cap,
                     prof.caps ? rc::gen::weightedOneOf<uint16_t>(
                                     {{3, rc::gen::just<uint16_t>(0)}, {1, rc::gen::inRange<uint16_t>(64, 4097)}})
                               : rc::gen::just<uint16_t>(0)),
        rc::gen::set(&CaseSpec::steps, rc::gen::container<std::vector<Step>>(gen_step(prof))));
}

} // namespace pt
