// AVX2 with FMA (8 lanes; 16 vector registers): the forward block keeps 3 rows × 4 gates of
// accumulators, the backward block 4 rows × 2, leaving registers for the weights and a broadcast.
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
    "avx2", LstmPath<8, 3, 4>::Forward, LstmPath<8, 3, 4>::Backward,
    LstmPath<8, 3, 4>::ScratchFloats,
    GruPath<8, 4>::Forward, GruPath<8, 4>::Backward, GruPath<8, 4>::ScratchFloats,
    RnnPath<8, 4>::Forward, RnnPath<8, 4>::Backward, RnnPath<8, 4>::ScratchFloats, StepPath<8>::Step};
}
