// pool.cc — seqloss_pool_create / _retain / _release and the persistent thread pool (cpu/pool.h).
//
// A job is announced by bumping a generation counter. Workers that just finished a job spin on it for a short while
// (back-to-back calls, as a training loop makes, then find their next job without a system call), then sleep on a
// condition variable; the caller notifies only when some worker sleeps. The caller runs slot 0 itself and waits for
// the workers the same way (spin, then sleep).
#include <chrono>
#include <cstdio>
#include <exception>
#include <new>
#include <system_error>

#include "checks.h"
#include "cpu/parallel.h"
#include "cpu/pool.h"
#include "seqloss.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SEQLOSS_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define SEQLOSS_PAUSE() __asm__ __volatile__("yield")
#else
#define SEQLOSS_PAUSE() ((void)0)
#endif

namespace seqloss {
namespace cpu {
namespace {

// How long a worker spins for the next job, and the caller for the workers, before sleeping. Long enough for a
// training loop's next call to find the workers awake, short enough not to keep a shared core busy for nothing.
constexpr auto kSpin = std::chrono::microseconds(50);

thread_local const Pool* tl_worker_of = nullptr;  // on a worker: its pool
thread_local const Pool* tl_running = nullptr;    // on a caller inside Pool::run: that pool
thread_local seqloss_pool* tl_pool = nullptr;     // the current call's pool (PoolScope)
thread_local int64_t tl_work = -1;                // the current call's N*T*C (PoolScope)

template <class Ready>
bool spin_until(Ready&& ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    SEQLOSS_PAUSE();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= until) return ready();
  }
}

}  // namespace

Pool::Pool(int threads) {
  if (threads < 1) threads = 1;
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int i = 0; i + 1 < threads; ++i) {
    try {
      workers_.emplace_back([this, i] { worker(i); });
    } catch (const std::system_error&) {
      break;  // resources exhausted: fewer workers, same results
    }
  }
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stop_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

bool Pool::inside() const { return tl_worker_of == this || tl_running == this; }

void Pool::wait_for_work(uint64_t seen) {
  auto ready = [&] {
    return generation_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_acquire);
  };
  if (spin_until(ready)) return;
  std::unique_lock<std::mutex> lock(m_);
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  wake_.wait(lock, ready);
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

void Pool::worker(int index) {
  tl_worker_of = this;
  uint64_t seen = 0;
  for (;;) {
    wait_for_work(seen);
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    const int slot = index + 1;
    if (slot < running_) fn_(ctx_, slot, running_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(m_);
      if (caller_waiting_) done_.notify_one();
    }
  }
}

void Pool::run(int threads, Fn fn, void* ctx) {
  const int running = threads < size() ? threads : size();
  if (running <= 1 || inside()) {  // nothing to share, or a nested call: inline (slot 0 only)
    fn(ctx, 0, 1);
    return;
  }
  // Admission: FIFO tickets.
  {
    std::unique_lock<std::mutex> lock(admit_m_);
    const uint64_t ticket = next_ticket_++;
    admit_cv_.wait(lock, [&] { return serving_ == ticket; });
  }
  tl_running = this;
  fn_ = fn;
  ctx_ = ctx;
  running_ = running;
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Under m_ so that a worker between its check and its wait cannot miss the new generation.
    std::lock_guard<std::mutex> lock(m_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_.notify_all();
  fn(ctx, 0, running);
  auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done)) {
    std::unique_lock<std::mutex> lock(m_);
    caller_waiting_ = true;
    done_.wait(lock, done);
    caller_waiting_ = false;
  }
  tl_running = nullptr;
  {
    std::lock_guard<std::mutex> lock(admit_m_);
    ++serving_;
  }
  admit_cv_.notify_all();
}

void pool_retain(seqloss_pool* p) { p->refs.fetch_add(1, std::memory_order_relaxed); }

void pool_release(seqloss_pool* p) {
  if (p->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (p->pool.inside()) {
    // Not reachable through seqloss's own code (workers hold no references); a worker cannot join itself, so
    // the pool is destroyed from a thread of its own.
    std::thread([p] { delete p; }).detach();
    return;
  }
  delete p;
}

PoolScope::PoolScope(seqloss_pool* pool, const seqloss_problem* problem)
    : pool_(pool), prev_pool_(tl_pool), prev_work_(tl_work) {
  if (pool_ != nullptr) pool_retain(pool_);
  tl_pool = pool_;
  tl_work = problem != nullptr && problem->data_size >= 0 ? problem->data_size : -1;
}

PoolScope::~PoolScope() {
  tl_pool = prev_pool_;
  tl_work = prev_work_;
  if (pool_ != nullptr) pool_release(pool_);
}

Pool* current_pool() { return tl_pool != nullptr ? &tl_pool->pool : nullptr; }
int64_t current_work() { return tl_work; }

}  // namespace cpu
}  // namespace seqloss

extern "C" {

SEQLOSS_API seqloss_status seqloss_pool_create(int32_t threads, seqloss_pool** pool, char* message,
                                               size_t message_size) {
  seqloss::Message msg{message, message_size};
  if (pool == nullptr) return seqloss::fail(msg, SEQLOSS_ERROR_TYPE, "pool must not be NULL (a seqloss_pool*)");
  *pool = nullptr;
  if (threads < 0 || threads > seqloss::cpu::kMaxThreads) {
    return seqloss::fail(msg, SEQLOSS_ERROR_RANGE, "threads must be in [0, %d] (0 = hardware threads), got %d",
                         seqloss::cpu::kMaxThreads, static_cast<int>(threads));
  }
  const int n = threads > 0 ? threads : seqloss::cpu::hardware_threads();
  try {
    *pool = new seqloss_pool(n);
  } catch (const std::bad_alloc&) {
    return seqloss::fail(msg, SEQLOSS_ERROR_ALLOC, "out of memory");
  } catch (const std::exception& e) {
    return seqloss::fail(msg, SEQLOSS_ERROR_INTERNAL, "internal error: %s", e.what());
  }
  seqloss::clear(msg);
  return SEQLOSS_OK;
}

SEQLOSS_API void seqloss_pool_retain(seqloss_pool* pool) {
  if (pool != nullptr) seqloss::cpu::pool_retain(pool);
}

SEQLOSS_API void seqloss_pool_release(seqloss_pool* pool) {
  if (pool != nullptr) seqloss::cpu::pool_release(pool);
}

}  // extern "C"
