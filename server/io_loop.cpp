#include "server/io_loop.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace rstmdb::server {
namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace

void IoLoop::run() {
  if (spin_.count() == 0) {
    io_.run();
    return;
  }
  active_.fetch_add(1, std::memory_order_relaxed);
  run_spinning();
  active_.fetch_sub(1, std::memory_order_relaxed);
  // The context has stopped (or run out of work): parked threads end too.
  {
    std::lock_guard lock(mutex_);
    ended_ = true;
  }
  wakeup_.notify_all();
}

void IoLoop::run_spinning() {
  using Clock = std::chrono::steady_clock;
  auto last_work = Clock::now();
  auto busy_since = last_work;  // the last idle moment
  for (;;) {
    // poll() runs every ready handler and polls the reactor without blocking; like run(), it
    // stops the context once no work is left.
    if (io_.poll() > 0) {
      last_work = Clock::now();
      if (last_work - busy_since >= kBusyBeforeHelp && parked_.load(std::memory_order_relaxed) > 0) {
        wake_one();
        busy_since = last_work;
      }
      continue;
    }
    if (io_.stopped()) return;
    const auto now = Clock::now();
    busy_since = now;
    if (!needed()) {
      if (!park_if_unneeded()) return;
      last_work = busy_since = Clock::now();
      continue;
    }
    if (now - last_work < spin_ && spinning_allowed()) {
      cpu_relax();
      continue;
    }
    if (io_.run_one() == 0) return;
    last_work = busy_since = Clock::now();
  }
}

bool IoLoop::park_if_unneeded() {
  std::unique_lock lock(mutex_);
  if (ended_) return false;
  if (needed()) return true;  // another thread parked first
  active_.fetch_sub(1, std::memory_order_relaxed);
  parked_.fetch_add(1, std::memory_order_relaxed);
  wakeup_.wait(lock, [this] { return wake_tokens_ > 0 || ended_; });
  parked_.fetch_sub(1, std::memory_order_relaxed);
  active_.fetch_add(1, std::memory_order_relaxed);
  if (wake_tokens_ > 0) --wake_tokens_;
  return !ended_;
}

void IoLoop::wake_one() {
  {
    std::lock_guard lock(mutex_);
    if (wake_tokens_ >= parked_.load(std::memory_order_relaxed)) return;  // enough are waking
    ++wake_tokens_;
  }
  wakeup_.notify_one();
}

void IoLoop::wake_all() {
  {
    std::lock_guard lock(mutex_);
    wake_tokens_ = parked_.load(std::memory_order_relaxed);
  }
  wakeup_.notify_all();
}

void IoLoop::set_connections(std::size_t open) {
  const std::size_t was = connections_.exchange(open, std::memory_order_relaxed);
  if (spin_.count() == 0) return;
  if (was <= kMaxSpinningConnections && open > kMaxSpinningConnections) wake_all();
}

void IoLoop::set_blocking(bool blocking, bool others_to_serve) {
  if (spin_.count() == 0) return;
  if (blocking) {
    blocking_.fetch_add(1, std::memory_order_relaxed);
    if (others_to_serve && parked_.load(std::memory_order_relaxed) > 0) wake_one();
  } else {
    blocking_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace rstmdb::server
