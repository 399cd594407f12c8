// rnn-train's addition to tfjs-node's binding for sampling: a model stepping one character at a
// time in rnn-train's own kernels (step_kernel.h), on copies of its weights, with no TensorFlow
// call and no tensor handle per character, in one or more streams (independent samples, stepped
// together so that each step reads the weights once for all of them). Characters are drawn
// many per call by choose.h, the twin of sample/choose.ts, with the same generator and rules.
//
//   binding.stepModelCreate(cell, sizes, weights, isa) → handle
//     cell 'lstm' | 'gru' | 'rnn'; sizes Int32Array [V, D, H, layers, streams, threads, units]:
//     units 0, the streams are split between the threads, which draw their shares at once with
//     no meeting; units 1, each step's units are split between them, which meet between its
//     phases (step_kernel.h), for samples too few to share out; weights
//     Float32Array[]: embedding [V, D], then per layer kernel [in, G·H], recurrent kernel
//     [H, G·H], bias [G·H], then dense kernel [H, V] and bias [V]. The state starts at zero.
//   binding.stepModelStep(handle, ids, logits)  every stream reads each of ids (Int32Array) in
//     turn; then writes the next character's logits into `logits` (Float32Array [streams, V])
//     unless it is null.
//   binding.stepModelDraw(handle, inputs, generators, rule, ids, logProbs)  n = ids.length /
//     streams times: stream s reads inputs[s] and draws the next character with the generator
//     state generators[s] (Uint32Array) under rule (Float64Array [temperature, top k, top p], 0
//     for no cut), writing it to ids[s·n + j] (Int32Array) and its log-probability to
//     logProbs[s·n + j] (Float64Array); inputs and generators advance.
//   binding.stepModelHidden(handle, layer, out)  copies layer's h of stream 0 into out
//     (Float32Array [H]).

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <node_api.h>

#include "../utils.h"
#include "choose.h"
#include "js_arrays.h"
#include "js_errors.h"
#include "recurrence.h"
#include "team.h"

namespace tfnodejs {

namespace {

// Floats of the largest first-layer input table a step model keeps.
constexpr int64_t kMaxInputTable = int64_t{1} << 22;

// Arrays on whole cache lines: threads that split a step's units write neighbouring columns of
// them, which must not share a line (each write would take the line from the other core).
template <typename T>
struct LineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kLine{64};
  LineAllocator() = default;
  template <typename U>
  LineAllocator(const LineAllocator<U> &) {}
  T *allocate(size_t n) { return static_cast<T *>(::operator new(n * sizeof(T), kLine)); }
  void deallocate(T *p, size_t) { ::operator delete(p, kLine); }
  bool operator==(const LineAllocator &) const { return true; }
  bool operator!=(const LineAllocator &) const { return false; }
};
using Floats = std::vector<float, LineAllocator<float>>;

// One thread's share of the streams, or with the units split the threads' one part: the model
// over them, with its own scratch and chooser.
struct Part {
  int64_t first = 0;  // its first stream
  std::vector<float *> h_views, c_views;
  Floats scratch;
  rnn::StepModel view{};
  rnn::Chooser chooser;
};

struct OwnedStepModel {
  std::vector<std::vector<float>> arrays;  // the weights, in the order stepModelCreate takes them
  std::vector<Floats> h, c;                // per layer, [streams, H]
  std::vector<const float *> kernel, recurrent, bias;
  Floats logits;                           // [streams, V]
  std::vector<float> input_table;          // StepModel::input_table, if the model has one
  const rnn::LstmKernels *kernels = nullptr;
  int64_t streams = 0;
  int threads = 1;
  bool split_units = false;                // else the streams are split, one part per thread
  std::vector<Part> parts;

