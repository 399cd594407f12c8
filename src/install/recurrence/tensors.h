// Tensors of TensorFlow's C API as the binding's additions read and make them: owned, read in
// place, allocated and registered with the backend as JavaScript tensor ids.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "../tfjs_backend.h"
#include "../utils.h"

namespace tfnodejs {

struct TensorDeleter {
  void operator()(TF_Tensor *tensor) const { TF_DeleteTensor(tensor); }
};
struct HandleDeleter {
  void operator()(TFE_TensorHandle *handle) const { TFE_DeleteTensorHandle(handle); }
};
using Tensor = std::unique_ptr<TF_Tensor, TensorDeleter>;
using Handle = std::unique_ptr<TFE_TensorHandle, HandleDeleter>;

// A handle's float32 values, read in place for as long as `keep` (which owns the resolved tensor) lives.
inline float *Values(TFE_TensorHandle *handle, std::vector<Tensor> &keep, TF_Status *status) {
  keep.emplace_back(TFE_TensorHandleResolve(handle, status));
  return TF_GetCode(status) == TF_OK ? static_cast<float *>(TF_TensorData(keep.back().get())) : nullptr;
}

// A new float32 tensor of these dimensions.
inline Tensor Allocate(const std::vector<int64_t> &dims) {
  int64_t elements = 1;
  for (int64_t dim : dims) elements *= dim;
  return Tensor(TF_AllocateTensor(TF_FLOAT, dims.data(), static_cast<int>(dims.size()), sizeof(float) * elements));
}

inline float *Data(const Tensor &tensor) { return static_cast<float *>(TF_TensorData(tensor.get())); }

// Registers the tensors as new handles, returning their ids as a JavaScript array.
inline napi_value RegisterTensors(TFJSBackend *backend, napi_env env, std::vector<Tensor> &tensors) {
  TF_AutoStatus status;
  std::vector<Handle> handles;
  for (Tensor &tensor : tensors) {
    handles.emplace_back(TFE_NewTensorHandle(tensor.get(), status.status));
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
  }
  std::vector<TFE_TensorHandle *> released;
  for (Handle &handle : handles) released.push_back(handle.release());
  return backend->Register(env, released);
}

}  // namespace tfnodejs
