// fiber.h — the execution contexts of the SIMT host: one fiber per emulated GPU thread, switched cooperatively on
// one OS thread by the block scheduler (kernel.cc). A fiber runs until it waits (a barrier, a shuffle) or returns,
// and then hands control back to the scheduler; nothing is preemptive.
//
// Two mechanisms, picked at compile time:
//  - x86-64 (the default there): a hand-written switch that saves the callee-saved registers, MXCSR and the x87
//    control word on the fiber's own stack and swaps stack pointers (about 2 ns a switch);
//  - elsewhere, or with SEQLOSS_SIMT_UCONTEXT: POSIX swapcontext (about 0.3 µs a switch: it saves the signal mask
//    with a system call).
// Under AddressSanitizer both announce every switch with __sanitizer_start/finish_switch_fiber, so ASan follows
// the fiber stacks (and its stack-use-after-return fake stacks) instead of reporting false errors.
// Stacks are mmap'ed with a guard page below them: a fiber that overflows its stack faults instead of writing
// into a neighbour.
#ifndef SEQLOSS_SIMT_FIBER_H
#define SEQLOSS_SIMT_FIBER_H

#include <cstddef>

#if !defined(__x86_64__) && !defined(SEQLOSS_SIMT_UCONTEXT)
#define SEQLOSS_SIMT_UCONTEXT 1
#endif
#if defined(SEQLOSS_SIMT_UCONTEXT)
#include <ucontext.h>
#endif

namespace seqloss {
namespace simt {

// A stack of its own and a saved context. Not copyable (the context points into the stack).
class Fiber {
 public:
  Fiber() = default;
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepares the fiber to run entry(arg) on its next resume(). The stack is allocated on first use and kept.
  void prepare(void (*entry)(void*), void* arg);
  // From the scheduler: runs the fiber until it calls yield() or leave(), or returns from its entry.
  void resume();
  // From inside the fiber: back to the scheduler; resume() continues after this call.
  void yield();
  // From inside the fiber: back to the scheduler for good (the fiber is abandoned; prepare() makes it new).
  [[noreturn]] void leave();
  // From the scheduler: the fiber waits somewhere and will not be resumed (its launch was stopped).
  void abandon() { abandoned_ = true; }

  static const char* mechanism();  // "x86-64 stack switch" or "ucontext"
  static constexpr size_t kStackBytes = 256 * 1024;

 private:
  static void trampoline();
  void switch_out(bool dying);

  unsigned char* map_ = nullptr;  // guard page + stack
  size_t map_bytes_ = 0;
  void (*entry_)(void*) = nullptr;
  void* arg_ = nullptr;
  bool abandoned_ = false;  // left mid-stack: its stack may carry stale sanitizer state
#if defined(SEQLOSS_SIMT_UCONTEXT)
  ucontext_t ctx_{};
  ucontext_t host_{};
#else
  void* sp_ = nullptr;       // the fiber's saved stack pointer
  void* host_sp_ = nullptr;  // the scheduler's
#endif
  // AddressSanitizer bookkeeping (unused without it).
  void* fake_stack_ = nullptr;
  void* host_fake_stack_ = nullptr;
  const void* host_bottom_ = nullptr;
  size_t host_size_ = 0;
};

}  // namespace simt
}  // namespace seqloss

#endif  // SEQLOSS_SIMT_FIBER_H
