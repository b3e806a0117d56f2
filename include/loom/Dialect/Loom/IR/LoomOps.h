//===- LoomOps.h - loom dialect operations ----------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_IR_LOOMOPS_H
#define LOOM_DIALECT_LOOM_IR_LOOMOPS_H

#include "loom/Dialect/Loom/IR/LoomDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "loom/Dialect/Loom/IR/LoomEnums.h.inc"

#define GET_OP_CLASSES
#include "loom/Dialect/Loom/IR/LoomOps.h.inc"

namespace mlir::loom {

/// Whether two lists of tensor types agree up to dynamic dimensions: same
/// ranks and element types, and equal sizes wherever both are static. This is
/// how an op's written result types are checked against the inferred ones.
bool areCompatibleTensorTypes(TypeRange lhs, TypeRange rhs);

} // namespace mlir::loom

#endif // LOOM_DIALECT_LOOM_IR_LOOMOPS_H
