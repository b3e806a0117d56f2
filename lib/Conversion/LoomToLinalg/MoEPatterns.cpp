//===- MoEPatterns.cpp - Mixture-of-Experts ops to linalg -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The four MoE ops as linalg on tensors, without any [tokens, experts, dim]
// tensor: the router ranks experts per token; dispatch is a counting sort of
// the (token, choice) pairs by expert; the expert FFN loops over the experts,
// each expert's contiguous group of rows one matrix-matrix product with its
// own weights (the work of the active experts only); combine sums each
// token's rows back, weighted. Rows are found through small index tensors
// (the permutation and its inverse, each made in one pass).
//
// The gathered forms (moe-gathered, for the GPU) have no sequential pass
// and no loop over the experts: a GPU kernel cannot be sized by values in
// device memory, nor can the host walk them. Each row of the permutation
// and of its inverse searches for its pair (quadratic in tokens * k, in
// parallel), and each row of the expert FFN's products reads the weights of
// the expert its offsets place it in: one kernel per projection for all
// experts.
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

/// The last i in [0, n) for which `holds(i)` (an i1), else `none`: a
/// search by one thread, with no early exit.
Value lastIndexWhere(OpBuilder &b, Location l, Value n, Value none,
                     function_ref<Value(OpBuilder &, Location, Value)> holds) {
  return sumLoop(
      b, l, n, none,
      [&](OpBuilder &fb, Location fl, Value i, Value found) -> Value {
        return arith::SelectOp::create(fb, fl, holds(fb, fl, i), i, found);
      });
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
      return sumLoop(
          b, l, nE, none,
          [&](OpBuilder &fb, Location fl, Value e, Value found) -> Value {
            Value le =
                tensor::ExtractOp::create(fb, fl, logits, ValueRange{t, e});
            Value before = sumLoop(
                fb, fl, nE, cIndex(fb, fl, 0),
                [&](OpBuilder &gb, Location gl, Value o, Value n) -> Value {
                  Value lo = tensor::ExtractOp::create(gb, gl, logits,
                                                       ValueRange{t, o});
                  Value greater = arith::CmpFOp::create(
                      gb, gl, arith::CmpFPredicate::OGT, lo, le);
                  Value tie = arith::AndIOp::create(
                      gb, gl,
                      arith::CmpFOp::create(gb, gl, arith::CmpFPredicate::OEQ,
                                            lo, le),
                      arith::CmpIOp::create(gb, gl, arith::CmpIPredicate::ult,
                                            o, e));
                  Value ahead = arith::OrIOp::create(gb, gl, greater, tie);
                  return arith::SelectOp::create(
                      gb, gl, ahead,
                      arith::AddIOp::create(gb, gl, n, cIndex(gb, gl, 1)), n);
                });
            Value hit = arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::eq,
                                              before, rank);
            return arith::SelectOp::create(fb, fl, hit, e, found);
          });
    };
    // softmax over all experts of token t, at expert e.
    auto probability = [&](OpBuilder &b, Location l, Value t, Value e) {
      Value ninf =
          floatConst(b, l, elt, -std::numeric_limits<double>::infinity());
      Value max =
          sumLoop(b, l, nE, ninf,
                  [&](OpBuilder &fb, Location fl, Value o, Value m) -> Value {
                    Value lo = tensor::ExtractOp::create(fb, fl, logits,
                                                         ValueRange{t, o});
                    return arith::MaximumFOp::create(fb, fl, m, lo);
                  });
      Value sum =
          sumLoop(b, l, nE, floatConst(b, l, elt, 0.0),
                  [&](OpBuilder &fb, Location fl, Value o, Value s) -> Value {
                    Value lo = tensor::ExtractOp::create(fb, fl, logits,
                                                         ValueRange{t, o});
                    Value ex = math::ExpOp::create(
                        fb, fl, arith::SubFOp::create(fb, fl, lo, max));
                    return arith::AddFOp::create(fb, fl, s, ex);
                  });
      Value le = tensor::ExtractOp::create(b, l, logits, ValueRange{t, e});
      Value ex =
          math::ExpOp::create(b, l, arith::SubFOp::create(b, l, le, max));
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
          Value e = toIndex(
              b, l, tensor::ExtractOp::create(b, l, chosen, ValueRange{t, j}));
          Value p = probability(b, l, t, e);
          if (!renormalize)
            return p;
          Value total = sumLoop(
              b, l, kV, floatConst(b, l, elt, 0.0),
              [&](OpBuilder &fb, Location fl, Value c, Value s) -> Value {
                Value ec = toIndex(fb, fl,
                                   tensor::ExtractOp::create(fb, fl, chosen,
                                                             ValueRange{t, c}));
                return arith::AddFOp::create(fb, fl, s,
                                             probability(fb, fl, t, ec));
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
  MoeDispatchLowering(MLIRContext *ctx, bool gathered)
      : OpConversionPattern(ctx), gathered(gathered) {}
  /// Without a sequential pass (a GPU has no host-side loop over device
  /// memory): each row finds its pair.
  bool gathered;

  using ExpertOf = function_ref<Value(OpBuilder &, Location, Value)>;

  /// permutation[offsets[e] + (pairs of e so far)] = a, in one pass over
  /// the pairs in order (a counting sort; linear in tokens * k).
  static Value countingSort(OpBuilder &rewriter, Location loc, Value offsets,
                            Value pairs, int64_t numExperts,
                            ExpertOf expertOf) {
    Type i32 = rewriter.getI32Type();
    Value permInit = emptyTensor(rewriter, loc, {pairs}, i32);
    Value fillInit = linalg::FillOp::create(
                         rewriter, loc,
                         arith::ConstantOp::create(
                             rewriter, loc, rewriter.getI32IntegerAttr(0))
                             .getResult(),
                         emptyTensor(rewriter, loc,
                                     {rewriter.getIndexAttr(numExperts)}, i32))
                         .getResult(0);
    auto sortLoop = scf::ForOp::create(
        rewriter, loc, cIndex(rewriter, loc, 0), pairs,
        cIndex(rewriter, loc, 1), ValueRange{permInit, fillInit},
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
    return sortLoop.getResult(0);
  }

  /// permutation[r] = the i-th pair (in order) of the expert e whose rows
  /// hold r, i = r - offsets[e]: each row independently (quadratic in
  /// tokens * k, a loop over the pairs per row).
  static Value gatheredPermutation(OpBuilder &rewriter, Location loc,
                                   Value offsets, Value pairs,
                                   int64_t numExperts, ExpertOf expertOf) {
    Type i32 = rewriter.getI32Type();
    auto type = RankedTensorType::get({ShapedType::kDynamic}, i32);
    return generate(
        rewriter, loc, type, {pairs}, [&](OpBuilder &b, Location l) -> Value {
          Value r = toI32(b, l, linalg::IndexOp::create(b, l, 0));
          // e: the last expert whose rows begin at or before r.
          Value e = lastIndexWhere(
              b, l, cIndex(b, l, numExperts), cIndex(b, l, 0),
              [&](OpBuilder &fb, Location fl, Value c) -> Value {
                Value begin =
                    tensor::ExtractOp::create(fb, fl, offsets, ValueRange{c});
                return arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::sle,
                                             begin, r);
              });
          Value begin = tensor::ExtractOp::create(b, l, offsets, ValueRange{e});
          Value i = arith::SubIOp::create(b, l, r, begin);
          Value e32 = toI32(b, l, e);
          // The pair a with i pairs of expert e before it.
          auto walk = scf::ForOp::create(
              b, l, cIndex(b, l, 0), pairs, cIndex(b, l, 1),
              ValueRange{toI32(b, l, cIndex(b, l, 0)), toI32(b, l, pairs)},
              [&](OpBuilder &fb, Location fl, Value a, ValueRange state) {
                Value mine = arith::CmpIOp::create(
                    fb, fl, arith::CmpIPredicate::eq, expertOf(fb, fl, a), e32);
                Value hit = arith::AndIOp::create(
                    fb, fl, mine,
                    arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::eq,
                                          state[0], i));
                Value one =
                    arith::ConstantOp::create(fb, fl, fb.getI32IntegerAttr(1));
                Value seen = arith::SelectOp::create(
                    fb, fl, mine, arith::AddIOp::create(fb, fl, state[0], one),
                    state[0]);
                Value found = arith::SelectOp::create(
                    fb, fl, hit, toI32(fb, fl, a), state[1]);
                scf::YieldOp::create(fb, fl, ValueRange{seen, found});
              });
          return walk.getResult(1);
        });
  }
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
      return tensor::ExtractOp::create(b, l, experts, ValueRange{t, j})
          .getResult();
    };
    Type i32 = rewriter.getI32Type();
    // offsets[e] = number of pairs with an expert below e.
    auto offType = RankedTensorType::get({numExperts + 1}, i32);
    Value offsets = generate(
        rewriter, loc, offType, {rewriter.getIndexAttr(numExperts + 1)},
        [&](OpBuilder &b, Location l) -> Value {
          Value e = toI32(b, l, linalg::IndexOp::create(b, l, 0));
          Value n = sumLoop(
              b, l, pairs, cIndex(b, l, 0),
              [&](OpBuilder &fb, Location fl, Value a, Value c) -> Value {
                Value below = arith::CmpIOp::create(
                    fb, fl, arith::CmpIPredicate::slt, expertOf(fb, fl, a), e);
                return arith::SelectOp::create(
                    fb, fl, below,
                    arith::AddIOp::create(fb, fl, c, cIndex(fb, fl, 1)), c);
              });
          return toI32(b, l, n);
        });
    Value permutation =
        gathered
            ? gatheredPermutation(rewriter, loc, offsets, pairs, numExperts,
                                  expertOf)
            : countingSort(rewriter, loc, offsets, pairs, numExperts, expertOf);
    // sorted[r, d] = x[permutation[r] / k, d]
    auto xType = cast<RankedTensorType>(x.getType());
    auto sortedType = RankedTensorType::get(
        {ShapedType::kDynamic, xType.getDimSize(1)}, xType.getElementType());
    Value sorted =
        generate(rewriter, loc, sortedType, {pairs, dimOf(rewriter, loc, x, 1)},
                 [&](OpBuilder &b, Location l) -> Value {
                   Value r = linalg::IndexOp::create(b, l, 0);
                   Value d = linalg::IndexOp::create(b, l, 1);
                   Value a = toIndex(b, l,
                                     tensor::ExtractOp::create(
                                         b, l, permutation, ValueRange{r}));
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

/// The weights of expert `e`, [out, in], out of stacked `[experts, out, in]`
/// weights (`raw` blocks [experts, out, blocks, bytes] when quantized).
Value expertSlice(OpBuilder &b, Location l, Value stacked, Value e) {
  auto type = cast<RankedTensorType>(stacked.getType());
  SmallVector<OpFoldResult> offsets = {e}, sizes = {b.getIndexAttr(1)},
                            strides(type.getRank(), b.getIndexAttr(1));
  for (int64_t d = 1; d < type.getRank(); ++d) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
  }
  auto sliceType = RankedTensorType::get(type.getShape().drop_front(),
                                         type.getElementType());
  return tensor::ExtractSliceOp::create(b, l, sliceType, stacked, offsets,
                                        sizes, strides);
}

/// Expert FFN: a loop over the experts; expert e's rows (offsets[e] ..
/// offsets[e+1], contiguous after dispatch) go through its FFN as
/// matrix-matrix products with its own weights, so the work is that of the
/// active experts and every weight is read once per call. Quantized expert
/// weights are decoded inside the contraction, f16/bf16 ones converted per
/// expert slice. Rows of no expert stay zero. The hidden activations live in
/// two [rows, hidden] buffers carried through the loop, so nothing is
/// allocated per expert.
struct MoeExpertFfnLowering : OpConversionPattern<MoeExpertFfnOp> {
  MoeExpertFfnLowering(MLIRContext *ctx, bool gathered)
      : OpConversionPattern(ctx), gathered(gathered) {}
  /// No loop over the experts (a GPU has no host-side loop sized by device
  /// memory): each row's products read the weights of its expert.
  bool gathered;

  LogicalResult
  matchAndRewrite(MoeExpertFfnOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value rows = adaptor.getInput(), offsets = adaptor.getOffsets();
    auto gType = cast<RankedTensorType>(op.getGate().getType());
    auto rowsType = cast<RankedTensorType>(rows.getType());
    if (!gType.hasStaticShape() || rowsType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic expert weights");
    int64_t experts = gType.getDimSize(0), hidden = gType.getDimSize(1),
            dim = rowsType.getDimSize(1);
    Type elt = rowsType.getElementType();
    MLIRContext *ctx = rewriter.getContext();
    Value n = getValueOrCreateConstantIndexOp(rewriter, loc,
                                              dimOf(rewriter, loc, rows, 0));
    if (gathered) {
      Value result =
          gatheredFfn(rewriter, op, adaptor, n, experts, hidden, dim);
      if (result.getType() != op.getType())
        result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
      rewriter.replaceOp(op, result);
      return success();
    }
    Value out =
        filledTensor(rewriter, loc, {n, rewriter.getIndexAttr(dim)}, elt, 0.0);
    Value gBuf =
        emptyTensor(rewriter, loc, {n, rewriter.getIndexAttr(hidden)}, elt);
    Value uBuf =
        emptyTensor(rewriter, loc, {n, rewriter.getIndexAttr(hidden)}, elt);
    bool gelu = op.getActivation() == Activation::gelu;

    auto body = [&](OpBuilder &b, Location l, Value e, ValueRange iter) {
      Value lo = toIndex(
          b, l, tensor::ExtractOp::create(b, l, offsets, ValueRange{e}));
      Value next = arith::AddIOp::create(b, l, e, cIndex(b, l, 1));
      Value hi = toIndex(
          b, l, tensor::ExtractOp::create(b, l, offsets, ValueRange{next}));
      Value count = arith::SubIOp::create(b, l, hi, lo);
      SmallVector<OpFoldResult> unit(2, b.getIndexAttr(1));
      auto rowSlice = [&](Value t, int64_t cols) -> Value {
        return tensor::ExtractSliceOp::create(
            b, l, t, ArrayRef<OpFoldResult>{lo, b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{count, b.getIndexAttr(cols)}, unit);
      };
      auto insertRows = [&](Value part, Value into) -> Value {
        return tensor::InsertSliceOp::create(
            b, l, part, into, ArrayRef<OpFoldResult>{lo, b.getIndexAttr(0)},
            ArrayRef<OpFoldResult>{
                count,
                b.getIndexAttr(
                    cast<RankedTensorType>(into.getType()).getDimSize(1))},
            unit);
      };
      Value zero = floatConst(b, l, elt, 0.0);
      auto zeroed = [&](Value t) {
        return linalg::FillOp::create(b, l, zero, t).getResult(0);
      };
      // y[r, o] += Σ_i in[r, i] · w_e[o, i], loops (r, o, i).
      auto project = [&](Value in, Value original, Value converted,
                         int64_t outCols, Value init) -> Value {
        if (auto quantized = original.getDefiningOp<DequantizeOp>();
            quantized && elt.isF32())
          return quantizedLinear(
              b, l, in, expertSlice(b, l, quantized.getInput(), e),
              quantized.getFormat(), {count, b.getIndexAttr(outCols)}, init);
        Value w;
        if (auto ext = original.getDefiningOp<arith::ExtFOp>()) {
          Value narrow = expertSlice(b, l, ext.getIn(), e);
          auto narrowType = cast<RankedTensorType>(narrow.getType());
          w = arith::ExtFOp::create(b, l, narrowType.clone(elt), narrow);
        } else {
          w = expertSlice(b, l, converted, e);
        }
        return contractInto(b, l, in, w,
                            {mapOf(ctx, 3, {0, 2}), mapOf(ctx, 3, {1, 2}),
                             mapOf(ctx, 3, {0, 1})},
                            init, 2);
      };
      Value x = rowSlice(rows, dim);
      Value g = project(x, op.getGate(), adaptor.getGate(), hidden,
                        zeroed(rowSlice(iter[1], hidden)));
      Value u = project(x, op.getUp(), adaptor.getUp(), hidden,
                        zeroed(rowSlice(iter[2], hidden)));
      Value h = gatedActivation(b, l, g, u, gelu);
      Value y = project(h, op.getDown(), adaptor.getDown(), dim,
                        rowSlice(iter[0], dim));
      scf::YieldOp::create(b, l,
                           ValueRange{insertRows(y, iter[0]),
                                      insertRows(h, iter[1]),
                                      insertRows(u, iter[2])});
    };
    auto loop = scf::ForOp::create(
        rewriter, loc, cIndex(rewriter, loc, 0), cIndex(rewriter, loc, experts),
        cIndex(rewriter, loc, 1), ValueRange{out, gBuf, uBuf}, body);
    Value result = loop.getResult(0);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }

  /// The expert FFN with every row's products reading its own expert's
  /// weights: expert[r] = the e with offsets[e] <= r < offsets[e + 1]
  /// (-1 for none), then y[r, o] = Σ_i in[r, i] · w[expert[r], o, i] for
  /// gate, up and down, in rows' order, the sums as the loop's; rows of no
  /// expert are zero.
  static Value gatheredFfn(OpBuilder &b, MoeExpertFfnOp op, OpAdaptor adaptor,
                           Value n, int64_t experts, int64_t hidden,
                           int64_t dim) {
    Location l = op.getLoc();
    MLIRContext *ctx = b.getContext();
    Value rows = adaptor.getInput(), offsets = adaptor.getOffsets();
    Type elt = cast<RankedTensorType>(rows.getType()).getElementType();
    Value expertOfRow = generate(
        b, l, RankedTensorType::get({ShapedType::kDynamic}, b.getIndexType()),
        {n}, [&](OpBuilder &gb, Location gl) -> Value {
          Value r = toI32(gb, gl, linalg::IndexOp::create(gb, gl, 0));
          return lastIndexWhere(
              gb, gl, cIndex(gb, gl, experts), cIndex(gb, gl, -1),
              [&](OpBuilder &fb, Location fl, Value e) -> Value {
                Value lo =
                    tensor::ExtractOp::create(fb, fl, offsets, ValueRange{e});
                Value hi = tensor::ExtractOp::create(
                    fb, fl, offsets,
                    ValueRange{
                        arith::AddIOp::create(fb, fl, e, cIndex(fb, fl, 1))});
                return arith::AndIOp::create(
                    fb, fl,
                    arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::sle, lo,
                                          r),
                    arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::slt, r,
                                          hi));
              });
        });
    // Weight (o, i) of the expert of row r (expert 0's for a row of none,
    // whose result is zeroed), read as the stacked weights are stored.
    auto weight = [&](OpBuilder &wb, Location wl, Value original,
                      Value converted, Value e, Value o, Value i) -> Value {
      if (auto quantized = original.getDefiningOp<DequantizeOp>();
          quantized && elt.isF32())
        return decodeBlockValue(wb, wl, quantized.getFormat(),
                                quantized.getInput(), ValueRange{e, o}, i);
      Value source = converted;
      if (auto ext = original.getDefiningOp<arith::ExtFOp>())
        source = ext.getIn();
      Value w = tensor::ExtractOp::create(wb, wl, source, ValueRange{e, o, i});
      return w.getType() == elt
                 ? w
                 : arith::ExtFOp::create(wb, wl, elt, w).getResult();
    };
    // y[r, o] = Σ_i in[r, i] · w_expert[r][o, i] over loops (r, o, i); with
    // `zeroNone`, 0 for a row of no expert.
    auto project = [&](Value in, Value original, Value converted,
                       int64_t outCols, bool zeroNone) -> Value {
      Value init = filledTensor(b, l, {n, b.getIndexAttr(outCols)}, elt, 0.0);
      Value y =
          linalg::GenericOp::create(
              b, l, TypeRange{init.getType()}, ValueRange{in}, ValueRange{init},
              ArrayRef<AffineMap>{mapOf(ctx, 3, {0, 2}), mapOf(ctx, 3, {0, 1})},
              iterators(2, 1),
              [&](OpBuilder &gb, Location gl, ValueRange a) {
                Value r = linalg::IndexOp::create(gb, gl, 0);
                Value o = linalg::IndexOp::create(gb, gl, 1);
                Value i = linalg::IndexOp::create(gb, gl, 2);
                Value e = tensor::ExtractOp::create(gb, gl, expertOfRow,
                                                    ValueRange{r});
                Value some =
                    arith::MaxSIOp::create(gb, gl, e, cIndex(gb, gl, 0));
                Value w = weight(gb, gl, original, converted, some, o, i);
                Value p = arith::MulFOp::create(gb, gl, a[0], w);
                linalg::YieldOp::create(
                    gb, gl, arith::AddFOp::create(gb, gl, a[1], p).getResult());
              })
              .getResult(0);
      if (!zeroNone)
        return y;
      AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
      return linalg::GenericOp::create(
                 b, l, TypeRange{y.getType()}, ValueRange{}, ValueRange{y},
                 ArrayRef<AffineMap>{id2}, iterators(2),
                 [&](OpBuilder &gb, Location gl, ValueRange a) {
                   Value r = linalg::IndexOp::create(gb, gl, 0);
                   Value e = tensor::ExtractOp::create(gb, gl, expertOfRow,
                                                       ValueRange{r});
                   Value none = arith::CmpIOp::create(
                       gb, gl, arith::CmpIPredicate::slt, e, cIndex(gb, gl, 0));
                   linalg::YieldOp::create(
                       gb, gl,
                       arith::SelectOp::create(
                           gb, gl, none, floatConst(gb, gl, elt, 0.0), a[0])
                           .getResult());
                 })
          .getResult(0);
    };
    Value g = project(rows, op.getGate(), adaptor.getGate(), hidden, false);
    Value u = project(rows, op.getUp(), adaptor.getUp(), hidden, false);
    Value h =
        gatedActivation(b, l, g, u, op.getActivation() == Activation::gelu);
    return project(h, op.getDown(), adaptor.getDown(), dim, true);
  }

  /// act(g) * u elementwise, written over g.
  static Value gatedActivation(OpBuilder &b, Location l, Value g, Value u,
                               bool gelu) {
    AffineMap id2 = AffineMap::getMultiDimIdentityMap(2, b.getContext());
    return linalg::GenericOp::create(
               b, l, TypeRange{g.getType()}, ValueRange{u}, ValueRange{g},
               ArrayRef<AffineMap>{id2, id2}, iterators(2),
               [&](OpBuilder &nb, Location nl, ValueRange a) {
                 Value act = gelu ? geluScalar(nb, nl, a[1], /*tanh=*/false)
                                  : siluScalar(nb, nl, a[1]);
                 linalg::YieldOp::create(
                     nb, nl,
                     arith::MulFOp::create(nb, nl, act, a[0]).getResult());
               })
        .getResult(0);
  }
};

/// Combine: out[t, d] = Σ_j weights[t, j] · rows[position of (t, j), d].
struct MoeCombineLowering : OpConversionPattern<MoeCombineOp> {
  MoeCombineLowering(MLIRContext *ctx, bool gathered)
      : OpConversionPattern(ctx), gathered(gathered) {}
  /// The inverse permutation without a sequential pass: each pair searches
  /// for its row.
  bool gathered;

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
    Value pairs = getValueOrCreateConstantIndexOp(
        rewriter, loc, dimOf(rewriter, loc, rows, 0));
    // position[a] = the r with permutation[r] = a: one pass scattering, or
    // (gathered) a search per pair.
    Value position;
    if (gathered) {
      position =
          generate(rewriter, loc,
                   RankedTensorType::get({ShapedType::kDynamic},
                                         rewriter.getIndexType()),
                   {pairs}, [&](OpBuilder &b, Location l) -> Value {
                     Value a = toI32(b, l, linalg::IndexOp::create(b, l, 0));
                     return lastIndexWhere(
                         b, l, pairs, cIndex(b, l, 0),
                         [&](OpBuilder &fb, Location fl, Value r) -> Value {
                           Value p = tensor::ExtractOp::create(fb, fl, perm,
                                                               ValueRange{r});
                           return arith::CmpIOp::create(
                               fb, fl, arith::CmpIPredicate::eq, p, a);
                         });
                   });
    } else {
      Value posInit =
          emptyTensor(rewriter, loc, {pairs}, rewriter.getIndexType());
      auto scatter = scf::ForOp::create(
          rewriter, loc, cIndex(rewriter, loc, 0), pairs,
          cIndex(rewriter, loc, 1), ValueRange{posInit},
          [&](OpBuilder &b, Location l, Value r, ValueRange iter) {
            Value a = toIndex(
                b, l, tensor::ExtractOp::create(b, l, perm, ValueRange{r}));
            scf::YieldOp::create(
                b, l,
                tensor::InsertOp::create(b, l, r, iter[0], ValueRange{a})
                    .getResult());
          });
      position = scatter.getResult(0);
    }
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    SmallVector<OpFoldResult> sizes = {dimOf(rewriter, loc, weights, 0),
                                       dimOf(rewriter, loc, rows, 1)};
    Value init =
        filledTensor(rewriter, loc, sizes, wType.getElementType(), 0.0);
    Value kV = cIndex(rewriter, loc, k);
    // loops (t, d, j)
    Value out =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()}, ValueRange{weights},
            ValueRange{init},
            ArrayRef<AffineMap>{AffineMap::get(3, 0, {d(0), d(2)}, ctx),
                                AffineMap::get(3, 0, {d(0), d(1)}, ctx)},
            iterators(2, 1),
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value t = linalg::IndexOp::create(b, l, 0);
              Value dd = linalg::IndexOp::create(b, l, 1);
              Value j = linalg::IndexOp::create(b, l, 2);
              Value pair = arith::AddIOp::create(
                  b, l, arith::MulIOp::create(b, l, t, kV), j);
              Value r =
                  tensor::ExtractOp::create(b, l, position, ValueRange{pair});
              Value y =
                  tensor::ExtractOp::create(b, l, rows, ValueRange{r, dd});
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

void mlir::loom::populateMoEToLinalgPatterns(RewritePatternSet &patterns,
                                             bool gathered) {
  patterns.add<MoeRouterLowering>(patterns.getContext());
  patterns.add<MoeDispatchLowering, MoeExpertFfnLowering, MoeCombineLowering>(
      patterns.getContext(), gathered);
}
