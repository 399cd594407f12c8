// AVX512-BF16, for --precision bfloat16: the per-step products take bfloat16 operands (rounded to
// nearest even) and accumulate in float32 with vdpbf16ps, two k at a time, at twice the float32
// rate; the gate maths, the cell state and everything stored stay float32, as in the other paths.
// Everything from outside these paths is included before the target pragma, so that only their
// own code is compiled for it. (Simd<16>'s inline functions are shared with isa_avx512.cc; both
// compile plain float maths, in which GCC emits no bfloat16 instruction.)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "recurrence.h"
#include "team.h"

#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,avx2,fma")
#include "lstm_kernel.h"

namespace rnn {

namespace {

// Two bfloat16, k (low half) and k + 1 (high half): what vdpbf16ps multiplies in one lane.
typedef uint32_t Pair __attribute__((may_alias));
typedef uint16_t Half __attribute__((may_alias));

struct Bfloat16Products : Tiling<16> {
  using S = Simd<16>;
  using V = S::V;
  using Operand = Pair;
  static constexpr int L = 16, kBackTile = 32;

  static uint32_t Round(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
  }
  static Pair Join(float low, float high) { return Round(low) | (Round(high) << 16); }

  static int64_t Pairs(int64_t k) { return (k + 1) / 2; }

  // In float-sized slots, as the scratch counts them: one Pair each.
  static int64_t ForwardTile(int64_t hidden) { return Pairs(hidden) * 4 * L; }
  static int64_t BackwardTile(int64_t hidden) { return Pairs(4 * hidden) * kBackTile; }
  static int64_t Stride(int64_t columns) { return Pairs(columns); }
  static int64_t ConvertFloats(int64_t rows, int64_t columns) { return rows * Pairs(columns); }

  // Each row's values as bfloat16 in order, which puts k and k + 1 in one Pair, and a zero after an
  // odd last one; a member converts every row for itself. One value at a time, so that GCC
  // vectorises the loop: converted pair by pair, it took 6 % of a bfloat16 training step at 2×512.
  static const Operand *Convert(const float *values, int64_t rows, int64_t columns, float *buffer) {
    Half *out = reinterpret_cast<Half *>(buffer);
    const int64_t stride = 2 * Pairs(columns);
    for (int64_t r = 0; r < rows; r++) {
      for (int64_t j = 0; j < columns; j++) out[r * stride + j] = static_cast<Half>(Round(values[r * columns + j]));
      if (columns % 2 != 0) out[r * stride + columns] = 0;
    }
    return reinterpret_cast<const Operand *>(buffer);
  }

  // Tile t, pair p: for gates q < 4 and units u < L, (U[2p, j], U[2p + 1, j]) with j = q·H + t·L + u.
  static void PackForward(const float *U, int64_t H, float *packed) {
    const auto at = [&](int64_t k, int64_t j) { return k < H ? U[k * 4 * H + j] : 0.0f; };
    for (int64_t t = 0; t < Tiles(H, L); t++) {
      const int n = Valid(H, t * L, L);
      Pair *to = reinterpret_cast<Pair *>(packed + t * ForwardTile(H));
      for (int64_t p = 0; p < Pairs(H); p++) {
        for (int q = 0; q < 4; q++) {
          for (int u = 0; u < L; u++) {
            const int64_t j = q * H + t * L + u;
            to[(p * 4 + q) * L + u] = u < n ? Join(at(2 * p, j), at(2 * p + 1, j)) : 0;
          }
        }
      }
    }
  }

  // Tile t, pair p < 2H: for units u < 2L, (U[t·2L + u, 2p], U[t·2L + u, 2p + 1]).
  static void PackBackward(const float *U, int64_t H, float *packed) {
    for (int64_t t = 0; t < Tiles(H, kBackTile); t++) {
      const int n = Valid(H, t * kBackTile, kBackTile);
      Pair *to = reinterpret_cast<Pair *>(packed + t * BackwardTile(H));
      for (int64_t p = 0; p < 2 * H; p++) {
        for (int u = 0; u < kBackTile; u++) {
          const float *row = U + (t * kBackTile + u) * 4 * H;
          to[p * kBackTile + u] = u < n ? Join(row[2 * p], row[2 * p + 1]) : 0;
        }
      }
    }
  }

  static V Dot(V acc, Pair row, const float *weights) {
    const __m512i x = _mm512_set1_epi32(static_cast<int>(row));
    return (V)_mm512_dpbf16_ps((__m512)acc, (__m512bh)x, (__m512bh)_mm512_loadu_si512(weights));
  }

  template <int M>
  static void Forward(V (&acc)[M][4], const float *tile, const Operand *rows, int64_t stride, int64_t H) {
    for (int64_t p = 0; p < Pairs(H); p++) {
      const float *w = tile + p * 4 * L;
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const Pair x = rows[r * stride + p];
        for (int q = 0; q < 4; q++) acc[r][q] = Dot(acc[r][q], x, w + q * L);
      }
    }
  }

  template <int M>
  static void Backward(V (&acc)[M][2], const float *tile, const Operand *rows, int64_t stride, int64_t G) {
    for (int64_t p = 0; p < Pairs(G); p++) {
      const float *w = tile + p * kBackTile;
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const Pair x = rows[r * stride + p];
        acc[r][0] = Dot(acc[r][0], x, w);
        acc[r][1] = Dot(acc[r][1], x, w + L);
      }
    }
  }
};

using Path = LstmPath<16, 6, 6, Bfloat16Products>;

}  // namespace

// The LSTM's bfloat16 products only: the GRU, the vanilla RNN and sampling are float32, on the
// avx512 path.
extern const LstmKernels kAvx512Bf16Kernels = {"avx512bf16", Path::Forward, Path::Backward, Path::ScratchFloats, nullptr, nullptr, nullptr,
                                               nullptr, nullptr, nullptr, nullptr, nullptr};

}  // namespace rnn
