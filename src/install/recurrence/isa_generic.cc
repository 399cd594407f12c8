// The baseline x86-64 path (SSE2, 4 lanes): any CPU, and the check that the vector code is right
// without the wider paths' instructions.
#include "gru_kernel.h"
#include "lstm_kernel.h"
#include "rnn_kernel.h"
#include "step_kernel.h"

namespace rnn {
extern const LstmKernels kGenericKernels = {
    "generic", LstmPath<4, 4, 4>::Forward, LstmPath<4, 4, 4>::Backward,
    LstmPath<4, 4, 4>::ScratchFloats,
    GruPath<4, 4>::Forward, GruPath<4, 4>::Backward, GruPath<4, 4>::ScratchFloats,
    RnnPath<4, 4>::Forward, RnnPath<4, 4>::Backward, RnnPath<4, 4>::ScratchFloats, StepPath<4>::Step,
    StepPath<4>::InputTable};
}
