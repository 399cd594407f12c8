// Vectors of L floats in GCC's generic vector extension, and the few functions the LSTM's gate
// maths needs on them. Written once: each ISA file (isa_*.cc) compiles it under its own
// `#pragma GCC target`, so the same source becomes SSE2, AVX2+FMA or AVX-512 code.
#pragma once

#include <cstdint>
#include <cstring>

namespace rnn {

template <int L>
struct Simd {
  typedef float V __attribute__((vector_size(L * sizeof(float))));
  typedef int32_t I __attribute__((vector_size(L * sizeof(float))));

  // s − 0 is s for every s, so GCC folds it to one broadcast, straight from memory where s is
  // there; 0 + s is not s for s = −0, so `V{} + s` cost a scalar add and a register shuffle per
  // row in the products' inner loops (3–8 % of the AVX-512 backward and AVX2 forward products).
  static V Splat(float s) { return s - V{}; }

  static V Load(const float *p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void Store(float *p, V v) { std::memcpy(p, &v, sizeof v); }

  // The first n (≤ L) lanes from p, the rest zero: a tile's last, partial, group of units.
  static V LoadPart(const float *p, int n) {
    if (n == L) return Load(p);
    V v{};
    std::memcpy(&v, p, sizeof(float) * n);
    return v;
  }
  static void StorePart(float *p, V v, int n) {
    if (n == L) return Store(p, v);
    std::memcpy(p, &v, sizeof(float) * n);
  }
  // The first n lanes of *p += v: a running sum, such as the bias gradient's.
  static void AddPart(float *p, V v, int n) { StorePart(p, LoadPart(p, n) + v, n); }

  // e^x to about 1 ulp (Cephes' expf): 2^n · e^r with |r| ≤ ln2/2, r by a degree-6 polynomial.
  static V Exp(V x) {
    // Written so that a NaN fails both tests and stays NaN: a diverged model must show as one.
    x = x > Splat(88.3762626647949f) ? Splat(88.3762626647949f) : x;
    x = x < Splat(-87.3365447504f) ? Splat(-87.3365447504f) : x;
    // Adding 1.5·2^23 rounds to an integer n, which then sits in the low bits of the sum.
    const V magic = Splat(12582912.0f);
    const V shifted = x * Splat(1.44269504088896341f) + magic;
    const V n = shifted - magic;
    const V r = x - n * Splat(0.693359375f) - n * Splat(-2.12194440e-4f);
    V p = Splat(1.9875691500e-4f);
    p = p * r + Splat(1.3981999507e-3f);
    p = p * r + Splat(8.3334519073e-3f);
    p = p * r + Splat(4.1665795894e-2f);
    p = p * r + Splat(1.6666665459e-1f);
    p = p * r + Splat(5.0000001201e-1f);
    p = p * r * r + r + Splat(1.0f);
    const I exponent = ((I)shifted - (I)magic + 127) << 23;
    return p * (V)exponent;
  }

  static V Sigmoid(V x) { return Splat(1.0f) / (Splat(1.0f) + Exp(-x)); }
  // 2σ(2x) − 1: one exponential, and exact at the saturated ends.
  static V Tanh(V x) { return Splat(2.0f) * Sigmoid(x + x) - Splat(1.0f); }
};

}  // namespace rnn
