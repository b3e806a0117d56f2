//===- CpuState.h - CPU state a process must ask the OS for -----*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_CPUSTATE_H
#define LOOM_SUPPORT_CPUSTATE_H

#include "llvm/Support/Error.h"

namespace loom {

/// Asks Linux for the AMX tile data state (arch_prctl ARCH_REQ_XCOMP_PERM
/// for XTILEDATA), which a process must hold before its first AMX
/// instruction (without it, that instruction raises SIGILL). Once per
/// process, for all its threads; later calls return the first answer. An
/// error says why the kernel refused (or that this is not Linux on x86-64).
llvm::Error enableAMXTiles();

} // namespace loom

#endif // LOOM_SUPPORT_CPUSTATE_H
