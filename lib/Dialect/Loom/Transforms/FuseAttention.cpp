//===- FuseAttention.cpp - attention written out into loom.attention ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The pattern is anchored at the last matmul of attention, P·V, and walks
// up: softmax over the keys, an optional additive mask, an optional scale,
// Q·Kᵀ. Every step either matches one of the spellings listed in Passes.td
// or the pattern gives up and leaves the IR alone.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/DebugLog.h"

#include <cmath>
#include <limits>

#define DEBUG_TYPE "loom-fuse-attention"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMFUSEATTENTIONPASS
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

/// The float every element of `v` holds, if `v` is a splat of a constant:
/// `arith.constant dense<c>` or `tensor.splat` of an `arith.constant`.
std::optional<double> splatConstant(Value v) {
  Attribute attr;
  if (matchPattern(v, m_Constant(&attr))) {
    if (auto dense = dyn_cast<SplatElementsAttr>(attr))
      if (auto f = dyn_cast<FloatAttr>(dense.getSplatValue<Attribute>()))
        return f.getValueAsDouble();
    return std::nullopt;
  }
  if (auto splat = v.getDefiningOp<tensor::SplatOp>()) {
    FloatAttr f;
    if (matchPattern(splat.getInput(), m_Constant(&f)))
      return f.getValueAsDouble();
  }
  return std::nullopt;
}

/// What the walk up from the softmax found.
struct Scores {
  Value query, key;       // key in [batch, heads, seq, head_dim] layout ...
  bool keyIsBSHD = false; // ... or, when set, in [batch, seq, heads, head_dim]
  double scale = 1.0;
};

/// Matches `[scale] (Q·Kᵀ) [scale]` with the scale on the scores or on Q.
FailureOr<Scores> matchScores(Value v) {
  Scores s;
  // Scale applied to the scores (any number of times).
  while (true) {
    if (auto mul = v.getDefiningOp<arith::MulFOp>()) {
      if (auto c = splatConstant(mul.getRhs())) {
        s.scale *= *c;
        v = mul.getLhs();
        continue;
      }
      if (auto c = splatConstant(mul.getLhs())) {
        s.scale *= *c;
        v = mul.getRhs();
        continue;
      }
      return failure(); // a scale that varies per element
    }
    if (auto div = v.getDefiningOp<arith::DivFOp>()) {
      auto c = splatConstant(div.getRhs());
      if (!c || *c == 0.0)
        return failure();
      s.scale /= *c;
      v = div.getLhs();
      continue;
    }
    break;
  }
  auto qk = v.getDefiningOp<MatmulOp>();
  if (!qk || qk.getTransposeLhs())
    return failure();
  Value k = qk.getRhs();
  if (!qk.getTransposeRhs()) {
    // Kᵀ from [b, h, s, d] ([0, 1, 3, 2]) or straight from [b, s, h, d]
    // ([0, 2, 3, 1]).
    auto t = k.getDefiningOp<TransposeOp>();
    if (!t)
      return failure();
    if (t.getPermutation() == ArrayRef<int64_t>{0, 2, 3, 1})
      s.keyIsBSHD = true;
    else if (t.getPermutation() != ArrayRef<int64_t>{0, 1, 3, 2})
      return failure();
    k = t.getInput();
  }
  Value q = qk.getLhs();
  // Scale applied to Q.
  if (auto mul = q.getDefiningOp<arith::MulFOp>()) {
    if (auto c = splatConstant(mul.getRhs())) {
      s.scale *= *c;
      q = mul.getLhs();
    } else if (auto c = splatConstant(mul.getLhs())) {
      s.scale *= *c;
      q = mul.getRhs();
    }
  }
  s.query = q;
  s.key = k;
  return s;
}

/// A recognised causal mask: -inf where key j > offset + i, and with a
/// window also where j + W <= offset + i.
struct CausalMask {
  Value offset; // null: 0
  std::optional<int64_t> window;
};

/// Whether `v` is `offset + i` (or `i`) for the generate's index `i`.
bool matchQueryPosition(Value v, Value i, Region &region, Value &offset) {
  if (v == i)
    return true;
  auto add = v.getDefiningOp<arith::AddIOp>();
  if (!add)
    return false;
  for (auto [a, b] : {std::pair{add.getLhs(), add.getRhs()},
                      std::pair{add.getRhs(), add.getLhs()}}) {
    if (b == i && !region.isAncestor(a.getParentRegion())) {
      offset = a;
      return true;
    }
  }
  return false;
}

