//===- ShardingInterfaceImpl.h - how loom ops partition ---------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_TRANSFORMS_SHARDINGINTERFACEIMPL_H
#define LOOM_DIALECT_LOOM_TRANSFORMS_SHARDINGINTERFACEIMPL_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"

namespace mlir::loom {

class MoeExpertFfnOp;

/// The upstream ShardingInterface for the ops expert sharding partitions:
/// `loom.moe_expert_ffn` (each device its experts, then an all-reduce), and
/// `loom.dequantize` / `arith.extf` (sharded as their operand); and the
/// memory effects of `mpi.allreduce` (reads its send buffer, writes its
/// receive buffer), which upstream does not declare.
void registerShardingInterfaceModels(DialectRegistry &registry);

namespace detail {
/// The expert FFN `op` over experts [first, first + count) only, with the
/// given (already local) weights and the matching `count + 1` offsets.
Value localExpertFfn(OpBuilder &b, MoeExpertFfnOp op, Value rows, Value offsets,
                     Value gate, Value up, Value down, Value first,
                     int64_t count);
} // namespace detail

} // namespace mlir::loom

#endif // LOOM_DIALECT_LOOM_TRANSFORMS_SHARDINGINTERFACEIMPL_H
