/* Recommended: several caller threads share one port, each with its own
 * sockets, ops, references and model; every op keeps its exactly-once
 * completion and the reference count stays exact (the port keeps serving
 * until the test's own last dec_ref). */
#include "cpk_catch.h"

#include "harness.h"
#include "pt_driver.h"
#include "pt_gen.h"
#include "pt_runner.h"

TEST_CASE("property: caller threads adding removing and counting references at once", "[property][CPL_ADD_018]") {
    cpk::Guard guard;
    pt::DriverOptions o;
    o.models = 3;
    o.faults = false;
    pt::Driver d(o);
    using pt::StepKind;
    pt::Profile p{{StepKind::AddRecv, 4},   {StepKind::AddSend, 3},  {StepKind::AddWatch, 1},
                  {StepKind::PeerWrite, 4}, {StepKind::PeerRead, 2}, {StepKind::PeerClose, 1},
                  {StepKind::Remove, 2},    {StepKind::IncRef, 2},   {StepKind::DecRef, 2}};
    p.max_socks = 6;
    p.caps = false;
    pt::check_property("caller threads", [&] {
        const auto cases = *rc::gen::container<std::vector<pt::CaseSpec>>(3, rc::gen::resize(40, pt::gen_case(p)));
        d.run_case_threads(cases);
    });
    pt::check_step("release of the shared port", [&] { d.finish(); });
    CPK_GUARD_END(guard);
}
