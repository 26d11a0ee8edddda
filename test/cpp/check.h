// check.h — the pass/fail counting shared by the C++ test programs (plain main, no framework): check() counts,
// prints the first failures, and the program prints "NAME: N passed, N failed" and exits non-zero on any failure.
#ifndef SEQLOSS_TEST_CHECK_H
#define SEQLOSS_TEST_CHECK_H

#include <cstdio>
#include <string>

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    if (g_failed <= 100) std::printf("FAIL: %s\n", what.c_str());
  }
}

}  // namespace

#endif  // SEQLOSS_TEST_CHECK_H
