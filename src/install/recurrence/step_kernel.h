// One time step of a whole model for each of its streams (sampling), on vectors of L floats,
// written once for every ISA file to instantiate. A step is matrix-vector products, one per
// stream, bound by reading the weights once: out[j] += Σ_k v[k]·M[k, j] walks M's rows as they
// are stored, so no packing is needed; the gate maths follows on whole vectors.
#pragma once

#include "recurrence.h"
#include "simd.h"

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
      Each(cols, [&](int64_t j, int n) { S::StorePart(out + j, S::LoadPart(out + j, n) + x0 * S::LoadPart(m + j, n), n); });
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

  template <typename F>
  static void Each(int64_t count, F f) {
    for (int64_t j = 0; j < count; j += L) f(j, count - j < L ? static_cast<int>(count - j) : L);
  }

  // a = i, f, c, o pre-activations [4H]; c and h updated in place.
  static void Lstm(const float *a, int64_t H, float *h, float *c) {
    Each(H, [&](int64_t j, int n) {
      const V i = S::Sigmoid(S::LoadPart(a + j, n)), f = S::Sigmoid(S::LoadPart(a + H + j, n));
      const V g = S::Tanh(S::LoadPart(a + 2 * H + j, n)), o = S::Sigmoid(S::LoadPart(a + 3 * H + j, n));
      const V c_next = f * S::LoadPart(c + j, n) + i * g;
      S::StorePart(c + j, c_next, n);
      S::StorePart(h + j, o * S::Tanh(c_next), n);
    });
  }

  // The GRU as gru.ts has it (reset_after false), for every stream: z, r from a[0, 2H) (input and
  // recurrent parts already summed), the candidate from a[2H, 3H) (input part only) plus (r ⊙ h)·Uh.
  static void Gru(float *a, const float *U, int64_t H, int64_t streams, float *h, float *rh) {
    for (int64_t s = 0; s < streams; s++) {
      const float *as = a + s * 3 * H, *hs = h + s * H;
      Each(H, [&](int64_t j, int n) { S::StorePart(rh + s * H + j, S::Sigmoid(S::LoadPart(as + H + j, n)) * S::LoadPart(hs + j, n), n); });
    }
    MatMat(U, 3 * H, H, 2 * H, H, rh, H, a + 2 * H, 3 * H, streams);
    for (int64_t s = 0; s < streams; s++) {
      const float *as = a + s * 3 * H;
      float *hs = h + s * H;
      Each(H, [&](int64_t j, int n) {
        const V z = S::Sigmoid(S::LoadPart(as + j, n)), candidate = S::Tanh(S::LoadPart(as + 2 * H + j, n));
        S::StorePart(hs + j, candidate + z * (S::LoadPart(hs + j, n) - candidate), n);
      });
    }
  }

  // a[s] = bias, for every stream's row of G·H pre-activations (or V logits).
  static void Broadcast(const float *bias, int64_t width, int64_t streams, float *a) {
    for (int64_t s = 0; s < streams; s++) {
      for (int64_t j = 0; j < width; j++) a[s * width + j] = bias[j];
    }
  }

  static void Activate(const StepModel &m, int64_t l, float *a, float *rh) {
    const int64_t H = m.hidden;
    if (m.cell == Cell::kGru) return Gru(a, m.recurrent[l], H, m.streams, m.h[l], rh);
    for (int64_t s = 0; s < m.streams; s++) {
      float *hs = m.h[l] + s * H;
      if (m.cell == Cell::kLstm) {
        Lstm(a + s * 4 * H, H, hs, m.c[l] + s * H);
      } else {
        Each(H, [&](int64_t j, int n) { S::StorePart(hs + j, S::Tanh(S::LoadPart(a + s * H + j, n)), n); });
      }
    }
  }

  // The first layer's pre-activations before its recurrent product, for each character: what
  // Step sums for it from the bias and the embedding, one stream's way (MatVec, whose sums the
  // tiles of several streams match to the bit).
  static void InputTable(const StepModel &m, float *table) {
    const int64_t GH = Blocks(m) * m.hidden;
    for (int64_t v = 0; v < m.vocab; v++) {
      float *row = table + v * GH;
      Broadcast(m.bias[0], GH, 1, row);
      MatMat(m.kernel[0], GH, m.embedding, 0, GH, m.embeddings + v * m.embedding, m.embedding, row, GH, 1);
    }
  }

  static int64_t Blocks(const StepModel &m) { return m.cell == Cell::kLstm ? 4 : m.cell == Cell::kGru ? 3 : 1; }

  // The first layer's input part: one row of the table per stream, or the product it holds.
  static void FirstInput(const StepModel &m, const int32_t *ids, float *x, float *a) {
    const int64_t GH = Blocks(m) * m.hidden, B = m.streams, D = m.embedding;
    if (m.input_table) {
      for (int64_t s = 0; s < B; s++) std::memcpy(a + s * GH, m.input_table + ids[s] * GH, sizeof(float) * GH);
      return;
    }
    for (int64_t s = 0; s < B; s++) std::memcpy(x + s * D, m.embeddings + ids[s] * D, sizeof(float) * D);
    Broadcast(m.bias[0], GH, B, a);
    MatMat(m.kernel[0], GH, D, 0, GH, x, D, a, GH, B);
  }

  // One thread: splitting a step's units between cores lost more to waking and meeting the other
  // thread, per character, than it gained (2×256 on a Zen 5: 97 against 63 µs a step).
  static void Step(const StepModel &m, const int32_t *ids, float *logits) {
    const int64_t H = m.hidden, B = m.streams, G = Blocks(m);
    float *a = m.scratch, *rh = a + B * G * H, *x = rh + B * H;
    FirstInput(m, ids, x, a);
    for (int64_t l = 0; l < m.layers; l++) {
      if (l > 0) {
        Broadcast(m.bias[l], G * H, B, a);
        MatMat(m.kernel[l], G * H, H, 0, G * H, m.h[l - 1], H, a, G * H, B);
      }
      // The GRU's candidate takes the recurrent product of r ⊙ h, not of h: only z and r here.
      MatMat(m.recurrent[l], G * H, H, 0, m.cell == Cell::kGru ? 2 * H : G * H, m.h[l], H, a, G * H, B);
      Activate(m, l, a, rh);
    }
    if (!logits) return;
    Broadcast(m.dense_bias, m.vocab, B, logits);
    MatMat(m.dense_kernel, m.vocab, H, 0, m.vocab, m.h[m.layers - 1], H, logits, m.vocab, B);
  }
};

}  // namespace rnn
