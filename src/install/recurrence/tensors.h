// Tensors of TensorFlow's C API as the binding's additions read and make them: owned, read in
// place, allocated and registered with the backend as JavaScript tensor ids.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "../tfjs_backend.h"
#include "../utils.h"
#include "js_errors.h"

namespace tfnodejs {

struct TensorDeleter {
  void operator()(TF_Tensor *tensor) const { TF_DeleteTensor(tensor); }
};
struct HandleDeleter {
  void operator()(TFE_TensorHandle *handle) const { TFE_DeleteTensorHandle(handle); }
};
using Tensor = std::unique_ptr<TF_Tensor, TensorDeleter>;
using Handle = std::unique_ptr<TFE_TensorHandle, HandleDeleter>;

// A handle's values (float32 unless T names another type), read in place for as long as `keep`
// (which owns the resolved tensor) lives; null if it cannot be resolved.
template <typename T = float>
T *Values(TFE_TensorHandle *handle, std::vector<Tensor> &keep, TF_Status *status) {
  keep.emplace_back(TFE_TensorHandleResolve(handle, status));
  return TF_GetCode(status) == TF_OK ? static_cast<T *>(TF_TensorData(keep.back().get())) : nullptr;
}

// The float32 tensors named by a JavaScript array of tensor ids, read in place.
struct TensorList {
  std::vector<TFE_TensorHandle *> handles;
  std::vector<const float *> values;
  std::vector<int64_t> sizes;
};

// Reads the tensors whose ids `array` holds into `list`, for as long as `keep` lives; false, with a
// JavaScript exception pending, if one is not referenced, not float32 or cannot be read.
inline bool ReadTensorList(TFJSBackend *backend, napi_env env, napi_value array, std::vector<Tensor> &keep, TensorList &list) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return Fail(env, "expected an array of tensor ids");
  TF_AutoStatus status;
  for (uint32_t k = 0; k < length; k++) {
    napi_value id;
    ENSURE_NAPI_OK_RETVAL(env, napi_get_element(env, array, k, &id), false);
    TFE_TensorHandle *handle = backend->HandleOf(env, id);
    if (!handle) return false;
    if (TFE_TensorHandleDataType(handle) != TF_FLOAT) return Fail(env, "expected float32 tensors only");
    list.handles.push_back(handle);
    list.sizes.push_back(TFE_TensorHandleNumElements(handle, status.status));
    list.values.push_back(Values(handle, keep, status.status));
    if (TF_GetCode(status.status) != TF_OK) return Fail(env, "a tensor could not be read: %s", TF_Message(status.status));
  }
  return true;
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
