//===- InitAllPasses.h - register Loom's passes -----------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_INITALLPASSES_H
#define LOOM_INITALLPASSES_H

#include "loom/Conversion/Passes.h"

namespace mlir::loom {

/// Registers every pass Loom defines with the global pass registry.
inline void registerAllLoomPasses() { registerLoomConversionPasses(); }

} // namespace mlir::loom

#endif // LOOM_INITALLPASSES_H
