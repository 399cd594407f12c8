// rnn-train's helper addon: loads a shared library with standard error pointed at /dev/null while
// the library's static initialisers run. libtensorflow logs two or three lines from those
// initialisers (absl's "All log messages before absl::InitializeLog()", oneDNN's "custom operations
// are on", the CPU feature guard), before any environment variable can be read to silence them.
// Loading tfjs-node's addon through loadQuietly first runs them silently; Node's own load of the
// same file afterwards finds it loaded. Standard error is restored before loadQuietly returns, so
// everything TensorFlow says after loading reaches the user.
#include <dlfcn.h>
#include <fcntl.h>
#include <node_api.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace {

napi_value LoadQuietly(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1) {
    napi_throw_type_error(env, nullptr, "loadQuietly(path) takes the path of a shared library");
    return nullptr;
  }
  size_t length = 0;
  napi_get_value_string_utf8(env, argv[0], nullptr, 0, &length);
  std::string path(length, '\0');
  napi_get_value_string_utf8(env, argv[0], path.data(), length + 1, &length);

  // Already loaded (by another worker thread, say): nothing runs, and standard error stays as it
  // is, so that no other thread's writes to it are lost.
  if (void *loaded = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
    dlclose(loaded);
    napi_get_undefined(env, &result);
    return result;
  }

  fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved >= 0 && null >= 0) dup2(null, STDERR_FILENO);
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  const char *error = handle == nullptr ? dlerror() : nullptr;
  fflush(stderr);
  if (saved >= 0) {
    dup2(saved, STDERR_FILENO);
    close(saved);
  }
  if (null >= 0) close(null);

  // undefined when loaded, else dlopen's reason.
  if (error == nullptr) {
    napi_get_undefined(env, &result);
  } else {
    napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &result);
  }
  return result;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value function;
  napi_create_function(env, "loadQuietly", NAPI_AUTO_LENGTH, LoadQuietly, nullptr, &function);
  napi_set_named_property(env, exports, "loadQuietly", function);
  return exports;
}
