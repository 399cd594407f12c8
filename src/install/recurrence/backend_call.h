// JavaScript callbacks of the binding's additions that hand their arguments to a method of the
// backend (TFJSBackend), as many as the method takes.
#pragma once

#include <cstddef>
#include <utility>

#include "../tfjs_backend.h"
#include "js_errors.h"

namespace tfnodejs {

template <typename... Values, size_t... Index>
napi_value Apply(TFJSBackend *backend, napi_value (TFJSBackend::*method)(napi_env, Values...), napi_env env, napi_value *args,
                 std::index_sequence<Index...>) {
  return (backend->*method)(env, args[Index]...);
}

// Calls `method` on the backend with the callback's arguments; throws if there are too few.
template <typename... Values>
napi_value Call(napi_env env, napi_callback_info info, napi_value (TFJSBackend::*method)(napi_env, Values...)) {
  constexpr size_t expected = sizeof...(Values);
  size_t argc = expected;
  napi_value args[expected];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < expected) return Throw(env, "expected %zu arguments, not %zu", expected, argc);
  TFJSBackend *backend = nullptr;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_instance_data(env, reinterpret_cast<void **>(&backend)), nullptr);
  ENSURE_VALUE_IS_NOT_NULL_RETVAL(env, backend, nullptr);
  return Apply(backend, method, env, args, std::index_sequence_for<Values...>{});
}

}  // namespace tfnodejs
