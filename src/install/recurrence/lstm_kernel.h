// The LSTM recurrence on vectors of L floats, written once for every ISA file to instantiate.
//
// Forward, per time step: the product h_{t-1}·U for a tile of L hidden units (all four gates of
// those units, so the gate maths needs nothing from other tiles) and FR rows of the batch at a
// time, in FR×4 vector accumulators; then, on those accumulators, + x·W + b, the non-linearities,
// the cell update and h. U is packed once per call so that each k's 4L weights of a tile are
// contiguous. Backward, per step, from the last: ∂h = ∂output + dA_{t+1}·Uᵀ for a tile of 2L units
// and BR rows, then that tile's dA_t. The threads of a Team split the tiles and meet after each
// step. Only class templates here, each instantiated by one ISA file: see team.h on why.
#pragma once

#include "recurrence.h"
#include "simd.h"
#include "team.h"

namespace rnn {

template <int L, int FR, int BR>
struct LstmPath {
  using S = Simd<L>;
  using V = typename S::V;
  static constexpr int kBackTile = 2 * L;
  // What Team::Run hands each member; a type of this instantiation's own (not std::pair).
  template <typename Args>
  struct Job {
    const Args *args;
    Team *team;
  };

  static int64_t Tiles(int64_t hidden, int64_t width) { return (hidden + width - 1) / width; }
  static int Valid(int64_t hidden, int64_t unit, int64_t width) { return static_cast<int>(hidden - unit < width ? hidden - unit : width); }

  static int64_t ForwardPacked(int64_t hidden) { return Tiles(hidden, L) * hidden * 4 * L; }
  static int64_t BackwardPacked(int64_t hidden) { return Tiles(hidden, kBackTile) * 4 * hidden * kBackTile; }
  static int64_t ScratchFloats(int64_t batch, int64_t hidden) {
    const int64_t backward = BackwardPacked(hidden) + batch * hidden;
    return ForwardPacked(hidden) > backward ? ForwardPacked(hidden) : backward;
  }

  // Tile t, row k: U[k, q·H + t·L + u] for gates q < 4 and units u < L (zero past H).
  static void PackForward(const float *U, int64_t H, float *packed) {
    for (int64_t t = 0; t < Tiles(H, L); t++) {
      const int n = Valid(H, t * L, L);
      for (int64_t k = 0; k < H; k++) {
        float *to = packed + (t * H + k) * 4 * L;
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
        float *to = packed + (t * 4 * H + k) * kBackTile;
        for (int u = 0; u < kBackTile; u++) to[u] = u < n ? U[(t * kBackTile + u) * 4 * H + k] : 0.0f;
      }
    }
  }

  // Rows [row, row + M) and units [unit, unit + n) of step t.
  template <int M>
  static void ForwardBlock(const LstmForwardArgs &a, const float *tile, int64_t t, int64_t row, int64_t unit, int n) {
    const int64_t H = a.hidden, B = a.batch;
    const float *h_prev = t == 0 ? a.h0 + row * H : a.h + ((t - 1) * B + row) * H;
    const float *c_prev = t == 0 ? a.c0 + row * H : a.c + ((t - 1) * B + row) * H;
    V acc[M][4] = {};
    for (int64_t k = 0; k < H; k++) {
      const float *w = tile + k * 4 * L;
      const V w0 = S::Load(w), w1 = S::Load(w + L), w2 = S::Load(w + 2 * L), w3 = S::Load(w + 3 * L);
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const V x = S::Splat(h_prev[r * H + k]);
        acc[r][0] += x * w0;
        acc[r][1] += x * w1;
        acc[r][2] += x * w2;
        acc[r][3] += x * w3;
      }
    }
    for (int r = 0; r < M; r++) {
      const int64_t at = (t * B + row + r) * H + unit;
      const float *x = a.projected + (t * B + row + r) * 4 * H + unit;
      const V i = S::Sigmoid(acc[r][0] + S::LoadPart(x, n));
      const V f = S::Sigmoid(acc[r][1] + S::LoadPart(x + H, n));
      const V g = S::Tanh(acc[r][2] + S::LoadPart(x + 2 * H, n));
      const V o = S::Sigmoid(acc[r][3] + S::LoadPart(x + 3 * H, n));
      const V c = f * S::LoadPart(c_prev + r * H + unit, n) + i * g;
      const V tanh_c = S::Tanh(c);
      S::StorePart(a.i + at, i, n);
      S::StorePart(a.f + at, f, n);
      S::StorePart(a.g + at, g, n);
      S::StorePart(a.o + at, o, n);
      S::StorePart(a.c + at, c, n);
      S::StorePart(a.tanh_c + at, tanh_c, n);
      S::StorePart(a.h + at, o * tanh_c, n);
    }
  }

  // The last rows < FR of a step, as one block of their own size.
  template <int M>
  static void ForwardTail(const LstmForwardArgs &a, const float *tile, int64_t t, int64_t row, int rows, int64_t unit, int n) {
    if constexpr (M > 0) {
      if (rows == M) return ForwardBlock<M>(a, tile, t, row, unit, n);
      ForwardTail<M - 1>(a, tile, t, row, rows, unit, n);
    }
  }

