// rnn-train's addition to tfjs-node's binding (src/native/addon-build.ts copies this folder into
// binding/recurrence/, and the native-lstm-recurrence patch declares these methods on
// TFJSBackend): an LSTM, GRU or vanilla RNN layer's recurrence over one chunk, forward or backward, in a
// single call, on TensorFlow's buffers read and written in place.
//
// The recurrence is rnn-train's own (recurrence.h: weights packed once per call, the gate maths
// fused into each step's product, no TensorFlow call per step), on the ISA path and threads the
// caller names.

#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include "backend_call.h"
#include "recurrence.h"
#include "team.h"
#include "tensors.h"

namespace tfnodejs {

namespace {

// B and H from a state [B, H], and T from a chunk tensor [T·B, blocks·H].
std::tuple<int64_t, int64_t, int64_t> ChunkShape(TFE_TensorHandle *state, TFE_TensorHandle *chunk, int64_t blocks, TF_Status *status) {
  const int64_t batch = TFE_TensorHandleDim(state, 0, status), hidden = TFE_TensorHandleDim(state, 1, status);
  return {batch, hidden, TFE_TensorHandleNumElements(chunk, status) / (batch * blocks * hidden)};
}

// The ISA path a call names (a JavaScript string) and its threads, as model/policy.ts chose them.
struct KernelChoice {
  const rnn::LstmKernels *kernels = nullptr;
  int threads = 1;
};

// Reads (isa, threads); null kernels, with a JavaScript exception pending, for a path this CPU lacks.
KernelChoice ChooseKernels(napi_env env, napi_value isa_value, napi_value threads_value) {
  char isa[32];
  size_t length = 0;
  KernelChoice choice;
  if (napi_get_value_string_utf8(env, isa_value, isa, sizeof isa, &length) != napi_ok ||
      napi_get_value_int32(env, threads_value, &choice.threads) != napi_ok) {
    NAPI_THROW_ERROR(env, "expected an ISA name and a thread count");
    return choice;
  }
  choice.kernels = rnn::FindKernels(isa);
  if (!choice.kernels) NAPI_THROW_ERROR(env, "this CPU cannot run the %s recurrence", isa);
  return choice;
}

// A kernel of the chosen path for a cell that path may lack; null, with a JavaScript exception pending, if it does.
template <typename Kernel>
Kernel Present(napi_env env, const KernelChoice &choice, Kernel kernel, const char *cell) {
  if (!kernel) NAPI_THROW_ERROR(env, "the %s recurrence has no %s path", cell, choice.kernels->isa);
  return kernel;
}

// Whether every handle is float32, as the kernels read them; false, with a JavaScript exception pending, if not.
bool AllFloat32(napi_env env, std::initializer_list<TFE_TensorHandle *> handles) {
  for (TFE_TensorHandle *handle : handles) {
    if (TFE_TensorHandleDataType(handle) != TF_FLOAT) return Fail(env, "the recurrence takes float32 tensors only");
  }
  return true;
}

// New float32 tensors [rows, columns], `count` of them or one for each of `widths`, and their buffers.
struct Outputs {
  std::vector<Tensor> tensors;
  std::vector<float *> data;
  Outputs(int count, int64_t rows, int64_t columns) {
    for (int k = 0; k < count; k++) Add(rows, columns);
  }
  Outputs(int64_t rows, std::initializer_list<int64_t> widths) {
    for (int64_t columns : widths) Add(rows, columns);
  }

