// Reading JavaScript typed arrays in place in the bindings' additions.
#pragma once

#include <node_api.h>

#include <cstddef>

#include "js_errors.h"

namespace tfnodejs {

// A typed array's elements, or null (with a JavaScript exception pending) if `value` is not one of `type`.
template <typename T>
T *TypedData(napi_env env, napi_value value, napi_typedarray_type type, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type actual;
  void *data = nullptr;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &actual, length, &data, nullptr, nullptr) != napi_ok || actual != type) {
    const char *name = type == napi_float32_array   ? "Float32Array"
                       : type == napi_float64_array ? "Float64Array"
                       : type == napi_uint32_array  ? "Uint32Array"
                                                    : "Int32Array";
    Throw(env, "expected a %s", name);
    return nullptr;
  }
  return static_cast<T *>(data);
}

}  // namespace tfnodejs
