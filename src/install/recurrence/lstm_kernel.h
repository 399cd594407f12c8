// The LSTM recurrence on vectors of L floats, written once for every ISA file to instantiate,
// with its products' operands in float32 (Float32Products, below) or another form an ISA file
// supplies (isa_avx512bf16.cc: bfloat16 pairs).
//
// Forward, per time step: the product h_{t-1}·U for a tile of L hidden units (all four gates of
// those units, so the gate maths needs nothing from other tiles) and FR rows of the batch at a
// time, into FR×4 vectors (in passes of Q gates where registers are few); then, on those
// accumulators, + (x·W + b), the non-linearities, the cell update and h. U is packed once per call
// so that each k's 4L weights of a tile are contiguous. Backward, per step, from the last:
// ∂h = ∂output + dA_{t+1}·Uᵀ for a tile of 2L units and BR rows, then that tile's dA_t, added
// into ∂b (and into its table row's gradient, with a table input) as it is stored over the
// forward's gates, which the step no longer needs (see LstmBackwardArgs on why). The threads
// of a Team split the tiles and meet after each step. Only class templates here, each
// instantiated by one ISA file: see team.h on why.
#pragma once

#include "recurrence.h"
#include "simd.h"
#include "team.h"
#include "tiling.h"

namespace rnn {

// The per-step products on float32 operands: U packed for them, the rows read in place; Q (4 or
// 2) gates of a forward tile a pass.
template <int L, int Q = 4>
struct Float32Products : Tiling<L> {
  using S = Simd<L>;
  using V = typename S::V;
  using Operand = float;
  static constexpr int kBackTile = 2 * L;
  using Tiling<L>::Tiles;
  using Tiling<L>::Valid;

  static int64_t ForwardTile(int64_t hidden) { return hidden * 4 * L; }
  static int64_t BackwardTile(int64_t hidden) { return 4 * hidden * kBackTile; }
  // Row stride, in operands, of rows of `columns` values; and the floats a member needs to convert them (none).
  static int64_t Stride(int64_t columns) { return columns; }
  static int64_t ConvertFloats(int64_t, int64_t) { return 0; }
  static const Operand *Convert(const float *values, int64_t, int64_t, float *) { return values; }

  // Tile t, row k: U[k, q·H + t·L + u] for gates q < 4 and units u < L (zero past H).
  static void PackForward(const float *U, int64_t H, float *packed) {
    for (int64_t t = 0; t < Tiles(H, L); t++) {
      const int n = Valid(H, t * L, L);
      for (int64_t k = 0; k < H; k++) {
        float *to = packed + t * ForwardTile(H) + k * 4 * L;
        for (int q = 0; q < 4; q++) {
          for (int u = 0; u < L; u++) to[q * L + u] = u < n ? U[k * 4 * H + q * H + t * L + u] : 0.0f;
        }
      }
    }
  }

  // Tile t, row k < 4H: U[t·2L + u, k] for units u < 2L (zero past H): Uᵀ's columns for the tile.
  static void PackBackward(const float *U, int64_t H, float *packed) {
    for (int64_t t = 0; t < Tiles(H, kBackTile); t++) {
      const int n = Valid(H, t * kBackTile, kBackTile);
      for (int64_t k = 0; k < 4 * H; k++) {
        float *to = packed + t * BackwardTile(H) + k * kBackTile;
        for (int u = 0; u < kBackTile; u++) to[u] = u < n ? U[(t * kBackTile + u) * 4 * H + k] : 0.0f;
      }
    }
  }

  // acc[r][q] += rows[r]·U[:, gate q of the tile's units], for M rows `stride` apart, Q gates a
  // pass over k: with 16 vector registers (AVX2) 6 rows × 2 gates keep the loads below the FMAs,
  // where 3 rows × 4 gates need more loads than the FMAs hide.
  template <int M>
  static void Forward(V (&acc)[M][4], const float *tile, const Operand *rows, int64_t stride, int64_t H) {
    for (int q = 0; q < 4; q += Q) ForwardGates<M>(acc, q, tile, rows, stride, H);
  }

  template <int M>
  static void ForwardGates(V (&acc)[M][4], int first, const float *tile, const Operand *rows, int64_t stride, int64_t H) {
    V part[M][Q] = {};
    for (int64_t k = 0; k < H; k++) {
      V w[Q];
      for (int q = 0; q < Q; q++) w[q] = S::Load(tile + k * 4 * L + (first + q) * L);
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const V x = S::Splat(rows[r * stride + k]);
        for (int q = 0; q < Q; q++) part[r][q] += x * w[q];
      }
    }
    for (int r = 0; r < M; r++) {
      for (int q = 0; q < Q; q++) acc[r][first + q] = part[r][q];
    }
  }

