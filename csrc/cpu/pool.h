// pool.h — the persistent thread pool behind seqloss_pool (seqloss.h), and the "pool of this call" that
// parallel.h's run_threads uses.
//
// Ownership: a seqloss_pool is reference counted. seqloss_pool_create gives the creator one reference; every call
// that runs on it holds its own reference for its duration (PoolScope), so the creator may release its reference
// while calls on other threads still run: the last release stops and joins the workers, on whichever thread drops
// it (never a worker of the pool itself: workers hold no references). There is no global mutable state: the only
// thread_locals are the current call's pool and size (set by PoolScope on the calling thread, restored when it
// ends) and, on a worker, the pool it belongs to.
//
// One job at a time per pool: concurrent callers take FIFO tickets and wait their turn (fair, no starvation);
// a call made while the calling thread already runs a job of the same pool (nested, or from a pool worker) runs
// inline instead of waiting for itself. Which thread takes which slot never changes a result (parallel.h).
#ifndef SEQLOSS_CPU_POOL_H
#define SEQLOSS_CPU_POOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "seqloss.h"

namespace seqloss {
namespace cpu {

class Pool {
 public:
  // Starts threads - 1 workers (the calling thread of a job is its slot 0). Fewer when the OS refuses threads.
  explicit Pool(int threads);
  ~Pool();  // stops and joins the workers; no job may be running
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Threads a job can use: the workers plus the caller.
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(ctx, slot, running) for slot = 0 .. running - 1, slot 0 on the calling thread, the others on workers,
  // with running = min(threads, size()); returns when every slot has returned. fn must not throw.
  typedef void (*Fn)(void* ctx, int slot, int running);
  void run(int threads, Fn fn, void* ctx);

  // True on a worker of this pool or on a thread inside run() of this pool.
  bool inside() const;

 private:
  void worker(int index);
  void wait_for_work(uint64_t seen);

  std::vector<std::thread> workers_;
  // The current job (written by its caller before the generation is bumped; read by workers after).
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int running_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};   // workers that have not finished the current generation
  std::atomic<int> sleepers_{0};  // workers blocked on wake_
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::condition_variable wake_;  // workers: a new generation or stop
  std::condition_variable done_;  // the caller: pending_ reached 0
  bool caller_waiting_ = false;   // under m_
  // FIFO admission of callers.
  std::mutex admit_m_;
  std::condition_variable admit_cv_;
  uint64_t next_ticket_ = 0, serving_ = 0;
};

// The call's pool and work size (N*T*C) for the calling thread, for the duration of a C ABI call. Takes a
// reference on the pool (released at the end of the scope, destroying the pool if it was the last one).
// dispatch.cc puts one per CPU entry point: `seqloss::cpu::PoolScope scope(exec->pool, problem);`
class PoolScope {
 public:
  PoolScope(seqloss_pool* pool, const seqloss_problem* problem);
  ~PoolScope();
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  seqloss_pool* pool_;
  seqloss_pool* prev_pool_;
  int64_t prev_work_;
};

// The pool of the current call on this thread (nullptr: threads per call), and its work estimate (-1: unknown).
Pool* current_pool();
int64_t current_work();

// Work (N*T*C input elements) below which a call runs on the calling thread whatever its thread count: waking
// workers (or, without a pool, starting threads) costs more than the rest of such a call saves. Measured on the
// 2-core AMD EPYC (AVX-512) development VM, with a C++ loop over the C ABI (single-thread ACE logits CE + grad and
// CTC + grad, C = 37, and empty pool jobs): ACE costs 1.3-1.9 ns per element and CTC 4.6-7 ns; an empty pool job
// 2.5 us back to back on a quiet machine (100 us and more while other processes share the cores), one whose
// workers sleep 140-390 us there; starting and joining one std::thread 60-75 us. At 16384 elements one thread
// takes ~25 us (ACE) to ~100 us (CTC): splitting it over two saves at most half of that, no more than waking or
// starting the second thread costs.
constexpr int64_t kInlineWork = 16384;

}  // namespace cpu
}  // namespace seqloss

// The object behind the C ABI's opaque seqloss_pool.
struct seqloss_pool {
  explicit seqloss_pool(int threads) : pool(threads) {}
  std::atomic<int64_t> refs{1};
  seqloss::cpu::Pool pool;
};

namespace seqloss {
namespace cpu {
// Reference counting of seqloss_pool (the C entries use them too).
void pool_retain(seqloss_pool* p);
void pool_release(seqloss_pool* p);
}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_POOL_H
