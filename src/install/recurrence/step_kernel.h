// One time step of a whole model for each of its streams (sampling), on vectors of L floats,
// written once for every ISA file to instantiate. A step is matrix-vector products, one per
// stream, bound by reading the weights once: out[j] += Σ_k v[k]·M[k, j] walks M's rows as they
// are stored, so no packing is needed; the gate maths follows on whole vectors.
#pragma once

#include "recurrence.h"
#include "simd.h"
#include "team.h"

namespace rnn {

template <int L>
struct StepPath {
  using S = Simd<L>;
  using V = typename S::V;

  // Column vectors of a tile of several streams' products: with four streams, C·4 accumulators
  // and C weight vectors fit the registers (32 on AVX-512, 16 below it).
  static constexpr int kTileVectors = L >= 16 ? 4 : 2;
  static constexpr int kTileStreams = 4;

  // For each stream s < streams: out_s[0, cols) += x_s[0, rows) · M[0, rows) × [col0, col0 + cols),
  // M's rows `stride` apart, x_s = x + s·x_stride, out_s = out + s·out_stride.
  static void MatMat(const float *M, int64_t stride, int64_t rows, int64_t col0, int64_t cols, const float *x, int64_t x_stride,
                     float *out, int64_t out_stride, int64_t streams) {
    if (streams == 1) return MatVec(M + col0, stride, rows, cols, x, out);
    for (int64_t s = 0; s < streams; s += kTileStreams) {
      const int64_t r = streams - s < kTileStreams ? streams - s : kTileStreams;
      const float *xs = x + s * x_stride;
      float *os = out + s * out_stride;
      if (r == 4) Tiles<4>(M + col0, stride, rows, cols, xs, x_stride, os, out_stride);
      if (r == 3) Tiles<3>(M + col0, stride, rows, cols, xs, x_stride, os, out_stride);
      if (r == 2) Tiles<2>(M + col0, stride, rows, cols, xs, x_stride, os, out_stride);
      if (r == 1) MatVec(M + col0, stride, rows, cols, xs, os);
    }
  }

  // One stream is bound by reading the weights: four rows at a time, each swept along its
  // columns, so that every weight is read once in the order it is stored, which the prefetchers
  // follow (a column block down all rows would jump a row per load).
  static void MatVec(const float *M, int64_t stride, int64_t rows, int64_t cols, const float *v, float *out) {
    const int64_t full = cols / L * L;
    int64_t k = 0;
    for (; k + 4 <= rows; k += 4) {
      const float *m0 = M + k * stride, *m1 = m0 + stride, *m2 = m1 + stride, *m3 = m2 + stride;
      const V x0 = S::Splat(v[k]), x1 = S::Splat(v[k + 1]), x2 = S::Splat(v[k + 2]), x3 = S::Splat(v[k + 3]);
      for (int64_t j = 0; j < full; j += L) {
        S::Store(out + j, S::Load(out + j) + x0 * S::Load(m0 + j) + x1 * S::Load(m1 + j) + x2 * S::Load(m2 + j) + x3 * S::Load(m3 + j));
      }
      if (full < cols) {
        const int n = static_cast<int>(cols - full);
        const V sum = S::LoadPart(out + full, n) + x0 * S::LoadPart(m0 + full, n) + x1 * S::LoadPart(m1 + full, n);
        S::StorePart(out + full, sum + x2 * S::LoadPart(m2 + full, n) + x3 * S::LoadPart(m3 + full, n), n);
      }
    }
    for (; k < rows; k++) {
      const float *m = M + k * stride;
      const V x0 = S::Splat(v[k]);
      Each({0, cols}, [&](int64_t j, int n) { S::StorePart(out + j, S::LoadPart(out + j, n) + x0 * S::LoadPart(m + j, n), n); });
    }
  }

  // Several streams are bound by the arithmetic: R streams × C column vectors accumulate in
  // registers down all rows, each weight vector loaded once for the R streams.
  template <int R>
  static void Tiles(const float *M, int64_t stride, int64_t rows, int64_t cols, const float *x, int64_t x_stride, float *out,
                    int64_t out_stride) {
    constexpr int C = kTileVectors;
    int64_t j = 0;
    for (; j + C * L <= cols; j += C * L) Tile<R, C>(M + j, stride, rows, L, x, x_stride, out + j, out_stride);
    for (; j < cols; j += L) Tile<R, 1>(M + j, stride, rows, cols - j < L ? static_cast<int>(cols - j) : L, x, x_stride, out + j, out_stride);
  }