  // What `member` of the team steps: its part, and its share of that part's step.
  Part &PartOf(int member) { return parts[split_units ? 0 : member]; }
  rnn::StepShare ShareOf(rnn::Team &team, int member) const { return split_units ? rnn::StepShare{&team, member} : rnn::StepShare{nullptr, 0}; }
};

OwnedStepModel *ModelOf(napi_env env, napi_value value) {
  void *model = nullptr;
  if (napi_get_value_external(env, value, &model) != napi_ok || !model) {
    Throw(env, "expected a step model from stepModelCreate");
    return nullptr;
  }
  return static_cast<OwnedStepModel *>(model);
}

bool ParseCell(napi_env env, napi_value value, rnn::Cell *cell, int64_t *blocks) {
  char name[8];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, name, sizeof name, &length) == napi_ok) {
    const std::string cell_name(name, length);
    const rnn::Cell cells[] = {rnn::Cell::kLstm, rnn::Cell::kGru, rnn::Cell::kRnn};
    const char *names[] = {"lstm", "gru", "rnn"};
    const int64_t gate_blocks[] = {4, 3, 1};
    for (int k = 0; k < 3; k++) {
      if (cell_name == names[k]) {
        *cell = cells[k];
        *blocks = gate_blocks[k];
        return true;
      }
    }
  }
  Throw(env, "expected the cell: lstm, gru or rnn");
  return false;
}

// Copies the weights, checking each one's length against the sizes; false with an exception pending if one is off.
bool CopyWeights(napi_env env, napi_value list, const std::vector<size_t> &lengths, OwnedStepModel *model) {
  for (uint32_t k = 0; k < lengths.size(); k++) {
    napi_value item;
    size_t length = 0;
    if (napi_get_element(env, list, k, &item) != napi_ok) {
      Throw(env, "expected %zu weight arrays", lengths.size());
      return false;
    }
    const float *data = TypedData<float>(env, item, napi_float32_array, &length);
    if (!data) return false;
    if (length != lengths[k]) {
      Throw(env, "weight %u has %zu values, not %zu", k, length, lengths[k]);
      return false;
    }
    model->arrays.emplace_back(data, data + length);
  }
  return true;
}

// True if every id is a character of the model's vocabulary, else false with an exception pending.
bool InVocabulary(napi_env env, const rnn::StepModel &m, const int32_t *ids, size_t count) {
  for (size_t k = 0; k < count; k++) {
    if (ids[k] < 0 || ids[k] >= m.vocab) {
      Throw(env, "character id %d is outside the vocabulary", ids[k]);
      return false;
    }
  }
  return true;
}

void Delete(napi_env, void *model, void *) { delete static_cast<OwnedStepModel *>(model); }

}  // namespace

napi_value StepModelCreateCallback(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < 4) return Throw(env, "expected 4 arguments, not %zu", argc);
  auto model = std::make_unique<OwnedStepModel>();
  rnn::StepModel m{};
  int64_t G = 0;
  if (!ParseCell(env, args[0], &m.cell, &G)) return nullptr;
  size_t count = 0;
  const int32_t *sizes = TypedData<int32_t>(env, args[1], napi_int32_array, &count);
  if (!sizes) return nullptr;
  if (count != 7 || *std::min_element(sizes, sizes + 6) < 1 || sizes[6] < 0 || sizes[6] > 1) {
    return Throw(env, "expected sizes [V, D, H, layers, streams, threads, units 0 or 1]");
  }
  m.vocab = sizes[0], m.embedding = sizes[1], m.hidden = sizes[2], m.layers = sizes[3];
  const int64_t V = m.vocab, D = m.embedding, H = m.hidden, B = sizes[4];
  model->split_units = sizes[6] == 1;
  model->threads = static_cast<int>(model->split_units ? std::min<int64_t>(sizes[5], H) : std::min<int64_t>(sizes[5], B));
  const int parts = model->split_units ? 1 : model->threads;
  std::vector<size_t> lengths{static_cast<size_t>(V * D)};
  for (int64_t l = 0; l < m.layers; l++) {
    for (int64_t length : {(l == 0 ? D : H) * G * H, H * G * H, G * H}) lengths.push_back(length);
  }
  lengths.push_back(H * V);
  lengths.push_back(V);
  if (!CopyWeights(env, args[2], lengths, model.get())) return nullptr;
  char isa[32];
  size_t isa_length = 0;
  if (napi_get_value_string_utf8(env, args[3], isa, sizeof isa, &isa_length) != napi_ok) return Throw(env, "expected an ISA name");
  model->kernels = rnn::FindKernels(isa);
  if (!model->kernels || !model->kernels->step) return Throw(env, "this CPU cannot sample on the %s path", isa);

  for (int64_t l = 0; l < m.layers; l++) {
    model->kernel.push_back(model->arrays[1 + 3 * l].data());
    model->recurrent.push_back(model->arrays[2 + 3 * l].data());
    model->bias.push_back(model->arrays[3 + 3 * l].data());
    model->h.emplace_back(B * H, 0.0f);
    model->c.emplace_back(m.cell == rnn::Cell::kLstm ? B * H : 0, 0.0f);
  }
  model->streams = B;
  model->logits.assign(B * V, 0.0f);
  m.embeddings = model->arrays[0].data();
  m.kernel = model->kernel.data();
  m.recurrent = model->recurrent.data();
  m.bias = model->bias.data();
  m.dense_kernel = model->arrays[1 + 3 * m.layers].data();
  m.dense_bias = model->arrays[2 + 3 * m.layers].data();
  // The table costs V·G·H floats once, to save reading D·G·H of the kernel at every step: worth
  // it up to a vocabulary of thousands (16 MiB), and beyond that it would not stay in the caches.
  if (V * G * H <= kMaxInputTable) {
    model->input_table.resize(V * G * H);
    model->kernels->step_input_table(m, model->input_table.data());
    m.input_table = model->input_table.data();
  }
  model->parts.resize(parts);
  for (int t = 0; t < parts; t++) {
    Part &part = model->parts[t];
    part.first = B * t / parts;
    const int64_t streams = B * (t + 1) / parts - part.first;
    for (int64_t l = 0; l < m.layers; l++) {
      part.h_views.push_back(model->h[l].data() + part.first * H);
      part.c_views.push_back(m.cell == rnn::Cell::kLstm ? model->c[l].data() + part.first * H : nullptr);
    }
    part.scratch.assign(streams * (G * H + H + D), 0.0f);
    part.view = m;
    part.view.streams = streams;
    part.view.h = part.h_views.data();
    part.view.c = part.c_views.data();
    part.view.scratch = part.scratch.data();
  }

  napi_value handle;
  ENSURE_NAPI_OK_RETVAL(env, napi_create_external(env, model.get(), Delete, nullptr, &handle), nullptr);
  model.release();
  return handle;
}

