// rnn-train's addition to tfjs-node's binding for training: a step's whole update in one call
// (update_kernel.h), where the reference (src/train/engine.ts's update) runs a dozen TensorFlow
// ops per step.
//
//   binding.optimizerUpdate({rule, coefficients, params, keep, gradients, shares, slots, maxNorm,
//   clipEpsilon}) → {params, slots, norm}
//     rule 'adam' | 'rmsprop' | 'sgd' and its coefficients (update_kernel.h lists them); params
//     the ids of the parameters' tensors, keep each one's weight-decay factor; gradients the ids
//     of flat gradients [N] (N all the parameters' values, in their order) summed weighted by
//     shares; slots the ids of the rule's flat slots [N]. The summed gradient is clipped to
//     global norm maxNorm, scaled by min(1, maxNorm / (norm + clipEpsilon)). Returns the ids of
//     new tensors for the parameters (in their shapes) and the slots, and the norm before
//     clipping.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend_call.h"
#include "tensors.h"
#include "update_kernel.h"

namespace tfnodejs {

namespace {

bool Property(napi_env env, napi_value object, const char *name, napi_value *value) {
  return napi_get_named_property(env, object, name, value) == napi_ok || Fail(env, "the update request has no %s", name);
}

bool Array(napi_env env, napi_value object, const char *name, napi_value *array, uint32_t *length) {
  return Property(env, object, name, array) &&
         (napi_get_array_length(env, *array, length) == napi_ok || Fail(env, "the update request's %s is not an array", name));
}

bool Numbers(napi_env env, napi_value object, const char *name, std::vector<double> &numbers) {
  napi_value array, element;
  uint32_t length = 0;
  if (!Array(env, object, name, &array, &length)) return false;
  numbers.resize(length);
  for (uint32_t k = 0; k < length; k++) {
    if (napi_get_element(env, array, k, &element) != napi_ok || napi_get_value_double(env, element, &numbers[k]) != napi_ok) {
      return Fail(env, "the update request's %s holds something other than numbers", name);
    }
  }
  return true;
}

bool Number(napi_env env, napi_value object, const char *name, double &number) {
  napi_value value;
  return Property(env, object, name, &value) &&
         (napi_get_value_double(env, value, &number) == napi_ok || Fail(env, "the update request's %s is not a number", name));
}

bool Rule(napi_env env, napi_value object, rnn::UpdateRule &rule) {
  napi_value value;
  char name[16];
  size_t length = 0;
  if (!Property(env, object, "rule", &value)) return false;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &length) != napi_ok) return Fail(env, "the update's rule is not a string");
  if (std::strcmp(name, "adam") == 0) rule = rnn::UpdateRule::kAdam;
  else if (std::strcmp(name, "rmsprop") == 0) rule = rnn::UpdateRule::kRmsProp;
  else if (std::strcmp(name, "sgd") == 0) rule = rnn::UpdateRule::kSgd;
  else return Fail(env, "no update rule is called %s", name);
  return true;
}

// The float32 tensors whose ids the property holds, read in place while `keep` lives.
bool Tensors(TFJSBackend *backend, napi_env env, napi_value object, const char *name, std::vector<Tensor> &keep, TensorList &operands) {
  napi_value array;
  uint32_t length = 0;
  return Array(env, object, name, &array, &length) && ReadTensorList(backend, env, array, keep, operands);
}

std::vector<int64_t> Dims(TFE_TensorHandle *handle) {
  TF_AutoStatus status;
  std::vector<int64_t> dims(TFE_TensorHandleNumDims(handle, status.status));
  for (size_t d = 0; d < dims.size(); d++) dims[d] = TFE_TensorHandleDim(handle, static_cast<int>(d), status.status);
  return dims;
}

// Everything a request names, checked to fit together.
struct Request {
  rnn::UpdateRule rule;
  std::vector<double> coefficients, keep, shares;
  double max_norm = 0, clip_epsilon = 0;
  TensorList params, gradients, slots;
  int64_t total = 0;
};

