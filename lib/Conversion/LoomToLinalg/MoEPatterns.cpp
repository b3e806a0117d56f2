//===- MoEPatterns.cpp - Mixture-of-Experts ops to linalg -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The four MoE ops as linalg on tensors, without any [tokens, experts, dim]
// tensor: the router ranks experts per token; dispatch is a counting sort of
// the (token, choice) pairs by expert; the expert FFN computes each row with
// the weights of its own expert (gathered by index, so the work is that of
// the active experts only); combine sums each token's rows back, weighted.
// Rows are found through small index tensors (the permutation and its
// inverse, each made in one pass; the expert of each row).
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

namespace {

Value cIndex(OpBuilder &b, Location l, int64_t v) {
  return arith::ConstantIndexOp::create(b, l, v);
}
Value toIndex(OpBuilder &b, Location l, Value i32) {
  return arith::IndexCastOp::create(b, l, b.getIndexType(), i32);
}
Value toI32(OpBuilder &b, Location l, Value index) {
  return arith::IndexCastOp::create(b, l, b.getI32Type(), index);
}

/// Sum over [0, n) of f(i) (an index-typed count or a float sum).
Value sumLoop(OpBuilder &b, Location l, Value n, Value zero,
              function_ref<Value(OpBuilder &, Location, Value, Value)> step) {
  auto loop = scf::ForOp::create(
      b, l, cIndex(b, l, 0), n, cIndex(b, l, 1), ValueRange{zero},
      [&](OpBuilder &fb, Location fl, Value i, ValueRange acc) {
        scf::YieldOp::create(fb, fl, step(fb, fl, i, acc[0]));
      });
  return loop.getResult(0);
}

/// A generic producing `type` from its indices alone.
Value generate(OpBuilder &b, Location l, RankedTensorType type,
               ArrayRef<OpFoldResult> sizes,
               function_ref<Value(OpBuilder &, Location)> body) {
  Value init = emptyTensor(b, l, sizes, type.getElementType());
  unsigned rank = type.getRank();
  return linalg::GenericOp::create(
             b, l, TypeRange{init.getType()}, ValueRange{}, ValueRange{init},
             ArrayRef<AffineMap>{
                 AffineMap::getMultiDimIdentityMap(rank, b.getContext())},
             iterators(rank),
             [&](OpBuilder &nb, Location nl, ValueRange) {
               linalg::YieldOp::create(nb, nl, body(nb, nl));
             })
      .getResult(0);
}

/// Router: weights and experts [tokens, k], best first (ties: lower id).
/// The weight is softmax over all experts at the chosen one, divided by the
/// sum over the chosen ones when renormalizing.
struct MoeRouterLowering : OpConversionPattern<MoeRouterOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MoeRouterOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value logits = adaptor.getLogits();
    auto type = cast<RankedTensorType>(logits.getType());
    if (type.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic expert count");
    int64_t experts = type.getDimSize(1), k = op.getTopK();
    Type elt = type.getElementType();
    bool renormalize = op.getRenormalize();
    SmallVector<OpFoldResult> sizes = {dimOf(rewriter, loc, logits, 0),
                                       rewriter.getIndexAttr(k)};
    Value nE = cIndex(rewriter, loc, experts);

    // The id of the expert of rank `rank` for token t: the e with exactly
    // `rank` experts ranked before it.
    auto expertOfRank = [&](OpBuilder &b, Location l, Value t, Value rank) {
      Value none = cIndex(b, l, 0);
      return sumLoop(b, l, nE, none, [&](OpBuilder &fb, Location fl, Value e,
                                         Value found) -> Value {
        Value le = tensor::ExtractOp::create(fb, fl, logits, ValueRange{t, e});
        Value before = sumLoop(
            fb, fl, nE, cIndex(fb, fl, 0),
            [&](OpBuilder &gb, Location gl, Value o, Value n) -> Value {
              Value lo = tensor::ExtractOp::create(gb, gl, logits, ValueRange{t, o});
              Value greater = arith::CmpFOp::create(
                  gb, gl, arith::CmpFPredicate::OGT, lo, le);
              Value tie = arith::AndIOp::create(
                  gb, gl,
                  arith::CmpFOp::create(gb, gl, arith::CmpFPredicate::OEQ, lo, le),
                  arith::CmpIOp::create(gb, gl, arith::CmpIPredicate::ult, o, e));
              Value ahead = arith::OrIOp::create(gb, gl, greater, tie);
              return arith::SelectOp::create(
                  gb, gl, ahead, arith::AddIOp::create(gb, gl, n, cIndex(gb, gl, 1)),
                  n);
            });
        Value hit = arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::eq,
                                          before, rank);
        return arith::SelectOp::create(fb, fl, hit, e, found);
      });
    };
    // softmax over all experts of token t, at expert e.
    auto probability = [&](OpBuilder &b, Location l, Value t, Value e) {
      Value ninf = floatConst(b, l, elt, -std::numeric_limits<double>::infinity());
      Value max = sumLoop(b, l, nE, ninf,
                          [&](OpBuilder &fb, Location fl, Value o, Value m) -> Value {
                            Value lo = tensor::ExtractOp::create(fb, fl, logits,
                                                                 ValueRange{t, o});
                            return arith::MaximumFOp::create(fb, fl, m, lo);
                          });
      Value sum = sumLoop(b, l, nE, floatConst(b, l, elt, 0.0),
                          [&](OpBuilder &fb, Location fl, Value o, Value s) -> Value {
                            Value lo = tensor::ExtractOp::create(fb, fl, logits,
                                                                 ValueRange{t, o});
                            Value ex = math::ExpOp::create(
                                fb, fl, arith::SubFOp::create(fb, fl, lo, max));
                            return arith::AddFOp::create(fb, fl, s, ex);
                          });
      Value le = tensor::ExtractOp::create(b, l, logits, ValueRange{t, e});
      Value ex = math::ExpOp::create(b, l, arith::SubFOp::create(b, l, le, max));
      return arith::DivFOp::create(b, l, ex, sum).getResult();
    };

