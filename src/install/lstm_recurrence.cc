// rnn-train's addition to tfjs-node's binding (src/native/addon-build.ts copies this file into
// binding/, and the native-lstm-recurrence patch declares LstmForward and LstmBackward on TFJSBackend): an
// LSTM layer's recurrence over one chunk, forward or backward, in a single call. From JavaScript
// the recurrence cost a dozen op calls per time step, each with its own dispatch, handle
// bookkeeping and output tensors, about as much time as the arithmetic for a 2×128 model. Here
// the element-wise work is a plain loop over buffers read in place and written straight into the
// chunk's outputs, and TensorFlow runs only what needs its kernels: the recurrent product per
// step (in bfloat16 when the weights come in bfloat16) and, forward, the gates' non-linearities.

#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
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

// Views are into buffers that outlive them: nothing to free.
void KeepBuffer(void *, size_t, void *) {}

// A float32 [rows, columns] handle on `data`, which must outlive it; null (with `status` set) on failure.
Handle View(float *data, int64_t rows, int64_t columns, TF_Status *status) {
  const int64_t dims[2] = {rows, columns};
  Tensor view(TF_NewTensor(TF_FLOAT, dims, 2, data, sizeof(float) * rows * columns, KeepBuffer, nullptr));
  return Handle(TFE_NewTensorHandle(view.get(), status));
}

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

// A float32 op of one input, such as Sigmoid or Tanh.
Handle Elementwise(TFE_Context *context, const char *name, TFE_TensorHandle *input, TF_Status *status) {
  return RunOp(context, name, {input}, [](TFE_Op *op) { TFE_OpSetAttrType(op, "T", TF_FLOAT); }, status);
}

// rows·matrix in float32, or with bfloat16 operands (float32 accumulation) when `matrix` is bfloat16.
Handle Product(TFE_Context *context, TFE_TensorHandle *rows, TFE_TensorHandle *matrix, TF_Status *status) {
  const TF_DataType type = TFE_TensorHandleDataType(matrix);
  Handle operand = type == TF_FLOAT ? nullptr : Cast(context, rows, TF_FLOAT, type, status);
  if (TF_GetCode(status) != TF_OK) return nullptr;
  Handle product = RunOp(context, "MatMul", {operand ? operand.get() : rows, matrix},
                         [&](TFE_Op *op) { TFE_OpSetAttrType(op, "T", type); }, status);
  if (type == TF_FLOAT || TF_GetCode(status) != TF_OK) return product;
  return Cast(context, product.get(), type, TF_FLOAT, status);
}

// A handle's float32 values, read in place for as long as `keep` (which owns the resolved tensor) lives.
float *Values(TFE_TensorHandle *handle, std::vector<Tensor> &keep, TF_Status *status) {
  keep.emplace_back(TFE_TensorHandleResolve(handle, status));
  return TF_GetCode(status) == TF_OK ? static_cast<float *>(TF_TensorData(keep.back().get())) : nullptr;
}

// A new float32 tensor [rows, columns].
Tensor Allocate(int64_t rows, int64_t columns) {
  const int64_t dims[2] = {rows, columns};
  return Tensor(TF_AllocateTensor(TF_FLOAT, dims, 2, sizeof(float) * rows * columns));
}

float *Data(const Tensor &tensor) { return static_cast<float *>(TF_TensorData(tensor.get())); }

// B and H from a state [B, H], and T from a chunk tensor [T·B, blocks·H].
std::tuple<int64_t, int64_t, int64_t> ChunkShape(TFE_TensorHandle *state, TFE_TensorHandle *chunk, int64_t blocks, TF_Status *status) {
  const int64_t batch = TFE_TensorHandleDim(state, 0, status), hidden = TFE_TensorHandleDim(state, 1, status);
  return {batch, hidden, TFE_TensorHandleNumElements(chunk, status) / (batch * blocks * hidden)};
}

}  // namespace

// Looks up each (id, where to put its handle); false, with a JavaScript exception pending, if one is not referenced.
bool TFJSBackend::HandlesOf(napi_env env, std::initializer_list<std::pair<napi_value, TFE_TensorHandle **>> wanted) {
  for (const auto &[id, handle] : wanted) {
    *handle = HandleOf(env, id);
    if (!*handle) return false;
  }
  return true;
}

// The handle a JavaScript tensor id refers to; null, with a JavaScript exception pending, if none.
TFE_TensorHandle *TFJSBackend::HandleOf(napi_env env, napi_value id_value) {
  int32_t id;
  if (!EnsureNapiOK(env, napi_get_value_int32(env, id_value, &id), __FILE__, __LINE__)) return nullptr;
  auto entry = tfe_handle_map_.find(id);
  if (entry == tfe_handle_map_.end()) {
    NAPI_THROW_ERROR(env, "tensor %d is not referenced", id);
    return nullptr;
  }
  return entry->second;
}

