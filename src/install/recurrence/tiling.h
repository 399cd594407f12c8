// What every kernel of L-wide vectors needs to cut the hidden units into tiles, multiply a block
// of rows by a packed tile, and hand Team::Run. A class template, so that each ISA file gets its
// own copy (see team.h on why).
#pragma once

#include <cstdint>

#include "simd.h"
#include "team.h"

namespace rnn {

template <int L>
struct Tiling {
  // Tiles of `width` units covering `hidden`, and how many units of the one at `unit` exist.
  static int64_t Tiles(int64_t hidden, int64_t width) { return (hidden + width - 1) / width; }
  static int Valid(int64_t hidden, int64_t unit, int64_t width) { return static_cast<int>(hidden - unit < width ? hidden - unit : width); }

  using V = typename Simd<L>::V;

  // acc[r][v] += rows[r]·tile[:, v·L + u] over k < K, the tile NV·L wide.
  template <int M, int NV>
  static void Product(V (&acc)[M][NV], const float *tile, const float *rows, int64_t stride, int64_t K) {
    for (int64_t k = 0; k < K; k++) {
      V w[NV];
      for (int v = 0; v < NV; v++) w[v] = Simd<L>::Load(tile + (k * NV + v) * L);
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const V x = Simd<L>::Splat(rows[r * stride + k]);
        for (int v = 0; v < NV; v++) acc[r][v] += x * w[v];
      }
    }
  }

  // Runs block.Run<R>(row) over the batch in blocks of R rows, then the remainder as one block.
  template <int R, typename Block, int M = R>
  static void Rows(int64_t batch, const Block &block) {
    if constexpr (M == R) {
      int64_t row = 0;
      for (; row + R <= batch; row += R) block.template Run<R>(row);
      if (row < batch) Rows<R, Block, R - 1>(batch - row, block.From(row));
    } else if constexpr (M > 0) {
      if (batch == M) return block.template Run<M>(0);
      Rows<R, Block, M - 1>(batch, block);
    }
  }

  // The row of x·W that the chunk's row `row` reads: its own, or the one of the table `rows` names.
  static int64_t InputRow(const int32_t *rows, int64_t row) { return rows ? rows[row] : row; }

  // h_{t-1}'s rows: the initial state at t = 0, else the previous step's outputs.
  static const float *Previous(const float *initial, const float *outputs, int64_t t, int64_t state) {
    return t == 0 ? initial : outputs + (t - 1) * state;
  }

  // What Team::Run hands each member (not a std::pair, which every file would share).
  template <typename Args>
  struct Job {
    const Args *args;
    Team *team;
  };
};

}  // namespace rnn
