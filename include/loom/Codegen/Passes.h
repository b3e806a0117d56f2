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

/// On an entry point: its kernels, their dependencies and the size of its
/// activation arena (loom-schedule-kernels).
inline constexpr llvm::StringLiteral kScheduleAttr = "loom.schedule";
/// On a kernel function: the entry point it is part of.
inline constexpr llvm::StringLiteral kKernelOfAttr = "loom.kernel_of";
/// On an scf.parallel: the work one iteration does beyond the loops nested
/// in it (register-blocked FMAs), for the runtime's task sizes.
inline constexpr llvm::StringLiteral kTileWorkAttr = "loom.tile_work";
/// On a kernel function: for each of its parameters, the index of the
/// entry point's parameter it is.
inline constexpr llvm::StringLiteral kKernelParamsAttr = "loom.kernel_params";

} // namespace mlir::loom

#endif // LOOM_CODEGEN_PASSES_H