// Registers new handles, taking them over, and returns their ids as a JavaScript array.
napi_value TFJSBackend::Register(napi_env env, const std::vector<TFE_TensorHandle *> &handles) {
  napi_value ids;
  ENSURE_NAPI_OK_RETVAL(env, napi_create_array_with_length(env, handles.size(), &ids), nullptr);
  for (uint32_t k = 0; k < handles.size(); k++) {
    napi_value id;
    ENSURE_NAPI_OK_RETVAL(env, napi_create_int32(env, InsertHandle(handles[k]), &id), nullptr);
    ENSURE_NAPI_OK_RETVAL(env, napi_set_element(env, ids, k, id), nullptr);
  }
  return ids;
}

// Arguments (tensor ids): the chunk's input projections x·W + b [T·B, 4H], gates in i,f,c,o order;
// the initial h and c [B, H]; the recurrent kernel U [H, 4H], float32 or bfloat16. Returns the ids
// of seven new float32 tensors [T·B, H]: i, c, f, o, g (the candidate), tanh(c) and h, the last
// six what LstmBackward takes. The candidate's tanh is 2σ(2x) − 1, so that one Sigmoid op covers
// all four gates.
napi_value TFJSBackend::LstmForward(napi_env env, napi_value projected_value, napi_value h_initial_value,
                                    napi_value c_initial_value, napi_value recurrent_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *projected, *h_initial, *c_initial, *recurrent;
  if (!HandlesOf(env, {{projected_value, &projected}, {h_initial_value, &h_initial}, {c_initial_value, &c_initial}, {recurrent_value, &recurrent}})) {
    return nullptr;
  }
  const auto [batch, hidden, steps] = ChunkShape(c_initial, projected, 4, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  const int64_t state = batch * hidden, width = 4 * hidden;
  std::vector<Tensor> keep;
  const float *projections = Values(projected, keep, status.status);
  const float *c_before = Values(c_initial, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);

  enum { I, C, F, O, G, TANH_C, H, OUTPUTS };
  Tensor outputs[OUTPUTS];
  float *out[OUTPUTS];
  for (int k = 0; k < OUTPUTS; k++) {
    outputs[k] = Allocate(steps * batch, hidden);
    out[k] = Data(outputs[k]);
  }
  for (int64_t t = 0; t < steps; t++) {
    const int64_t at = t * state;
    Handle h_view = t > 0 ? View(out[H] + at - state, batch, hidden, status.status) : nullptr;
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Handle recurrent_part = Product(tfe_context_, t > 0 ? h_view.get() : h_initial, recurrent, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    std::vector<Tensor> step_keep;
    const float *r = Values(recurrent_part.get(), step_keep, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Tensor pre = Allocate(batch, width);
    float *p = Data(pre);
    const float *x = projections + t * batch * width;
    for (int64_t k = 0; k < batch * width; k++) p[k] = x[k] + r[k];
    for (int64_t b = 0; b < batch; b++) {
      for (int64_t j = 2 * hidden; j < 3 * hidden; j++) p[b * width + j] *= 2.0f;
    }
    Handle pre_handle(TFE_NewTensorHandle(pre.get(), status.status));
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Handle sigmoid = Elementwise(tfe_context_, "Sigmoid", pre_handle.get(), status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    const float *s = Values(sigmoid.get(), step_keep, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    const float *c_prev = t > 0 ? out[C] + at - state : c_before;
    for (int64_t b = 0; b < batch; b++) {
      const float *row = s + b * width;
      for (int64_t j = 0; j < hidden; j++) {
        const int64_t k = at + b * hidden + j;
        const float i = row[j], f = row[hidden + j], g = 2.0f * row[2 * hidden + j] - 1.0f, o = row[3 * hidden + j];
        out[I][k] = i;
        out[F][k] = f;
        out[G][k] = g;
        out[O][k] = o;
        out[C][k] = f * c_prev[k - at] + i * g;
      }
    }
    Handle c_view = View(out[C] + at, batch, hidden, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Handle tanh_c = Elementwise(tfe_context_, "Tanh", c_view.get(), status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    const float *tc = Values(tanh_c.get(), step_keep, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    for (int64_t k = 0; k < state; k++) {
      out[TANH_C][at + k] = tc[k];
      out[H][at + k] = out[O][at + k] * tc[k];
    }
  }
  std::vector<Handle> handles;
  for (int k = 0; k < OUTPUTS; k++) {
    handles.emplace_back(TFE_NewTensorHandle(outputs[k].get(), status.status));
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
  }
  std::vector<TFE_TensorHandle *> released;
  for (Handle &handle : handles) released.push_back(handle.release());
  return Register(env, released);
}

// Arguments (tensor ids): i, c, f, o, g and tanh(c) of the forward pass over the chunk's T steps,
// each [T·B, H] (or [T, B, H]); the chunk's initial cell state [B, H]; the loss's gradient with
// respect to the layer's outputs [T·B, H]; the transposed recurrent kernel Uᵀ [4H, H], float32 or
// bfloat16 (then each step's product takes bfloat16 operands). Returns the id of a new float32
// tensor [T·B, 4H]: the gradient with respect to the gates' pre-activations, i,f,c,o order.
napi_value TFJSBackend::LstmBackward(napi_env env, napi_value gates_value, napi_value c_initial_value,
                                     napi_value d_output_value, napi_value recurrent_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *c_initial, *d_output, *recurrent;
  if (!HandlesOf(env, {{c_initial_value, &c_initial}, {d_output_value, &d_output}, {recurrent_value, &recurrent}})) return nullptr;
  const auto [batch, hidden, steps] = ChunkShape(c_initial, d_output, 1, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  const int64_t state = batch * hidden, width = 4 * hidden;

  std::vector<Tensor> keep;
  const float *gate[6];
  for (uint32_t k = 0; k < 6; k++) {
    napi_value id;
    ENSURE_NAPI_OK_RETVAL(env, napi_get_element(env, gates_value, k, &id), nullptr);
    TFE_TensorHandle *handle = HandleOf(env, id);
    if (!handle) return nullptr;
    if (TFE_TensorHandleNumElements(handle, status.status) != steps * state) {
      NAPI_THROW_ERROR(env, "lstmBackward: gate %u does not cover the output gradient's %lld steps", k, static_cast<long long>(steps));
      return nullptr;
    }
    gate[k] = Values(handle, keep, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
  }
  const float *c_before = Values(c_initial, keep, status.status);
  const float *d_out = Values(d_output, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);

  Tensor d_gates = Allocate(steps * batch, width);
  std::vector<float> dh(state, 0.0f), dc(state, 0.0f);
  for (int64_t t = steps - 1; t >= 0; t--) {
    const int64_t at = t * state;
    const float *i = gate[0] + at, *c_prev = t > 0 ? gate[1] + at - state : c_before, *f = gate[2] + at,
                *o = gate[3] + at, *g = gate[4] + at, *tanh_c = gate[5] + at, *d_h_out = d_out + at;
    float *d_t = Data(d_gates) + t * batch * width;
    for (int64_t b = 0; b < batch; b++) {
      float *row = d_t + b * width;
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
    // dh for the step before: this step's gate gradient times Uᵀ.
    Handle rows = View(d_t, batch, width, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Handle product = Product(tfe_context_, rows.get(), recurrent, status.status);
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    Tensor product_values(TFE_TensorHandleResolve(product.get(), status.status));
    ENSURE_TF_OK_RETVAL(env, status, nullptr);
    std::memcpy(dh.data(), TF_TensorData(product_values.get()), sizeof(float) * state);
  }

  TFE_TensorHandle *result = TFE_NewTensorHandle(d_gates.get(), status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  napi_value id;
  ENSURE_NAPI_OK_RETVAL(env, napi_create_int32(env, InsertHandle(result), &id), nullptr);
  return id;
}

// The JavaScript entry points, binding.lstmForward(projected, hInitial, cInitial, recurrent) and
// binding.lstmBackward(gates, cInitial, dOutput, recurrentT).
static napi_value Call(napi_env env, napi_callback_info info,
                       napi_value (TFJSBackend::*method)(napi_env, napi_value, napi_value, napi_value, napi_value)) {
  size_t argc = 4;
  napi_value args[4];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < 4) {
    NAPI_THROW_ERROR(env, "expected 4 arguments, not %zu", argc);
    return nullptr;
  }
  TFJSBackend *backend = nullptr;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_instance_data(env, reinterpret_cast<void **>(&backend)), nullptr);
  ENSURE_VALUE_IS_NOT_NULL_RETVAL(env, backend, nullptr);
  return (backend->*method)(env, args[0], args[1], args[2], args[3]);
}

napi_value LstmForwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::LstmForward); }

napi_value LstmBackwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::LstmBackward); }

}  // namespace tfnodejs
