// AVX2 with FMA (8 lanes; 16 vector registers): the forward block keeps 3 rows × 4 gates of
// accumulators, the backward block 6 rows × 2, leaving registers for the weights and a broadcast.
// Backward, 6 rows beat 4 by 10–20 % on one thread of a Zen 5 limited to AVX2 (2×256 at 24
// streams 85–94 against 77–82 GFLOP/s, 2×512 at 64 96 against 80, 2×128 at 25 81–88 against
// 72–74); 5 rows fell between, 7 spill (53–59). Forward, 2 or 4 rows lost to 3 (46–58 against 71–77).
// Everything from outside these paths is included before the target pragma, so that only
// their own code is compiled for it.
#include <cstdint>
#include <cstring>

#include "recurrence.h"
#include "team.h"

#pragma GCC target("avx2,fma")
#include "gru_kernel.h"
#include "lstm_kernel.h"
#include "rnn_kernel.h"
#include "step_kernel.h"

namespace rnn {
extern const LstmKernels kAvx2Kernels = {
    "avx2", LstmPath<8, 3, 6>::Forward, LstmPath<8, 3, 6>::Backward,
    LstmPath<8, 3, 6>::ScratchFloats,
    GruPath<8, 4>::Forward, GruPath<8, 4>::Backward, GruPath<8, 4>::ScratchFloats,
    RnnPath<8, 4>::Forward, RnnPath<8, 4>::Backward, RnnPath<8, 4>::ScratchFloats, StepPath<8>::Step};
}
