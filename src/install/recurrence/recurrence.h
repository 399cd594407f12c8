// The LSTM, GRU and vanilla RNN recurrences over one chunk, forward and backward, and a model's sampling step,
// on the CPU's own vector unit: what
// the fast paths (isa_*.cc) implement and what the binding (recurrence_binding.cc) calls. The readable
// mainline is src/model/cells/lstm.ts; these compute the same, with every time step's recurrent
// product on weights packed once per call and the bias and gate maths fused into the product's
// epilogue. The backward passes sum the bias gradient as they write each row of ∂a (and the LSTM's,
// with a table input, each row into its table row's gradient): each column belongs to one thread's
// tiles and is summed in one order (steps from the last, rows in order), whatever the thread count,
// and the chunk's ∂a is not read again to sum it.
#pragma once

#include <cstdint>
#include <vector>

namespace rnn {

class Team;

// Gates in the order i, f, c, o, as the weights and lstm.ts have them; all arrays row-major.
struct LstmForwardArgs {
  int64_t steps, batch, hidden;
  const float *recurrent;  // U [H, 4H]
  const float *projected;  // x·W over the chunk [T·B, 4H], or a table of rows of it [V, 4H] that `rows` picks from
  const int32_t *rows;     // null, or the row of the table each row of the chunk reads [T·B] (the first layer's input table)
  const float *bias;       // b [4H], added as each step reads x·W
  const float *h0, *c0;    // the carried state [B, H]
  // The gates over the chunk [T·B, 4H], i, f, g (the candidate), o, which the backward pass
  // overwrites with ∂a; then, each [T·B, H], the cell state, tanh(c) and the output h.
  float *gates, *c, *tanh_c, *h;
  float *scratch;  // LstmKernels::scratch_floats of them, for the packed weights
};

struct LstmBackwardArgs {
  int64_t steps, batch, hidden;
  const float *recurrent;  // U [H, 4H]
  // In, the forward pass's gates [T·B, 4H]; out, ∂loss/∂(pre-activations) in their place, each
  // step's written over the gates it has just read: no new [T·B, 4H] buffer, and the lines it
  // writes are in cache already.
  float *gates;
  const float *c, *tanh_c;  // the forward pass's, [T·B, H]
  const float *c0;          // [B, H]
  const float *d_output;    // ∂loss/∂h over the chunk [T·B, H]
  float *d_bias;            // out: ∂loss/∂b [4H], ∂a's column sums
  // With a table input (LstmForwardArgs's rows, null for none): out, ∂a's rows summed by the
  // table row they read [table_rows, 4H], the gradient of the table of x·W.
  const int32_t *rows;
  int64_t table_rows;
  float *d_table;
  float *scratch;  // LstmKernels::scratch_floats of them
};

// The GRU as gru.ts has it (reset_after false), gates z, r, h; all arrays row-major.
struct GruForwardArgs {
  int64_t steps, batch, hidden;
  const float *recurrent;  // U [H, 3H]
  const float *projected;  // x·W over the chunk [T·B, 3H], or a table of rows of it [V, 3H] that `rows` picks from
  const int32_t *rows;     // null, or the row of the table each row of the chunk reads [T·B], as the LSTM's
  const float *bias;       // b [3H]
  const float *h0;         // [B, H]
  // Each [T·B, H]: the update and reset gates, the candidate, r ⊙ h_{t-1} and the output h.
  float *z, *r, *hh, *rh, *h;
  float *scratch;  // GruKernels::scratch_floats of them
};

struct GruBackwardArgs {
  int64_t steps, batch, hidden;
  const float *recurrent;               // U [H, 3H]
  const float *z, *r, *hh, *h, *h0;     // the forward pass's, [T·B, H], and the initial h [B, H]
  const float *d_output;                // ∂loss/∂h over the chunk [T·B, H]
  float *d_gates;                       // out: ∂loss/∂(pre-activations) [T·B, 3H]
  float *d_bias;                        // out: ∂loss/∂b [3H]
  const int32_t *rows;                  // as LstmBackwardArgs's: with a table input, d_gates' rows
  int64_t table_rows;                   // summed by the table row they read into d_table
  float *d_table;                       // [table_rows, 3H]
  float *scratch;
};

// The vanilla (Elman) RNN as rnn.ts has it: h_t = tanh(x_t·W + b + h_{t-1}·U); row-major.
struct RnnForwardArgs {
  int64_t steps, batch, hidden;
  const float *recurrent;  // U [H, H]
  const float *projected;  // x·W over the chunk [T·B, H], or a table of rows of it [V, H] that `rows` picks from
  const int32_t *rows;     // null, or the row of the table each row of the chunk reads [T·B], as the LSTM's
  const float *bias;       // b [H]
  const float *h0;         // [B, H]
  float *h;                // out: [T·B, H]
  float *scratch;          // LstmKernels::rnn_scratch_floats of them
};

struct RnnBackwardArgs {
  int64_t steps, batch, hidden;
  const float *recurrent;  // U [H, H]
  const float *h;          // the forward pass's outputs [T·B, H]
  const float *d_output;   // ∂loss/∂h over the chunk [T·B, H]
  float *d_gates;          // out: ∂loss/∂(pre-activation) [T·B, H]
  float *d_bias;           // out: ∂loss/∂b [H]
  const int32_t *rows;     // as LstmBackwardArgs's: with a table input, d_gates' rows summed by
  int64_t table_rows;      // the table row they read into d_table [table_rows, H]
  float *d_table;
  float *scratch;
};

// A whole model (embedding → recurrent layers → dense) stepping one character at a time in each
// of its streams (independent samples), for sampling: views of weights and state that the binding
// owns, as the model's tensors lay them out.
enum class Cell { kLstm, kGru, kRnn };
struct StepModel {
  Cell cell;
  int64_t vocab, embedding, hidden, layers, streams;
  const float *embeddings;                // [V, D]
  const float *const *kernel;             // per layer [in, G·H]
  const float *const *recurrent;          // per layer [H, G·H]
  const float *const *bias;               // per layer [G·H]
  const float *dense_kernel, *dense_bias;  // [H, V], [V]
  float *const *h, *const *c;             // per layer [streams, H]; c for the LSTM only
  float *scratch;                         // streams · (G·H + H + D) floats
  // [V, G·H]: for each character, the first layer's bias plus its input product, or null. A
  // step then reads one row of it instead of the first layer's whole input kernel.
  const float *input_table;
};

// The part of each step one thread computes: with a team of several, the member's share of the
// units (each gate block's columns for them) and of the logits, the members meeting wherever one
// reads what another wrote; with none (null), the whole step, meeting no one.
struct StepShare {
  Team *team;
  int member;
};

// One instruction-set path: its name, as RNN_TRAIN_ISA and the JavaScript side spell it.
struct LstmKernels {
  const char *isa;
  void (*forward)(const LstmForwardArgs &, Team &);
  void (*backward)(const LstmBackwardArgs &, Team &);
  // Floats of scratch either pass needs at this size and thread count (packed weights, the
  // carried ∂loss/∂c, each thread's operands in the products' form).
  int64_t (*scratch_floats)(int64_t batch, int64_t hidden, int threads);
  void (*gru_forward)(const GruForwardArgs &, Team &);
  void (*gru_backward)(const GruBackwardArgs &, Team &);
  int64_t (*gru_scratch_floats)(int64_t batch, int64_t hidden, int threads);
  void (*rnn_forward)(const RnnForwardArgs &, Team &);
  void (*rnn_backward)(const RnnBackwardArgs &, Team &);
  int64_t (*rnn_scratch_floats)(int64_t batch, int64_t hidden, int threads);
  // Each stream s reads character ids[s], updating its state; then, if `logits` is not null,
  // writes the next character's logits [streams, V] there: the share's part of them, every member
  // of its team calling it. Null on avx512bf16, which samples on avx512.
  void (*step)(const StepModel &, const int32_t *ids, float *logits, const StepShare &);
  // Fills `table` [V, G·H] as `input_table` holds it, summed in the order `step` sums without it,
  // so that a step gives the same bits with the table as without.
  void (*step_input_table)(const StepModel &, float *table);
};

// The paths this CPU can run, narrowest first; `generic` (baseline x86-64) always, and
// `avx512bf16` (bfloat16 products, for --precision bfloat16) last where the CPU has it.
std::vector<const LstmKernels *> SupportedKernels();
// The path named `isa` if this CPU can run it, else null.
const LstmKernels *FindKernels(const char *isa);

}  // namespace rnn
