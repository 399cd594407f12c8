// How the next character is chosen, as src/sample/choose.ts has it and to the same arithmetic:
// float64 throughout, the vocabulary's order, and the same uniform draw (mulberry32, as
// src/util/random.ts has it), so that a native draw gives the text the JavaScript path and the
// page give. Only exp and log are the C library's rather than V8's; both are within an ulp, so a
// draw could differ only if it fell within an ulp of a boundary between two characters.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace rnn {

// Rng.next: uniform in [0, 1), advancing the generator's state.
inline double NextUniform(uint32_t *state) {
  *state += 0x6d2b79f5u;
  uint32_t t = *state;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return static_cast<double>(t ^ (t >> 14)) / 4294967296.0;
}

// SamplingRule; 0 for top_k or top_p means no cut.
struct SamplingRule {
  double temperature;
  int64_t top_k;
  double top_p;
};

// logProbOf: logits[index] − log Σ exp(logits).
inline double LogProbOf(const float *logits, int64_t V, int64_t index) {
  double max = -INFINITY, sum = 0;
  for (int64_t v = 0; v < V; v++) max = std::max(max, static_cast<double>(logits[v]));
  for (int64_t v = 0; v < V; v++) sum += std::exp(logits[v] - max);
  return logits[index] - (max + std::log(sum));
}

// chooseNext, with the buffers it needs kept between calls.
class Chooser {
 public:
  int64_t Next(const float *logits, int64_t V, const SamplingRule &rule, double uniform) {
    int64_t best = 0;
    for (int64_t i = 1; i < V; i++) {
      if (logits[i] > logits[best]) best = i;
    }
    if (rule.temperature == 0) return best;
    const double top = logits[best];
    if (rule.top_k == 0 && rule.top_p == 0) return DrawFromAll(logits, V, top, rule.temperature, uniform);
    kept_.resize(V);
    for (int64_t i = 0; i < V; i++) kept_[i] = i;
    std::stable_sort(kept_.begin(), kept_.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
    if (rule.top_k > 0 && rule.top_k < V) kept_.resize(rule.top_k);
    weights_.clear();
    double total = 0;
    for (int64_t i : kept_) weights_.push_back(std::exp((logits[i] - top) / rule.temperature));
    for (double weight : weights_) total += weight;
    size_t count = kept_.size();
    if (rule.top_p != 0) {
      double mass = 0;
      count = 0;
      while (count < kept_.size() && mass < rule.top_p * total) mass += weights_[count++];
      total = mass;
    }
    double cumulative = 0;
    for (size_t j = 0; j < count; j++) {
      cumulative += weights_[j];
      if (uniform * total < cumulative) return kept_[j];
    }
    return kept_[count - 1];
  }

 private:
  static int64_t DrawFromAll(const float *logits, int64_t V, double top, double temperature, double uniform) {
    double total = 0, cumulative = 0;
    for (int64_t i = 0; i < V; i++) total += std::exp((logits[i] - top) / temperature);
    for (int64_t i = 0; i < V; i++) {
      cumulative += std::exp((logits[i] - top) / temperature);
      if (uniform * total < cumulative) return i;
    }
    return V - 1;
  }

  std::vector<int64_t> kept_;
  std::vector<double> weights_;
};

}  // namespace rnn
