//===- Passes.h - Loom conversion passes ------------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CONVERSION_PASSES_H
#define LOOM_CONVERSION_PASSES_H

#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::loom {

#define GEN_PASS_DECL
#define GEN_PASS_REGISTRATION
#include "loom/Conversion/Passes.h.inc"

} // namespace mlir::loom

#endif // LOOM_CONVERSION_PASSES_H
