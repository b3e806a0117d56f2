//===- CpuState.cpp - CPU state a process must ask the OS for -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Support/CpuState.h"

#include <cerrno>
#include <cstring>
#include <string>

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

llvm::Error loom::enableAMXTiles() {
  // The answer, once: "" where the kernel granted the state.
  static const std::string refusal = []() -> std::string {
#if defined(__linux__) && defined(__x86_64__)
    // arch/x86/include/uapi/asm/prctl.h and the XSAVE feature number of
    // XTILEDATA (Linux 5.16 and later).
    constexpr long kReqXCompPerm = 0x1023, kXTileData = 18;
    if (syscall(SYS_arch_prctl, kReqXCompPerm, kXTileData) == 0)
      return "";
    return std::string("the kernel refused AMX tile state "
                       "(arch_prctl ARCH_REQ_XCOMP_PERM): ") +
           std::strerror(errno);
#else
    return "AMX tile state is only requested on Linux x86-64";
#endif
  }();
  if (refusal.empty())
    return llvm::Error::success();
  return llvm::createStringError(refusal);
}
