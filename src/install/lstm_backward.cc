// rnn-train's addition to tfjs-node's binding (see BINDING_FIXES in native-tensorflow.mjs, which
// copies this file into binding/ and declares LstmBackward on TFJSBackend): an LSTM layer's
// backpropagation through one chunk in a single call. From JavaScript the recurrence cost one
// op call per element-wise step and one per product, each with its own dispatch, handle
// bookkeeping and (for LSTMBlockCellGrad) its own output tensors, about twice the arithmetic for
// a 2×128 model. Here the gate gradients are a plain loop over the forward pass's buffers, read in
// place, written straight into the chunk's [T·B, 4H] gradient, and the only op per step is the
// recurrent product dh = dGates·Uᵀ.

#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "tfjs_backend.h"
#include "utils.h"

namespace tfnodejs {

namespace {

struct TensorDeleter {
  void operator()(TF_Tensor *tensor) const { TF_DeleteTensor(tensor); }
};
struct HandleDeleter {
  void operator()(TFE_TensorHandle *handle) const { TFE_DeleteTensorHandle(handle); }
};
struct OpDeleter {
  void operator()(TFE_Op *op) const { TFE_DeleteOp(op); }
};
using Tensor = std::unique_ptr<TF_Tensor, TensorDeleter>;
using Handle = std::unique_ptr<TFE_TensorHandle, HandleDeleter>;
using Op = std::unique_ptr<TFE_Op, OpDeleter>;

// The gradient's rows are views into its buffer, which outlives them: nothing to free.
void KeepBuffer(void *, size_t, void *) {}

// Runs a one-output op; null (with `status` set) on failure.
Handle RunOp(TFE_Context *context, const char *name, std::initializer_list<TFE_TensorHandle *> inputs,
             const std::function<void(TFE_Op *)> &set_attrs, TF_Status *status) {
  Op op(TFE_NewOp(context, name, status));
  if (TF_GetCode(status) != TF_OK) return nullptr;
  for (TFE_TensorHandle *input : inputs) {
    TFE_OpAddInput(op.get(), input, status);
    if (TF_GetCode(status) != TF_OK) return nullptr;
  }
  set_attrs(op.get());
  TFE_TensorHandle *output = nullptr;
  int count = 1;
  TFE_Execute(op.get(), &output, &count, status);
  return Handle(TF_GetCode(status) == TF_OK ? output : nullptr);
}

Handle Cast(TFE_Context *context, TFE_TensorHandle *input, TF_DataType from, TF_DataType to, TF_Status *status) {
  return RunOp(context, "Cast", {input}, [&](TFE_Op *op) {
    TFE_OpSetAttrType(op, "SrcT", from);
    TFE_OpSetAttrType(op, "DstT", to);
    TFE_OpSetAttrBool(op, "Truncate", 0);
  }, status);
}

}  // namespace

// Arguments: gates, six arrays of tensor ids (i, c, f, o, g, tanh(c) of the forward pass, each a
// run of time steps [S, B, H] or [B, H], together covering the chunk's T steps in order); the
// chunk's initial cell state [B, H]; the loss's gradient with respect to the layer's outputs
// [T·B, H]; and the transposed recurrent kernel [4H, H], gates in i,f,c,o order, float32 or
// bfloat16 (then each step's product takes bfloat16 operands). Returns the id of a new float32
// tensor [T·B, 4H]: the gradient with respect to the gates' pre-activations, i,f,c,o order.
napi_value TFJSBackend::LstmBackward(napi_env env, napi_value gates_value, napi_value c_initial_value,
                                     napi_value d_output_value, napi_value recurrent_value) {
  TF_AutoStatus status;
  auto handle_of = [&](napi_value id_value) -> TFE_TensorHandle * {
    int32_t id;
    if (!EnsureNapiOK(env, napi_get_value_int32(env, id_value, &id), __FILE__, __LINE__)) return nullptr;
    auto entry = tfe_handle_map_.find(id);
    if (entry == tfe_handle_map_.end()) {
      NAPI_THROW_ERROR(env, "lstmBackward: tensor %d is not referenced", id);
      return nullptr;
    }
    return entry->second;
  };
  std::vector<Tensor> resolved;
  auto data_of = [&](TFE_TensorHandle *handle) -> float * {
    resolved.emplace_back(TFE_TensorHandleResolve(handle, status.status));
    return TF_GetCode(status.status) == TF_OK ? static_cast<float *>(TF_TensorData(resolved.back().get())) : nullptr;
  };

  TFE_TensorHandle *c_initial = handle_of(c_initial_value);
  TFE_TensorHandle *d_output = handle_of(d_output_value);
  TFE_TensorHandle *recurrent = handle_of(recurrent_value);
  if (!c_initial || !d_output || !recurrent) return nullptr;
  const int64_t batch = TFE_TensorHandleDim(c_initial, 0, status.status);
  const int64_t hidden = TFE_TensorHandleDim(c_initial, 1, status.status);
  const int64_t steps = TFE_TensorHandleNumElements(d_output, status.status) / (batch * hidden);
  const TF_DataType product_type = TFE_TensorHandleDataType(recurrent);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  const int64_t state = batch * hidden;

  // Per gate, a pointer to each time step's [B, H] values.
  std::vector<float *> gate[6];
  for (uint32_t k = 0; k < 6; k++) {
    napi_value ids;
    uint32_t runs;
    ENSURE_NAPI_OK_RETVAL(env, napi_get_element(env, gates_value, k, &ids), nullptr);
    ENSURE_NAPI_OK_RETVAL(env, napi_get_array_length(env, ids, &runs), nullptr);
    for (uint32_t r = 0; r < runs; r++) {
      napi_value id;
      ENSURE_NAPI_OK_RETVAL(env, napi_get_element(env, ids, r, &id), nullptr);
      TFE_TensorHandle *handle = handle_of(id);
      if (!handle) return nullptr;
      const int64_t run_steps = TFE_TensorHandleNumElements(handle, status.status) / state;
      float *data = data_of(handle);
      ENSURE_TF_OK_RETVAL(env, status, nullptr);
      for (int64_t s = 0; s < run_steps; s++) gate[k].push_back(data + s * state);
    }
    if (static_cast<int64_t>(gate[k].size()) != steps) {
      NAPI_THROW_ERROR(env, "lstmBackward: gate %u covers %zu steps, the output gradient %lld", k, gate[k].size(),
                       static_cast<long long>(steps));
      return nullptr;
    }
  }
  const float *c_before = data_of(c_initial);
  const float *d_out = data_of(d_output);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);