    auto expType = RankedTensorType::get(
        cast<RankedTensorType>(op.getExperts().getType()).getShape(),
        rewriter.getI32Type());
    Value chosen = generate(rewriter, loc, expType, sizes,
                            [&](OpBuilder &b, Location l) -> Value {
                              Value t = linalg::IndexOp::create(b, l, 0);
                              Value j = linalg::IndexOp::create(b, l, 1);
                              return toI32(b, l, expertOfRank(b, l, t, j));
                            });
    auto wType = RankedTensorType::get(expType.getShape(), elt);
    Value kV = cIndex(rewriter, loc, k);
    Value weights = generate(
        rewriter, loc, wType, sizes, [&](OpBuilder &b, Location l) -> Value {
          Value t = linalg::IndexOp::create(b, l, 0);
          Value j = linalg::IndexOp::create(b, l, 1);
          Value e = toIndex(b, l, tensor::ExtractOp::create(b, l, chosen,
                                                            ValueRange{t, j}));
          Value p = probability(b, l, t, e);
          if (!renormalize)
            return p;
          Value total = sumLoop(
              b, l, kV, floatConst(b, l, elt, 0.0),
              [&](OpBuilder &fb, Location fl, Value c, Value s) -> Value {
                Value ec = toIndex(fb, fl, tensor::ExtractOp::create(
                                               fb, fl, chosen, ValueRange{t, c}));
                return arith::AddFOp::create(fb, fl, s, probability(fb, fl, t, ec));
              });
          return arith::DivFOp::create(b, l, p, total);
        });
    auto cast = [&](Value v, Type t) -> Value {
      return v.getType() == t ? v : tensor::CastOp::create(rewriter, loc, t, v);
    };
    rewriter.replaceOp(op, {cast(weights, op.getWeights().getType()),
                            cast(chosen, op.getExperts().getType())});
    return success();
  }
};

