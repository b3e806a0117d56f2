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
#include "mlir/Interfaces/FunctionInterfaces.h"
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

#define GET_ATTRDEF_CLASSES
#include "loom/Dialect/Loom/IR/LoomAttrs.h.inc"

namespace mlir::loom {

//===----------------------------------------------------------------------===//
// The loom.* attributes of ops, arguments and results
//===----------------------------------------------------------------------===//
// Every one the compiler writes, with its type; LoomDialect.cpp's verifiers
// reject any other `loom.` name and a value of another type.

/// On the module: the model's configuration (a dictionary; the frontend).
inline constexpr llvm::StringLiteral kModelAttr = "loom.model";
/// On an entry point's argument (or result): what it is to the runtime
/// (ParamRoleAttr).
inline constexpr llvm::StringLiteral kRoleAttr = "loom.role";
/// On an entry point's argument (or result): its name, for people and for
/// the runtime's caches (a string: "k_cache.3").
inline constexpr llvm::StringLiteral kNameAttr = "loom.name";
/// On an argument: the weight it is bound to (a string: the tensor name).
inline constexpr llvm::StringLiteral kWeightArgAttr = "loom.weight";
/// On a loom.weight (and then its argument): the model file stores the
/// weight in this storage type (a string: "f32", "q4_0"), and the runtime
/// converts it once, at load, to what the op reads (loom-narrow-weights,
/// loom-interleave-weights).
inline constexpr llvm::StringLiteral kPackedFromAttr = "loom.packed_from";
/// On a loom.weight (and then its argument): the model file stores the
/// matrix transposed ([in, out], GPT-2's Conv1D); the op reads it as its
/// type says ([out, in]) and the runtime transposes it once, at load
/// (unit).
inline constexpr llvm::StringLiteral kStoredTransposedAttr =
    "loom.stored_transposed";
/// Marks a function the runtime calls itself (not an entry point; unit).
inline constexpr llvm::StringLiteral kRuntimeHelperAttr = "loom.runtime_helper";
/// On an entry point's argument: the weight is split along its first axis
/// over a grid of this many ranks; each rank is bound its own slice (i64).
inline constexpr llvm::StringLiteral kShardArgAttr = "loom.shard";
/// Marks the expert FFN of one shard in the in-process form (i64: shard).
inline constexpr llvm::StringLiteral kExpertShardAttr = "loom.expert_shard";
/// On an argument: the result it stands for, updated in place (i64).
inline constexpr llvm::StringLiteral kInPlaceResultAttr =
    "loom.in_place_result";
/// On an entry point: its kernels, their dependencies and the size of its
/// activation arena (ScheduleAttr; loom-schedule-kernels).
inline constexpr llvm::StringLiteral kScheduleAttr = "loom.schedule";
/// On a kernel function: the entry point it is part of (a string).
inline constexpr llvm::StringLiteral kKernelOfAttr = "loom.kernel_of";
/// On a kernel function: for each of its parameters, the index of the
/// entry point's parameter it is (dense i64 array).
inline constexpr llvm::StringLiteral kKernelParamsAttr = "loom.kernel_params";
/// On an scf.parallel: the work one iteration does beyond the loops nested
/// in it (register-blocked FMAs), for the runtime's task sizes (i64).
inline constexpr llvm::StringLiteral kTileWorkAttr = "loom.tile_work";
/// Marks the op that quantizes a linear layer's input to 8-bit blocks of
/// 32, so that other layers reading the same input the same way reuse it:
/// the number of consecutive blocks that share one scale (i64; 1, or 8 for
/// the K-quants' super-blocks of 256). On a contraction reading such
/// blocks, it promises their grouping to the lowering.
inline constexpr llvm::StringLiteral kActivationBlocksAttr =
    "loom.activation_blocks";
/// Marks the op that rounds a linear layer's input to bf16, so that other
/// layers reading the same input reuse it (unit).
inline constexpr llvm::StringLiteral kBF16ActivationsAttr =
    "loom.bf16_activations";
/// The block format of raw blocks (a string naming a #loom<block_format>
/// case: "q4_k"). On a loom.weight
/// of i8 blocks (and then its argument): how its bytes are laid out, which
/// their count alone does not always tell (q4_0 and iq4_nl take 18 bytes);
/// the manifest's storage type follows from it. On the contraction of a
/// linear layer that decodes its weight from the raw bytes itself (q5_0,
/// the K-quants, ...): the weight's format, for the lowering that decodes
/// whole blocks into registers (loom-parallelize-contractions).
inline constexpr llvm::StringLiteral kBlockFormatAttr = "loom.block_format";

/// The role of argument `i` of `func`, if it has one.
std::optional<ParamRole> getArgRole(FunctionOpInterface func, unsigned i);

} // namespace mlir::loom

#define GET_OP_CLASSES
#include "loom/Dialect/Loom/IR/LoomOps.h.inc"

namespace mlir::loom {

/// Whether two lists of tensor types agree up to dynamic dimensions: same
/// ranks and element types, and equal sizes wherever both are static. This is
/// how an op's written result types are checked against the inferred ones.
bool areCompatibleTensorTypes(TypeRange lhs, TypeRange rhs);

} // namespace mlir::loom

#endif // LOOM_DIALECT_LOOM_IR_LOOMOPS_H
