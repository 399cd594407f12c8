// The optimizer's update, one parameter at a time, exactly as src/train/optimizer.ts's reference
// writes it in TensorFlow ops (same operations in the same order, each rounded to float32, so the
// weights and slots come out with the same bits), but in one pass over each parameter instead of a
// dozen ops that each pass over every parameter: for small models most of what a step's update
// cost. Each element is read and written once, so the loops are bound by memory, not lanes: one
// baseline path (SSE, four lanes) serves every CPU. It has no FMA to contract the products, which
// would change the bits.
#pragma once

#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>

#include "simd.h"

namespace rnn {

enum class UpdateRule { kAdam, kRmsProp, kSgd };

// The coefficients each rule takes, in the order JavaScript sends them (optimizer.ts's nativeRule).
constexpr int kCoefficients[] = {6, 4, 1};
// The flat slots each rule keeps: Adam m and v, RMSProp the mean square, SGD none.
constexpr int kSlots[] = {2, 1, 0};

// One parameter's part of a step.
struct ParameterUpdate {
  int64_t size;
  float keep;            // 1 − decoupled weight decay for a matrix, 1 for a bias
  float scale;           // global-norm clipping's factor for the gradient
  const float *weight;   // the parameter's current values
  const float *gradient;  // its part of the flat gradient
  const float *slot[2];  // its part of each slot
  float *weight_out, *slot_out[2];
};

// Four floats at a time in SSE, which every x86-64 CPU has; a parameter's last, partial group
// reads zeros beyond its end and writes none of them.
using Sse = Simd<4>;
using V4 = Sse::V;

// The correctly rounded root, as TensorFlow's; std::sqrt would not vectorise (it may set errno).
inline V4 Sqrt(V4 x) { return reinterpret_cast<V4>(_mm_sqrt_ps(reinterpret_cast<__m128>(x))); }

// Coefficients: step size (the bias-corrected learning rate), β1, 1 − β1, β2, 1 − β2, ε.
inline void AdamUpdate(const ParameterUpdate &p, const float *k) {
  for (int64_t i = 0; i < p.size; i += 4) {
    const int n = static_cast<int>(std::min<int64_t>(4, p.size - i));
    const V4 g = Sse::LoadPart(p.gradient + i, n) * p.scale;
    const V4 m = Sse::LoadPart(p.slot[0] + i, n) * k[1] + g * k[2];
    const V4 v = Sse::LoadPart(p.slot[1] + i, n) * k[3] + g * g * k[4];
    Sse::StorePart(p.slot_out[0] + i, m, n);
    Sse::StorePart(p.slot_out[1] + i, v, n);
    Sse::StorePart(p.weight_out + i, Sse::LoadPart(p.weight + i, n) * p.keep - k[0] * (m / (Sqrt(v) + k[5])), n);
  }
}

// Coefficients: learning rate, decay, 1 − decay, ε (char-rnn's RMSProp).
inline void RmsPropUpdate(const ParameterUpdate &p, const float *k) {
  for (int64_t i = 0; i < p.size; i += 4) {
    const int n = static_cast<int>(std::min<int64_t>(4, p.size - i));
    const V4 g = Sse::LoadPart(p.gradient + i, n) * p.scale;
    const V4 mean_square = Sse::LoadPart(p.slot[0] + i, n) * k[1] + g * g * k[2];
    Sse::StorePart(p.slot_out[0] + i, mean_square, n);
    Sse::StorePart(p.weight_out + i, Sse::LoadPart(p.weight + i, n) * p.keep - k[0] * (g / (Sqrt(mean_square) + k[3])), n);
  }
}

// Coefficients: learning rate.
inline void SgdUpdate(const ParameterUpdate &p, const float *k) {
  for (int64_t i = 0; i < p.size; i += 4) {
    const int n = static_cast<int>(std::min<int64_t>(4, p.size - i));
    Sse::StorePart(p.weight_out + i, Sse::LoadPart(p.weight + i, n) * p.keep - k[0] * (Sse::LoadPart(p.gradient + i, n) * p.scale), n);
  }
}

inline void Update(UpdateRule rule, const ParameterUpdate &p, const float *coefficients) {
  switch (rule) {
    case UpdateRule::kAdam:
      return AdamUpdate(p, coefficients);
    case UpdateRule::kRmsProp:
      return RmsPropUpdate(p, coefficients);
    case UpdateRule::kSgd:
      return SgdUpdate(p, coefficients);
  }
}

// Σ x², accumulated in double: the global norm that clipping reads. In eight running sums, not
// one, with which every addition waited on the last: the update call of a 2×128 model in training
// took 0.46 ms with one, 0.37 ms with eight. The order moves the double sum by far less than a
// float's last bit, so the float norm changes only for a sum that close to a rounding boundary.
inline double SumOfSquares(const float *x, int64_t n) {
  constexpr int kSums = 8;
  double sums[kSums] = {};
  int64_t i = 0;
  for (; i + kSums <= n; i += kSums) {
    for (int s = 0; s < kSums; s++) sums[s] += double{x[i + s]} * x[i + s];
  }
  double sum = 0;
  for (; i < n; i++) sum += double{x[i]} * x[i];
  for (double part : sums) sum += part;
  return sum;
}

}  // namespace rnn
