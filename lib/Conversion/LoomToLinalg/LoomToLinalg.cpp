//===- LoomToLinalg.cpp - the convert-loom-to-linalg pass -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Conversion/Passes.h"

#include "Utils.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Target/TargetSpec.h"

#include <cmath>
#include <limits>

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::loom {
#define GEN_PASS_DEF_CONVERTLOOMTOLINALGPASS
#include "loom/Conversion/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

OpFoldResult lowering::dimOf(OpBuilder &b, Location loc, Value tensor,
                             int64_t dim) {
  auto type = cast<RankedTensorType>(tensor.getType());
  if (!type.isDynamicDim(dim))
    return b.getIndexAttr(type.getDimSize(dim));
  return tensor::DimOp::create(b, loc, tensor, dim).getResult();
}

SmallVector<OpFoldResult> lowering::sizesOf(OpBuilder &b, Location loc,
                                            Value tensor) {
  SmallVector<OpFoldResult> sizes;
  int64_t rank = cast<RankedTensorType>(tensor.getType()).getRank();
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(dimOf(b, loc, tensor, d));
  return sizes;
}

Value lowering::emptyTensor(OpBuilder &b, Location loc,
                            ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

Value lowering::floatConst(OpBuilder &b, Location loc, Type type,
                           double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value lowering::filledTensor(OpBuilder &b, Location loc,
                             ArrayRef<OpFoldResult> sizes, Type elementType,
                             double value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value v = floatConst(b, loc, elementType, value);
  return linalg::FillOp::create(b, loc, v, empty).getResult(0);
}

SmallVector<utils::IteratorType> lowering::iterators(unsigned n, unsigned r) {
  SmallVector<utils::IteratorType> its(n, utils::IteratorType::parallel);
  its.append(r, utils::IteratorType::reduction);
  return its;
}

AffineMap lowering::mapOf(MLIRContext *ctx, unsigned numLoops,
                          ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(numLoops, 0, exprs, ctx);
}

Value lowering::contraction(OpBuilder &b, Location loc, Value lhs, Value rhs,
                            ArrayRef<AffineMap> maps,
                            ArrayRef<OpFoldResult> sizes, Type elementType,
                            unsigned parallelLoops) {
  Value init = filledTensor(b, loc, sizes, elementType, 0.0);
  return contractInto(b, loc, lhs, rhs, maps, init, parallelLoops);
}

Value lowering::contractInto(OpBuilder &b, Location loc, Value lhs, Value rhs,
                             ArrayRef<AffineMap> maps, Value init,
                             unsigned parallelLoops) {
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{lhs, rhs},
             ValueRange{init}, maps, iterators(parallelLoops, 1),
             [](OpBuilder &nb, Location l, ValueRange a) {
               // A dot product: any summation order, FMAs allowed. Narrower
               // operands (bf16 activations and weights) are widened to the
               // accumulator's type first.
               auto fm = arith::FastMathFlags::reassoc |
                         arith::FastMathFlags::contract;
               Type acc = a[2].getType();
               auto widen = [&](Value v) -> Value {
                 return v.getType() == acc
                            ? v
                            : arith::ExtFOp::create(nb, l, acc, v).getResult();
               };
               Value p =
                   arith::MulFOp::create(nb, l, widen(a[0]), widen(a[1]), fm);
               linalg::YieldOp::create(
                   nb, l,
                   arith::AddFOp::create(nb, l, a[2], p, fm).getResult());
             })
      .getResult(0);
}

Value lowering::siluScalar(OpBuilder &b, Location loc, Value x) {
  Value one = floatConst(b, loc, x.getType(), 1.0);
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  Value sig =
      arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, e));
  return arith::MulFOp::create(b, loc, x, sig);
}

Value lowering::geluScalar(OpBuilder &b, Location loc, Value x, bool tanh) {
  Type elt = x.getType();
  Value t;
  if (tanh) {
    Value x3 =
        arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
    Value inner = arith::AddFOp::create(
        b, loc, x,
        arith::MulFOp::create(b, loc, floatConst(b, loc, elt, 0.044715), x3));
    t = math::TanhOp::create(
        b, loc,
        arith::MulFOp::create(
            b, loc, floatConst(b, loc, elt, std::sqrt(2.0 / M_PI)), inner));
  } else {
    t = math::ErfOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, x,
                              floatConst(b, loc, elt, 1.0 / std::sqrt(2.0))));
  }
  Value hx = arith::MulFOp::create(b, loc, floatConst(b, loc, elt, 0.5), x);
  return arith::MulFOp::create(
      b, loc, hx,
      arith::AddFOp::create(b, loc, floatConst(b, loc, elt, 1.0), t));
}

