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

namespace mlir::loom {

/// Fails (with an error on `op`) when a ranked tensor among its operands and
/// results holds more bytes than int64 counts.
LogicalResult verifyShapesFitInInt64(Operation *op);

/// The trait of every loom op: verifyShapesFitInInt64.
template <typename ConcreteType>
class ShapesFitInInt64
    : public OpTrait::TraitBase<ConcreteType, ShapesFitInInt64> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return verifyShapesFitInInt64(op);
  }
};

} // namespace mlir::loom

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
