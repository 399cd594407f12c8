// AVX2 with FMA (8 lanes; 16 vector registers): the forward block keeps 6 rows × 2 gates of
// accumulators and passes over k twice (gates i, f, then g, o), the backward block 6 rows × 2,
// leaving registers for two weight vectors and a broadcast. One thread of a Zen 5 limited to
// AVX2, forward: 6 × 2 in two passes 85–88 GFLOP/s against 71–77 for 3 rows × 4 gates in one
// pass (2×256 at 24 and 48 streams, 2×512 at 64), 72 against 64 at 2×128; 3 × 4 needs 15 loads
// for its 12 FMAs a k, 6 × 2 eight. Backward, 6 rows beat 4 by 10–20 % (85–94 against 77–82
// GFLOP/s); 7 spill.
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
    "avx2", LstmPath<8, 6, 6, Float32Products<8, 2>>::Forward, LstmPath<8, 6, 6, Float32Products<8, 2>>::Backward,
    LstmPath<8, 6, 6, Float32Products<8, 2>>::ScratchFloats,
    GruPath<8, 4>::Forward, GruPath<8, 4>::Backward, GruPath<8, 4>::ScratchFloats,
    RnnPath<8, 4>::Forward, RnnPath<8, 4>::Backward, RnnPath<8, 4>::ScratchFloats, StepPath<8>::Step,
    StepPath<8>::InputTable};
}
