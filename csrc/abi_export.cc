// abi_export.cc — the translation unit of the shared library `seqloss` (libseqloss.so / seqloss.dll) for ctypes
// and other foreign callers. The entries themselves live in the seqloss_core archive (dispatch.cc), which the
// library links whole; this file only pins the ABI version into the library at build time.
#include "seqloss.h"

static_assert(SEQLOSS_ABI_VERSION == 7, "abi_export.cc was written for ABI version 7");