bool Read(TFJSBackend *backend, napi_env env, napi_value object, std::vector<Tensor> &keep, Request &request) {
  if (!Rule(env, object, request.rule) || !Numbers(env, object, "coefficients", request.coefficients) ||
      !Numbers(env, object, "keep", request.keep) || !Numbers(env, object, "shares", request.shares) ||
      !Number(env, object, "maxNorm", request.max_norm) || !Number(env, object, "clipEpsilon", request.clip_epsilon) ||
      !Tensors(backend, env, object, "params", keep, request.params) || !Tensors(backend, env, object, "gradients", keep, request.gradients) ||
      !Tensors(backend, env, object, "slots", keep, request.slots)) {
    return false;
  }
  const int rule = static_cast<int>(request.rule);
  for (int64_t size : request.params.sizes) request.total += size;
  if (static_cast<int>(request.coefficients.size()) != rnn::kCoefficients[rule] || static_cast<int>(request.slots.values.size()) != rnn::kSlots[rule]) {
    return Fail(env, "the update rule takes %d coefficients and %d slots", rnn::kCoefficients[rule], rnn::kSlots[rule]);
  }
  if (request.keep.size() != request.params.values.size() || request.shares.size() != request.gradients.values.size() || request.gradients.values.empty()) {
    return Fail(env, "the update needs a weight-decay factor per parameter and a share per gradient");
  }
  const auto flat = [&](const TensorList &operands) {
    return std::all_of(operands.sizes.begin(), operands.sizes.end(), [&](int64_t size) { return size == request.total; });
  };
  if (!flat(request.gradients) || !flat(request.slots)) return Fail(env, "the gradients and slots must cover every parameter's values");
  return true;
}

// The weighted sum of the gradients: the first gradient itself when it is alone at share 1. The
// sum's buffer is kept from call to call, as fresh pages cost more than the sum itself.
const float *SumGradients(const Request &request) {
  if (request.gradients.values.size() == 1 && request.shares[0] == 1) return request.gradients.values[0];
  thread_local std::vector<float> sum;
  sum.resize(request.total);
  for (size_t k = 0; k < request.gradients.values.size(); k++) {
    const float share = static_cast<float>(request.shares[k]);
    const float *gradient = request.gradients.values[k];
    // As addN of the shares' products: the first is the sum's start, not added to a zero.
    if (k == 0) for (int64_t i = 0; i < request.total; i++) sum[i] = gradient[i] * share;
    else for (int64_t i = 0; i < request.total; i++) sum[i] += gradient[i] * share;
  }
  return sum.data();
}

napi_value Reply(TFJSBackend *backend, napi_env env, std::vector<Tensor> &params, std::vector<Tensor> &slots, double norm) {
  napi_value reply, param_ids, slot_ids, norm_value;
  if (!(param_ids = RegisterTensors(backend, env, params)) || !(slot_ids = RegisterTensors(backend, env, slots))) return nullptr;
  ENSURE_NAPI_OK_RETVAL(env, napi_create_object(env, &reply), nullptr);
  ENSURE_NAPI_OK_RETVAL(env, napi_create_double(env, norm, &norm_value), nullptr);
  ENSURE_NAPI_OK_RETVAL(env, napi_set_named_property(env, reply, "params", param_ids), nullptr);
  ENSURE_NAPI_OK_RETVAL(env, napi_set_named_property(env, reply, "slots", slot_ids), nullptr);
  ENSURE_NAPI_OK_RETVAL(env, napi_set_named_property(env, reply, "norm", norm_value), nullptr);
  return reply;
}

}  // namespace

napi_value TFJSBackend::OptimizerUpdate(napi_env env, napi_value request_value) {
  std::vector<Tensor> keep;
  Request request;
  if (!Read(this, env, request_value, keep, request)) return nullptr;
  const float *gradient = SumGradients(request);
  // As clipByGlobalNorm's float32 ops: the norm, then min(1, maxNorm / (norm + ε)).
  const float norm = static_cast<float>(std::sqrt(rnn::SumOfSquares(gradient, request.total)));
  const float scale = std::min(1.0f, static_cast<float>(request.max_norm) / (norm + static_cast<float>(request.clip_epsilon)));
  std::vector<float> coefficients(request.coefficients.begin(), request.coefficients.end());
  std::vector<Tensor> params, slots;
  for (size_t s = 0; s < request.slots.values.size(); s++) slots.push_back(Allocate({request.total}));
  int64_t offset = 0;
  for (size_t p = 0; p < request.params.values.size(); p++) {
    params.push_back(Allocate(Dims(request.params.handles[p])));
    rnn::ParameterUpdate update{request.params.sizes[p], static_cast<float>(request.keep[p]), scale, request.params.values[p], gradient + offset, {}, Data(params.back()), {}};
    for (size_t s = 0; s < slots.size(); s++) {
      update.slot[s] = request.slots.values[s] + offset;
      update.slot_out[s] = Data(slots[s]) + offset;
    }
    rnn::Update(request.rule, update, coefficients.data());
    offset += request.params.sizes[p];
  }
  return Reply(this, env, params, slots, norm);
}

// binding.optimizerUpdate(request), as the comment at the top of this file describes it.
napi_value OptimizerUpdateCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::OptimizerUpdate); }

}  // namespace tfnodejs
