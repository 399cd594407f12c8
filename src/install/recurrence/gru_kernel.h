// The GRU recurrence (gru.ts's maths: reset_after false, gates z, r, h) on vectors of L floats,
// written once for every ISA file to instantiate, as lstm_kernel.h is for the LSTM. A step has two
// dependent products, so the team meets twice per step: forward, h_{t-1}·U_zr gives z, r and
// r ⊙ h_{t-1} for a tile of units, then (r ⊙ h_{t-1})·U_h the candidate and h; backward, ∂a_h
// for a tile, then ∂a_h·U_hᵀ gives ∂(r ⊙ h) and so ∂a_z, ∂a_r, then ∂a_zr·U_zrᵀ the rest of ∂h_{t-1}.
// Each ∂a is added into ∂b as it is stored, and with a table input into its table row's gradient.
// U is packed once per call into tiles whose k-th row holds the tile's units' weights side by side.
#pragma once

#include "recurrence.h"
#include "simd.h"
#include "team.h"
#include "tiling.h"

namespace rnn {

template <int L, int R>
struct GruPath : Tiling<L> {
  using S = Simd<L>;
  using V = typename S::V;
  static constexpr int kBackTile = 2 * L;
  using Tiling<L>::Tiles;
  using Tiling<L>::Valid;
  using Tiling<L>::Previous;
  using Tiling<L>::InputRow;
  template <typename Args>
  using Job = typename Tiling<L>::template Job<Args>;
  template <int M, int NV>
  static void Product(V (&acc)[M][NV], const float *tile, const float *rows, int64_t stride, int64_t K) {
    Tiling<L>::template Product<M, NV>(acc, tile, rows, stride, K);
  }
  template <typename Block>
  static void Rows(int64_t batch, const Block &block) {
    Tiling<L>::template Rows<R>(batch, block);
  }

  // Forward: per tile of L units, z and r side by side (2L a row) for k < H; then, after all of
  // those, the candidate's (L a row). Backward: per tile of 2L units, Uᵀ's rows for the candidate
  // (k < H), then for z and r (k < 2H).
  static int64_t ForwardZr(int64_t H) { return Tiles(H, L) * H * 2 * L; }
  static int64_t BackwardH(int64_t H) { return Tiles(H, kBackTile) * H * kBackTile; }
  static int64_t BackwardPacked(int64_t H) { return BackwardH(H) + Tiles(H, kBackTile) * 2 * H * kBackTile; }
  static int64_t ScratchFloats(int64_t batch, int64_t hidden, int) {
    const int64_t forward = ForwardZr(hidden) + Tiles(hidden, L) * hidden * L;
    const int64_t backward = BackwardPacked(hidden) + 2 * batch * hidden;
    return forward > backward ? forward : backward;
  }

  // packed[(t·K + k)·width + v·L + u] = U[k, column(v, t·L·(width/L)/… )]: the columns of `blocks`
  // gate blocks for a tile's units, zero past H.
  static void PackColumns(const float *U, int64_t H, int64_t first_block, int blocks, int width, float *packed) {
    for (int64_t t = 0; t < Tiles(H, width / blocks); t++) {
      const int64_t unit = t * (width / blocks);
      const int n = Valid(H, unit, width / blocks);
      for (int64_t k = 0; k < H; k++) {
        float *to = packed + (t * H + k) * width;
        for (int b = 0; b < blocks; b++) {
          for (int u = 0; u < width / blocks; u++) to[b * (width / blocks) + u] = u < n ? U[k * 3 * H + (first_block + b) * H + unit + u] : 0.0f;
        }
      }
    }
  }

  // packed[(t·K + k)·2L + u] = U[t·2L + u, first + k] for k < K: Uᵀ's rows for the tile's units.
  static void PackRows(const float *U, int64_t H, int64_t first, int64_t K, float *packed) {
    for (int64_t t = 0; t < Tiles(H, kBackTile); t++) {
      const int n = Valid(H, t * kBackTile, kBackTile);
      for (int64_t k = 0; k < K; k++) {
        float *to = packed + (t * K + k) * kBackTile;
        for (int u = 0; u < kBackTile; u++) to[u] = u < n ? U[(t * kBackTile + u) * 3 * H + first + k] : 0.0f;
      }
    }
  }

  // Forward, first product of step t for rows [row, row + M): z, r and r ⊙ h_{t-1} of a tile's units.
  struct GatesBlock {
    const GruForwardArgs *a;
    const float *tile;
    int64_t t, base, unit;
    int n;
    GatesBlock From(int64_t row) const { return {a, tile, t, base + row, unit, n}; }
    template <int M>
    void Run(int64_t row) const {
      const int64_t H = a->hidden, B = a->batch, first = base + row;
      const float *h_prev = Previous(a->h0, a->h, t, B * H) + first * H;
      V acc[M][2] = {};
      Product<M, 2>(acc, tile, h_prev, H, H);
      const V b_z = S::LoadPart(a->bias + unit, n), b_r = S::LoadPart(a->bias + H + unit, n);
      for (int r = 0; r < M; r++) {
        const int64_t at = (t * B + first + r) * H + unit;
        const float *x = a->projected + InputRow(a->rows, t * B + first + r) * 3 * H + unit;
        const V z = S::Sigmoid(acc[r][0] + (S::LoadPart(x, n) + b_z)), reset = S::Sigmoid(acc[r][1] + (S::LoadPart(x + H, n) + b_r));
        S::StorePart(a->z + at, z, n);
        S::StorePart(a->r + at, reset, n);
        S::StorePart(a->rh + at, reset * S::LoadPart(h_prev + r * H + unit, n), n);
      }
    }
  };