/// Matches the condition "key j is hidden from query i": `j > offset + i`,
/// optionally or-ed with `j + W <= offset + i` (a sliding window).
FailureOr<CausalMask> matchHiddenCondition(Value cond, Value i, Value j,
                                           Region &region) {
  CausalMask result;
  Value windowCond;
  if (auto orOp = cond.getDefiningOp<arith::OrIOp>()) {
    cond = orOp.getLhs();
    windowCond = orOp.getRhs();
  }
  // key after query: j > qpos
  auto after = cond.getDefiningOp<arith::CmpIOp>();
  if (!after || after.getLhs() != j ||
      (after.getPredicate() != arith::CmpIPredicate::ugt &&
       after.getPredicate() != arith::CmpIPredicate::sgt) ||
      !matchQueryPosition(after.getRhs(), i, region, result.offset))
    return failure();
  if (windowCond) {
    // key too old: j + W <= qpos
    auto old = windowCond.getDefiningOp<arith::CmpIOp>();
    Value unusedOffset;
    if (!old ||
        (old.getPredicate() != arith::CmpIPredicate::ule &&
         old.getPredicate() != arith::CmpIPredicate::sle) ||
        !matchQueryPosition(old.getRhs(), i, region, unusedOffset) ||
        unusedOffset != result.offset)
      return failure();
    auto jw = old.getLhs().getDefiningOp<arith::AddIOp>();
    IntegerAttr w;
    if (!jw || jw.getLhs() != j || !matchPattern(jw.getRhs(), m_Constant(&w)) ||
        w.getInt() <= 0)
      return failure();
    result.window = w.getInt();
  }
  return result;
}

/// Matches "key j is visible to query i": `j <= offset + i` (no window).
FailureOr<CausalMask> matchVisibleCondition(Value cond, Value i, Value j,
                                            Region &region) {
  CausalMask result;
  auto cmp = cond.getDefiningOp<arith::CmpIOp>();
  if (!cmp || cmp.getLhs() != j ||
      (cmp.getPredicate() != arith::CmpIPredicate::ule &&
       cmp.getPredicate() != arith::CmpIPredicate::sle) ||
      !matchQueryPosition(cmp.getRhs(), i, region, result.offset))
    return failure();
  return result;
}

/// Whether `v` is a splat of -inf.
bool isNegInfSplat(Value v) {
  std::optional<double> c = splatConstant(v);
  return c && std::isinf(*c) && *c < 0;
}

/// A causal additive mask: a tensor.generate yielding
/// select(hidden, -inf, 0).
FailureOr<CausalMask> matchCausalMask(Value mask) {
  auto gen = mask.getDefiningOp<tensor::GenerateOp>();
  if (!gen || gen.getType().getRank() != 4)
    return failure();
  Region &region = gen.getBody();
  Block &body = region.front();
  auto yield = cast<tensor::YieldOp>(body.getTerminator());
  auto select = yield.getValue().getDefiningOp<arith::SelectOp>();
  if (!select)
    return failure();
  FloatAttr hiddenValue, shownValue;
  if (!matchPattern(select.getTrueValue(), m_Constant(&hiddenValue)) ||
      !matchPattern(select.getFalseValue(), m_Constant(&shownValue)) ||
      !hiddenValue.getValue().isInfinity() ||
      !hiddenValue.getValue().isNegative() || !shownValue.getValue().isZero())
    return failure();
  return matchHiddenCondition(select.getCondition(), body.getArgument(2),
                              body.getArgument(3), region);
}

/// A causal boolean mask: a tensor.generate of i1 yielding the hidden
/// condition (`hidden` true) or the visible one (`hidden` false).
FailureOr<CausalMask> matchCausalCondition(Value cond, bool hidden) {
  auto gen = cond.getDefiningOp<tensor::GenerateOp>();
  if (!gen || gen.getType().getRank() != 4)
    return failure();
  Region &region = gen.getBody();
  Block &body = region.front();
  Value yielded = cast<tensor::YieldOp>(body.getTerminator()).getValue();
  Value i = body.getArgument(2), j = body.getArgument(3);
  return hidden ? matchHiddenCondition(yielded, i, j, region)
                : matchVisibleCondition(yielded, i, j, region);
}

/// Strips a repeat of the heads (GQA written out); returns the repeat count.
/// Two spellings: `loom.repeat_interleave` along the heads, and Hugging
/// Face's `repeat_kv`: a `linalg.broadcast` of [b, kv, s, d] to
/// [b, kv, rep, s, d] collapsed to [b, kv * rep, s, d].
int64_t stripHeadRepeat(Value &v) {
  if (auto r = v.getDefiningOp<RepeatInterleaveOp>()) {
    if (r.getAxis() == 1) {
      v = r.getInput();
      return r.getRepeats();
    }
    return 1;
  }
  auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 5)
    return 1;
  SmallVector<ReassociationIndices> groups = collapse.getReassociationIndices();
  if (groups != SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}})
    return 1;
  auto broadcast = collapse.getSrc().getDefiningOp<linalg::BroadcastOp>();
  if (!broadcast || broadcast.getDimensions() != ArrayRef<int64_t>{2})
    return 1;
  int64_t repeats = collapse.getSrcType().getDimSize(2);
  if (ShapedType::isDynamic(repeats))
    return 1;
  v = broadcast.getInput();
  return repeats;
}

