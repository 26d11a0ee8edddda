// sanitizer.h (SIMT host) — SEQLOSS_SIMT_ASAN when the build runs under AddressSanitizer (GCC's and Clang's spelling),
// with the sanitizer interface headers the host uses then: fiber-switch annotations, poisoning, the death callback.
#ifndef SEQLOSS_SIMT_SANITIZER_H
#define SEQLOSS_SIMT_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define SEQLOSS_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEQLOSS_SIMT_ASAN 1
#endif
#endif

#if defined(SEQLOSS_SIMT_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#endif  // SEQLOSS_SIMT_SANITIZER_H
