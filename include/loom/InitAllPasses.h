//===- InitAllPasses.h - register Loom's passes -----------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_INITALLPASSES_H
#define LOOM_INITALLPASSES_H

#include "loom/Codegen/Passes.h"
#include "loom/Codegen/Pipelines.h"
#include "loom/Conversion/Passes.h"
#include "loom/Dialect/Loom/Transforms/Passes.h"

namespace mlir::loom {

/// Registers every pass Loom defines with the global pass registry.
inline void registerAllLoomPasses() {
  registerLoomConversionPasses();
  registerLoomPasses();
  registerLoomCodegenPasses();
  registerLoomPipelines();
}

} // namespace mlir::loom

#endif // LOOM_INITALLPASSES_H