// What each thread of a feed reads and writes: `steps` characters for every stream, then the logits (or none).
struct Feed {
  OwnedStepModel *model;
  rnn::Team *team;
  const int32_t *ids;  // [steps, streams]
  int64_t steps;
  float *logits;
};

static void FeedPart(const void *context, int member) {
  const Feed &f = *static_cast<const Feed *>(context);
  Part &part = f.model->PartOf(member);
  const rnn::StepShare share = f.model->ShareOf(*f.team, member);
  for (int64_t k = 0; k < f.steps; k++) {
    float *out = k + 1 == f.steps && f.logits ? f.logits + part.first * part.view.vocab : nullptr;
    f.model->kernels->step(part.view, f.ids + k * f.model->streams + part.first, out, share);
  }
}

napi_value StepModelStepCallback(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < 3) return Throw(env, "expected 3 arguments, not %zu", argc);
  OwnedStepModel *model = ModelOf(env, args[0]);
  if (!model) return nullptr;
  const rnn::StepModel &m = model->parts[0].view;
  size_t count = 0, logits_length = 0;
  const int32_t *ids = TypedData<int32_t>(env, args[1], napi_int32_array, &count);
  if (!ids) return nullptr;
  napi_valuetype logits_type;
  ENSURE_NAPI_OK_RETVAL(env, napi_typeof(env, args[2], &logits_type), nullptr);
  float *logits = logits_type == napi_null ? nullptr : TypedData<float>(env, args[2], napi_float32_array, &logits_length);
  if (logits_type != napi_null && (!logits || logits_length != static_cast<size_t>(model->streams * m.vocab))) {
    return logits ? Throw(env, "logits must hold streams × V = %lld values", static_cast<long long>(model->streams * m.vocab)) : nullptr;
  }
  if (!InVocabulary(env, m, ids, count)) return nullptr;
  // Stream s reads fed[k·streams + s] at step k: every stream the same character.
  std::vector<int32_t> fed(count * model->streams);
  for (size_t k = 0; k < count; k++) std::fill_n(fed.begin() + k * model->streams, model->streams, ids[k]);
  rnn::Team &team = rnn::Team::ForThisThread(model->threads);
  const Feed feed{model, &team, fed.data(), static_cast<int64_t>(count), logits};
  team.Run(FeedPart, &feed);
  return nullptr;
}