SmallVector<AffineMap> lowering::attentionScoreMaps(MLIRContext *ctx,
                                                    int64_t group) {
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  return {AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx),
          AffineMap::get(5, 0, {d(0), d(1).floorDiv(group), d(3), d(4)}, ctx),
          AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx)};
}

SmallVector<AffineMap> lowering::attentionValueMaps(MLIRContext *ctx,
                                                    int64_t group) {
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  return {AffineMap::get(5, 0, {d(0), d(1), d(2), d(4)}, ctx),
          AffineMap::get(5, 0, {d(0), d(1).floorDiv(group), d(4), d(3)}, ctx),
          AffineMap::get(5, 0, {d(0), d(1), d(2), d(3)}, ctx)};
}

Value lowering::isKeyHidden(OpBuilder &b, Location loc, Value key,
                            Value queryPos, std::optional<int64_t> window) {
  Value hidden =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, key, queryPos);
  if (window) {
    Value w = arith::ConstantIndexOp::create(b, loc, *window);
    Value old =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                              arith::AddIOp::create(b, loc, key, w), queryPos);
    hidden = arith::OrIOp::create(b, loc, hidden, old);
  }
  return hidden;
}

Value lowering::biasedScore(
    OpBuilder &b, Location loc, Value score, Value scale, Value mask,
    Value ninf, bool causal, std::optional<int64_t> window,
    function_ref<std::pair<Value, Value>(OpBuilder &, Location)> positions) {
  Value s = arith::MulFOp::create(b, loc, score, scale);
  if (mask)
    s = arith::AddFOp::create(b, loc, s, mask);
  if (causal) {
    auto [queryPos, keyPos] = positions(b, loc);
    Value hidden = isKeyHidden(b, loc, keyPos, queryPos, window);
    s = arith::SelectOp::create(b, loc, hidden, ninf, s);
  }
  return s;
}

Value lowering::safeMax(OpBuilder &b, Location loc, Value m) {
  Value ninf =
      floatConst(b, loc, m.getType(), -std::numeric_limits<double>::infinity());
  Value zero = floatConst(b, loc, m.getType(), 0.0);
  Value isNinf =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, m, ninf);
  return arith::SelectOp::create(b, loc, isNinf, zero, m);
}

Value lowering::reduceInto(OpBuilder &b, Location loc, Value input, Value init,
                           AffineMap inputMap, AffineMap outputMap,
                           unsigned parallel, bool max) {
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{input},
             ValueRange{init}, ArrayRef<AffineMap>{inputMap, outputMap},
             iterators(parallel, 1),
             [max](OpBuilder &nb, Location l, ValueRange a) {
               // The sum may be reassociated, so that LLVM vectorizes it:
               // summed in order, each add waited for the one before.
               Value r = max ? arith::MaximumFOp::create(nb, l, a[1], a[0])
                                   .getResult()
                             : arith::AddFOp::create(
                                   nb, l, a[1], a[0],
                                   arith::FastMathFlags::reassoc |
                                       arith::FastMathFlags::contract)
                                   .getResult();
               linalg::YieldOp::create(nb, l, r);
             })
      .getResult(0);
}

