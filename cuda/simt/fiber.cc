// fiber.cc — see fiber.h.
#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sanitizer.h"

namespace seqloss {
namespace simt {

namespace {

thread_local Fiber* g_starting = nullptr;  // the fiber that trampoline() is about to run

// The sanitizer's fiber annotations; nothing without AddressSanitizer.
inline void asan_start(void** fake_save, const void* bottom, size_t size) {
#if defined(SEQLOSS_SIMT_ASAN)
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save;
  (void)bottom;
  (void)size;
#endif
}
inline void asan_finish(void* fake, const void** old_bottom, size_t* old_size) {
#if defined(SEQLOSS_SIMT_ASAN)
  __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
  (void)fake;
  (void)old_bottom;
  (void)old_size;
#endif
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "seqloss SIMT host: %s\n", what);
  std::abort();
}

}  // namespace

#if !defined(SEQLOSS_SIMT_UCONTEXT)
// seqloss_simt_switch(save, load): pushes the callee-saved registers and the FP control state, stores the stack
// pointer into *save, loads `load` as the stack pointer and pops the same frame from there (System V x86-64).
extern "C" void seqloss_simt_switch(void** save, void* load);
asm(R"(
  .text
  .p2align 4
  .globl seqloss_simt_switch
  .hidden seqloss_simt_switch
  .type seqloss_simt_switch, @function
seqloss_simt_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size seqloss_simt_switch, .-seqloss_simt_switch
)");
#endif

Fiber::~Fiber() {
  if (map_ != nullptr) munmap(map_, map_bytes_);
}

const char* Fiber::mechanism() {
#if defined(SEQLOSS_SIMT_UCONTEXT)
  return "ucontext";
#else
  return "x86-64 stack switch";
#endif
}

void Fiber::prepare(void (*entry)(void*), void* arg) {
  entry_ = entry;
  arg_ = arg;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (map_ == nullptr) {
    map_bytes_ = kStackBytes + page;
    void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die("cannot map a fiber stack");
    map_ = static_cast<unsigned char*>(m);
    if (mprotect(map_, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
  }
  unsigned char* bottom = map_ + page;
#if defined(SEQLOSS_SIMT_ASAN)
  // A fiber abandoned mid-call (a hazard stopped its launch) leaves the poisoned redzones of its frames behind; a
  // finished one only those of trampoline() and switch_out(), at the top.
  constexpr size_t kTop = 8192;
  if (abandoned_) {
    __asan_unpoison_memory_region(bottom, kStackBytes);
  } else {
    __asan_unpoison_memory_region(bottom + kStackBytes - kTop, kTop);
  }
#endif
  abandoned_ = false;
  fake_stack_ = nullptr;
#if defined(SEQLOSS_SIMT_UCONTEXT)
  if (getcontext(&ctx_) != 0) die("getcontext failed");
  ctx_.uc_stack.ss_sp = bottom;
  ctx_.uc_stack.ss_size = kStackBytes;
  ctx_.uc_link = nullptr;
  makecontext(&ctx_, &Fiber::trampoline, 0);
#else
  // The frame seqloss_simt_switch pops: FP control word slot, r15 r14 r13 r12 rbx rbp, then the "return address"
  // trampoline, then a null return address for trampoline itself (it never returns). After the ret the stack
  // pointer is top - 8, as at the entry of a called function.
  uintptr_t top = reinterpret_cast<uintptr_t>(bottom + kStackBytes) & ~static_cast<uintptr_t>(15);
  uint64_t* s = reinterpret_cast<uint64_t*>(top - 72);
  uint32_t mxcsr = 0;
  uint16_t fpucw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpucw));
  s[0] = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fpucw) << 32);
  for (int i = 1; i <= 6; ++i) s[i] = 0;
  s[7] = reinterpret_cast<uint64_t>(&Fiber::trampoline);
  s[8] = 0;
  sp_ = s;
#endif
}

void Fiber::resume() {
  g_starting = this;
  asan_start(&host_fake_stack_, map_ + (map_bytes_ - kStackBytes), kStackBytes);
#if defined(SEQLOSS_SIMT_UCONTEXT)
  if (swapcontext(&host_, &ctx_) != 0) die("swapcontext failed");
#else
  seqloss_simt_switch(&host_sp_, sp_);
#endif
  asan_finish(host_fake_stack_, nullptr, nullptr);
}

void Fiber::yield() {
  asan_start(&fake_stack_, host_bottom_, host_size_);
#if defined(SEQLOSS_SIMT_UCONTEXT)
  if (swapcontext(&ctx_, &host_) != 0) die("swapcontext failed");
#else
  seqloss_simt_switch(&sp_, host_sp_);
#endif
  asan_finish(fake_stack_, &host_bottom_, &host_size_);
}

void Fiber::switch_out(bool dying) {
  abandoned_ = dying;
  asan_start(nullptr, host_bottom_, host_size_);  // null: this fiber's fake stack goes away
#if defined(SEQLOSS_SIMT_UCONTEXT)
  setcontext(&host_);
  die("setcontext returned");
#else
  void* discard = nullptr;
  seqloss_simt_switch(&discard, host_sp_);
  die("a finished fiber was resumed");
#endif
}

void Fiber::leave() {
  switch_out(true);
  std::abort();  // not reached
}

void Fiber::trampoline() {
  Fiber* f = g_starting;
  asan_finish(nullptr, &f->host_bottom_, &f->host_size_);
  f->entry_(f->arg_);
  f->switch_out(false);
}

}  // namespace simt
}  // namespace seqloss