// What each thread of a draw reads and writes: its part's streams of these arrays.
struct Draw {
  OwnedStepModel *model;
  rnn::Team *team;
  int32_t *inputs;
  uint32_t *generators;
  rnn::SamplingRule rule;
  int32_t *ids;
  double *log_probs;
  int64_t n;
};

// The j-th character of each of the part's streams, from the logits of their last step.
static void DrawNext(const Draw &d, Part &part, int64_t j) {
  const int64_t V = part.view.vocab;
  for (int64_t s = part.first; s < part.first + part.view.streams; s++) {
    const float *own = d.model->logits.data() + s * V;
    const int64_t id = part.chooser.Next(own, V, d.rule, rnn::NextUniform(d.generators + s));
    d.ids[s * d.n + j] = d.inputs[s] = static_cast<int32_t>(id);
    d.log_probs[s * d.n + j] = rnn::LogProbOf(own, V, id);
  }
}

// n steps of one part's streams, each followed by every stream's draw: the parts share nothing.
// With the units split, the first member draws, and the others wait for the characters it drew.
static void DrawPart(const void *context, int member) {
  const Draw &d = *static_cast<const Draw *>(context);
  Part &part = d.model->PartOf(member);
  const rnn::StepShare share = d.model->ShareOf(*d.team, member);
  const int64_t V = part.view.vocab;
  float *logits = d.model->logits.data() + part.first * V;
  for (int64_t j = 0; j < d.n; j++) {
    d.model->kernels->step(part.view, d.inputs + part.first, logits, share);
    if (share.team) {
      if (member == 0) DrawNext(d, part, j);
      share.team->Barrier();
    } else {
      DrawNext(d, part, j);
    }
  }
}

napi_value StepModelDrawCallback(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < 6) return Throw(env, "expected 6 arguments, not %zu", argc);
  OwnedStepModel *model = ModelOf(env, args[0]);
  if (!model) return nullptr;
  const size_t B = model->streams;
  size_t inputs_length = 0, generators_length = 0, rule_length = 0, ids_length = 0, log_probs_length = 0;
  int32_t *inputs = TypedData<int32_t>(env, args[1], napi_int32_array, &inputs_length);
  uint32_t *generators = inputs ? TypedData<uint32_t>(env, args[2], napi_uint32_array, &generators_length) : nullptr;
  const double *rule = generators ? TypedData<double>(env, args[3], napi_float64_array, &rule_length) : nullptr;
  int32_t *ids = rule ? TypedData<int32_t>(env, args[4], napi_int32_array, &ids_length) : nullptr;
  double *log_probs = ids ? TypedData<double>(env, args[5], napi_float64_array, &log_probs_length) : nullptr;
  if (!log_probs) return nullptr;
  if (inputs_length != B || generators_length != B || rule_length != 3 || ids_length % B != 0 || log_probs_length != ids_length) {
    return Throw(env, "expected inputs and generators of %zu streams, a rule of 3 and ids and logProbs of streams × n", B);
  }
  if (!InVocabulary(env, model->parts[0].view, inputs, B)) return nullptr;
  rnn::Team &team = rnn::Team::ForThisThread(model->threads);
  const rnn::SamplingRule sampling_rule{rule[0], static_cast<int64_t>(rule[1]), rule[2]};
  const Draw draw{model, &team, inputs, generators, sampling_rule, ids, log_probs, static_cast<int64_t>(ids_length / B)};
  team.Run(DrawPart, &draw);
  return nullptr;
}

napi_value StepModelHiddenCallback(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  ENSURE_NAPI_OK_RETVAL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr), nullptr);
  if (argc < 3) return Throw(env, "expected 3 arguments, not %zu", argc);
  OwnedStepModel *model = ModelOf(env, args[0]);
  int32_t layer = -1;
  if (!model || napi_get_value_int32(env, args[1], &layer) != napi_ok || layer < 0 || layer >= model->parts[0].view.layers) {
    return model ? Throw(env, "expected a layer index") : nullptr;
  }
  size_t length = 0;
  float *out = TypedData<float>(env, args[2], napi_float32_array, &length);
  if (!out || length != static_cast<size_t>(model->parts[0].view.hidden)) return out ? Throw(env, "expected a Float32Array of H values") : nullptr;
  std::memcpy(out, model->h[layer].data(), sizeof(float) * length);
  return nullptr;
}

}  // namespace tfnodejs