  const int64_t dims[2] = {steps * batch, 4 * hidden};
  Tensor d_gates(TF_AllocateTensor(TF_FLOAT, dims, 2, sizeof(float) * dims[0] * dims[1]));
  float *d_gates_data = static_cast<float *>(TF_TensorData(d_gates.get()));
  std::vector<float> dh(state, 0.0f), dc(state, 0.0f);
  const int64_t row_dims[2] = {batch, 4 * hidden};
  const size_t row_bytes = sizeof(float) * batch * 4 * hidden;

  for (int64_t t = steps - 1; t >= 0; t--) {
    const float *i = gate[0][t], *c_prev = t > 0 ? gate[1][t - 1] : c_before, *f = gate[2][t], *o = gate[3][t],
                *g = gate[4][t], *tanh_c = gate[5][t], *d_h_out = d_out + t * state;
    float *d_t = d_gates_data + t * batch * 4 * hidden;
    for (int64_t b = 0; b < batch; b++) {
      float *row = d_t + b * 4 * hidden;
      for (int64_t j = 0; j < hidden; j++) {
        const int64_t k = b * hidden + j;
        const float d_h = d_h_out[k] + dh[k];
        const float d_c = d_h * o[k] * (1.0f - tanh_c[k] * tanh_c[k]) + dc[k];
        row[j] = d_c * g[k] * i[k] * (1.0f - i[k]);
        row[hidden + j] = d_c * c_prev[k] * f[k] * (1.0f - f[k]);
        row[2 * hidden + j] = d_c * i[k] * (1.0f - g[k] * g[k]);
        row[3 * hidden + j] = d_h * tanh_c[k] * o[k] * (1.0f - o[k]);
        dc[k] = d_c * f[k];
      }
    }
    if (t == 0) break;
    // dh for the step before: this step's gate gradient times Uᵀ, through TensorFlow's MatMul.
    Tensor row_view(TF_NewTensor(TF_FLOAT, row_dims, 2, d_t, row_bytes, KeepBuffer, nullptr));
    Handle rows(TFE_NewTensorHandle(row_view.get(), status.status));
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Handle operand = product_type == TF_FLOAT ? nullptr : Cast(tfe_context_, rows.get(), TF_FLOAT, product_type, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Handle product = RunOp(tfe_context_, "MatMul", {operand ? operand.get() : rows.get(), recurrent},
                           [&](TFE_Op *op) { TFE_OpSetAttrType(op, "T", product_type); }, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    if (product_type != TF_FLOAT) product = Cast(tfe_context_, product.get(), product_type, TF_FLOAT, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Tensor product_values(TFE_TensorHandleResolve(product.get(), status.status));
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    std::memcpy(dh.data(), TF_TensorData(product_values.get()), sizeof(float) * state);
  }

  Handle result(TFE_NewTensorHandle(d_gates.get(), status.status));
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  napi_value id;
  ENSURE_NAPI_OK_RETVAL(env, napi_create_int32(env, InsertHandle(result.release()), &id), nullptr);
  return id;
}

// The JavaScript entry point, binding.lstmBackward(gates, cInitial, dOutput, recurrentT).
napi_value LstmBackwardCallback(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < 4) {
    NAPI_THROW_ERROR(env, "lstmBackward takes 4 arguments, not %zu", argc);
    return nullptr;
  }
  ENSURE_VALUE_IS_ARRAY_RETVAL(env, args[0], nullptr);
  TFJSBackend *backend = nullptr;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_instance_data(env, reinterpret_cast<void **>(&backend)), nullptr);
  ENSURE_VALUE_IS_NOT_NULL_RETVAL(env, backend, nullptr);
  return backend->LstmBackward(env, args[0], args[1], args[2], args[3]);
}

}  // namespace tfnodejs
