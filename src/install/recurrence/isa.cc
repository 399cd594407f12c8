// Which paths this CPU can run. The choice among them is model/policy.ts's (it knows
// RNN_TRAIN_ISA and why the widest is the default); this only says what exists.
#include <cstring>

#include "recurrence.h"

namespace rnn {

extern const LstmKernels kGenericKernels, kAvx2Kernels, kAvx512Kernels, kAvx512Bf16Kernels;

std::vector<const LstmKernels *> SupportedKernels() {
  // libgcc's checks include the operating system's support (XCR0) for the wider registers.
  __builtin_cpu_init();
  std::vector<const LstmKernels *> kernels{&kGenericKernels};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) kernels.push_back(&kAvx2Kernels);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw")) {
    kernels.push_back(&kAvx512Kernels);
    if (__builtin_cpu_supports("avx512bf16")) kernels.push_back(&kAvx512Bf16Kernels);
  }
  return kernels;
}

const LstmKernels *FindKernels(const char *isa) {
  for (const LstmKernels *kernels : SupportedKernels()) {
    if (std::strcmp(kernels->isa, isa) == 0) return kernels;
  }
  return nullptr;
}

}  // namespace rnn
