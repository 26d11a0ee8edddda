// isa.h — one binary, three instruction-set levels. Each hot kernel is a template on the vector width W (rows.h)
// and is compiled three times on x86-64: W = 16 with AVX-512 (F, VL, BW, DQ), W = 8 with AVX2 + FMA, W = 4 for
// the SSE2 baseline. The level is picked per call from the running CPU (__builtin_cpu_supports, which also checks
// that the OS saves the wide registers). Explicit widths instead of target_clones: a 64-byte vector type compiled
// for AVX2 lives on the stack, so each level needs its own vector type, not just its own instructions.
// Builds tuned for the build machine (-march=native: SEQLOSS_NATIVE_ARCH=ON) and non-x86 targets compile one
// width, chosen from the predefined macros, and never dispatch.
#ifndef SEQLOSS_CPU_ISA_H
#define SEQLOSS_CPU_ISA_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__AVX2__) && \
    !defined(SEQLOSS_NO_DISPATCH)
#define SEQLOSS_DISPATCH 1
#define SEQLOSS_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,popcnt")))
#define SEQLOSS_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))
#else
#define SEQLOSS_DISPATCH 0
#endif

namespace seqloss {
namespace cpu {

#if SEQLOSS_DISPATCH
// 16, 8 or 4: the widest level this CPU (and OS) runs.
inline int dispatch_width() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return 16;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
  return 4;
}
#if defined(SEQLOSS_FORCE_WIDTH)  // testing: cap the level (-DSEQLOSS_FORCE_WIDTH=8 or 4) to run the narrower code
inline int dispatch_width_capped() {
  int w = dispatch_width();
  return w < SEQLOSS_FORCE_WIDTH ? w : SEQLOSS_FORCE_WIDTH;
}
#define dispatch_width dispatch_width_capped
#endif
#else
#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
constexpr int kNativeWidth = 16;
#elif defined(__AVX2__)
constexpr int kNativeWidth = 8;
#else
constexpr int kNativeWidth = 4;
#endif
inline int dispatch_width() { return kNativeWidth; }
#endif

}  // namespace cpu
}  // namespace seqloss

// Defines `ret name(params)` that forwards to name##_impl<W>(args) at the width of the running CPU: three
// copies of the implementation, each compiled for its instruction set. Usage:
//   SEQLOSS_MULTIVERSION(void, ctc_sequence, (const CtcJob& job, int64_t n, const CtcSlot& w), (job, n, w))
#if SEQLOSS_DISPATCH
#define SEQLOSS_MULTIVERSION(ret, name, params, args)                                                    \
  SEQLOSS_TARGET_AVX512 __attribute__((noinline)) ret name##_w16 params { return name##_impl<16> args; } \
  SEQLOSS_TARGET_AVX2 __attribute__((noinline)) ret name##_w8 params { return name##_impl<8> args; }     \
  __attribute__((noinline)) ret name##_w4 params { return name##_impl<4> args; }                         \
  inline ret name(int width, SEQLOSS_UNPAREN params) {                                                   \
    if (width == 16) return name##_w16 args;                                                             \
    if (width == 8) return name##_w8 args;                                                               \
    return name##_w4 args;                                                                               \
  }
#else
#define SEQLOSS_MULTIVERSION(ret, name, params, args) \
  inline ret name(int, SEQLOSS_UNPAREN params) { return name##_impl<::seqloss::cpu::kNativeWidth> args; }
#endif
#define SEQLOSS_UNPAREN(...) __VA_ARGS__

#endif  // SEQLOSS_CPU_ISA_H
