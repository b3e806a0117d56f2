//===- ParallelizeContractions.cpp - contractions into parallel loops -----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"
#include "loom/Target/TargetSpec.h"

#include "loom/Codegen/Contractions.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/DebugLog.h"

#define DEBUG_TYPE "loom-parallelize-contractions"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMPARALLELIZECONTRACTIONSPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// The product of the static sizes of the parallel loops, or -1 when one is
/// dynamic (then the op is worth parallelizing).
int64_t staticParallelIterations(linalg::LinalgOp op) {
  int64_t n = 1;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  for (auto [size, kind] : llvm::zip(ranges, op.getIteratorTypesArray())) {
    if (kind != utils::IteratorType::parallel)
      continue;
    if (ShapedType::isDynamic(size))
      return -1;
    n *= size;
  }
  return n;
}

struct LoomParallelizeContractionsPass
    : loom::impl::LoomParallelizeContractionsPassBase<
          LoomParallelizeContractionsPass> {
  using Base::Base;

  void runOnOperation() override {
    // The target's vector registers, L2 and dot-product instructions.
    std::optional<loom::TargetDescription> target =
        loom::getTargetSpec(getOperation());
    int64_t lanes = vectorWidth > 0 ? int64_t(vectorWidth)
                    : target        ? target->vectorFloats()
                                    : 16;
    int64_t cache = cacheBytes >= 0 ? int64_t(cacheBytes)
                    : target        ? target->l2
                                    : 0;
    bool vnni = target && target->hasVNNI();
    loom::Int8Isa int8;
    int8.vnni = vnni;
    int8.avx2 = target && target->avx2;
    int8.avx512bw = target && target->avx512bw;
    int8.avx512vnni = target && target->avx512vnni;
    int8.amxInt8 = target && target->amxTile && target->amxInt8;
    bool avx512bf16 = target && target->avx512bf16;
    bool amxBf16 = target && target->amxTile && target->amxBf16;
    LDBG() << "target: " << lanes << " lanes, cache chunks for " << cache
           << " bytes, vnni " << vnni << ", avx512bf16 " << avx512bf16;
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (!op.hasPureBufferSemantics())
        return;
      int64_t n = staticParallelIterations(op);
      // Elementwise ops only where their size is not known (a prompt's
      // tokens) or large: one token's are too small to be worth tasks.
      if (op.getNumReductionLoops() == 0) {
        if (minElementwiseIterations <= 0 ||
            (n >= 0 && n < minElementwiseIterations))
          return;
      } else if (n >= 0 && n < minParallelIterations) {
        return;
      }
      ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      rewriter.setInsertionPoint(op);
      Location loc = op.getLoc();
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (generic && lanes > 0) {
        if (amxBf16 && succeeded(loom::lowerAmxContraction(
                           rewriter, generic, lanes, blockRows, blockCols,
                           cache, avx512bf16))) {
          LDBG() << loc << ": AMX tiles";
          continue;
        }
        if (packWeights && succeeded(loom::lowerPackedContraction(
                               rewriter, generic, lanes, avx512bf16))) {
          LDBG() << loc << ": packed outer products";
          continue;
        }
        if (succeeded(loom::lowerDotContraction(rewriter, generic, lanes,
                                                blockRows, blockCols, cache,
                                                avx512bf16))) {
          LDBG() << loc << ": register-blocked dot contraction";
          continue;
        }
        if (succeeded(loom::lowerBlockQuantizedContraction(
                rewriter, generic, blockRows, blockCols, cache, int8))) {
          LDBG() << loc << ": block-quantized contraction";
          continue;
        }
        if (succeeded(
                loom::lowerRowUpdateContraction(rewriter, generic, lanes))) {
          LDBG() << loc << ": row-update contraction";
          continue;
        }
      }
      LDBG() << loc << ": plain parallel loops";
      if (failed(linalg::linalgOpToParallelLoops(rewriter, op))) {
        op.emitOpError("cannot be turned into parallel loops");
        return signalPassFailure();
      }
      rewriter.eraseOp(op);
    }
  }
};

} // namespace