  static void ForwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<LstmForwardArgs> *>(context);
    int64_t first, last;
    team->Share(Tiles(a->hidden, L), member, &first, &last);
    for (int64_t t = 0; t < a->steps; t++) {
      for (int64_t tile = first; tile < last; tile++) {
        const float *weights = a->scratch + tile * a->hidden * 4 * L;
        const int n = Valid(a->hidden, tile * L, L);
        int64_t row = 0;
        for (; row + FR <= a->batch; row += FR) ForwardBlock<FR>(*a, weights, t, row, tile * L, n);
        ForwardTail<FR - 1>(*a, weights, t, row, static_cast<int>(a->batch - row), tile * L, n);
      }
      team->Barrier();
    }
  }

  static void Forward(const LstmForwardArgs &a, Team &team) {
    PackForward(a.recurrent, a.hidden, a.scratch);
    const Job<LstmForwardArgs> context{&a, &team};
    team.Run(ForwardMember, &context);
  }

  // ∂h (from dA_{t+1} and ∂output) and then dA_t for rows [row, row + M), units [unit, unit + n).
  template <int M>
  static void BackwardBlock(const LstmBackwardArgs &a, const float *tile, float *d_c_carried, int64_t t, int64_t row, int64_t unit, int n) {
    const int64_t H = a.hidden, B = a.batch, G = 4 * H;
    V acc[M][2] = {};
    if (t + 1 < a.steps) {
      const float *d_next = a.d_gates + ((t + 1) * B + row) * G;
      for (int64_t k = 0; k < G; k++) {
        const V w0 = S::Load(tile + k * kBackTile), w1 = S::Load(tile + k * kBackTile + L);
#pragma GCC unroll 8
        for (int r = 0; r < M; r++) {
          const V x = S::Splat(d_next[r * G + k]);
          acc[r][0] += x * w0;
          acc[r][1] += x * w1;
        }
      }
    }
    for (int r = 0; r < M; r++) {
      for (int v = 0; v < 2 && v * L < n; v++) {
        const int nv = n - v * L < L ? n - v * L : L;
        const int64_t u = unit + v * L, at = (t * B + row + r) * H + u;
        const V one = S::Splat(1.0f);
        const V d_h = acc[r][v] + S::LoadPart(a.d_output + at, nv);
        const V i = S::LoadPart(a.i + at, nv), f = S::LoadPart(a.f + at, nv), g = S::LoadPart(a.g + at, nv);
        const V o = S::LoadPart(a.o + at, nv), tanh_c = S::LoadPart(a.tanh_c + at, nv);
        const V c_prev = S::LoadPart(t == 0 ? a.c0 + (row + r) * H + u : a.c + at - B * H, nv);
        float *carried = d_c_carried + (row + r) * H + u;
        const V d_c = d_h * o * (one - tanh_c * tanh_c) + S::LoadPart(carried, nv);
        float *d = a.d_gates + (t * B + row + r) * G + u;
        S::StorePart(d, d_c * g * i * (one - i), nv);
        S::StorePart(d + H, d_c * c_prev * f * (one - f), nv);
        S::StorePart(d + 2 * H, d_c * i * (one - g * g), nv);
        S::StorePart(d + 3 * H, d_h * tanh_c * o * (one - o), nv);
        S::StorePart(carried, d_c * f, nv);
      }
    }
  }

  template <int M>
  static void BackwardTail(const LstmBackwardArgs &a, const float *tile, float *d_c, int64_t t, int64_t row, int rows, int64_t unit, int n) {
    if constexpr (M > 0) {
      if (rows == M) return BackwardBlock<M>(a, tile, d_c, t, row, unit, n);
      BackwardTail<M - 1>(a, tile, d_c, t, row, rows, unit, n);
    }
  }

  static void BackwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<LstmBackwardArgs> *>(context);
    const int64_t H = a->hidden;
    float *d_c = a->scratch + BackwardPacked(H);
    int64_t first, last;
    team->Share(Tiles(H, kBackTile), member, &first, &last);
    for (int64_t t = a->steps - 1; t >= 0; t--) {
      for (int64_t tile = first; tile < last; tile++) {
        const float *weights = a->scratch + tile * 4 * H * kBackTile;
        const int n = Valid(H, tile * kBackTile, kBackTile);
        int64_t row = 0;
        for (; row + BR <= a->batch; row += BR) BackwardBlock<BR>(*a, weights, d_c, t, row, tile * kBackTile, n);
        BackwardTail<BR - 1>(*a, weights, d_c, t, row, static_cast<int>(a->batch - row), tile * kBackTile, n);
      }
      team->Barrier();
    }
  }

  static void Backward(const LstmBackwardArgs &a, Team &team) {
    PackBackward(a.recurrent, a.hidden, a.scratch);
    float *d_c = a.scratch + BackwardPacked(a.hidden);
    for (int64_t k = 0; k < a.batch * a.hidden; k++) d_c[k] = 0.0f;
    const Job<LstmBackwardArgs> context{&a, &team};
    team.Run(BackwardMember, &context);
  }
};

}  // namespace rnn