/// Dispatch: a counting sort of the pairs a = t * k + j by expert.
struct MoeDispatchLowering : OpConversionPattern<MoeDispatchOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MoeDispatchOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), experts = adaptor.getExperts();
    auto eType = cast<RankedTensorType>(experts.getType());
    if (eType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic top-k");
    int64_t k = eType.getDimSize(1), numExperts = op.getNumExperts();
    Value kV = cIndex(rewriter, loc, k);
    Value tokens = getValueOrCreateConstantIndexOp(rewriter, loc,
                                                   dimOf(rewriter, loc, x, 0));
    Value pairs = arith::MulIOp::create(rewriter, loc, tokens, kV);
    auto expertOf = [&](OpBuilder &b, Location l, Value a) {
      Value t = arith::DivUIOp::create(b, l, a, kV);
      Value j = arith::RemUIOp::create(b, l, a, kV);
      return tensor::ExtractOp::create(b, l, experts, ValueRange{t, j}).getResult();
    };
    Type i32 = rewriter.getI32Type();
    // offsets[e] = number of pairs with an expert below e.
    auto offType = RankedTensorType::get({numExperts + 1}, i32);
    Value offsets = generate(
        rewriter, loc, offType, {rewriter.getIndexAttr(numExperts + 1)},
        [&](OpBuilder &b, Location l) -> Value {
          Value e = toI32(b, l, linalg::IndexOp::create(b, l, 0));
          Value n = sumLoop(b, l, pairs, cIndex(b, l, 0),
                            [&](OpBuilder &fb, Location fl, Value a, Value c) -> Value {
                              Value below = arith::CmpIOp::create(
                                  fb, fl, arith::CmpIPredicate::slt,
                                  expertOf(fb, fl, a), e);
                              return arith::SelectOp::create(
                                  fb, fl, below,
                                  arith::AddIOp::create(fb, fl, c, cIndex(fb, fl, 1)), c);
                            });
          return toI32(b, l, n);
        });
    // permutation[offsets[e] + (pairs of e so far)] = a, in one pass over
    // the pairs in order (a counting sort; linear in tokens * k).
    Value permInit = emptyTensor(rewriter, loc, {pairs}, i32);
    Value fillInit = linalg::FillOp::create(
                         rewriter, loc,
                         arith::ConstantOp::create(rewriter, loc,
                                                   rewriter.getI32IntegerAttr(0))
                             .getResult(),
                         emptyTensor(rewriter, loc,
                                     {rewriter.getIndexAttr(numExperts)}, i32))
                         .getResult(0);
    auto sortLoop = scf::ForOp::create(
        rewriter, loc, cIndex(rewriter, loc, 0), pairs, cIndex(rewriter, loc, 1),
        ValueRange{permInit, fillInit},
        [&](OpBuilder &b, Location l, Value a, ValueRange iter) {
          Value e = toIndex(b, l, expertOf(b, l, a));
          Value seen = tensor::ExtractOp::create(b, l, iter[1], ValueRange{e});
          Value base = tensor::ExtractOp::create(b, l, offsets, ValueRange{e});
          Value r = toIndex(b, l, arith::AddIOp::create(b, l, base, seen));
          Value perm = tensor::InsertOp::create(b, l, toI32(b, l, a), iter[0],
                                                ValueRange{r});
          Value one = arith::ConstantOp::create(b, l, b.getI32IntegerAttr(1));
          Value fill = tensor::InsertOp::create(
              b, l, arith::AddIOp::create(b, l, seen, one), iter[1],
              ValueRange{e});
          scf::YieldOp::create(b, l, ValueRange{perm, fill});
        });
    Value permutation = sortLoop.getResult(0);
    // sorted[r, d] = x[permutation[r] / k, d]
    auto xType = cast<RankedTensorType>(x.getType());
    auto sortedType = RankedTensorType::get({ShapedType::kDynamic, xType.getDimSize(1)},
                                            xType.getElementType());
    Value sorted = generate(
        rewriter, loc, sortedType, {pairs, dimOf(rewriter, loc, x, 1)},
        [&](OpBuilder &b, Location l) -> Value {
          Value r = linalg::IndexOp::create(b, l, 0);
          Value d = linalg::IndexOp::create(b, l, 1);
          Value a = toIndex(b, l, tensor::ExtractOp::create(b, l, permutation,
                                                            ValueRange{r}));
          Value t = arith::DivUIOp::create(b, l, a, kV);
          return tensor::ExtractOp::create(b, l, x, ValueRange{t, d});
        });
    auto cast = [&](Value v, Type t) -> Value {
      return v.getType() == t ? v : tensor::CastOp::create(rewriter, loc, t, v);
    };
    rewriter.replaceOp(op, {cast(sorted, op.getSorted().getType()),
                            cast(permutation, op.getPermutation().getType()),
                            cast(offsets, op.getOffsets().getType())});
    return success();
  }
};

