// One time step of a whole model at batch 1 (sampling), on vectors of L floats, written once for
// every ISA file to instantiate. At batch 1 a step is matrix-vector products, bound by reading
// the weights once: out[j] += Σ_k v[k]·M[k, j] walks M's rows as they are stored, so no packing
// is needed; the gate maths follows on whole vectors.
#pragma once

#include "recurrence.h"
#include "simd.h"

namespace rnn {

template <int L>
struct StepPath {
  using S = Simd<L>;
  using V = typename S::V;

  // out[0, cols) += v[0, rows) · M[0, rows) × [col0, col0 + cols), M's rows `stride` apart. Four
  // rows at a time, each swept along its columns: every weight is read once, in the order it is
  // stored, which the prefetchers follow (a column block down all rows would jump a row per load).
  static void MatVec(const float *M, int64_t stride, int64_t rows, int64_t col0, int64_t cols, const float *v, float *out) {
    int64_t k = 0;
    for (; k + 4 <= rows; k += 4) {
      const float *m0 = M + k * stride + col0, *m1 = m0 + stride, *m2 = m1 + stride, *m3 = m2 + stride;
      const V x0 = S::Splat(v[k]), x1 = S::Splat(v[k + 1]), x2 = S::Splat(v[k + 2]), x3 = S::Splat(v[k + 3]);
      Each(cols, [&](int64_t j, int n) {
        const V sum = S::LoadPart(out + j, n) + x0 * S::LoadPart(m0 + j, n) + x1 * S::LoadPart(m1 + j, n);
        S::StorePart(out + j, sum + x2 * S::LoadPart(m2 + j, n) + x3 * S::LoadPart(m3 + j, n), n);
      });
    }
    for (; k < rows; k++) {
      const float *m = M + k * stride + col0;
      const V x = S::Splat(v[k]);
      Each(cols, [&](int64_t j, int n) { S::StorePart(out + j, S::LoadPart(out + j, n) + x * S::LoadPart(m + j, n), n); });
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

  // The GRU as gru.ts has it (reset_after false): z, r from a[0, 2H) (input and recurrent parts
  // already summed), the candidate from a[2H, 3H) (input part only) plus (r ⊙ h)·Uh.
  static void Gru(float *a, const float *U, int64_t H, float *h, float *rh) {
    Each(H, [&](int64_t j, int n) { S::StorePart(rh + j, S::Sigmoid(S::LoadPart(a + H + j, n)) * S::LoadPart(h + j, n), n); });
    MatVec(U, 3 * H, H, 2 * H, H, rh, a + 2 * H);
    Each(H, [&](int64_t j, int n) {
      const V z = S::Sigmoid(S::LoadPart(a + j, n)), candidate = S::Tanh(S::LoadPart(a + 2 * H + j, n));
      S::StorePart(h + j, candidate + z * (S::LoadPart(h + j, n) - candidate), n);
    });
  }

  // One thread: splitting a step's units between cores lost more to waking and meeting the other
  // thread, per character, than it gained (2×256 on a Zen 5: 97 against 63 µs a step).
  static void Step(const StepModel &m, int32_t id, float *logits) {
    const int64_t H = m.hidden;
    const int64_t G = m.cell == Cell::kLstm ? 4 : m.cell == Cell::kGru ? 3 : 1;
    float *a = m.scratch;
    const float *x = m.embeddings + id * m.embedding;
    int64_t in = m.embedding;
    for (int64_t l = 0; l < m.layers; l++) {
      for (int64_t j = 0; j < G * H; j++) a[j] = m.bias[l][j];
      MatVec(m.kernel[l], G * H, in, 0, G * H, x, a);
      // The GRU's candidate takes the recurrent product of r ⊙ h, not of h: only z and r here.
      MatVec(m.recurrent[l], G * H, H, 0, m.cell == Cell::kGru ? 2 * H : G * H, m.h[l], a);
      if (m.cell == Cell::kLstm) {
        Lstm(a, H, m.h[l], m.c[l]);
      } else if (m.cell == Cell::kGru) {
        Gru(a, m.recurrent[l], H, m.h[l], m.scratch + G * H);
      } else {
        Each(H, [&](int64_t j, int n) { S::StorePart(m.h[l] + j, S::Tanh(S::LoadPart(a + j, n)), n); });
      }
      x = m.h[l];
      in = H;
    }
    if (!logits) return;
    for (int64_t v = 0; v < m.vocab; v++) logits[v] = m.dense_bias[v];
    MatVec(m.dense_kernel, m.vocab, H, 0, m.vocab, x, logits);
  }
};

}  // namespace rnn
