// Throwing a JavaScript error from the bindings' additions, in the two forms their helpers return.
#pragma once

#include <node_api.h>

#include <string>  // utils.h uses std::string without including it

#include "../utils.h"

namespace tfnodejs {

// Throws a JavaScript error; returns null for the callback to return.
template <typename... Args>
napi_value Throw(napi_env env, const char *message, Args... args) {
  NapiThrowError(env, __FILE__, __LINE__, message, args...);
  return nullptr;
}

// Throws a JavaScript error; returns false for a helper that says so to its caller.
template <typename... Args>
bool Fail(napi_env env, const char *message, Args... args) {
  Throw(env, message, args...);
  return false;
}

}  // namespace tfnodejs