  // Forward, second product: the candidate and h of a tile's units.
  struct CandidateBlock {
    const GruForwardArgs *a;
    const float *tile;
    int64_t t, base, unit;
    int n;
    CandidateBlock From(int64_t row) const { return {a, tile, t, base + row, unit, n}; }
    template <int M>
    void Run(int64_t row) const {
      const int64_t H = a->hidden, B = a->batch, first = base + row;
      V acc[M][1] = {};
      Product<M, 1>(acc, tile, a->rh + (t * B + first) * H, H, H);
      const float *h_prev = Previous(a->h0, a->h, t, B * H) + first * H;
      const V b_h = S::LoadPart(a->bias + 2 * H + unit, n);
      for (int r = 0; r < M; r++) {
        const int64_t at = (t * B + first + r) * H + unit;
        const V candidate = S::Tanh(acc[r][0] + (S::LoadPart(a->projected + InputRow(a->rows, t * B + first + r) * 3 * H + 2 * H + unit, n) + b_h));
        const V z = S::LoadPart(a->z + at, n);
        S::StorePart(a->hh + at, candidate, n);
        S::StorePart(a->h + at, candidate + z * (S::LoadPart(h_prev + r * H + unit, n) - candidate), n);
      }
    }
  };

  static void ForwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<GruForwardArgs> *>(context);
    const int64_t H = a->hidden;
    int64_t first, last;
    team->Share(Tiles(H, L), member, &first, &last);
    for (int64_t t = 0; t < a->steps; t++) {
      for (int64_t tile = first; tile < last; tile++) {
        Rows(a->batch, GatesBlock{a, a->scratch + tile * H * 2 * L, t, 0, tile * L, Valid(H, tile * L, L)});
      }
      team->Barrier();
      for (int64_t tile = first; tile < last; tile++) {
        Rows(a->batch, CandidateBlock{a, a->scratch + ForwardZr(H) + tile * H * L, t, 0, tile * L, Valid(H, tile * L, L)});
      }
      team->Barrier();
    }
  }

  static void Forward(const GruForwardArgs &a, Team &team) {
    PackColumns(a.recurrent, a.hidden, 0, 2, 2 * L, a.scratch);
    PackColumns(a.recurrent, a.hidden, 2, 1, L, a.scratch + ForwardZr(a.hidden));
    const Job<GruForwardArgs> context{&a, &team};
    team.Run(ForwardMember, &context);
  }

  // What each backward phase reads besides the arguments: ∂h of this step and the carried part of
  // the next ∂h_{t-1}, each [B, H], and where the packed Uᵀ tiles are.
  struct Carried {
    float *d_h, *d_next;
    const float *tile_h, *tile_zr;
  };

  // Backward phase 1, elementwise on a tile's units: ∂h = ∂output + carried, and ∂a_h.
  static void CandidateGradient(const GruBackwardArgs &a, const Carried &c, int64_t t, int64_t unit, int n) {
    const int64_t H = a.hidden, B = a.batch;
    for (int64_t b = 0; b < B; b++) {
      for (int64_t v = 0; v < n; v += L) {
        const int w = n - v < L ? static_cast<int>(n - v) : L;
        const int64_t u = unit + v, at = (t * B + b) * H + u;
        const V d_h = S::LoadPart(a.d_output + at, w) + S::LoadPart(c.d_next + b * H + u, w);
        const V z = S::LoadPart(a.z + at, w), candidate = S::LoadPart(a.hh + at, w), one = S::Splat(1.0f);
        const V d_a = d_h * (one - z) * (one - candidate * candidate);
        S::StorePart(c.d_h + b * H + u, d_h, w);
        S::StorePart(a.d_gates + (t * B + b) * 3 * H + 2 * H + u, d_a, w);
        S::AddPart(a.d_bias + 2 * H + u, d_a, w);
        if (a.rows) S::AddPart(a.d_table + a.rows[t * B + b] * 3 * H + 2 * H + u, d_a, w);
      }
    }
  }

