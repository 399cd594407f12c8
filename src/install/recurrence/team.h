// Threads that split one recurrence between cores: each takes a share of the hidden units and
// all of the batch, so the per-step product's weights are split too, and the threads meet at a
// barrier after every time step (the next step needs every unit of this one's h, or of its dA).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace rnn {

class Team {
 public:
  // A team of `threads` (≥ 1) for the calling thread, kept for its life: a JavaScript thread and
  // each replica's worker thread have their own, so no two runs share helpers.
  static Team &ForThisThread(int threads);

  explicit Team(int threads);
  ~Team();
  Team(const Team &) = delete;
  Team &operator=(const Team &) = delete;

  int size() const { return size_; }
  // Runs work(context, member) on every member, the caller as member 0; returns when all have
  // finished. A plain function pointer, not std::function: the ISA files compile under their own
  // target, and an inline library template shared with them could be linked in their version.
  using Work = void (*)(const void *context, int member);
  void Run(Work work, const void *context);
  // Waits until every member has reached it: the end of a time step. Spins, as a step is short.
  void Barrier();

  // [begin, end) of `count` items for `member`, split as evenly as whole items allow.
  // Out of line for the same reason as Run's pointer.
  void Share(int64_t count, int member, int64_t *begin, int64_t *end) const;

 private:
  void Serve(int member);

  const int size_;
  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  Work work_ = nullptr;
  const void *context_ = nullptr;
  uint64_t job_ = 0;
  bool stop_ = false;
  std::atomic<int> finished_{0};
  std::atomic<int> arrived_{0};
  std::atomic<uint64_t> phase_{0};
};

}  // namespace rnn
