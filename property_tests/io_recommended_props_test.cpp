/* Recommended properties about I/O: full duplex, exact amounts on failure,
 * suspended sends, blocking sockets, EINTR, adds and removes from callbacks.
 * Each runs on one shared port; what happens to ops pending at a remove is
 * not demanded here (closing_props_test.cpp does). */
#include "cpk_catch.h"

#include "pt_driver.h"

using pt::StepKind;

/* A recv and a send pending on one socket both complete; failures report the
 * bytes moved before them (0 for a hang-up or a closing completion). */
TEST_CASE("property: a recv and a send pending on one socket both complete with exact amounts",
          "[property][CPL_ADD_016][CPL_EVENT_002]") {
    pt::DriverOptions o;
    o.feat.full_duplex = true;
    o.feat.exact_failure_amounts = true;
    pt::Profile p{{StepKind::AddRecv, 5},  {StepKind::AddSend, 5},      {StepKind::PeerWrite, 5},
                  {StepKind::PeerRead, 3}, {StepKind::PeerShutdown, 1}, {StepKind::PeerClose, 1},
                  {StepKind::Remove, 1}};
    pt::check_driven_property("full duplex", o, p);
}

/* Lazy peers take sends of any size: a send waits on a full buffer while the
 * other sockets are served, and completes whole once the peer reads. Port-side
 * sockets may be blocking: a recv never blocks the worker. */
TEST_CASE("property: a full send buffer suspends the send and blocking sockets never block the worker",
          "[property][CPL_SEND_006][CPL_RECV_010]") {
    pt::DriverOptions o;
    o.feat.suspend = true;
    pt::Profile p{{StepKind::AddSend, 6},  {StepKind::AddRecv, 4},   {StepKind::PeerWrite, 4},
                  {StepKind::PeerRead, 4}, {StepKind::PeerClose, 1}, {StepKind::Remove, 1}};
    p.blocking = true;
    pt::check_driven_property("suspended sends", o, p);
}

/* The worker's recv and send fail now and then with EINTR. */
TEST_CASE("property: EINTR from a recv or send of the worker is retried", "[property][CPL_RECV_009][CPL_SEND_007]") {
    pt::DriverOptions o;
    o.feat.eintr = true;
    pt::Profile p{{StepKind::AddRecv, 4},
                  {StepKind::AddSend, 4},
                  {StepKind::PeerWrite, 4},
                  {StepKind::PeerRead, 2},
                  {StepKind::Interrupt, 4}};
    p.caps = false; /* a cap fault would shadow the EINTR one */
    pt::check_driven_property("EINTR", o, p);
}

/* Callbacks add the next op on their socket (chains of 1-2), remove their own
 * socket, or take a millisecond. */
TEST_CASE("property: callbacks add the next op and remove their own socket", "[property][CPL_ADD_017][CPL_RECV_011]") {
    pt::DriverOptions o;
    o.feat.hooks = true;
    pt::Profile p{{StepKind::AddRecv, 4},   {StepKind::AddSend, 3},  {StepKind::AddWatch, 1},
                  {StepKind::PeerWrite, 5}, {StepKind::PeerRead, 2}, {StepKind::PeerShutdown, 1},
                  {StepKind::Remove, 1}};
    p.add_flags = pt::kOneshot | pt::kRdhup | pt::kRearm | pt::kRemoveSelf | pt::kSlow;
    pt::check_driven_property("callbacks", o, p);
}