Value lowering::buildSoftmax(OpBuilder &b, Location loc, Value input,
                             int64_t axis) {
  auto type = cast<RankedTensorType>(input.getType());
  Type elt = type.getElementType();
  unsigned rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  // Loops: the parallel dims in order, then the reduced axis last.
  SmallVector<unsigned> kept;
  for (unsigned d = 0; d < rank; ++d)
    if (d != axis)
      kept.push_back(d);
  // Reductions map the input with the axis as the last loop.
  SmallVector<unsigned> inputDims(rank);
  for (unsigned i = 0; i < kept.size(); ++i)
    inputDims[kept[i]] = i;
  inputDims[axis] = rank - 1;
  SmallVector<unsigned> reducedDims;
  for (unsigned i = 0; i < kept.size(); ++i)
    reducedDims.push_back(i);
  AffineMap inMap = mapOf(ctx, rank, inputDims);
  AffineMap redMap = mapOf(ctx, rank, reducedDims);
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, input), keptSizes;
  for (unsigned d : kept)
    keptSizes.push_back(sizes[d]);

  Value maxInit = filledTensor(b, loc, keptSizes, elt,
                               -std::numeric_limits<double>::infinity());
  Value max = linalg::GenericOp::create(
                  b, loc, TypeRange{maxInit.getType()}, ValueRange{input},
                  ValueRange{maxInit}, ArrayRef<AffineMap>{inMap, redMap},
                  iterators(rank - 1, 1),
                  [](OpBuilder &nb, Location l, ValueRange args) {
                    Value m =
                        arith::MaximumFOp::create(nb, l, args[1], args[0]);
                    linalg::YieldOp::create(nb, l, m);
                  })
                  .getResult(0);
  // e = exp(x - max), in the input's layout; then the sum of e.
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<unsigned> keptLoops = kept;
  AffineMap maxInInputLoops = mapOf(ctx, rank, keptLoops);
  Value eInit = emptyTensor(b, loc, sizes, elt);
  Value e =
      linalg::GenericOp::create(
          b, loc, TypeRange{type}, ValueRange{input, max}, ValueRange{eInit},
          ArrayRef<AffineMap>{id, maxInInputLoops, id}, iterators(rank),
          [](OpBuilder &nb, Location l, ValueRange args) {
            Value d = arith::SubFOp::create(nb, l, args[0], args[1]);
            linalg::YieldOp::create(nb, l,
                                    math::ExpOp::create(nb, l, d).getResult());
          })
          .getResult(0);
  Value sumInit = filledTensor(b, loc, keptSizes, elt, 0.0);
  Value sum =
      linalg::GenericOp::create(
          b, loc, TypeRange{sumInit.getType()}, ValueRange{e},
          ValueRange{sumInit}, ArrayRef<AffineMap>{inMap, redMap},
          iterators(rank - 1, 1),
          [](OpBuilder &nb, Location l, ValueRange args) {
            linalg::YieldOp::create(
                nb, l,
                arith::AddFOp::create(nb, l, args[1], args[0]).getResult());
          })
          .getResult(0);
  Value outInit = emptyTensor(b, loc, sizes, elt);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{e, sum}, ValueRange{outInit},
             ArrayRef<AffineMap>{id, maxInInputLoops, id}, iterators(rank),
             [](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   nb, l,
                   arith::DivFOp::create(nb, l, args[0], args[1]).getResult());
             })
      .getResult(0);
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

void mlir::loom::populateLoomToLinalgPatterns(RewritePatternSet &patterns,
                                              bool int8Activations,
                                              bool bf16Activations,
                                              bool moeGathered) {
  populateLinearAlgebraToLinalgPatterns(patterns, int8Activations,
                                        bf16Activations);
  populateNormalizationToLinalgPatterns(patterns);
  populatePositionToLinalgPatterns(patterns);
  populateAttentionToLinalgPatterns(patterns);
  populateLayoutToLinalgPatterns(patterns);
  populateMoEToLinalgPatterns(patterns, moeGathered);
  populateQuantizedToLinalgPatterns(patterns);
}

namespace {
struct ConvertLoomToLinalgPass
    : loom::impl::ConvertLoomToLinalgPassBase<ConvertLoomToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect>();
    target.addIllegalDialect<LoomDialect>();
    // Weights are bound by name later, when the function's parameters are
    // made explicit.
    target.addLegalOp<WeightOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(ctx);
    populateLoomToLinalgPatterns(patterns, int8Activations, bf16Activations,
                                 moeGathered);
    if (attentionKeyBlock >= 0) {
      // Key blocks sized for the L1 of the module's target.
      std::optional<TargetDescription> cpu = getTargetSpec(getOperation());
      populateTiledAttentionToLinalgPatterns(patterns, attentionKeyBlock,
                                             cpu ? cpu->l1d : kAssumedL1Bytes);
    }
    if (attentionRows)
      populateRowAttentionToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