  // Backward phase 2: ∂(r ⊙ h) = ∂a_h·U_hᵀ, then ∂a_z, ∂a_r, and ∂h·z + ∂(r ⊙ h)·r into d_next.
  struct ResetBlock {
    const GruBackwardArgs *a;
    const Carried *c;
    int64_t t, base, unit;
    int n;
    ResetBlock From(int64_t row) const { return {a, c, t, base + row, unit, n}; }
    template <int M>
    void Run(int64_t row) const {
      const int64_t H = a->hidden, B = a->batch, G = 3 * H, first = base + row;
      V acc[M][2] = {};
      Product<M, 2>(acc, c->tile_h, a->d_gates + (t * B + first) * G + 2 * H, G, H);
      const float *h_prev = Previous(a->h0, a->h, t, B * H) + first * H;
      const V one = S::Splat(1.0f);
      for (int r = 0; r < M; r++) {
        for (int v = 0; v < 2 && v * L < n; v++) {
          const int w = n - v * L < L ? n - v * L : L;
          const int64_t u = unit + v * L, at = (t * B + first + r) * H + u, s = (first + r) * H + u;
          const V z = S::LoadPart(a->z + at, w), reset = S::LoadPart(a->r + at, w), candidate = S::LoadPart(a->hh + at, w);
          const V h = S::LoadPart(h_prev + r * H + u, w), d_h = S::LoadPart(c->d_h + s, w), d_rh = acc[r][v];
          float *d = a->d_gates + (t * B + first + r) * G + u;
          const V d_z = d_h * (h - candidate) * z * (one - z), d_r = d_rh * h * reset * (one - reset);
          S::StorePart(d, d_z, w);
          S::StorePart(d + H, d_r, w);
          S::AddPart(a->d_bias + u, d_z, w);
          S::AddPart(a->d_bias + H + u, d_r, w);
          if (a->rows) {
            float *d_table = a->d_table + a->rows[t * B + first + r] * G + u;
            S::AddPart(d_table, d_z, w);
            S::AddPart(d_table + H, d_r, w);
          }
          S::StorePart(c->d_next + s, d_h * z + d_rh * reset, w);
        }
      }
    }
  };

  // Backward phase 3: d_next += ∂a_zr·U_zrᵀ, the rest of ∂h_{t-1}.
  struct RecurrentBlock {
    const GruBackwardArgs *a;
    const Carried *c;
    int64_t t, base, unit;
    int n;
    RecurrentBlock From(int64_t row) const { return {a, c, t, base + row, unit, n}; }
    template <int M>
    void Run(int64_t row) const {
      const int64_t H = a->hidden, B = a->batch, G = 3 * H, first = base + row;
      V acc[M][2] = {};
      Product<M, 2>(acc, c->tile_zr, a->d_gates + (t * B + first) * G, G, 2 * H);
      for (int r = 0; r < M; r++) {
        for (int v = 0; v < 2 && v * L < n; v++) {
          const int w = n - v * L < L ? n - v * L : L;
          float *d_next = c->d_next + (first + r) * H + unit + v * L;
          S::StorePart(d_next, S::LoadPart(d_next, w) + acc[r][v], w);
        }
      }
    }
  };

  static void BackwardMember(const void *context, int member) {
    const auto &[a, team] = *static_cast<const Job<GruBackwardArgs> *>(context);
    const int64_t H = a->hidden, B = a->batch;
    float *d_h = a->scratch + BackwardPacked(H);
    int64_t first, last;
    team->Share(Tiles(H, kBackTile), member, &first, &last);
    const auto carried = [&](int64_t tile) {
      return Carried{d_h, d_h + B * H, a->scratch + tile * H * kBackTile, a->scratch + BackwardH(H) + tile * 2 * H * kBackTile};
    };
    for (int64_t t = a->steps - 1; t >= 0; t--) {
      for (int64_t tile = first; tile < last; tile++) CandidateGradient(*a, carried(tile), t, tile * kBackTile, Valid(H, tile * kBackTile, kBackTile));
      team->Barrier();
      for (int64_t tile = first; tile < last; tile++) {
        const Carried c = carried(tile);
        Rows(B, ResetBlock{a, &c, t, 0, tile * kBackTile, Valid(H, tile * kBackTile, kBackTile)});
      }
      team->Barrier();
      if (t == 0) break;
      for (int64_t tile = first; tile < last; tile++) {
        const Carried c = carried(tile);
        Rows(B, RecurrentBlock{a, &c, t, 0, tile * kBackTile, Valid(H, tile * kBackTile, kBackTile)});
      }
    }
  }

  static void Backward(const GruBackwardArgs &a, Team &team) {
    PackRows(a.recurrent, a.hidden, 2 * a.hidden, a.hidden, a.scratch);
    PackRows(a.recurrent, a.hidden, 0, 2 * a.hidden, a.scratch + BackwardH(a.hidden));
    float *carried = a.scratch + BackwardPacked(a.hidden);
    for (int64_t k = 0; k < 2 * a.batch * a.hidden; k++) carried[k] = 0.0f;
    for (int64_t k = 0; k < 3 * a.hidden; k++) a.d_bias[k] = 0.0f;
    if (a.rows) for (int64_t k = 0; k < a.table_rows * 3 * a.hidden; k++) a.d_table[k] = 0.0f;
    const Job<GruBackwardArgs> context{&a, &team};
    team.Run(BackwardMember, &context);
  }
};

}  // namespace rnn
