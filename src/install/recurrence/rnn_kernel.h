// The vanilla (Elman) RNN recurrence, rnn.ts's maths, h_t = tanh(p_t + b + h_{t-1}·U) with the
// input projections p = x·W over the chunk, on vectors of L floats, written once for every ISA
// file to instantiate. One product a step each way, so the team meets once a step: forward,
// h_{t-1}·U for a tile of units gives h_t; backward, ∂a_t·Uᵀ for a tile gives that tile's share
// of ∂h_{t-1}, and with ∂output_{t-1} and 1 − h², its ∂a_{t-1}, added into ∂b. U is packed once
// per call into tiles whose k-th row holds the tile's units' weights side by side (Uᵀ's for the
// backward pass).
#pragma once

#include "recurrence.h"
#include "simd.h"
#include "team.h"
#include "tiling.h"

namespace rnn {

template <int L, int R>
struct RnnPath : Tiling<L> {
  using S = Simd<L>;
  using V = typename S::V;
  using Tiling<L>::Tiles;
  using Tiling<L>::Valid;
  using Tiling<L>::Previous;
  using Tiling<L>::InputRow;
  template <typename Args>
  using Job = typename Tiling<L>::template Job<Args>;
  static constexpr int kTile = 2 * L;

  static int64_t ScratchFloats(int64_t, int64_t hidden, int) { return Tiles(hidden, kTile) * hidden * kTile; }

  // packed[(t·H + k)·kTile + u] = U[k, t·kTile + u] forward, U[t·kTile + u, k] (Uᵀ) backward; zero past H.
  static void Pack(const float *U, int64_t H, bool transposed, float *packed) {
    for (int64_t t = 0; t < Tiles(H, kTile); t++) {
      const int n = Valid(H, t * kTile, kTile);
      for (int64_t k = 0; k < H; k++) {
        float *to = packed + (t * H + k) * kTile;
        for (int u = 0; u < kTile; u++) {
          const int64_t unit = t * kTile + u;
          to[u] = u >= n ? 0.0f : transposed ? U[unit * H + k] : U[k * H + unit];
        }
      }
    }
  }

  // Applies f(column offset, width) to the tile's one or two vectors of units.
  template <typename F>
  static void Vectors(int n, F f) {
    for (int v = 0; v < 2 && v * L < n; v++) f(v, n - v * L < L ? n - v * L : L);
  }

  // Forward, step t, rows [row, row + M): h_t = tanh(p_t + h_{t-1}·U) for a tile's units.
  struct ForwardBlock {
    const RnnForwardArgs *a;
    const float *tile;
    int64_t t, base, unit;
    int n;
    ForwardBlock From(int64_t row) const { return {a, tile, t, base + row, unit, n}; }
    template <int M>
    void Run(int64_t row) const {
      const int64_t H = a->hidden, B = a->batch, first = base + row;
      V acc[M][2] = {};
      Tiling<L>::template Product<M, 2>(acc, tile, Previous(a->h0, a->h, t, B * H) + first * H, H, H);
      for (int r = 0; r < M; r++) {
        const int64_t at = (t * B + first + r) * H + unit;
        const float *x = a->projected + InputRow(a->rows, t * B + first + r) * H + unit;
        Vectors(n, [&](int v, int w) {
          const V p = S::LoadPart(x + v * L, w) + S::LoadPart(a->bias + unit + v * L, w);
          S::StorePart(a->h + at + v * L, S::Tanh(acc[r][v] + p), w);
        });
      }
    }
  };

  // ∂a = ∂h ⊙ (1 − h²) in the chunk's row `row` at unit `u`, for one vector of w units; and
  // ∂b += ∂a, and with a table input the same into the gradient of the table row it read.
  static void PreActivation(const RnnBackwardArgs &a, int64_t row, int64_t u, V d_h, int w) {
    const int64_t at = row * a.hidden + u;
    const V h = S::LoadPart(a.h + at, w), d_a = d_h * (S::Splat(1.0f) - h * h);
    S::StorePart(a.d_gates + at, d_a, w);
    S::AddPart(a.d_bias + u, d_a, w);
    if (a.rows) S::AddPart(a.d_table + a.rows[row] * a.hidden + u, d_a, w);
  }

  // Backward, from step t's ∂a to step t − 1's, rows [row, row + M), for a tile's units.
  struct BackwardBlock {
    const RnnBackwardArgs *a;
    const float *tile;
    int64_t t, base, unit;
    int n;
    BackwardBlock From(int64_t row) const { return {a, tile, t, base + row, unit, n}; }
    template <int M>
    void Run(int64_t row) const {
      const int64_t H = a->hidden, B = a->batch, first = base + row;
      V acc[M][2] = {};
      Tiling<L>::template Product<M, 2>(acc, tile, a->d_gates + (t * B + first) * H, H, H);
      for (int r = 0; r < M; r++) {
        const int64_t row = (t - 1) * B + first + r, at = row * H + unit;
        Vectors(n, [&](int v, int w) { PreActivation(*a, row, unit + v * L, acc[r][v] + S::LoadPart(a->d_output + at + v * L, w), w); });
      }
    }
  };

  static void ForwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<RnnForwardArgs> *>(context);
    const int64_t H = a->hidden;
    int64_t first, last;
    team->Share(Tiles(H, kTile), member, &first, &last);
    for (int64_t t = 0; t < a->steps; t++) {
      for (int64_t tile = first; tile < last; tile++) {
        Tiling<L>::template Rows<R>(a->batch, ForwardBlock{a, a->scratch + tile * H * kTile, t, 0, tile * kTile, Valid(H, tile * kTile, kTile)});
      }
      team->Barrier();
    }
  }

  static void BackwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<RnnBackwardArgs> *>(context);
    const int64_t H = a->hidden, B = a->batch, T = a->steps;
    int64_t first, last;
    team->Share(Tiles(H, kTile), member, &first, &last);
    for (int64_t tile = first; tile < last; tile++) {
      for (int64_t b = 0; b < B; b++) {
        const int64_t row = (T - 1) * B + b, at = row * H + tile * kTile;
        Vectors(Valid(H, tile * kTile, kTile), [&](int v, int w) {
          PreActivation(*a, row, tile * kTile + v * L, S::LoadPart(a->d_output + at + v * L, w), w);
        });
      }
    }
    team->Barrier();
    for (int64_t t = T - 1; t > 0; t--) {
      for (int64_t tile = first; tile < last; tile++) {
        Tiling<L>::template Rows<R>(B, BackwardBlock{a, a->scratch + tile * H * kTile, t, 0, tile * kTile, Valid(H, tile * kTile, kTile)});
      }
      team->Barrier();
    }
  }

  static void Forward(const RnnForwardArgs &a, Team &team) {
    Pack(a.recurrent, a.hidden, false, a.scratch);
    const Job<RnnForwardArgs> context{&a, &team};
    team.Run(ForwardMember, &context);
  }

  static void Backward(const RnnBackwardArgs &a, Team &team) {
    Pack(a.recurrent, a.hidden, true, a.scratch);
    for (int64_t k = 0; k < a.hidden; k++) a.d_bias[k] = 0.0f;
    if (a.rows) for (int64_t k = 0; k < a.table_rows * a.hidden; k++) a.d_table[k] = 0.0f;
    const Job<RnnBackwardArgs> context{&a, &team};
    team.Run(BackwardMember, &context);
  }
};

}  // namespace rnn
