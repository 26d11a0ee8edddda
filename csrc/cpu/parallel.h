// parallel.h — the CPU backend's only form of parallelism: whole sequences handed to threads.
//
// Determinism: a sequence is computed start to finish by one thread with its own scratch (slot), and every
// per-sequence result is written to its own place; the caller reduces them afterwards in index order. Which
// thread takes which sequence (dynamic, via an atomic counter) therefore cannot change a single bit.
//
// No global state. A call runs on the pool its caller passed (seqloss_exec.pool, made current for the call by
// PoolScope, pool.h): persistent workers, woken per call. Without a pool, threads are created per call and joined
// before it returns (a few tens of microseconds), so concurrent calls from several host threads (the Node thread
// pool, worker threads) never share anything. Either way, a call whose work is below kInlineWork (pool.h) runs on
// the calling thread alone: the same results, without the cost of waking or starting threads.
#ifndef SEQLOSS_CPU_PARALLEL_H
#define SEQLOSS_CPU_PARALLEL_H

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "cpu/pool.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace seqloss {
namespace cpu {

// Hardware threads available to this process (its CPU affinity where the OS says, else the core count).
inline int hardware_threads() {
#if defined(__linux__) && defined(CPU_COUNT)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

constexpr int kMaxThreads = 1024;

// Threads a call uses: `requested` (0 = hardware threads), at most one per item, at least 1.
inline int resolve_threads(int32_t requested, int64_t items) {
  int64_t t = requested > 0 ? requested : hardware_threads();
  if (t > kMaxThreads) t = kMaxThreads;
  if (t > items) t = items;
  return t < 1 ? 1 : static_cast<int>(t);
}

namespace detail {

// Hands out the items [0, items) in runs of consecutive indices to body(item, slot) until none are left or a thread
// failed; records this thread's exception.
template <class Body>
void drain(std::atomic<int64_t>& next, int64_t items, int64_t run, int slot, Body& body,
           std::vector<std::exception_ptr>& errors, std::atomic<bool>& failed) {
  try {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) break;
      int64_t first = next.fetch_add(run, std::memory_order_relaxed);
      if (first >= items) break;
      int64_t last = std::min(first + run, items);
      for (int64_t i = first; i < last; ++i) body(i, slot);
    }
  } catch (...) {
    errors[static_cast<size_t>(slot)] = std::current_exception();
    failed.store(true, std::memory_order_relaxed);
  }
}

template <class Work>
void call_work(void* ctx, int slot, int running) {
  (*static_cast<Work*>(ctx))(slot, running);
}

// Runs work(slot, running) for slots 0 .. running - 1, slot 0 on the calling thread and the others on the current
// call's pool (current_pool()) or, without one, on threads started here and joined before returning; then rethrows
// the first exception (lowest slot). running <= threads is the number of threads actually taking part (a smaller
// pool, or a thread that could not be created: the others take its share).
template <class Work>
void run_threads(int threads, std::vector<std::exception_ptr>& errors, Work&& work) {
  if (Pool* shared = current_pool()) {
    typedef typename std::remove_reference<Work>::type W;
    shared->run(threads, &call_work<W>, static_cast<void*>(&work));
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  std::atomic<int> running{threads};
  for (int slot = 1; slot < threads; ++slot) {
    try {
      pool.emplace_back([&work, &running, slot] { work(slot, running.load()); });
    } catch (const std::system_error&) {
      running.store(slot);  // resources exhausted: fewer threads, same results
      break;
    }
  }
  work(0, running.load());
  for (auto& th : pool) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// True when the current call is too small to share (pool.h, kInlineWork).
inline bool small_call() {
  const int64_t work = current_work();
  return work >= 0 && work < kInlineWork;
}

}  // namespace detail

// The threads worth using for a call whose single-thread time is about current_work() * ns_per_element: `threads`,
// or 1 when splitting the call would save less than waking the pool's workers (~10 us when they sleep) or, without
// a pool, starting and joining threads (~60 us each) costs (pool.h has the measurements). For kernels whose cost
// per element is known (ACE ~1.5 ns, the decoders less); the others rely on kInlineWork alone.
inline int worth_threads(int threads, double ns_per_element) {
  const int64_t work = current_work();
  if (threads <= 1 || work < 0) return threads;
  const double single_us = static_cast<double>(work) * ns_per_element * 1e-3;
  const double saved_us = single_us * (1.0 - 1.0 / threads);
  const double cost_us = current_pool() != nullptr ? 10.0 : 60.0 * (threads - 1);
  return saved_us > cost_us ? threads : 1;
}

// Calls body(item, slot) for every item in [0, items), on `threads` threads (the calling thread is slot 0).
// slot < threads identifies the thread's scratch. Items are handed out in runs of consecutive indices (about 8
// runs per thread): neighbouring sequences share cache lines at their edges in the TNC layout, and two threads
// writing them at once would bounce those lines between cores. If a thread cannot be created the others take
// its share. The first exception (lowest slot) is rethrown after every thread has joined.
template <class Body>
void parallel_for(int threads, int64_t items, Body&& body) {
  if (threads <= 1 || items <= 1 || detail::small_call()) {
    for (int64_t i = 0; i < items; ++i) body(i, 0);
    return;
  }
  const int64_t run = std::max<int64_t>(1, items / (static_cast<int64_t>(threads) * 8));
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  std::atomic<bool> failed{false};
  detail::run_threads(threads, errors,
                      [&](int slot, int) { detail::drain(next, items, run, slot, body, errors, failed); });
}

// Two parallel passes over [0, items) with a serial step between them, on one set of threads (started once: at
// small sizes starting threads twice costs more than the step): first(item, slot) for every item, then between()
// on the calling thread once every first() has returned, then second(item, slot) for every item. Same hand-out,
// slots and exceptions as parallel_for; between() and second() are skipped once a first() has thrown.
template <class First, class Between, class Second>
void parallel_two_pass(int threads, int64_t items, First&& first, Between&& between, Second&& second) {
  if (threads <= 1 || items <= 1 || detail::small_call()) {
    for (int64_t i = 0; i < items; ++i) first(i, 0);
    between();
    for (int64_t i = 0; i < items; ++i) second(i, 0);
    return;
  }
  const int64_t run = std::max<int64_t>(1, items / (static_cast<int64_t>(threads) * 8));
  std::atomic<int64_t> next1{0}, next2{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  std::atomic<bool> failed{false};
  // The step between the passes is short and the threads finish their first pass close together: they wait by
  // yielding rather than sleeping on a condition variable, whose wake-up costs more than a small batch's pass.
  std::atomic<int> arrived{0};  // helper threads done with the first pass
  std::atomic<bool> released{false};
  detail::run_threads(threads, errors, [&](int slot, int running) {
    detail::drain(next1, items, run, slot, first, errors, failed);
    if (slot == 0) {
      while (arrived.load(std::memory_order_acquire) != running - 1) std::this_thread::yield();
      if (!failed.load()) {
        try {
          between();
        } catch (...) {
          errors[0] = std::current_exception();
          failed.store(true);
        }
      }
      released.store(true, std::memory_order_release);
    } else {
      arrived.fetch_add(1, std::memory_order_acq_rel);
      while (!released.load(std::memory_order_acquire)) std::this_thread::yield();
    }
    detail::drain(next2, items, run, slot, second, errors, failed);
  });
}

}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_PARALLEL_H