  // Each of the C vectors holds `width` columns: L, or fewer in a single vector at the right edge.
  // The sums run over k in order, as MatVec's do, so that a stream's logits are the same to the
  // bit whether it is sampled alone or beside others.
  template <int R, int C>
  static void Tile(const float *M, int64_t stride, int64_t rows, int width, const float *x, int64_t x_stride, float *out, int64_t out_stride) {
    V acc[R][C];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) acc[r][c] = S::LoadPart(out + r * out_stride + c * L, width);
    }
    for (int64_t k = 0; k < rows; k++) {
      const float *m = M + k * stride;
      V w[C];
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) w[c] = C == 1 ? S::LoadPart(m, width) : S::Load(m + c * L);
#pragma GCC unroll 16
      for (int r = 0; r < R; r++) {
        const V xr = S::Splat(x[r * x_stride + k]);
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) acc[r][c] += xr * w[c];
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) S::StorePart(out + r * out_stride + c * L, acc[r][c], width);
    }
  }

  // [begin, end) of a step's columns or units.
  struct Range {
    int64_t begin, end;
    int64_t size() const { return end - begin; }
  };

  // The share's part of `count` units or columns, in whole vectors but for the last.
  static Range Part(const StepShare &share, int64_t count) {
    if (!share.team) return {0, count};
    int64_t first, last;
    share.team->Share((count + L - 1) / L, share.member, &first, &last);
    return {first * L < count ? first * L : count, last * L < count ? last * L : count};
  }

  // Waits for the other members: a member is about to read what another wrote, or to write
  // what another may still be reading.
  static void Meet(const StepShare &share) {
    if (share.team) share.team->Barrier();
  }

  template <typename F>
  static void Each(Range range, F f) {
    for (int64_t j = range.begin; j < range.end; j += L) f(j, range.end - j < L ? static_cast<int>(range.end - j) : L);
  }

  // For every stream: a_s[g·H + units] += x_s · M[:, g·H + units] for each of `blocks` gate blocks.
  static void Products(const float *M, int64_t GH, int64_t rows, int64_t H, int64_t blocks, Range units, const float *x, int64_t x_stride,
                       float *a, int64_t streams) {
    for (int64_t g = 0; g < blocks; g++) {
      const int64_t col0 = g * H + units.begin;
      MatMat(M, GH, rows, col0, units.size(), x, x_stride, a + col0, GH, streams);
    }
  }

  // a_s[g·H + units] = bias[g·H + units], for every stream's row of `blocks`·H pre-activations.
  static void Broadcast(const float *bias, int64_t H, int64_t blocks, Range units, int64_t streams, float *a) {
    for (int64_t s = 0; s < streams; s++) {
      for (int64_t g = 0; g < blocks; g++) {
        const int64_t col0 = g * H + units.begin;
        std::memcpy(a + s * blocks * H + col0, bias + col0, sizeof(float) * units.size());
      }
    }
  }

  // a = i, f, c, o pre-activations [4H]; c and h updated in place, at the share's units.
  static void Lstm(const float *a, int64_t H, Range units, float *h, float *c) {
    Each(units, [&](int64_t j, int n) {
      const V i = S::Sigmoid(S::LoadPart(a + j, n)), f = S::Sigmoid(S::LoadPart(a + H + j, n));
      const V g = S::Tanh(S::LoadPart(a + 2 * H + j, n)), o = S::Sigmoid(S::LoadPart(a + 3 * H + j, n));
      const V c_next = f * S::LoadPart(c + j, n) + i * g;
      S::StorePart(c + j, c_next, n);
      S::StorePart(h + j, o * S::Tanh(c_next), n);
    });
  }

  // The GRU as gru.ts has it (reset_after false): z, r from a[0, 2H) (input and recurrent parts
  // already summed), the candidate from a[2H, 3H) (input part only) plus (r ⊙ h)·Uh. First
  // r ⊙ h at the share's units, for every stream:
  static void ResetHidden(const float *a, int64_t H, Range units, int64_t streams, const float *h, float *rh) {
    for (int64_t s = 0; s < streams; s++) {
      const float *as = a + s * 3 * H, *hs = h + s * H;
      Each(units, [&](int64_t j, int n) { S::StorePart(rh + s * H + j, S::Sigmoid(S::LoadPart(as + H + j, n)) * S::LoadPart(hs + j, n), n); });
    }
  }

  // then, once every member's r ⊙ h is there, the candidate's recurrent part and the new h.
  static void Gru(float *a, const float *U, int64_t H, Range units, int64_t streams, float *h, const float *rh) {
    Products(U + 2 * H, 3 * H, H, H, 1, units, rh, H, a + 2 * H, streams);
    for (int64_t s = 0; s < streams; s++) {
      const float *as = a + s * 3 * H;
      float *hs = h + s * H;
      Each(units, [&](int64_t j, int n) {
        const V z = S::Sigmoid(S::LoadPart(as + j, n)), candidate = S::Tanh(S::LoadPart(as + 2 * H + j, n));
        S::StorePart(hs + j, candidate + z * (S::LoadPart(hs + j, n) - candidate), n);
      });
    }
  }

  static void Activate(const StepModel &m, int64_t l, Range units, float *a, const float *rh) {
    const int64_t H = m.hidden;
    if (m.cell == Cell::kGru) return Gru(a, m.recurrent[l], H, units, m.streams, m.h[l], rh);
    for (int64_t s = 0; s < m.streams; s++) {
      float *hs = m.h[l] + s * H;
      if (m.cell == Cell::kLstm) {
        Lstm(a + s * 4 * H, H, units, hs, m.c[l] + s * H);
      } else {
        Each(units, [&](int64_t j, int n) { S::StorePart(hs + j, S::Tanh(S::LoadPart(a + s * H + j, n)), n); });
      }
    }
  }

  // The first layer's pre-activations before its recurrent product, for each character: what
  // Step sums for it from the bias and the embedding, one stream's way (MatVec, whose sums the
  // tiles of several streams match to the bit).
  static void InputTable(const StepModel &m, float *table) {
    const int64_t G = Blocks(m), H = m.hidden;
    for (int64_t v = 0; v < m.vocab; v++) {
      float *row = table + v * G * H;
      Broadcast(m.bias[0], H, G, {0, H}, 1, row);
      Products(m.kernel[0], G * H, m.embedding, H, G, {0, H}, m.embeddings + v * m.embedding, m.embedding, row, 1);
    }
  }

  static int64_t Blocks(const StepModel &m) { return m.cell == Cell::kLstm ? 4 : m.cell == Cell::kGru ? 3 : 1; }

  // The first layer's input part at the share's units: one row of the table per stream, or the
  // product it holds (the embeddings gathered by the first member, for all).
  static void FirstInput(const StepModel &m, const int32_t *ids, Range units, const StepShare &share, float *x, float *a) {
    const int64_t G = Blocks(m), H = m.hidden, B = m.streams, D = m.embedding;
    if (m.input_table) {
      for (int64_t s = 0; s < B; s++) {
        for (int64_t g = 0; g < G; g++) {
          const int64_t col0 = g * H + units.begin;
          std::memcpy(a + s * G * H + col0, m.input_table + ids[s] * G * H + col0, sizeof(float) * units.size());
        }
      }
      return;
    }
    if (share.member == 0) {
      for (int64_t s = 0; s < B; s++) std::memcpy(x + s * D, m.embeddings + ids[s] * D, sizeof(float) * D);
    }
    Meet(share);
    Broadcast(m.bias[0], H, G, units, B, a);
    Products(m.kernel[0], G * H, D, H, G, units, x, D, a, B);
  }

  // One step of every stream, or the share's part of it. Split between the members of a team,
  // each reads its share of every weight matrix, so that one sample's step is no longer bound by
  // one core reading all of them from beyond its L2.
  static void Step(const StepModel &m, const int32_t *ids, float *logits, const StepShare &share) {
    const int64_t H = m.hidden, B = m.streams, G = Blocks(m);
    const Range units = Part(share, H);
    float *a = m.scratch, *rh = a + B * G * H, *x = rh + B * H;
    FirstInput(m, ids, units, share, x, a);
    for (int64_t l = 0; l < m.layers; l++) {
      if (l > 0) {
        Broadcast(m.bias[l], H, G, units, B, a);
        Products(m.kernel[l], G * H, H, H, G, units, m.h[l - 1], H, a, B);
      }
      // The GRU's candidate takes the recurrent product of r ⊙ h, not of h: only z and r here.
      Products(m.recurrent[l], G * H, H, H, m.cell == Cell::kGru ? 2 : G, units, m.h[l], H, a, B);
      if (m.cell == Cell::kGru) ResetHidden(a, H, units, B, m.h[l], rh);
      Meet(share);  // every member has read h[l], and written its share of r ⊙ h
      Activate(m, l, units, a, rh);
      Meet(share);  // h[l] is whole, for the next layer and the next step
    }
    if (!logits) return;
    const Range columns = Part(share, m.vocab);
    Broadcast(m.dense_bias, m.vocab, 1, columns, B, logits);
    Products(m.dense_kernel, m.vocab, H, m.vocab, 1, columns, m.h[m.layers - 1], H, logits, B);
    Meet(share);  // the logits are whole
  }
};

}  // namespace rnn