/// Expert FFN: each row with the weights of its expert.
struct MoeExpertFfnLowering : OpConversionPattern<MoeExpertFfnOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MoeExpertFfnOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value rows = adaptor.getInput(), offsets = adaptor.getOffsets();
    Value gate = adaptor.getGate(), up = adaptor.getUp(), down = adaptor.getDown();
    auto gType = cast<RankedTensorType>(gate.getType());
    if (!gType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic expert weights");
    int64_t experts = gType.getDimSize(0), hidden = gType.getDimSize(1);
    Type elt = gType.getElementType();
    MLIRContext *ctx = rewriter.getContext();
    Value n = getValueOrCreateConstantIndexOp(rewriter, loc,
                                              dimOf(rewriter, loc, rows, 0));
    OpFoldResult dim = dimOf(rewriter, loc, rows, 1);
    // expertOf[r] = number of experts whose rows end at or before r.
    auto idxType = RankedTensorType::get({ShapedType::kDynamic}, rewriter.getIndexType());
    Value nE = cIndex(rewriter, loc, experts);
    Value expertOf = generate(
        rewriter, loc, idxType, {n}, [&](OpBuilder &b, Location l) -> Value {
          Value r = toI32(b, l, linalg::IndexOp::create(b, l, 0));
          return sumLoop(b, l, nE, cIndex(b, l, 0),
                         [&](OpBuilder &fb, Location fl, Value e, Value c) -> Value {
                           Value end = tensor::ExtractOp::create(
                               fb, fl, offsets,
                               ValueRange{arith::AddIOp::create(fb, fl, e,
                                                                cIndex(fb, fl, 1))});
                           Value done = arith::CmpIOp::create(
                               fb, fl, arith::CmpIPredicate::sle, end, r);
                           return arith::SelectOp::create(
                               fb, fl, done,
                               arith::AddIOp::create(fb, fl, c, cIndex(fb, fl, 1)), c);
                         });
        });
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto map = [&](ArrayRef<AffineExpr> e) { return AffineMap::get(3, 0, e, ctx); };
    // y[r, h] = Σ_d in[r, d] · w[expertOf[r], h, d], loops (r, h, d)
    auto project = [&](Value in, Value w, OpFoldResult outCols) {
      Value init = filledTensor(rewriter, loc, {n, outCols}, elt, 0.0);
      return linalg::GenericOp::create(
                 rewriter, loc, TypeRange{init.getType()},
                 ValueRange{in, expertOf}, ValueRange{init},
                 ArrayRef<AffineMap>{map({d(0), d(2)}), map({d(0)}),
                                     map({d(0), d(1)})},
                 iterators(2, 1), [&](OpBuilder &b, Location l, ValueRange a) {
                   Value h = linalg::IndexOp::create(b, l, 1);
                   Value c = linalg::IndexOp::create(b, l, 2);
                   Value wv = tensor::ExtractOp::create(b, l, w,
                                                        ValueRange{a[1], h, c});
                   // As every contraction: the dot product may be summed in
                   // any order, so that it vectorizes.
                   auto fm = arith::FastMathFlags::reassoc |
                             arith::FastMathFlags::contract;
                   Value p = arith::MulFOp::create(b, l, a[0], wv, fm);
                   linalg::YieldOp::create(
                       b, l, arith::AddFOp::create(b, l, a[2], p, fm).getResult());
                 })
          .getResult(0);
    };
    Value g = project(rows, gate, rewriter.getIndexAttr(hidden));
    Value u = project(rows, up, rewriter.getIndexAttr(hidden));
    bool gelu = op.getActivation() == Activation::gelu;
    Value one = floatConst(rewriter, loc, elt, 1.0);
    Value half = floatConst(rewriter, loc, elt, 0.5);
    Value invSqrt2 = floatConst(rewriter, loc, elt, 0.70710678118654752);
    AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
    Value gatedInit = emptyTensor(rewriter, loc, {n, rewriter.getIndexAttr(hidden)}, elt);
    Value gated = linalg::GenericOp::create(
                      rewriter, loc, TypeRange{gatedInit.getType()}, ValueRange{g, u},
                      ValueRange{gatedInit}, ArrayRef<AffineMap>{id2, id2, id2},
                      iterators(2), [&](OpBuilder &b, Location l, ValueRange a) {
                        Value act;
                        if (gelu) {
                          Value e = math::ErfOp::create(
                              b, l, arith::MulFOp::create(b, l, a[0], invSqrt2));
                          act = arith::MulFOp::create(
                              b, l, arith::MulFOp::create(b, l, half, a[0]),
                              arith::AddFOp::create(b, l, one, e));
                        } else {
                          Value ex = math::ExpOp::create(
                              b, l, arith::NegFOp::create(b, l, a[0]));
                          Value sig = arith::DivFOp::create(
                              b, l, one, arith::AddFOp::create(b, l, one, ex));
                          act = arith::MulFOp::create(b, l, a[0], sig);
                        }
                        linalg::YieldOp::create(
                            b, l, arith::MulFOp::create(b, l, act, a[1]).getResult());
                      })
                      .getResult(0);
    Value out = project(gated, down, dim);
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// Combine: out[t, d] = Σ_j weights[t, j] · rows[position of (t, j), d].
struct MoeCombineLowering : OpConversionPattern<MoeCombineOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MoeCombineOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value rows = adaptor.getRows(), perm = adaptor.getPermutation(),
          weights = adaptor.getWeights();
    auto wType = cast<RankedTensorType>(weights.getType());
    if (wType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic top-k");
    int64_t k = wType.getDimSize(1);
    MLIRContext *ctx = rewriter.getContext();
    Value pairs = getValueOrCreateConstantIndexOp(rewriter, loc,
                                                  dimOf(rewriter, loc, rows, 0));
    // position[a] = the r with permutation[r] = a: one pass scattering.
    Value posInit = emptyTensor(rewriter, loc, {pairs}, rewriter.getIndexType());
    auto scatter = scf::ForOp::create(
        rewriter, loc, cIndex(rewriter, loc, 0), pairs, cIndex(rewriter, loc, 1),
        ValueRange{posInit}, [&](OpBuilder &b, Location l, Value r, ValueRange iter) {
          Value a = toIndex(b, l, tensor::ExtractOp::create(b, l, perm, ValueRange{r}));
          scf::YieldOp::create(
              b, l, tensor::InsertOp::create(b, l, r, iter[0], ValueRange{a})
                        .getResult());
        });
    Value position = scatter.getResult(0);
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    SmallVector<OpFoldResult> sizes = {dimOf(rewriter, loc, weights, 0),
                                       dimOf(rewriter, loc, rows, 1)};
    Value init = filledTensor(rewriter, loc, sizes, wType.getElementType(), 0.0);
    Value kV = cIndex(rewriter, loc, k);
    // loops (t, d, j)
    Value out = linalg::GenericOp::create(
                    rewriter, loc, TypeRange{init.getType()}, ValueRange{weights},
                    ValueRange{init},
                    ArrayRef<AffineMap>{AffineMap::get(3, 0, {d(0), d(2)}, ctx),
                                        AffineMap::get(3, 0, {d(0), d(1)}, ctx)},
                    iterators(2, 1), [&](OpBuilder &b, Location l, ValueRange a) {
                      Value t = linalg::IndexOp::create(b, l, 0);
                      Value dd = linalg::IndexOp::create(b, l, 1);
                      Value j = linalg::IndexOp::create(b, l, 2);
                      Value pair = arith::AddIOp::create(
                          b, l, arith::MulIOp::create(b, l, t, kV), j);
                      Value r = tensor::ExtractOp::create(b, l, position,
                                                          ValueRange{pair});
                      Value y = tensor::ExtractOp::create(b, l, rows,
                                                          ValueRange{r, dd});
                      Value p = arith::MulFOp::create(b, l, a[0], y);
                      linalg::YieldOp::create(
                          b, l, arith::AddFOp::create(b, l, a[1], p).getResult());
                    })
                    .getResult(0);
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::loom::populateMoEToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<MoeRouterLowering, MoeDispatchLowering, MoeExpertFfnLowering,
               MoeCombineLowering>(patterns.getContext());
}
