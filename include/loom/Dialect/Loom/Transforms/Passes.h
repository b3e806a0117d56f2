//===- Passes.h - loom dialect passes ---------------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_H
#define LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::loom {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"

/// The argument attribute naming the weight an argument is bound to.
inline constexpr llvm::StringLiteral kWeightArgAttr = "loom.weight";

} // namespace mlir::loom

#endif // LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_H