struct FuseAttention : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MatmulOp pv,
                                PatternRewriter &rewriter) const override {
    if (pv.getTransposeLhs() || pv.getTransposeRhs() ||
        pv.getType().getRank() != 4)
      return rewriter.notifyMatchFailure(pv, "not a [b, h, s, d] P·V matmul");
    auto softmax = pv.getLhs().getDefiningOp<SoftmaxOp>();
    if (!softmax || softmax.getNormalizedAxis() != 3)
      return rewriter.notifyMatchFailure(pv, "no softmax over the keys");

    // The scores, and a mask: additive (on either side of an addf), or a
    // select of -inf by a boolean tensor (`where(hidden, -inf, s)` or
    // `where(visible, s, -inf)`).
    Value scored = softmax.getInput(), mask;
    Value condition;            // a boolean mask, true where the key is ...
    bool conditionHides = true; // ... hidden (false: visible)
    FailureOr<Scores> scores = matchScores(scored);
    if (failed(scores)) {
      if (auto add = scored.getDefiningOp<arith::AddFOp>()) {
        if (succeeded(scores = matchScores(add.getLhs())))
          mask = add.getRhs();
        else if (succeeded(scores = matchScores(add.getRhs())))
          mask = add.getLhs();
      } else if (auto sel = scored.getDefiningOp<arith::SelectOp>()) {
        if (isNegInfSplat(sel.getTrueValue()) &&
            succeeded(scores = matchScores(sel.getFalseValue()))) {
          condition = sel.getCondition();
        } else if (isNegInfSplat(sel.getFalseValue()) &&
                   succeeded(scores = matchScores(sel.getTrueValue()))) {
          condition = sel.getCondition();
          conditionHides = false;
        }
        if (condition && !isa<RankedTensorType>(condition.getType()))
          return rewriter.notifyMatchFailure(pv, "a scalar select is no mask");
      }
      if (failed(scores))
        return rewriter.notifyMatchFailure(pv, "no Q·Kᵀ under the mask");
    }

    Value key = scores->key, value = pv.getRhs();
    if (scores->keyIsBSHD) {
      if (cast<RankedTensorType>(key.getType()).getRank() != 4)
        return rewriter.notifyMatchFailure(pv, "K is not rank 4");
      key = TransposeOp::create(rewriter, pv.getLoc(), key,
                                ArrayRef<int64_t>{0, 2, 1, 3});
    }
    int64_t keyRepeat = stripHeadRepeat(key);
    int64_t valueRepeat = stripHeadRepeat(value);
    if (keyRepeat != valueRepeat)
      return rewriter.notifyMatchFailure(pv, "K and V repeated differently");
    auto qType = cast<RankedTensorType>(scores->query.getType());
    auto kType = cast<RankedTensorType>(key.getType());
    auto vType = cast<RankedTensorType>(value.getType());
    if (qType.getRank() != 4 || kType.getRank() != 4 || vType.getRank() != 4)
      return rewriter.notifyMatchFailure(pv, "operands are not rank 4");

    bool causal = false;
    Value offset;
    std::optional<int64_t> window;
    if (mask) {
      if (FailureOr<CausalMask> c = matchCausalMask(mask); succeeded(c)) {
        causal = true;
        offset = c->offset;
        window = c->window;
        mask = Value();
      }
    }
    if (condition) {
      if (FailureOr<CausalMask> c =
              matchCausalCondition(condition, conditionHides);
          succeeded(c)) {
        causal = true;
        offset = c->offset;
        window = c->window;
      } else {
        // Any other boolean mask becomes the additive mask it stands for.
        auto type = cast<RankedTensorType>(scored.getType());
        if (!type.hasStaticShape())
          return rewriter.notifyMatchFailure(pv, "dynamic boolean mask");
        Location loc = pv.getLoc();
        Value ninf = arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(
                type, rewriter.getFloatAttr(
                          type.getElementType(),
                          -std::numeric_limits<double>::infinity())));
        Value zero = arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(
                type, rewriter.getFloatAttr(type.getElementType(), 0.0)));
        mask =
            conditionHides
                ? arith::SelectOp::create(rewriter, loc, condition, ninf, zero)
                : arith::SelectOp::create(rewriter, loc, condition, zero, ninf);
      }
    }
    auto attention = AttentionOp::create(
        rewriter, pv.getLoc(), scores->query, key, value, mask, offset,
        rewriter.getFloatAttr(rewriter.getF32Type(), scores->scale), causal,
        window);
    Value result = attention.getResult();
    if (result.getType() != pv.getType())
      result =
          tensor::CastOp::create(rewriter, pv.getLoc(), pv.getType(), result);
    LDBG() << "fused attention at " << pv.getLoc() << ": scale "
           << scores->scale << (causal ? ", causal" : "")
           << (mask ? ", explicit mask" : "") << (window ? ", windowed" : "");
    rewriter.replaceOp(pv, result);
    return success();
  }
};

struct LoomFuseAttentionPass
    : loom::impl::LoomFuseAttentionPassBase<LoomFuseAttentionPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
