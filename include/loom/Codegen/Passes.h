//===- Passes.h - Loom code generation passes -------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_PASSES_H
#define LOOM_CODEGEN_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::loom {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "loom/Codegen/Passes.h.inc"

/// The argument attribute recording which original result an argument
/// updated in place stands for.
inline constexpr llvm::StringLiteral kInPlaceResultAttr = "loom.in_place_result";

} // namespace mlir::loom

#endif // LOOM_CODEGEN_PASSES_H
