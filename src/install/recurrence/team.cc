#include "team.h"

#include <memory>

namespace rnn {

namespace {

// Spinning beats sleeping for a wait of a few microseconds; past this many rounds the other
// member has probably lost its core, so give the core away instead.
constexpr int kSpinsBeforeYield = 1 << 14;

void Relax(int &spins) {
  if (++spins < kSpinsBeforeYield) {
    __builtin_ia32_pause();
  } else {
    std::this_thread::yield();
  }
}

}  // namespace

Team &Team::ForThisThread(int threads) {
  thread_local std::unique_ptr<Team> team;
  if (!team || team->size() != threads) team = std::make_unique<Team>(threads);
  return *team;
}

Team::Team(int threads) : size_(threads < 1 ? 1 : threads) {
  for (int member = 1; member < size_; member++) helpers_.emplace_back([this, member] { Serve(member); });
}

Team::~Team() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &helper : helpers_) helper.join();
}

void Team::Serve(int member) {
  uint64_t seen = 0;
  for (;;) {
    Work work;
    const void *context;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || job_ != seen; });
      if (stop_) return;
      seen = job_;
      work = work_;
      context = context_;
    }
    work(context, member);
    finished_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void Team::Share(int64_t count, int member, int64_t *begin, int64_t *end) const {
  *begin = count * member / size_;
  *end = count * (member + 1) / size_;
}

void Team::Run(Work work, const void *context) {
  if (size_ == 1) return work(context, 0);
  finished_.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    work_ = work;
    context_ = context;
    job_++;
  }
  wake_.notify_all();
  work(context, 0);
  int spins = 0;
  while (finished_.load(std::memory_order_acquire) != size_ - 1) Relax(spins);
}

void Team::Barrier() {
  if (size_ == 1) return;
  const uint64_t phase = phase_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == size_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    phase_.fetch_add(1, std::memory_order_release);
    return;
  }
  int spins = 0;
  while (phase_.load(std::memory_order_acquire) == phase) Relax(spins);
}

}  // namespace rnn
