//===- InitAllDialects.h - register Loom's and upstream dialects -*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_INITALLDIALECTS_H
#define LOOM_INITALLDIALECTS_H

#include "loom/Dialect/Loom/IR/LoomDialect.h"

#include "mlir/IR/DialectRegistry.h"

namespace mlir::loom {

/// Adds every dialect Loom defines to `registry`.
inline void registerAllLoomDialects(DialectRegistry &registry) {
  registry.insert<LoomDialect>();
}

} // namespace mlir::loom

#endif // LOOM_INITALLDIALECTS_H
