/* Normative properties on one shared port (a literal implementation pays its
 * 2 s final dec_ref once per property): generated sequences of adds, peer
 * actions and removes over 1..24 socket pairs, checked by the model
 * (pt_model.h). Each property draws a different mix of steps. */
#include "cpk_catch.h"

#include "pt_driver.h"

namespace {

using pt::StepKind;

/* Recv and hang-up ops against a peer that writes, shuts down and closes. */
const pt::Profile kRecv{{StepKind::AddRecv, 8},   {StepKind::AddWatch, 2}, {StepKind::AddSend, 1},
                        {StepKind::PeerWrite, 8}, {StepKind::PeerRead, 1}, {StepKind::PeerShutdown, 1},
                        {StepKind::PeerClose, 1}, {StepKind::Remove, 1}};

/* Send ops against a peer that reads, lingers, closes and resets. */
const pt::Profile kSend{{StepKind::AddSend, 8},   {StepKind::PeerRead, 4},  {StepKind::AddRecv, 1},
                        {StepKind::AddWatch, 1},  {StepKind::PeerWrite, 1}, {StepKind::PeerShutdown, 1},
                        {StepKind::PeerClose, 2}, {StepKind::Remove, 1}};

/* Everything, with removes, references and worker wake-ups. */
const pt::Profile kMixed{{StepKind::AddRecv, 5},   {StepKind::AddSend, 4},     {StepKind::AddWatch, 2},
                         {StepKind::PeerWrite, 5}, {StepKind::PeerRead, 2},    {StepKind::PeerShutdown, 1},
                         {StepKind::PeerClose, 1}, {StepKind::Remove, 3},      {StepKind::IncRef, 2},
                         {StepKind::DecRef, 2},    {StepKind::SpuriousWake, 2}};

/* Normative: no recommended feature is asked of the port. */
void run_shared(const char* name, const pt::Profile& profile) {
    pt::check_driven_property(name, pt::DriverOptions(), profile);
}

} // namespace

TEST_CASE("property: recv ops complete once with exactly the next bytes the peer sent",
          "[property][CPL_ABI_002][CPL_ABI_003][CPL_ADD_010][CPL_WORKER_005][CPL_RECV_001][CPL_RECV_002][CPL_RECV_003]"
          "[CPL_RECV_004][CPL_RECV_005][CPL_RECV_006][CPL_RECV_007][CPL_RDHUP_001][CPL_RDHUP_002][CPL_RDHUP_003]") {
    run_shared("recv streams", kRecv);
}

TEST_CASE("property: send ops move their whole buffer in order or report why they could not",
          "[property][CPL_ADD_010][CPL_SEND_001][CPL_SEND_002][CPL_SEND_003][CPL_SEND_004][CPL_SEND_005]"
          "[CPL_RDHUP_001]") {
    run_shared("send streams", kSend);
}

TEST_CASE("property: removes references and spurious wake-ups keep a shared port serving each op once",
          "[property][CPL_ADD_005][CPL_ADD_006][CPL_ADD_007][CPL_ADD_009][CPL_REMOVE_003][CPL_REMOVE_004]"
          "[CPL_INCREF_002][CPL_DECREF_001][CPL_WORKER_002][CPL_WORKER_003][CPL_WORKER_004][CPL_CREATE_003]"
          "[CPL_DECREF_006]") {
    run_shared("mixed", kMixed);
}
