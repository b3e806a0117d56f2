//===- NormalizationPatterns.cpp - norms, softmax, activations ------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Each op follows its reference formula operation by operation:
//   rms_norm   w * (x * (1 / sqrt(mean(x²) + eps)))          (llama2.c)
//   layer_norm (x - mean) / sqrt(var + eps) * w + b           (PyTorch)
//   softmax    exp(x - max) / sum(exp(x - max))
//   silu       x * (1 / (1 + exp(-x)))                         (llama2.c)
//   gelu       0.5 x (1 + erf(x / √2)) or its tanh approximation
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

namespace {

/// The sum over the last dimension of f(x): a tensor of the leading dims.
Value reduceLast(OpBuilder &b, Location loc, Value x,
                 function_ref<Value(OpBuilder &, Location, Value)> f) {
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, x);
  sizes.pop_back();
  Value init = filledTensor(b, loc, sizes, type.getElementType(), 0.0);
  SmallVector<unsigned> lead;
  for (unsigned d = 0; d + 1 < rank; ++d)
    lead.push_back(d);
  MLIRContext *ctx = b.getContext();
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{x}, ValueRange{init},
             ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 mapOf(ctx, rank, lead)},
             iterators(rank - 1, 1),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value s =
                   arith::AddFOp::create(nb, l, args[1], f(nb, l, args[0]));
               linalg::YieldOp::create(nb, l, s);
             })
      .getResult(0);
}

/// An elementwise generic over `x`'s shape; `extra` operands are indexed by
/// the given maps.
Value elementwise(OpBuilder &b, Location loc, Value x, ValueRange extra,
                  ArrayRef<AffineMap> extraMaps,
                  function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  SmallVector<Value> inputs = {x};
  inputs.append(extra.begin(), extra.end());
  SmallVector<AffineMap> maps = {id};
  maps.append(extraMaps.begin(), extraMaps.end());
  maps.push_back(id);
  Value init = emptyTensor(b, loc, sizesOf(b, loc, x), type.getElementType());
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, inputs, ValueRange{init}, maps,
             iterators(rank),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(nb, l, f(nb, l, args.drop_back()));
             })
      .getResult(0);
}

/// Maps of a per-row tensor and a per-feature vector in an elementwise
/// generic over a tensor of `rank`.
AffineMap rowMap(MLIRContext *ctx, unsigned rank) {
  SmallVector<unsigned> lead;
  for (unsigned d = 0; d + 1 < rank; ++d)
    lead.push_back(d);
  return mapOf(ctx, rank, lead);
}
AffineMap featureMap(MLIRContext *ctx, unsigned rank) {
  return mapOf(ctx, rank, {rank - 1});
}

struct RmsNormLowering : OpConversionPattern<RmsNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RmsNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (type.isDynamicDim(type.getRank() - 1))
      return rewriter.notifyMatchFailure(op, "dynamic feature dimension");
    Type elt = type.getElementType();
    unsigned rank = type.getRank();
    MLIRContext *ctx = rewriter.getContext();
    Value ss = reduceLast(rewriter, loc, x,
                          [](OpBuilder &b, Location l, Value v) -> Value {
                            return arith::MulFOp::create(b, l, v, v);
                          });
    Value size = floatConst(rewriter, loc, elt, double(type.getShape().back()));
    Value eps =
        floatConst(rewriter, loc, elt, op.getEpsilon().convertToDouble());
    Value one = floatConst(rewriter, loc, elt, 1.0);
    Value y =
        elementwise(rewriter, loc, x, ValueRange{ss, adaptor.getWeight()},
                    {rowMap(ctx, rank), featureMap(ctx, rank)},
                    [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                      Value mean = arith::DivFOp::create(b, l, a[1], size);
                      Value s = arith::AddFOp::create(b, l, mean, eps);
                      Value inv = arith::DivFOp::create(
                          b, l, one, math::SqrtOp::create(b, l, s));
                      Value scaled = arith::MulFOp::create(b, l, inv, a[0]);
                      return arith::MulFOp::create(b, l, a[2], scaled);
                    });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct LayerNormLowering : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    if (type.isDynamicDim(type.getRank() - 1))
      return rewriter.notifyMatchFailure(op, "dynamic feature dimension");
    Type elt = type.getElementType();
    unsigned rank = type.getRank();
    MLIRContext *ctx = rewriter.getContext();
    Value size = floatConst(rewriter, loc, elt, double(type.getShape().back()));
    Value eps =
        floatConst(rewriter, loc, elt, op.getEpsilon().convertToDouble());
    Value sum = reduceLast(rewriter, loc, x,
                           [](OpBuilder &, Location, Value v) { return v; });
    // centered = x - sum / size
    Value centered =
        elementwise(rewriter, loc, x, ValueRange{sum}, {rowMap(ctx, rank)},
                    [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                      Value mean = arith::DivFOp::create(b, l, a[1], size);
                      return arith::SubFOp::create(b, l, a[0], mean);
                    });
    Value sq = reduceLast(rewriter, loc, centered,
                          [](OpBuilder &b, Location l, Value v) -> Value {
                            return arith::MulFOp::create(b, l, v, v);
                          });
    SmallVector<Value> extra = {sq, adaptor.getWeight()};
    SmallVector<AffineMap> maps = {rowMap(ctx, rank), featureMap(ctx, rank)};
    if (Value bias = adaptor.getBias()) {
      extra.push_back(bias);
      maps.push_back(featureMap(ctx, rank));
    }
    bool hasBias = bool(adaptor.getBias());
    Value y = elementwise(
        rewriter, loc, centered, extra, maps,
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value var = arith::DivFOp::create(b, l, a[1], size);
          Value s =
              math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, var, eps));
          Value n = arith::DivFOp::create(b, l, a[0], s);
          Value r = arith::MulFOp::create(b, l, n, a[2]);
          return hasBias ? arith::AddFOp::create(b, l, r, a[3]).getResult() : r;
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct SoftmaxLowering : OpConversionPattern<SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SoftmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op,
                       buildSoftmax(rewriter, op.getLoc(), adaptor.getInput(),
                                    op.getNormalizedAxis()));
    return success();
  }
};

struct SiluLowering : OpConversionPattern<SiluOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SiluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value y = elementwise(rewriter, op.getLoc(), adaptor.getInput(), {}, {},
                          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                            return siluScalar(b, l, a[0]);
                          });
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct GeluLowering : OpConversionPattern<GeluOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(GeluOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    bool useTanh = op.getApproximation() == GeluApproximation::tanh;
    Value y = elementwise(rewriter, op.getLoc(), adaptor.getInput(), {}, {},
                          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                            return geluScalar(b, l, a[0], useTanh);
                          });
    rewriter.replaceOp(op, y);
    return success();
  }
};

} // namespace

void mlir::loom::populateNormalizationToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RmsNormLowering, LayerNormLowering, SoftmaxLowering,
               SiluLowering, GeluLowering>(patterns.getContext());
}
