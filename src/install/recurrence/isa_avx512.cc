// AVX-512 (16 lanes; 32 vector registers): 6 rows × 4 gates of accumulators forward, 6 × 2
// backward.
// Everything from outside these paths is included before the target pragma, so that only
// their own code is compiled for it.
#include <cstdint>
#include <cstring>

#include "recurrence.h"
#include "team.h"

#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#include "gru_kernel.h"
#include "lstm_kernel.h"
#include "rnn_kernel.h"
#include "step_kernel.h"

namespace rnn {
extern const LstmKernels kAvx512Kernels = {
    "avx512", LstmPath<16, 6, 6>::Forward, LstmPath<16, 6, 6>::Backward,
    LstmPath<16, 6, 6>::ScratchFloats,
    GruPath<16, 6>::Forward, GruPath<16, 6>::Backward, GruPath<16, 6>::ScratchFloats,
    RnnPath<16, 6>::Forward, RnnPath<16, 6>::Backward, RnnPath<16, 6>::ScratchFloats, StepPath<16>::Step,
    StepPath<16>::InputTable};
}
