// rnn-train's addition to tfjs-node's binding for data-parallel training: tensors' values copied
// into a Float32Array the caller keeps. Data-parallel replicas exchange the weights and gradients
// through SharedArrayBuffers (src/train/data-parallel.ts); reading them through tfjs instead
// makes a new ArrayBuffer of megabytes every step, and that external memory set V8's full
// garbage collection off every few steps.
//
//   binding.copyTensors(ids, out)  the float32 tensors whose ids the array holds, one after
//     another, into `out` (a Float32Array of exactly as many values).

#include <cstring>
#include <vector>

#include "backend_call.h"
#include "js_arrays.h"
#include "tensors.h"

namespace tfnodejs {

napi_value TFJSBackend::CopyTensors(napi_env env, napi_value ids_value, napi_value out_value) {
  std::vector<Tensor> keep;
  TensorList tensors;
  if (!ReadTensorList(this, env, ids_value, keep, tensors)) return nullptr;
  size_t length = 0;
  float *out = TypedData<float>(env, out_value, napi_float32_array, &length);
  if (!out) return nullptr;
  int64_t total = 0;
  for (int64_t size : tensors.sizes) total += size;
  if (total != static_cast<int64_t>(length)) {
    return Throw(env, "the tensors hold %lld values, and the array to copy them into %zu", static_cast<long long>(total), length);
  }
  for (size_t k = 0; k < tensors.values.size(); out += tensors.sizes[k], k++) std::memcpy(out, tensors.values[k], sizeof(float) * tensors.sizes[k]);
  napi_value undefined;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_undefined(env, &undefined), nullptr);
  return undefined;
}

// binding.copyTensors(ids, out), as the comment at the top of this file describes it.
napi_value CopyTensorsCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::CopyTensors); }

}  // namespace tfnodejs