  // acc[r][v] += rows[r]·Uᵀ[:, the tile's units v·L + u], over the 4H gate columns.
  template <int M>
  static void Backward(V (&acc)[M][2], const float *tile, const Operand *rows, int64_t stride, int64_t G) {
    for (int64_t k = 0; k < G; k++) {
      const V w0 = S::Load(tile + k * kBackTile), w1 = S::Load(tile + k * kBackTile + L);
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const V x = S::Splat(rows[r * stride + k]);
        acc[r][0] += x * w0;
        acc[r][1] += x * w1;
      }
    }
  }
};

template <int L, int FR, int BR, typename P = Float32Products<L>>
struct LstmPath : Tiling<L> {
  using S = Simd<L>;
  using V = typename S::V;
  using Operand = typename P::Operand;
  static constexpr int kBackTile = 2 * L;
  using Tiling<L>::Tiles;
  using Tiling<L>::Valid;
  using Tiling<L>::InputRow;
  template <typename Args>
  using Job = typename Tiling<L>::template Job<Args>;

  // Packed weights (forward's, or backward's and the carried ∂loss/∂c), then each member's buffer for converted rows.
  static int64_t Shared(int64_t batch, int64_t hidden) {
    const int64_t forward = Tiles(hidden, L) * P::ForwardTile(hidden);
    const int64_t backward = Tiles(hidden, kBackTile) * P::BackwardTile(hidden) + batch * hidden;
    return forward > backward ? forward : backward;
  }
  static int64_t ScratchFloats(int64_t batch, int64_t hidden, int threads) { return Shared(batch, hidden) + threads * P::ConvertFloats(batch, 4 * hidden); }
  static float *MemberBuffer(float *scratch, int64_t batch, int64_t hidden, int member) {
    return scratch + Shared(batch, hidden) + member * P::ConvertFloats(batch, 4 * hidden);
  }

  // Rows [row, row + M) and units [unit, unit + n) of step t; `rows` are h_{t-1}'s, as P reads them.
  template <int M>
  static void ForwardBlock(const LstmForwardArgs &a, const float *tile, const Operand *rows, int64_t t, int64_t row, int64_t unit, int n) {
    const int64_t H = a.hidden, B = a.batch;
    const float *c_prev = t == 0 ? a.c0 + row * H : a.c + ((t - 1) * B + row) * H;
    V acc[M][4] = {};
    P::template Forward<M>(acc, tile, rows + row * P::Stride(H), P::Stride(H), H);
    V bias[4];
    for (int q = 0; q < 4; q++) bias[q] = S::LoadPart(a.bias + q * H + unit, n);
    for (int r = 0; r < M; r++) {
      const int64_t at = (t * B + row + r) * H + unit;
      const int64_t chunk_row = t * B + row + r;
      const float *x = a.projected + InputRow(a.rows, chunk_row) * 4 * H + unit;
      const V i = S::Sigmoid(acc[r][0] + (S::LoadPart(x, n) + bias[0]));
      const V f = S::Sigmoid(acc[r][1] + (S::LoadPart(x + H, n) + bias[1]));
      const V g = S::Tanh(acc[r][2] + (S::LoadPart(x + 2 * H, n) + bias[2]));
      const V o = S::Sigmoid(acc[r][3] + (S::LoadPart(x + 3 * H, n) + bias[3]));
      const V c = f * S::LoadPart(c_prev + r * H + unit, n) + i * g;
      const V tanh_c = S::Tanh(c);
      float *gates = a.gates + chunk_row * 4 * H + unit;
      S::StorePart(gates, i, n);
      S::StorePart(gates + H, f, n);
      S::StorePart(gates + 2 * H, g, n);
      S::StorePart(gates + 3 * H, o, n);
      S::StorePart(a.c + at, c, n);
      S::StorePart(a.tanh_c + at, tanh_c, n);
      S::StorePart(a.h + at, o * tanh_c, n);
    }
  }

  // The last rows < FR of a step, as one block of their own size.
  template <int M>
  static void ForwardTail(const LstmForwardArgs &a, const float *tile, const Operand *rows, int64_t t, int64_t row, int count, int64_t unit, int n) {
    if constexpr (M > 0) {
      if (count == M) return ForwardBlock<M>(a, tile, rows, t, row, unit, n);
      ForwardTail<M - 1>(a, tile, rows, t, row, count, unit, n);
    }
  }

