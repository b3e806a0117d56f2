//===- InitAllDialects.h - register Loom's and upstream dialects -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_INITALLDIALECTS_H
#define LOOM_INITALLDIALECTS_H

#include "loom/Dialect/Loom/IR/LoomDialect.h"
#include "loom/Dialect/Loom/Transforms/ShardingInterfaceImpl.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

namespace mlir::loom {

/// Adds every dialect Loom defines to `registry`.
inline void registerAllLoomDialects(DialectRegistry &registry) {
  registry.insert<LoomDialect>();
}

/// Adds every extension Loom defines: external models of upstream
/// interfaces (ShardingInterfaceImpl.h).
inline void registerAllLoomExtensions(DialectRegistry &registry) {
  registerShardingInterfaceModels(registry);
}

/// What loom-opt and the compiler driver register, in one place: every
/// upstream dialect and extension (bufferization and the LLVM conversions
/// find their interface implementations there), and Loom's.
inline void registerLoomToolDialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllLoomDialects(registry);
  registerAllLoomExtensions(registry);
  // --target=cuda: the #nvvm.target that serializes GPU kernels to PTX, and
  // the translations it runs on them.
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerAllGPUToLLVMIRTranslations(registry);
}

} // namespace mlir::loom

#endif // LOOM_INITALLDIALECTS_H