 private:
  void Add(int64_t rows, int64_t columns) {
    tensors.push_back(Allocate({rows, columns}));
    data.push_back(Data(tensors.back()));
  }
};

// The backward passes' outputs: ∂a over the chunk [T·B, G·H] and its column sums ∂b [G·H].
struct GateGradients {
  std::vector<Tensor> tensors;
  int64_t columns;
  GateGradients(int64_t rows, int64_t columns) : GateGradients(Allocate({rows, columns}), columns) {}
  // ∂a written in place of `gates` (the LSTM's), whose tensor becomes the output.
  GateGradients(Tensor gates, int64_t columns) : columns(columns) {
    tensors.push_back(std::move(gates));
    tensors.push_back(Allocate({columns}));
  }
  float *d_gates() const { return Data(tensors[0]); }
  float *d_bias() const { return Data(tensors[1]); }
  // With a table input (row ids, not null), a third output, ∂a summed by table row [table_rows,
  // G·H], and its buffer; else null.
  float *AddTable(const int32_t *rows, int64_t table_rows) {
    if (!rows) return nullptr;
    tensors.push_back(Allocate({table_rows, columns}));
    return Data(tensors.back());
  }
};

// Whether the tensor `what` holds `elements` values; false, with a JavaScript exception pending, if not.
bool Covers(napi_env env, TFE_TensorHandle *handle, int64_t elements, const char *what) {
  TF_AutoStatus status;
  return TFE_TensorHandleNumElements(handle, status.status) == elements ||
         Fail(env, "%s does not have the layer's %lld values", what, static_cast<long long>(elements));
}

// A tensor a forward pass saved, as its backward pass checks it: its values, and its name in errors.
struct SavedShape {
  int64_t elements;
  const char *name;
};

// The tensors whose ids `list` (a JavaScript array) holds, one for each of `shapes` and in their
// order, each checked to have its values; `what` names them all in an error. False, with a
// JavaScript exception pending, if they are not so.
bool ReadSaved(TFJSBackend *backend, napi_env env, napi_value list, const char *what, std::initializer_list<SavedShape> shapes,
               std::vector<Tensor> &keep, TensorList &saved) {
  if (!ReadTensorList(backend, env, list, keep, saved)) return false;
  if (saved.values.size() != shapes.size()) return Fail(env, "expected %s, not %zu tensors", what, saved.values.size());
  size_t k = 0;
  for (const SavedShape &shape : shapes) {
    if (!Covers(env, saved.handles[k++], shape.elements, shape.name)) return false;
  }
  return true;
}

}  // namespace

// Registers the outputs' tensors as new handles, returning their ids as a JavaScript array.
static napi_value RegisterOutputs(TFJSBackend *backend, napi_env env, Outputs &outputs) { return RegisterTensors(backend, env, outputs.tensors); }

// RegisterOutputs for a single tensor: its id alone.
static napi_value RegisterOutput(TFJSBackend *backend, napi_env env, Outputs &output) {
  napi_value ids = RegisterOutputs(backend, env, output), id;
  if (!ids) return nullptr;
  ENSURE_NAPI_OK_RETVAL(env, napi_get_element(env, ids, 0, &id), nullptr);
  return id;
}


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

// The LSTM forward pass's outputs, in the order JavaScript receives them.
enum LstmOutput { GATES, C, TANH_C, H };

// The rows of a table of x·W [table_rows, 4H] that the chunk's rows read: for a rows id of -1 none
// (x·W is the chunk's own, `rows` stays null); else int32 ids, each checked, and `count` set to
// how many. False, with a JavaScript exception pending, if the ids are not int32 or not all rows
// of the table.
static bool ReadTableRows(TFJSBackend *backend, napi_env env, napi_value rows_value, int64_t table_rows, std::vector<Tensor> &keep,
                          const int32_t *&rows, int64_t &count) {
  int32_t id = -1;
  if (napi_get_value_int32(env, rows_value, &id) != napi_ok) return Fail(env, "expected a tensor id, or -1 for no table");
  if (id < 0) return true;
  TFE_TensorHandle *handle = backend->HandleOf(env, rows_value);
  if (!handle) return false;
  if (TFE_TensorHandleDataType(handle) != TF_INT32) return Fail(env, "the table's row ids must be int32");
  TF_AutoStatus status;
  count = TFE_TensorHandleNumElements(handle, status.status);
  const int32_t *ids = Values<const int32_t>(handle, keep, status.status);
  if (!ids) return Fail(env, "the table's row ids could not be read: %s", TF_Message(status.status));
  for (int64_t k = 0; k < count; k++) {
    if (ids[k] < 0 || ids[k] >= table_rows) return Fail(env, "row id %d is not a row of the table's %lld", ids[k], static_cast<long long>(table_rows));
  }
  rows = ids;
  return true;
}

// A forward pass's input: x·W over the chunk, or, with row ids (a rows id other than -1), a table
// of its rows [V, gates·H] and the ids, which must fill whole steps of the batch; `steps` is then
// theirs. False, with a JavaScript exception pending, if they are not so.
static bool ReadForwardTable(TFJSBackend *backend, napi_env env, napi_value rows_value, TFE_TensorHandle *projected, int64_t gates, int64_t batch,
                             int64_t hidden, std::vector<Tensor> &keep, const int32_t *&rows, int64_t &steps) {
  TF_AutoStatus status;
  const int64_t table_rows = TFE_TensorHandleNumElements(projected, status.status) / (gates * hidden);
  int64_t count = 0;
  if (!ReadTableRows(backend, env, rows_value, table_rows, keep, rows, count)) return false;
  if (!rows) return true;
  if (count % batch != 0) return Fail(env, "the table's row ids must fill whole steps of the batch's %lld rows", static_cast<long long>(batch));
  steps = count / batch;
  return true;
}

// A backward pass's table: the row ids its forward pass read (-1 for none), one for each of the
// chunk's `chunk_rows`, and the table's row count. False, with a JavaScript exception pending, if
// they are not so.
static bool ReadBackwardTable(TFJSBackend *backend, napi_env env, napi_value rows_value, napi_value table_rows_value, int64_t chunk_rows,
                              std::vector<Tensor> &keep, const int32_t *&rows, int64_t &table_rows) {
  if (napi_get_value_int64(env, table_rows_value, &table_rows) != napi_ok || table_rows < 0) return Fail(env, "expected the table's row count");
  int64_t count = 0;
  if (!ReadTableRows(backend, env, rows_value, table_rows, keep, rows, count)) return false;
  return !rows || count == chunk_rows ||
         Fail(env, "the table's row ids must be one for each of the chunk's %lld rows", static_cast<long long>(chunk_rows));
}

// Arguments: tensor ids of the chunk's input projections x·W [T·B, 4H], gates in i,f,c,o order,
// or of a table of such rows [V, 4H] and the int32 ids [T·B] of the row each chunk row reads (-1
// for no table); the bias b [4H], the initial h and c [B, H] and the float32 recurrent kernel
// U [H, 4H]; then the ISA path and threads. Returns the ids of four new float32 tensors: the gates
// [T·B, 4H], i, f, g (the candidate), o; then, each [T·B, H], c, tanh(c) and h. The first three
// are what LstmBackward takes.
napi_value TFJSBackend::LstmForward(napi_env env, napi_value projected_value, napi_value rows_value, napi_value bias_value,
                                    napi_value h_initial_value, napi_value c_initial_value, napi_value recurrent_value, napi_value isa_value,
                                    napi_value threads_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *projected, *bias, *h_initial, *c_initial, *recurrent;
  if (!HandlesOf(env, {{projected_value, &projected},
                       {bias_value, &bias},
                       {h_initial_value, &h_initial},
                       {c_initial_value, &c_initial},
                       {recurrent_value, &recurrent}})) {
    return nullptr;
  }
  const KernelChoice choice = ChooseKernels(env, isa_value, threads_value);
  if (!choice.kernels || !AllFloat32(env, {projected, bias, h_initial, c_initial, recurrent})) return nullptr;
  auto [batch, hidden, steps] = ChunkShape(c_initial, projected, 4, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  if (!Covers(env, bias, 4 * hidden, "the bias")) return nullptr;
  std::vector<Tensor> keep;
  const int32_t *rows = nullptr;
  if (!ReadForwardTable(this, env, rows_value, projected, 4, batch, hidden, keep, rows, steps)) return nullptr;
  const float *projections = Values(projected, keep, status.status);
  const float *biases = Values(bias, keep, status.status);
  const float *h_before = Values(h_initial, keep, status.status);
  const float *c_before = Values(c_initial, keep, status.status);
  const float *weights = Values(recurrent, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  Outputs out(steps * batch, {4 * hidden, hidden, hidden, hidden});
  std::vector<float> scratch(choice.kernels->scratch_floats(batch, hidden, choice.threads));
  const rnn::LstmForwardArgs args{steps,    batch,    hidden,          weights,     projections, rows,          biases,
                                  h_before, c_before, out.data[GATES], out.data[C], out.data[TANH_C], out.data[H], scratch.data()};
  choice.kernels->forward(args, rnn::Team::ForThisThread(choice.threads));
  return RegisterOutputs(this, env, out);
}

// Arguments: tensor ids of the forward pass's gates [T·B, 4H], c and tanh(c) [T·B, H], as
// LstmForward returns them, the chunk's initial cell state [B, H], the loss's gradient with
// respect to the layer's outputs [T·B, H] and the float32 recurrent kernel U [H, 4H]; the int32
// ids [T·B] of the table rows the forward pass read (-1 for no table) and the table's rows V;
// then the ISA path and threads. Returns the ids of float32 tensors: the gradient with respect to
// the gates' pre-activations [T·B, 4H], i,f,c,o order, written over the gates' buffer (so the
// gates' tensor must not be read again), and with respect to the bias [4H]; with a table, also
// the table's [V, 4H] (the first, summed by the row each chunk row read).
napi_value TFJSBackend::LstmBackward(napi_env env, napi_value gates_value, napi_value c_initial_value, napi_value d_output_value,
                                     napi_value recurrent_value, napi_value rows_value, napi_value table_rows_value, napi_value isa_value,
                                     napi_value threads_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *c_initial, *d_output, *recurrent;
  if (!HandlesOf(env, {{c_initial_value, &c_initial}, {d_output_value, &d_output}, {recurrent_value, &recurrent}})) return nullptr;
  const KernelChoice choice = ChooseKernels(env, isa_value, threads_value);
  if (!choice.kernels || !AllFloat32(env, {c_initial, d_output, recurrent})) return nullptr;
  const auto [batch, hidden, steps] = ChunkShape(c_initial, d_output, 1, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  std::vector<Tensor> keep;
  const int32_t *rows = nullptr;
  int64_t table_rows = 0;
  if (!ReadBackwardTable(this, env, rows_value, table_rows_value, steps * batch, keep, rows, table_rows)) return nullptr;
  TensorList saved;
  const int64_t values = steps * batch * hidden;
  if (!ReadSaved(this, env, gates_value, "the forward pass's gates, c and tanh(c)", {{4 * values, "the gates' tensor"}, {values, "c"}, {values, "tanh(c)"}},
                 keep, saved)) {
    return nullptr;
  }
  const float *c_before = Values(c_initial, keep, status.status);
  const float *d_out = Values(d_output, keep, status.status);
  const float *weights = Values(recurrent, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  // The gates' tensor, resolved on its own: it becomes the ∂a output, on the same buffer.
  Tensor gates(TFE_TensorHandleResolve(saved.handles[GATES], status.status));
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  GateGradients out(std::move(gates), 4 * hidden);
  float *d_table = out.AddTable(rows, table_rows);
  std::vector<float> scratch(choice.kernels->scratch_floats(batch, hidden, choice.threads));
  const rnn::LstmBackwardArgs args{steps,    batch, hidden,       weights, out.d_gates(), saved.values[C], saved.values[TANH_C],
                                   c_before, d_out, out.d_bias(), rows,    table_rows,    d_table,         scratch.data()};
  choice.kernels->backward(args, rnn::Team::ForThisThread(choice.threads));
  return RegisterTensors(this, env, out.tensors);
}

// The GRU forward pass's outputs, in the order JavaScript receives them.
enum GruOutput { Z, R, HH, RH, GRU_H, GRU_OUTPUTS };

// Arguments: tensor ids of the chunk's input projections x·W [T·B, 3H], gates in z,r,h order, or
// of a table of such rows [V, 3H] and the int32 ids [T·B] of the row each chunk row reads (-1 for
// no table), as LstmForward takes them; the bias b [3H], the initial h [B, H] and the float32
// recurrent kernel U [H, 3H]; then the ISA path and threads. Returns the ids of five new float32
// tensors [T·B, H]: z, r, the candidate, r ⊙ h_{t-1} and h.
napi_value TFJSBackend::GruForward(napi_env env, napi_value projected_value, napi_value rows_value, napi_value bias_value,
                                   napi_value h_initial_value, napi_value recurrent_value, napi_value isa_value, napi_value threads_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *projected, *bias, *h_initial, *recurrent;
  if (!HandlesOf(env, {{projected_value, &projected}, {bias_value, &bias}, {h_initial_value, &h_initial}, {recurrent_value, &recurrent}})) {
    return nullptr;
  }
  const KernelChoice choice = ChooseKernels(env, isa_value, threads_value);
  if (!choice.kernels || !AllFloat32(env, {projected, bias, h_initial, recurrent})) return nullptr;
  if (!Present(env, choice, choice.kernels->gru_forward, "GRU")) return nullptr;
  auto [batch, hidden, steps] = ChunkShape(h_initial, projected, 3, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  if (!Covers(env, bias, 3 * hidden, "the bias")) return nullptr;
  std::vector<Tensor> keep;
  const int32_t *rows = nullptr;
  if (!ReadForwardTable(this, env, rows_value, projected, 3, batch, hidden, keep, rows, steps)) return nullptr;
  const float *projections = Values(projected, keep, status.status);
  const float *biases = Values(bias, keep, status.status);
  const float *h_before = Values(h_initial, keep, status.status);
  const float *weights = Values(recurrent, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  Outputs out(GRU_OUTPUTS, steps * batch, hidden);
  std::vector<float> scratch(choice.kernels->gru_scratch_floats(batch, hidden, choice.threads));
  const rnn::GruForwardArgs args{steps,    batch,       hidden,      weights,      projections,  rows,            biases,
                                 h_before, out.data[Z], out.data[R], out.data[HH], out.data[RH], out.data[GRU_H], scratch.data()};
  choice.kernels->gru_forward(args, rnn::Team::ForThisThread(choice.threads));
  return RegisterOutputs(this, env, out);
}

// Arguments: tensor ids of z, r, the candidate and h of the forward pass, each [T·B, H], the
// initial h [B, H], the loss's gradient with respect to the layer's outputs [T·B, H] and U
// [H, 3H]; the table rows the forward pass read and the table's row count, as LstmBackward takes
// them; then the ISA path and threads. Returns the ids of new float32 tensors: the gradient with
// respect to the gates' pre-activations [T·B, 3H], z,r,h order, and to the bias [3H]; with a
// table, also the table's [V, 3H].
napi_value TFJSBackend::GruBackward(napi_env env, napi_value saved_value, napi_value h_initial_value, napi_value d_output_value,
                                    napi_value recurrent_value, napi_value rows_value, napi_value table_rows_value, napi_value isa_value,
                                    napi_value threads_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *h_initial, *d_output, *recurrent;
  if (!HandlesOf(env, {{h_initial_value, &h_initial}, {d_output_value, &d_output}, {recurrent_value, &recurrent}})) return nullptr;
  const KernelChoice choice = ChooseKernels(env, isa_value, threads_value);
  if (!choice.kernels || !AllFloat32(env, {h_initial, d_output, recurrent})) return nullptr;
  if (!Present(env, choice, choice.kernels->gru_backward, "GRU")) return nullptr;
  const auto [batch, hidden, steps] = ChunkShape(h_initial, d_output, 1, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  std::vector<Tensor> keep;
  const int32_t *rows = nullptr;
  int64_t table_rows = 0;
  if (!ReadBackwardTable(this, env, rows_value, table_rows_value, steps * batch, keep, rows, table_rows)) return nullptr;
  TensorList saved;
  const int64_t values = steps * batch * hidden;
  if (!ReadSaved(this, env, saved_value, "the forward pass's z, r, candidate and h", {{values, "z"}, {values, "r"}, {values, "the candidate"}, {values, "h"}},
                 keep, saved)) {
    return nullptr;
  }
  const float *h_before = Values(h_initial, keep, status.status);
  const float *d_out = Values(d_output, keep, status.status);
  const float *weights = Values(recurrent, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  GateGradients out(steps * batch, 3 * hidden);
  float *d_table = out.AddTable(rows, table_rows);
  std::vector<float> scratch(choice.kernels->gru_scratch_floats(batch, hidden, choice.threads));
  const rnn::GruBackwardArgs args{steps,    batch, hidden,        weights,      saved.values[0], saved.values[1], saved.values[2], saved.values[3],
                                  h_before, d_out, out.d_gates(), out.d_bias(), rows,            table_rows,      d_table,         scratch.data()};
  choice.kernels->gru_backward(args, rnn::Team::ForThisThread(choice.threads));
  return RegisterTensors(this, env, out.tensors);
}

// Arguments: tensor ids of the chunk's input projections x·W [T·B, H], or of a table of such rows
// [V, H] and the ids of the row each chunk row reads (-1 for no table), as LstmForward takes them;
// the bias b [H], the initial h [B, H] and the float32 recurrent kernel U [H, H]; then the ISA
// path and threads. Returns the id of a new float32 tensor [T·B, H]: h.
napi_value TFJSBackend::RnnForward(napi_env env, napi_value projected_value, napi_value rows_value, napi_value bias_value,
                                   napi_value h_initial_value, napi_value recurrent_value, napi_value isa_value, napi_value threads_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *projected, *bias, *h_initial, *recurrent;
  if (!HandlesOf(env, {{projected_value, &projected}, {bias_value, &bias}, {h_initial_value, &h_initial}, {recurrent_value, &recurrent}})) {
    return nullptr;
  }
  const KernelChoice choice = ChooseKernels(env, isa_value, threads_value);
  if (!choice.kernels || !AllFloat32(env, {projected, bias, h_initial, recurrent})) return nullptr;
  const auto forward = Present(env, choice, choice.kernels->rnn_forward, "RNN");
  if (!forward) return nullptr;
  auto [batch, hidden, steps] = ChunkShape(h_initial, projected, 1, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  if (!Covers(env, bias, hidden, "the bias")) return nullptr;
  std::vector<Tensor> keep;
  const int32_t *rows = nullptr;
  if (!ReadForwardTable(this, env, rows_value, projected, 1, batch, hidden, keep, rows, steps)) return nullptr;
  const float *projections = Values(projected, keep, status.status);
  const float *biases = Values(bias, keep, status.status);
  const float *h_before = Values(h_initial, keep, status.status);
  const float *weights = Values(recurrent, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  Outputs out(1, steps * batch, hidden);
  std::vector<float> scratch(choice.kernels->rnn_scratch_floats(batch, hidden, choice.threads));
  forward({steps, batch, hidden, weights, projections, rows, biases, h_before, out.data[0], scratch.data()}, rnn::Team::ForThisThread(choice.threads));
  return RegisterOutput(this, env, out);
}

// Arguments: tensor ids of the forward pass's h [T·B, H], the initial h [B, H] (for the batch),
// the loss's gradient with respect to the layer's outputs [T·B, H] and U [H, H]; the table rows
// the forward pass read and the table's row count, as LstmBackward takes them; then the ISA path
// and threads. Returns the ids of new float32 tensors: the gradient with respect to the
// pre-activations [T·B, H], and to the bias [H]; with a table, also the table's [V, H].
napi_value TFJSBackend::RnnBackward(napi_env env, napi_value h_value, napi_value h_initial_value, napi_value d_output_value,
                                    napi_value recurrent_value, napi_value rows_value, napi_value table_rows_value, napi_value isa_value,
                                    napi_value threads_value) {
  TF_AutoStatus status;
  TFE_TensorHandle *h, *h_initial, *d_output, *recurrent;
  if (!HandlesOf(env, {{h_value, &h}, {h_initial_value, &h_initial}, {d_output_value, &d_output}, {recurrent_value, &recurrent}})) return nullptr;
  const KernelChoice choice = ChooseKernels(env, isa_value, threads_value);
  if (!choice.kernels || !AllFloat32(env, {h, h_initial, d_output, recurrent})) return nullptr;
  const auto backward = Present(env, choice, choice.kernels->rnn_backward, "RNN");
  if (!backward) return nullptr;
  const auto [batch, hidden, steps] = ChunkShape(h_initial, d_output, 1, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  if (!Covers(env, h, steps * batch * hidden, "h")) return nullptr;
  std::vector<Tensor> keep;
  const int32_t *rows = nullptr;
  int64_t table_rows = 0;
  if (!ReadBackwardTable(this, env, rows_value, table_rows_value, steps * batch, keep, rows, table_rows)) return nullptr;
  const float *outputs = Values(h, keep, status.status);
  const float *d_out = Values(d_output, keep, status.status);
  const float *weights = Values(recurrent, keep, status.status);
  ENSURE_TF_OK_RETVAL(env, status, nullptr);
  GateGradients out(steps * batch, hidden);
  float *d_table = out.AddTable(rows, table_rows);
  std::vector<float> scratch(choice.kernels->rnn_scratch_floats(batch, hidden, choice.threads));
  backward({steps, batch, hidden, weights, outputs, d_out, out.d_gates(), out.d_bias(), rows, table_rows, d_table, scratch.data()},
           rnn::Team::ForThisThread(choice.threads));
  return RegisterTensors(this, env, out.tensors);
}

// binding.recurrenceIsas(): the ISA paths of the recurrence this CPU can run, narrowest first.
napi_value RecurrenceIsasCallback(napi_env env, napi_callback_info) {
  const std::vector<const rnn::LstmKernels *> kernels = rnn::SupportedKernels();
  napi_value names;
  ENSURE_NAPI_OK_RETVAL(env, napi_create_array_with_length(env, kernels.size(), &names), nullptr);
  for (uint32_t k = 0; k < kernels.size(); k++) {
    napi_value name;
    ENSURE_NAPI_OK_RETVAL(env, napi_create_string_utf8(env, kernels[k]->isa, NAPI_AUTO_LENGTH, &name), nullptr);
    ENSURE_NAPI_OK_RETVAL(env, napi_set_element(env, names, k, name), nullptr);
  }
  return names;
}

// The JavaScript entry points: binding.lstmForward(projected, rows, bias, hInitial, cInitial,
// recurrent, isa, threads), binding.lstmBackward(gates, cInitial, dOutput, recurrent, rows,
// tableRows, isa, threads), binding.gruForward(projected, rows, bias, hInitial, recurrent, isa,
// threads), binding.gruBackward(saved, hInitial, dOutput, recurrent, rows, tableRows, isa, threads),
// binding.rnnForward(projected, rows, bias, hInitial, recurrent, isa, threads) and
// binding.rnnBackward(h, hInitial, dOutput, recurrent, rows, tableRows, isa, threads).
napi_value LstmForwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::LstmForward); }
napi_value LstmBackwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::LstmBackward); }
napi_value GruForwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::GruForward); }
napi_value GruBackwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::GruBackward); }
napi_value RnnForwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::RnnForward); }
napi_value RnnBackwardCallback(napi_env env, napi_callback_info info) { return Call(env, info, &TFJSBackend::RnnBackward); }

}  // namespace tfnodejs
