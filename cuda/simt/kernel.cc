// kernel.cc (SIMT host) — the threads of a block as fibers: the scheduler, __syncthreads, the warp shuffles,
// shared memory and the hazard checks (see kernel.h).
//
// The scheduler runs the runnable threads of a block in order of their linear index (odd blocks in reverse), each
// until it waits or returns, and repeats until all have returned. A barrier releases when its last thread arrives;
// a shuffle completes when the last lane its mask names arrives (that thread goes on; the others become runnable).
// When no thread can run and some have not returned, the block is stuck: the scheduler says why (who waits where,
// who is missing) and stops the launch. Those are the only interleavings tested: lanes do not run in lock step and
// memory is ordered only by the barriers, as the CUDA programming model allows and no more.
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda_runtime.h"
#include "fiber.h"
#include "internal.h"
#include "sanitizer.h"

namespace seqloss {
namespace simt {

namespace {

thread_local ThreadView* tls_thread = nullptr;

enum State : uint8_t { kRunnable, kBarrier, kShuffle, kDone };

struct Thread {
  ThreadView view{};
  int linear = 0;
  State state = kRunnable;
  // Where it waits (barrier or shuffle), and a shuffle's operands.
  const char* file = nullptr;
  int line = 0;
  unsigned mask = 0;
  int mode = 0, arg = 0, width = 32, bytes = 0;
  uint64_t value = 0, result = 0;
  Fiber fiber;
};

// The race record of one 4-byte word of shared memory: valid for the barrier interval `stamp`
// (block serial << 32 | epoch); writer / reader: linear thread ids, -1 none, -2 several readers.
struct ShadowWord {
  uint64_t stamp;
  int32_t writer;
  int32_t reader;
};

// A shuffle in progress in a warp: the lanes its mask names meet at one call. Several may be in progress in one
// warp when their masks are disjoint.
struct ShuffleCall {
  const char* file;
  int line;
  unsigned mask;
  int mode;
  unsigned arrived;
};
struct Warp {
  int count = 0;
  ShuffleCall calls[32];
};

constexpr size_t kSharedBytes = 48 * 1024;  // static shared memory per block, as on every GPU since Kepler
constexpr int kMaxThreads = 1024;

// One per OS thread that runs kernels: the fibers of a block and the block's state.
struct Executor {
  std::unique_ptr<Thread[]> threads{new Thread[kMaxThreads]};
  std::unique_ptr<unsigned char[]> shared{new unsigned char[kSharedBytes]};
  std::unique_ptr<ShadowWord[]> shadow{new ShadowWord[kSharedBytes / 4]()};
  std::unique_ptr<Warp[]> warps{new Warp[kMaxThreads / 32]};
  // The block being run.
  const char* kernel = nullptr;
  const std::function<void()>* body = nullptr;
  uint3 block_idx{0, 0, 0};
  dim3 block_dim, grid_dim;
  int n = 0, done = 0, arrived = 0;
  uint64_t serial = 0;
  uint32_t epoch = 0;
  size_t shared_used = 0;
  std::vector<std::pair<const SharedSite*, size_t>> sites;
  Thread* current = nullptr;
  bool stop = false;
  std::string why;
};

thread_local std::unique_ptr<Executor> tls_exec;
thread_local const Executor* tls_running = nullptr;  // while run_kernel runs (plain pointer: no destructor)

Executor& exec() {
  if (!tls_exec) tls_exec.reset(new Executor);
  return *tls_exec;
}

uint3 unflatten(int i, dim3 d) {
  const unsigned u = static_cast<unsigned>(i);
  return uint3{u % d.x, (u / d.x) % d.y, u / (d.x * d.y)};
}

std::string where(const Executor& E, int linear) {
  const uint3 t = unflatten(linear, E.block_dim);
  char buf[200];
  std::snprintf(buf, sizeof buf, "kernel '%s', block (%u,%u,%u), thread (%u,%u,%u)", E.kernel, E.block_idx.x,
                E.block_idx.y, E.block_idx.z, t.x, t.y, t.z);
  return buf;
}

// "(x,y,z)" of a linear thread index, into buf (64 bytes).
const char* thread_name(const Executor& E, int linear, char* buf) {
  const uint3 t = unflatten(linear, E.block_dim);
  std::snprintf(buf, 64, "(%u,%u,%u)", t.x, t.y, t.z);
  return buf;
}

// Records why the block stops (the first reason wins).
void stop_block(Executor& E, const std::string& msg) {
  if (E.stop) return;
  E.stop = true;
  E.why = msg;
  counters().hazards++;
}

bool same_site(const char* f1, int l1, const char* f2, int l2) {
  return l1 == l2 && (f1 == f2 || (f1 != nullptr && f2 != nullptr && std::strcmp(f1, f2) == 0));
}

const char* shuffle_name(int mode) {
  static const char* const names[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync"};
  return names[mode & 3];
}

Thread& current(const char* what) {
  Executor* E = tls_exec.get();
  if (E == nullptr || E->current == nullptr) {
    std::fprintf(stderr, "seqloss SIMT host: %s called outside a kernel\n", what);
    std::abort();
  }
  return *E->current;
}

void check_not_awaited(Executor& E, const Thread& t, const char* doing);

void thread_main(void* p) {
  Thread* t = static_cast<Thread*>(p);
  Executor& E = exec();
  try {
    (*E.body)();
  } catch (...) { hazard("the kernel threw a C++ exception"); }
  check_not_awaited(E, *t, "returns");
  t->state = kDone;
  E.done++;
}

// What thread `o` is doing, for a message (into buf: hazard() never returns, so no temporary may own memory).
const char* state_of(const Thread& o, char* buf, size_t size) {
  switch (o.state) {
    case kDone: return "has returned";
    case kBarrier: std::snprintf(buf, size, "waits at __syncthreads() %s:%d", o.file, o.line); return buf;
    case kShuffle:
      std::snprintf(buf, size, "waits at %s %s:%d (mask 0x%08x)", shuffle_name(o.mode), o.file, o.line, o.mask);
      return buf;
    case kRunnable: break;
  }
  return "runs";
}

// No thread can run and some have not returned: say who waits for whom.
void diagnose(Executor& E) {
  for (int i = 0; i < E.n; ++i) {
    const Thread& t = E.threads[i];
    if (t.state != kShuffle) continue;
    const int base = t.linear & ~31;
    for (int l = 0; l < 32; ++l) {
      if (((t.mask >> l) & 1u) == 0) continue;
      const Thread& o = E.threads[base + l];
      if (o.state == kShuffle && same_site(o.file, o.line, t.file, t.line)) continue;
      char buf[512];
      stop_block(E, where(E, t.linear) + ": " + shuffle_name(t.mode) + " at " + t.file + ":" + std::to_string(t.line) +
                        " names lane " + std::to_string(l) + " in its mask, which " + state_of(o, buf, sizeof buf));
      return;
    }
  }
  for (int i = 0; i < E.n; ++i) {
    const Thread& t = E.threads[i];
    if (t.state != kBarrier) continue;
    for (int j = 0; j < E.n; ++j) {
      const Thread& o = E.threads[j];
      if (o.state == kBarrier) continue;
      char buf[512];
      stop_block(E, where(E, o.linear) + ": " + state_of(o, buf, sizeof buf) +
                        " without reaching the __syncthreads() at " + t.file + ":" + std::to_string(t.line) +
                        " where " + std::to_string(E.arrived) + " of " + std::to_string(E.n) +
                        " threads wait (a barrier every thread must reach)");
      return;
    }
  }
  stop_block(E, std::string("kernel '") + E.kernel + "': the block is stuck");
}

bool run_block(Executor& E) {
  E.done = 0;
  E.arrived = 0;
  E.epoch = 0;
  E.serial++;
  E.shared_used = 0;
  E.sites.clear();
  E.stop = false;
  for (int w = 0; w < (E.n + 31) / 32; ++w) E.warps[w].count = 0;
  for (int i = 0; i < E.n; ++i) {
    Thread& t = E.threads[i];
    t.view = ThreadView{unflatten(i, E.block_dim), E.block_idx, E.block_dim, E.grid_dim};
    t.linear = i;
    t.state = kRunnable;
    t.fiber.prepare(&thread_main, &t);
  }
  uint64_t switches = 0;
  // Odd blocks visit their threads from the last to the first: a missing barrier before a read of what another
  // thread wrote to global memory (which the race check does not see) then reads stale data in one of the two
  // orders, whichever thread writes.
  const bool reverse = (E.block_idx.x + E.block_idx.y + E.block_idx.z) % 2 == 1;
  while (!E.stop) {
    bool ran = false;
    for (int j = 0; j < E.n && !E.stop; ++j) {
      const int i = reverse ? E.n - 1 - j : j;
      Thread& t = E.threads[i];
      if (t.state != kRunnable) continue;
      E.current = &t;
      tls_thread = &t.view;
      t.fiber.resume();
      ++switches;
      ran = true;
    }
    if (E.stop || E.done == E.n) break;
    if (!ran) diagnose(E);
  }
  E.current = nullptr;
  tls_thread = nullptr;
  Counters& c = counters();
  c.switches += switches;
  c.threads += static_cast<uint64_t>(E.n);
  c.blocks++;
  if (E.stop) {
    for (int i = 0; i < E.n; ++i) {
      if (E.threads[i].state != kDone) E.threads[i].fiber.abandon();
    }
    return false;
  }
  return true;
}

void release_barrier(Executor& E) {
  const Thread& a = E.threads[0];
  for (int i = 1; i < E.n; ++i) {
    const Thread& b = E.threads[i];
    if (!same_site(a.file, a.line, b.file, b.line)) {
      char na[64], nb[64];
      hazard("divergent __syncthreads(): thread %s waits at %s:%d and thread %s at %s:%d", thread_name(E, a.linear, na),
             a.file, a.line, thread_name(E, b.linear, nb), b.file, b.line);
    }
  }
  E.arrived = 0;
  E.epoch++;
  for (int i = 0; i < E.n; ++i) E.threads[i].state = kRunnable;
}

// The last lane of `c` has arrived: every lane gets the value of its source lane (its own arg and width).
void complete_shuffle(Executor& E, int base, const ShuffleCall& c) {
  for (int l = 0; l < 32; ++l) {
    if (((c.mask >> l) & 1u) == 0) continue;
    const Thread& o = E.threads[base + l];
    const int w = o.width, seg = l & ~(w - 1);
    int src = l;
    switch (c.mode) {
      case 0: src = seg + (((o.arg % w) + w) % w); break;
      case 1: src = l - o.arg >= seg ? l - o.arg : l; break;
      case 2: src = l + o.arg < seg + w ? l + o.arg : l; break;
      default: src = ((l ^ o.arg) & ~(w - 1)) == seg ? (l ^ o.arg) : l; break;
    }
    if (src < 0 || src > 31 || ((c.mask >> src) & 1u) == 0) {
      hazard("%s at %s:%d: lane %d reads lane %d, which is not in the mask 0x%08x (undefined on a GPU)",
             shuffle_name(c.mode), c.file, c.line, l, src, c.mask);
    }
    E.threads[base + l].result = E.threads[base + src].value;
  }
  for (int l = 0; l < 32; ++l) {
    if (((c.mask >> l) & 1u) != 0) E.threads[base + l].state = kRunnable;
  }
}

// The calling thread is about to wait at a barrier or to return: no shuffle of its warp may be waiting for it.
void check_not_awaited(Executor& E, const Thread& t, const char* doing) {
  const Warp& W = E.warps[t.linear >> 5];
  const int lane = t.linear & 31;
  for (int i = 0; i < W.count; ++i) {
    const ShuffleCall& c = W.calls[i];
    if (((c.mask >> lane) & 1u) != 0) {
      hazard("%s while lanes of its warp wait for it at %s %s:%d (mask 0x%08x)", doing, shuffle_name(c.mode), c.file,
             c.line, c.mask);
    }
  }
}

}  // namespace

ThreadView& self() {
  if (tls_thread == nullptr) {
    std::fprintf(stderr, "seqloss SIMT host: threadIdx, blockIdx, blockDim or gridDim read outside a kernel\n");
    std::abort();
  }
  return *tls_thread;
}

Counters& counters() {
  static Counters c;
  return c;
}

void hazard(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  Executor* E = tls_exec.get();
  if (E == nullptr || E->current == nullptr) {
    std::fprintf(stderr, "seqloss SIMT host: %s (outside a kernel)\n", buf);
    std::abort();
  }
  stop_block(*E, where(*E, E->current->linear) + ": " + buf);
  E->current->fiber.leave();
}

void syncthreads(const char* file, int line) {
  Thread& t = current("__syncthreads");
  Executor& E = exec();
  check_not_awaited(E, t, "waits at a __syncthreads()");
  t.state = kBarrier;
  t.file = file;
  t.line = line;
  if (++E.arrived == E.n) {
    release_barrier(E);
  } else {
    t.fiber.yield();
  }
}

void shuffle(int mode, unsigned mask, void* value, int bytes, int arg, int width, const char* file, int line) {
  Thread& t = current("a warp shuffle");
  Executor& E = exec();
  const int lane = t.linear & 31, base = t.linear & ~31;
  const char* name = shuffle_name(mode);
  if (((mask >> lane) & 1u) == 0) {
    hazard("%s at %s:%d with mask 0x%08x, which does not name the calling lane %d", name, file, line, mask, lane);
  }
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    hazard("%s at %s:%d with width %d (a power of 2 in [1, 32])", name, file, line, width);
  }
  Warp& W = E.warps[t.linear >> 5];
  ShuffleCall* c = nullptr;
  for (int i = 0; i < W.count; ++i) {
    ShuffleCall& o = W.calls[i];
    if ((o.mask & mask) == 0) continue;
    if (((o.mask >> lane) & 1u) != 0 && o.mask == mask && o.mode == mode && same_site(o.file, o.line, file, line)) {
      c = &o;
      break;
    }
    const int other = __builtin_ctz(o.arrived & mask ? o.arrived & mask : o.arrived);
    hazard("%s at %s:%d: mask 0x%08x names lane %d, which waits at %s %s:%d (mask 0x%08x)", name, file, line, mask,
           other, shuffle_name(o.mode), o.file, o.line, o.mask);
  }
  if (c == nullptr) {
    // A new call: every lane it names must exist and be able to come.
    for (int l = 0; l < 32; ++l) {
      if (((mask >> l) & 1u) == 0) continue;
      if (base + l >= E.n) {
        hazard("%s at %s:%d: mask 0x%08x names lane %d, which does not exist (a block of %d threads)", name, file, line,
               mask, l, E.n);
      }
      const Thread& o = E.threads[base + l];
      if (l != lane && (o.state == kDone || o.state == kBarrier)) {
        char buf[512];
        hazard("%s at %s:%d: mask 0x%08x names lane %d, which %s", name, file, line, mask, l,
               state_of(o, buf, sizeof buf));
      }
    }
    c = &W.calls[W.count++];
    *c = ShuffleCall{file, line, mask, mode, 0u};
  }
  t.state = kShuffle;
  t.file = file;
  t.line = line;
  t.mask = mask;
  t.mode = mode;
  t.arg = arg;
  t.width = width;
  t.bytes = bytes;
  t.value = 0;
  std::memcpy(&t.value, value, static_cast<size_t>(bytes));
  c->arrived |= 1u << lane;
  if (c->arrived == mask) {
    const ShuffleCall done = *c;
    *c = W.calls[--W.count];
    complete_shuffle(E, base, done);
  } else {
    t.fiber.yield();
  }
  std::memcpy(value, &t.result, static_cast<size_t>(bytes));
}

void* shared_alloc(const SharedSite* site, size_t bytes, size_t align, int64_t* first_word) {
  (void)current("a __shared__ declaration");
  Executor& E = exec();
  for (const auto& s : E.sites) {
    if (s.first == site) {
      *first_word = static_cast<int64_t>(s.second / 4);
      return E.shared.get() + s.second;
    }
  }
  const size_t a = align > 16 ? align : 16;
  const size_t at = (E.shared_used + a - 1) / a * a;
  if (at + bytes > kSharedBytes) {
    hazard("shared array '%s' (%s:%d) of %zu bytes exceeds the block's %zu bytes of static shared memory", site->name,
           site->file, site->line, bytes, kSharedBytes);
  }
  std::memset(E.shared.get() + at, 0xFF, bytes);  // uninitialised shared memory reads as NaN
  E.shared_used = at + bytes;
  E.sites.emplace_back(site, at);
  *first_word = static_cast<int64_t>(at / 4);
  return E.shared.get() + at;
}

namespace {

// One access of the running thread to `words` words from `word`: a race when another thread of the block wrote the
// word since the last barrier, or (for a write) read it.
void shared_access(const SharedSite* site, int64_t index, int64_t word, int words, bool write) {
  Thread& t = current(write ? "a shared-memory write" : "a shared-memory read");
  Executor& E = exec();
  const uint64_t stamp = (E.serial << 32) | E.epoch;
  const int32_t me = t.linear;
  char na[64], nb[64];
  for (int64_t w = word; w < word + words; ++w) {
    ShadowWord& s = E.shadow[w];
    if (s.stamp != stamp) {
      s = write ? ShadowWord{stamp, me, -1} : ShadowWord{stamp, -1, me};
      continue;
    }
    if (s.writer >= 0 && s.writer != me) {
      hazard(
          "shared-memory race on '%s'[%lld] (%s:%d): written by thread %s and %s by thread %s with no "
          "__syncthreads() between",
          site->name, static_cast<long long>(index), site->file, site->line, thread_name(E, s.writer, na),
          write ? "written" : "read", thread_name(E, me, nb));
    }
    if (write && (s.reader == -2 || (s.reader >= 0 && s.reader != me))) {
      hazard(
          "shared-memory race on '%s'[%lld] (%s:%d): read by thread %s and written by thread %s with no "
          "__syncthreads() between",
          site->name, static_cast<long long>(index), site->file, site->line,
          s.reader == -2 ? "(several)" : thread_name(E, s.reader, na), thread_name(E, me, nb));
    }
    if (write) {
      s.writer = me;
    } else if (s.reader == -1) {
      s.reader = me;
    } else if (s.reader != me) {
      s.reader = -2;
    }
  }
}

}  // namespace

void shared_read(const SharedSite* site, int64_t index, int64_t word, int words) {
  shared_access(site, index, word, words, false);
}

void shared_write(const SharedSite* site, int64_t index, int64_t word, int words) {
  shared_access(site, index, word, words, true);
}

#if defined(SEQLOSS_SIMT_ASAN)
namespace {
// When AddressSanitizer stops the process (an out-of-bounds or freed device access), say where in the launch.
void on_asan_death() {
  const Executor* E = tls_running;
  if (E != nullptr && E->current != nullptr) {
    std::fprintf(stderr, "seqloss SIMT host: the error above happened in %s\n", where(*E, E->current->linear).c_str());
  }
}
}  // namespace
#endif

bool run_kernel(const char* name, dim3 grid, dim3 block, const std::function<void()>& body, std::string* why) {
#if defined(SEQLOSS_SIMT_ASAN)
  static const bool registered = (__sanitizer_set_death_callback(&on_asan_death), true);
  (void)registered;
#endif
  Executor& E = exec();
  tls_running = &E;
  E.kernel = name;
  E.body = &body;
  E.block_dim = block;
  E.grid_dim = grid;
  E.n = static_cast<int>(block.x * block.y * block.z);
  counters().launches++;
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        E.block_idx = uint3{x, y, z};
        if (!run_block(E)) {
          *why = E.why;
          E.body = nullptr;
          tls_running = nullptr;
          return false;
        }
      }
    }
  }
  E.body = nullptr;
  tls_running = nullptr;
  return true;
}

}  // namespace simt
}  // namespace seqloss