  static void ForwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<LstmForwardArgs> *>(context);
    const int64_t H = a->hidden, B = a->batch;
    float *buffer = MemberBuffer(a->scratch, B, H, member);
    int64_t first, last;
    team->Share(Tiles(H, L), member, &first, &last);
    for (int64_t t = 0; t < a->steps; t++) {
      const Operand *rows = P::Convert(t == 0 ? a->h0 : a->h + (t - 1) * B * H, B, H, buffer);
      for (int64_t tile = first; tile < last; tile++) {
        const float *weights = a->scratch + tile * P::ForwardTile(H);
        const int n = Valid(H, tile * L, L);
        int64_t row = 0;
        for (; row + FR <= B; row += FR) ForwardBlock<FR>(*a, weights, rows, t, row, tile * L, n);
        ForwardTail<FR - 1>(*a, weights, rows, t, row, static_cast<int>(B - row), tile * L, n);
      }
      team->Barrier();
    }
  }

  static void Forward(const LstmForwardArgs &a, Team &team) {
    P::PackForward(a.recurrent, a.hidden, a.scratch);
    const Job<LstmForwardArgs> context{&a, &team};
    team.Run(ForwardMember, &context);
  }

  // ∂h (from dA_{t+1}, as `rows`, and ∂output) and then dA_t for rows [row, row + M), units [unit, unit + n).
  template <int M>
  static void BackwardBlock(const LstmBackwardArgs &a, const float *tile, const Operand *rows, float *d_c_carried, int64_t t, int64_t row, int64_t unit, int n) {
    const int64_t H = a.hidden, B = a.batch, G = 4 * H;
    V acc[M][2] = {};
    if (rows) P::template Backward<M>(acc, tile, rows + row * P::Stride(G), P::Stride(G), G);
    for (int r = 0; r < M; r++) {
      for (int v = 0; v < 2 && v * L < n; v++) {
        const int nv = n - v * L < L ? n - v * L : L;
        const int64_t u = unit + v * L, at = (t * B + row + r) * H + u;
        const V one = S::Splat(1.0f);
        const V d_h = acc[r][v] + S::LoadPart(a.d_output + at, nv);
        float *gates = a.gates + (t * B + row + r) * G + u;
        const V i = S::LoadPart(gates, nv), f = S::LoadPart(gates + H, nv), g = S::LoadPart(gates + 2 * H, nv);
        const V o = S::LoadPart(gates + 3 * H, nv), tanh_c = S::LoadPart(a.tanh_c + at, nv);
        const V c_prev = S::LoadPart(t == 0 ? a.c0 + (row + r) * H + u : a.c + at - B * H, nv);
        float *carried = d_c_carried + (row + r) * H + u;
        const V d_c = d_h * o * (one - tanh_c * tanh_c) + S::LoadPart(carried, nv);
        const V d_a[4] = {d_c * g * i * (one - i), d_c * c_prev * f * (one - f), d_c * i * (one - g * g), d_h * tanh_c * o * (one - o)};
        float *d_table = a.rows ? a.d_table + a.rows[t * B + row + r] * G : nullptr;
        for (int q = 0; q < 4; q++) {
          S::StorePart(gates + q * H, d_a[q], nv);
          S::AddPart(a.d_bias + q * H + u, d_a[q], nv);
          if (d_table) S::AddPart(d_table + q * H + u, d_a[q], nv);
        }
        S::StorePart(carried, d_c * f, nv);
      }
    }
  }

  template <int M>
  static void BackwardTail(const LstmBackwardArgs &a, const float *tile, const Operand *rows, float *d_c, int64_t t, int64_t row, int count, int64_t unit, int n) {
    if constexpr (M > 0) {
      if (count == M) return BackwardBlock<M>(a, tile, rows, d_c, t, row, unit, n);
      BackwardTail<M - 1>(a, tile, rows, d_c, t, row, count, unit, n);
    }
  }

  static void BackwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<LstmBackwardArgs> *>(context);
    const int64_t H = a->hidden, B = a->batch, G = 4 * H;
    float *d_c = a->scratch + Tiles(H, kBackTile) * P::BackwardTile(H);
    float *buffer = MemberBuffer(a->scratch, B, H, member);
    int64_t first, last;
    team->Share(Tiles(H, kBackTile), member, &first, &last);
    for (int64_t t = a->steps - 1; t >= 0; t--) {
      const Operand *rows = t + 1 < a->steps ? P::Convert(a->gates + (t + 1) * B * G, B, G, buffer) : nullptr;
      for (int64_t tile = first; tile < last; tile++) {
        const float *weights = a->scratch + tile * P::BackwardTile(H);
        const int n = Valid(H, tile * kBackTile, kBackTile);
        int64_t row = 0;
        for (; row + BR <= B; row += BR) BackwardBlock<BR>(*a, weights, rows, d_c, t, row, tile * kBackTile, n);
        BackwardTail<BR - 1>(*a, weights, rows, d_c, t, row, static_cast<int>(B - row), tile * kBackTile, n);
      }
      team->Barrier();
    }
  }

  static void Backward(const LstmBackwardArgs &a, Team &team) {
    P::PackBackward(a.recurrent, a.hidden, a.scratch);
    float *d_c = a.scratch + Tiles(a.hidden, kBackTile) * P::BackwardTile(a.hidden);
    for (int64_t k = 0; k < a.batch * a.hidden; k++) d_c[k] = 0.0f;
    for (int64_t k = 0; k < 4 * a.hidden; k++) a.d_bias[k] = 0.0f;
    if (a.rows) for (int64_t k = 0; k < a.table_rows * 4 * a.hidden; k++) a.d_table[k] = 0.0f;
    const Job<LstmBackwardArgs> context{&a, &team};
    team.Run(BackwardMember, &context);
  }
};

}  // namespace rnn
