// What every kernel of L-wide vectors needs to cut the hidden units into tiles, and what it hands
// Team::Run. A class template, so that each ISA file gets its own copy (see team.h on why).
#pragma once

#include <cstdint>

#include "team.h"

namespace rnn {

template <int L>
struct Tiling {
  // Tiles of `width` units covering `hidden`, and how many units of the one at `unit` exist.
  static int64_t Tiles(int64_t hidden, int64_t width) { return (hidden + width - 1) / width; }
  static int Valid(int64_t hidden, int64_t unit, int64_t width) { return static_cast<int>(hidden - unit < width ? hidden - unit : width); }

  // What Team::Run hands each member (not a std::pair, which every file would share).
  template <typename Args>
  struct Job {
    const Args *args;
    Team *team;
  };
};

}  // namespace rnn
