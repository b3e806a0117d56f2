//===- CseTensors.cpp - common subexpressions of tensor IR, once ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-cse-tensors: common subexpressions among the ops of a function's
// body, an output's empty tensor counting as any other of its sizes (see
// the pass description in Passes.td).
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMCSETENSORSPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

struct CseTensors : loom::impl::LoomCseTensorsPassBase<CseTensors> {
  using Base::Base;

  /// Whether `op` is where an output starts: a view or cast of an empty
  /// or filled tensor, or of one such. Two outputs must not start from one
  /// tensor (bufferization would have them share a buffer: two loops'
  /// accumulators, for instance).
  static bool startsOutput(Operation &op) {
    if (isa<linalg::LinalgOp>(op))
      return false;
    return llvm::any_of(op.getOperands(), [](Value v) {
      Operation *def = v.getDefiningOp();
      return def && (isa<tensor::EmptyOp, linalg::FillOp>(def) ||
                     (def->getNumRegions() == 0 && startsOutput(*def)));
    });
  }

  /// Each op of `block` equivalent to one before it (same operands, or
  /// empty tensors of the same sizes where it starts its outputs) replaced
  /// by that one. Only ops without memory effects, and no loops: a loop
  /// nested in a linalg body is left as it is.
  static void mergeEquivalent(RewriterBase &rewriter, Block &block) {
    auto sameStart = [](Value a, Value b) {
      auto ea = a.getDefiningOp<tensor::EmptyOp>();
      auto eb = b.getDefiningOp<tensor::EmptyOp>();
      return ea && eb && ea.getType() == eb.getType() &&
             llvm::equal(ea.getDynamicSizes(), eb.getDynamicSizes());
    };
    auto hashOperand = [](Value v) -> llvm::hash_code {
      if (auto empty = v.getDefiningOp<tensor::EmptyOp>())
        return llvm::hash_combine(
            empty.getType().getAsOpaquePointer(),
            llvm::hash_combine_range(empty.getDynamicSizes().begin(),
                                     empty.getDynamicSizes().end()));
      return hash_value(v);
    };
    DenseMap<unsigned, SmallVector<Operation *>> seen;
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (op.getNumResults() == 0 || !isMemoryEffectFree(&op) ||
          isa<tensor::EmptyOp, linalg::FillOp>(op) ||
          (op.getNumRegions() != 0 && !isa<linalg::LinalgOp>(op)) ||
          startsOutput(op))
        continue;
      unsigned hash = OperationEquivalence::computeHash(
          &op, hashOperand, OperationEquivalence::ignoreHashValue,
          OperationEquivalence::IgnoreLocations);
      SmallVector<Operation *> &candidates = seen[hash];
      Operation *match = nullptr;
      for (Operation *earlier : candidates) {
        // Values inside the regions that match (block arguments) map to
        // each other.
        DenseMap<Value, Value> inner;
        bool equivalent = OperationEquivalence::isEquivalentTo(
            earlier, &op,
            [&](Value a, Value b) {
              return success(a == b || inner.lookup(a) == b || sameStart(a, b));
            },
            [&](Value a, Value b) { inner[a] = b; },
            OperationEquivalence::IgnoreLocations);
        if (equivalent) {
          match = earlier;
          break;
        }
      }
      if (!match) {
        candidates.push_back(&op);
        continue;
      }
      rewriter.replaceOp(&op, match->getResults());
    }
  }

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    getOperation()->walk([&](func::FuncOp func) {
      for (Block &block : func.getBody())
        mergeEquivalent(rewriter, block);
    });
  }
};

} // namespace
