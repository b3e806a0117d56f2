//===- Passes.h - Loom code generation passes -------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_PASSES_H
#define LOOM_CODEGEN_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

namespace mlir::loom {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "loom/Codegen/Passes.h.inc"

// The loom.* attribute names (loom.schedule, loom.kernel_of, ...):
// loom/Dialect/Loom/IR/LoomOps.h.

} // namespace mlir::loom

#endif // LOOM_CODEGEN_PASSES_H
