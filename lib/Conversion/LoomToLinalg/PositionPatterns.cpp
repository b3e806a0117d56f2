//===- PositionPatterns.cpp - rotary and sinusoidal positions -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// RoPE follows llama2.c: for the pair i of a head at position p,
//   freq = 1 / powf(theta, 2i / rotary_dim);  angle = p * freq
//   (v0, v1) -> (v0 cos - v1 sin, v0 sin + v1 cos)
// in f32, with v0, v1 = x[2i], x[2i+1] (interleaved) or x[i], x[i + d/2]
// (rotate-half).
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

namespace {

/// An index as a float of `type`.
Value indexToFloat(OpBuilder &b, Location l, Value index, Type type) {
  Value i = arith::IndexCastOp::create(b, l, b.getI64Type(), index);
  return arith::SIToFPOp::create(b, l, type, i);
}

struct RopeLowering : OpConversionPattern<RopeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), offset = adaptor.getOffset();
    auto type = op.getType();
    Type elt = type.getElementType();
    int64_t rd = op.getRotaryDimOrDefault();
    bool interleaved = op.getStyle() == RopeStyle::interleaved;
    Value init = emptyTensor(rewriter, loc, sizesOf(rewriter, loc, x), elt);
    Value theta =
        floatConst(rewriter, loc, elt, op.getTheta().convertToDouble());
    Value one = floatConst(rewriter, loc, elt, 1.0);
    Value rdF = floatConst(rewriter, loc, elt, double(rd));
    MLIRContext *ctx = rewriter.getContext();
    // cos and sin of every (position, pair) angle, once: the rotation below
    // reads them for every head and both elements of a pair.
    // freq = 1 / theta^(2 pair / rd); angle = (offset + s) * freq.
    SmallVector<OpFoldResult> tableSizes = {dimOf(rewriter, loc, x, 1),
                                            rewriter.getIndexAttr(rd / 2)};
    Value cosInit = emptyTensor(rewriter, loc, tableSizes, elt);
    Value sinInit = emptyTensor(rewriter, loc, tableSizes, elt);
    AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
    auto table = linalg::GenericOp::create(
        rewriter, loc, TypeRange{cosInit.getType(), sinInit.getType()},
        ValueRange{}, ValueRange{cosInit, sinInit},
        ArrayRef<AffineMap>{id2, id2}, iterators(2),
        [&](OpBuilder &b, Location l, ValueRange) {
          Value si = linalg::IndexOp::create(b, l, 0);
          Value pair = linalg::IndexOp::create(b, l, 1);
          Value twoPair = indexToFloat(
              b, l,
              arith::MulIOp::create(b, l, pair,
                                    arith::ConstantIndexOp::create(b, l, 2)),
              elt);
          Value expo = arith::DivFOp::create(b, l, twoPair, rdF);
          Value freq = arith::DivFOp::create(
              b, l, one, math::PowFOp::create(b, l, theta, expo));
          Value posF =
              indexToFloat(b, l, arith::AddIOp::create(b, l, offset, si), elt);
          Value angle = arith::MulFOp::create(b, l, posF, freq);
          linalg::YieldOp::create(b, l,
                                  ValueRange{math::CosOp::create(b, l, angle),
                                             math::SinOp::create(b, l, angle)});
        });
    Value cosTable = table.getResult(0), sinTable = table.getResult(1);
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{x}, ValueRange{init},
        ArrayRef<AffineMap>{id, id}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value bi = linalg::IndexOp::create(b, l, 0);
          Value si = linalg::IndexOp::create(b, l, 1);
          Value hi = linalg::IndexOp::create(b, l, 2);
          Value di = linalg::IndexOp::create(b, l, 3);
          auto idx = [&](int64_t c) {
            return arith::ConstantIndexOp::create(b, l, c).getResult();
          };
          // pair: which pair d belongs to; first: d is its first element;
          // i0, i1: the indices of the pair's two elements.
          Value pair, first, i0, i1;
          if (interleaved) {
            pair = arith::DivUIOp::create(b, l, di, idx(2));
            Value rem = arith::RemUIOp::create(b, l, di, idx(2));
            first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, rem,
                                          idx(0));
            i0 = arith::MulIOp::create(b, l, pair, idx(2));
            i1 = arith::AddIOp::create(b, l, i0, idx(1));
          } else {
            first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, di,
                                          idx(rd / 2));
            Value second = arith::SubIOp::create(b, l, di, idx(rd / 2));
            pair = arith::SelectOp::create(b, l, first, di, second);
            i0 = pair;
            i1 = arith::AddIOp::create(b, l, pair, idx(rd / 2));
          }
          Value rotated = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                                di, idx(rd));
          // Lanes past rotary_dim pass through; keep their reads in bounds.
          i0 = arith::SelectOp::create(b, l, rotated, i0, di);
          i1 = arith::SelectOp::create(b, l, rotated, i1, di);
          pair = arith::SelectOp::create(b, l, rotated, pair, idx(0));
          Value v0 =
              tensor::ExtractOp::create(b, l, x, ValueRange{bi, si, hi, i0});
          Value v1 =
              tensor::ExtractOp::create(b, l, x, ValueRange{bi, si, hi, i1});
          Value c =
              tensor::ExtractOp::create(b, l, cosTable, ValueRange{si, pair});
          Value s =
              tensor::ExtractOp::create(b, l, sinTable, ValueRange{si, pair});
          Value r0 =
              arith::SubFOp::create(b, l, arith::MulFOp::create(b, l, v0, c),
                                    arith::MulFOp::create(b, l, v1, s));
          Value r1 =
              arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, v0, s),
                                    arith::MulFOp::create(b, l, v1, c));
          Value r = arith::SelectOp::create(b, l, first, r0, r1);
          linalg::YieldOp::create(
              b, l,
              arith::SelectOp::create(b, l, rotated, r, args[0]).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// pe[p, 2i] = sin(p / base^(2i/d)), pe[p, 2i+1] = cos(p / base^(2i/d)).
struct PositionalEncodingLowering : OpConversionPattern<PositionalEncodingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(PositionalEncodingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = op.getType();
    if (!type.hasStaticShape())
      return rewriter.notifyMatchFailure(op,
                                         "needs a static [seq, dim] result");
    Type elt = type.getElementType();
    Value offset = adaptor.getOffset();
    SmallVector<OpFoldResult> sizes = {
        rewriter.getIndexAttr(type.getDimSize(0)),
        rewriter.getIndexAttr(type.getDimSize(1))};
    Value init = emptyTensor(rewriter, loc, sizes, elt);
    Value base = floatConst(rewriter, loc, elt, op.getBase().convertToDouble());
    Value dimF = floatConst(rewriter, loc, elt, double(type.getDimSize(1)));
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, rewriter.getContext());
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{id}, iterators(2),
        [&](OpBuilder &b, Location l, ValueRange) {
          Value p = linalg::IndexOp::create(b, l, 0);
          Value d = linalg::IndexOp::create(b, l, 1);
          Value two = arith::ConstantIndexOp::create(b, l, 2);
          Value rem = arith::RemUIOp::create(b, l, d, two);
          Value even = arith::SubIOp::create(b, l, d, rem);
          Value expo =
              arith::DivFOp::create(b, l, indexToFloat(b, l, even, elt), dimF);
          Value posF =
              indexToFloat(b, l, arith::AddIOp::create(b, l, offset, p), elt);
          Value angle = arith::DivFOp::create(
              b, l, posF, math::PowFOp::create(b, l, base, expo));
          Value isSin =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, rem,
                                    arith::ConstantIndexOp::create(b, l, 0));
          Value v = arith::SelectOp::create(b, l, isSin,
                                            math::SinOp::create(b, l, angle),
                                            math::CosOp::create(b, l, angle));
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void mlir::loom::populatePositionToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<RopeLowering, PositionalEncodingLowering>(patterns.getContext());
}
