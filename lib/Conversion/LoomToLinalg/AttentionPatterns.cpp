//===- AttentionPatterns.cpp - loom.attention written out -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The direct lowering (attention-key-block=-1): the [q_len, kv_len] scores per
// head, scale, mask, softmax, weighted sum of values. Grouped-query attention
// reads key/value head h / group through the indexing maps, without copying K
// or V. This is the reference the tiled (FlashAttention-style) lowering is
// checked against.
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

namespace {

struct AttentionLowering : OpConversionPattern<AttentionOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    if (qType.isDynamicDim(1) || kType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic head counts");
    int64_t group = op.getGroupSize();
    Type elt = qType.getElementType();
    MLIRContext *ctx = rewriter.getContext();
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto map = [&](unsigned n, ArrayRef<AffineExpr> e) {
      return AffineMap::get(n, 0, e, ctx);
    };

    // scores[b, h, i, j] = sum_d q[b, h, i, d] * k[b, h / group, j, d]
    SmallVector<OpFoldResult> scoreSizes = {
        dimOf(rewriter, loc, q, 0), dimOf(rewriter, loc, q, 1),
        dimOf(rewriter, loc, q, 2), dimOf(rewriter, loc, k, 2)};
    Value scores =
        contraction(rewriter, loc, q, k, attentionScoreMaps(ctx, group),
                    scoreSizes, elt, 4);

    // biased = scores * scale + mask, -inf where causality or the window hide
    // the key.
    SmallVector<Value> inputs = {scores};
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, ctx);
    SmallVector<AffineMap> maps = {id};
    if (Value mask = adaptor.getMask()) {
      auto mType = cast<RankedTensorType>(mask.getType());
      auto sType = cast<RankedTensorType>(scores.getType());
      SmallVector<AffineExpr> exprs;
      unsigned first = 4 - mType.getRank();
      for (unsigned i = 0; i < mType.getRank(); ++i) {
        bool broadcast =
            mType.getDimSize(i) == 1 && sType.getDimSize(first + i) != 1;
        exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                  : d(first + i));
      }
      inputs.push_back(mask);
      maps.push_back(map(4, exprs));
    }
    maps.push_back(id);
    bool hasMask = bool(adaptor.getMask()), causal = op.getCausal();
    std::optional<int64_t> window = op.getWindow();
    Value offset = adaptor.getOffset();
    Value scale = floatConst(rewriter, loc, elt, op.getScaleOrDefault());
    Value ninf = floatConst(rewriter, loc, elt,
                            -std::numeric_limits<double>::infinity());
    Value biasedInit = emptyTensor(rewriter, loc, scoreSizes, elt);
    Value biased =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{scores.getType()}, inputs,
            ValueRange{biasedInit}, maps, iterators(4),
            [&](OpBuilder &b, Location l, ValueRange a) {
              auto positions = [&](OpBuilder &pb, Location pl) {
                Value i = linalg::IndexOp::create(pb, pl, 2);
                Value j = linalg::IndexOp::create(pb, pl, 3);
                Value qpos =
                    offset
                        ? arith::AddIOp::create(pb, pl, offset, i).getResult()
                        : i;
                return std::pair<Value, Value>(qpos, j);
              };
              Value s = biasedScore(b, l, a[0], scale, hasMask ? a[1] : Value(),
                                    ninf, causal, window, positions);
              linalg::YieldOp::create(b, l, s);
            })
            .getResult(0);
    Value probs = buildSoftmax(rewriter, loc, biased, 3);

    // out[b, h, i, e] = sum_j probs[b, h, i, j] * v[b, h / group, j, e]
    SmallVector<OpFoldResult> outSizes = {scoreSizes[0], scoreSizes[1],
                                          scoreSizes[2],
                                          dimOf(rewriter, loc, v, 3)};
    Value out = contraction(rewriter, loc, probs, v,
                            attentionValueMaps(ctx, group), outSizes, elt, 4);
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::loom::populateAttentionToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<AttentionLowering>(patterns.getContext());
}
