//===- TiledAttention.cpp - loom.attention as an online-softmax loop ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The FlashAttention-style lowering: the keys and values are walked in
// blocks of `keyBlock` positions with a running row maximum `m`, a running
// sum `l` and an accumulator `acc`, rescaled whenever the maximum grows:
//
//   for each key block:
//     s     = scale · Q·Kᵀ_blk (+ mask), -inf where causality/window hide
//     m'    = max(m, rowmax(s))
//     p     = exp(s - m')
//     alpha = exp(m - m')
//     l     = l · alpha + rowsum(p)
//     acc   = acc · alpha + p·V_blk
//     m     = m'
//   out = acc / l
//
// Only [q_len, keyBlock] scores exist at a time; the extra memory grows
// linearly with the sequence. With causal attention the loop stops at the
// last key any query can see, and with a window it starts at the first.
// (A row that is fully masked so far has m' = -inf; it subtracts 0 instead,
// so that exp(-inf) = 0 and no NaN appears.)
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/Support/DebugLog.h"

#include <algorithm>
#include <limits>

#define DEBUG_TYPE "loom-tiled-attention"

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

namespace {

/// Keys per block: the largest power of two up to 256 for which a block of
/// K and V (2 · block · head_dim floats) fits in `l1Bytes`; at least 16.
int64_t keyBlockFor(int64_t headDim, int64_t elementBytes, int64_t l1Bytes) {
  if (ShapedType::isDynamic(headDim) || headDim <= 0)
    return 64;
  // Divided step by step: 2 * headDim * elementBytes overflows for head
  // sizes near 2^61, which verify.
  int64_t fit = std::max<int64_t>(l1Bytes, 0) / 2 /
                std::max<int64_t>(elementBytes, 1) / headDim;
  int64_t block = 16;
  while (block * 2 <= std::min<int64_t>(fit, 256))
    block *= 2;
  return block;
}

/// exp(x - safeMax(m)) elementwise, `m` broadcast through `mMap`: the
/// probabilities of a block, or the rescaling factor of running values.
Value expOfDifference(OpBuilder &b, Location l, Value x, Value m,
                      AffineMap xMap, AffineMap mMap,
                      ArrayRef<OpFoldResult> sizes) {
  auto type = cast<RankedTensorType>(x.getType());
  Value init = emptyTensor(b, l, sizes, type.getElementType());
  return linalg::GenericOp::create(
             b, l, TypeRange{init.getType()}, ValueRange{x, m},
             ValueRange{init}, ArrayRef<AffineMap>{xMap, mMap, xMap},
             iterators(xMap.getNumDims()),
             [](OpBuilder &nb, Location nl, ValueRange a) {
               Value d =
                   arith::SubFOp::create(nb, nl, a[0], safeMax(nb, nl, a[1]));
               linalg::YieldOp::create(
                   nb, nl, math::ExpOp::create(nb, nl, d).getResult());
             })
      .getResult(0);
}

/// x · f elementwise, `f` broadcast through `fMap`: running values rescaled
/// by the factor of a new maximum.
Value multiplyBy(OpBuilder &b, Location l, Value x, Value f, AffineMap xMap,
                 AffineMap fMap, ArrayRef<OpFoldResult> sizes) {
  auto type = cast<RankedTensorType>(x.getType());
  Value init = emptyTensor(b, l, sizes, type.getElementType());
  return linalg::GenericOp::create(
             b, l, TypeRange{type}, ValueRange{x, f}, ValueRange{init},
             ArrayRef<AffineMap>{xMap, fMap, xMap},
             iterators(xMap.getNumDims()),
             [](OpBuilder &nb, Location nl, ValueRange a) {
               linalg::YieldOp::create(
                   nb, nl,
                   arith::MulFOp::create(nb, nl, a[0], a[1]).getResult());
             })
      .getResult(0);
}

struct TiledAttentionLowering : OpConversionPattern<AttentionOp> {
  TiledAttentionLowering(MLIRContext *ctx, int64_t keyBlock, int64_t l1Bytes)
      : OpConversionPattern(ctx, /*benefit=*/2), keyBlock(keyBlock),
        l1Bytes(l1Bytes) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    Value mask = adaptor.getMask(), offset = adaptor.getOffset();
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    if (qType.isDynamicDim(1) || kType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic head counts");
    int64_t group = op.getGroupSize();
    Type elt = qType.getElementType();
    int64_t keyBlock =
        this->keyBlock > 0
            ? this->keyBlock
            : keyBlockFor(kType.getDimSize(3), elt.getIntOrFloatBitWidth() / 8,
                          l1Bytes);
    LDBG() << "attention at " << op.getLoc() << ": " << keyBlock
           << " keys per block ("
           << (this->keyBlock > 0 ? "attention-key-block"
                                  : "head_dim and the target's L1")
           << ", L1 " << l1Bytes << " bytes)";
    MLIRContext *ctx = rewriter.getContext();
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto map = [&](unsigned n, ArrayRef<AffineExpr> e) {
      return AffineMap::get(n, 0, e, ctx);
    };
    double inf = std::numeric_limits<double>::infinity();
    auto idx = [&](int64_t c) -> Value {
      return arith::ConstantIndexOp::create(rewriter, loc, c);
    };

    // Attention of a block of queries (all of them, or one query block)
    // at positions pos, pos + 1, ...; returns [b, h, n, dv].
    auto blockAttention = [&](OpBuilder &rb, Location loc, Value q,
                              OpFoldResult queries, Value pos,
                              Value mask) -> Value {
      auto idx = [&](int64_t c) -> Value {
        return arith::ConstantIndexOp::create(rb, loc, c);
      };
      OpFoldResult batch = dimOf(rb, loc, q, 0);
      OpFoldResult heads = dimOf(rb, loc, q, 1);
      OpFoldResult valueDim = dimOf(rb, loc, v, 3);
      SmallVector<OpFoldResult> rowSizes = {batch, heads, queries};
      SmallVector<OpFoldResult> accSizes = {batch, heads, queries, valueDim};
      Value m0 = filledTensor(rb, loc, rowSizes, elt, -inf);
      Value l0 = filledTensor(rb, loc, rowSizes, elt, 0.0);
      Value acc0 = filledTensor(rb, loc, accSizes, elt, 0.0);

      // The key range any query can see.
      Value keys =
          getValueOrCreateConstantIndexOp(rb, loc, dimOf(rb, loc, k, 2));
      Value first = idx(0), last = keys;
      bool causal = op.getCausal();
      std::optional<int64_t> window = op.getWindow();
      if (causal) {
        Value nq = getValueOrCreateConstantIndexOp(rb, loc, queries);
        last = arith::MinSIOp::create(rb, loc, keys,
                                      arith::AddIOp::create(rb, loc, pos, nq));
      }
      if (causal && window) {
        // The earliest query (at `pos`) sees keys from pos + 1 - W on.
        Value start = arith::SubIOp::create(
            rb, loc, arith::AddIOp::create(rb, loc, pos, idx(1)), idx(*window));
        first = arith::MaxSIOp::create(rb, loc, start, idx(0));
      }

      AffineMap rows4 = map(4, {d(0), d(1), d(2)});
      AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
      AffineMap id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
      Value scale = floatConst(rb, loc, elt, op.getScaleOrDefault());
      Value ninf = floatConst(rb, loc, elt, -inf);
      auto loop = scf::ForOp::create(
          rb, loc, first, last, idx(keyBlock), ValueRange{m0, l0, acc0},
          [&](OpBuilder &b, Location l, Value kb, ValueRange iter) {
            Value m = iter[0], sum = iter[1], acc = iter[2];
            Value remaining = arith::SubIOp::create(b, l, last, kb);
            Value size = arith::MinSIOp::create(
                b, l, remaining,
                arith::ConstantIndexOp::create(b, l, keyBlock));
            auto slice = [&](Value t) -> Value {
              SmallVector<OpFoldResult> sizes = sizesOf(b, l, t);
              sizes[2] = size;
              OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
              return tensor::ExtractSliceOp::create(
                  b, l, t, SmallVector<OpFoldResult>{zero, zero, kb, zero},
                  sizes, SmallVector<OpFoldResult>(4, one));
            };
            Value kBlk = slice(k), vBlk = slice(v);

            // s = scale · Q·Kᵀ (+ mask), hidden keys -inf.
            SmallVector<OpFoldResult> blockSizes = {batch, heads, queries,
                                                    size};
            Value scores =
                contraction(b, l, q, kBlk, attentionScoreMaps(ctx, group),
                            blockSizes, elt, 4);
            SmallVector<Value> inputs = {scores};
            SmallVector<AffineMap> maps = {id4};
            if (mask) {
              auto mType = cast<RankedTensorType>(mask.getType());
              unsigned firstDim = 4 - mType.getRank();
              SmallVector<AffineExpr> exprs;
              Value maskBlk = mask;
              if (mType.getShape().back() != 1) {
                SmallVector<OpFoldResult> sizes = sizesOf(b, l, mask);
                sizes.back() = size;
                SmallVector<OpFoldResult> offsets(mType.getRank(),
                                                  b.getIndexAttr(0));
                offsets.back() = kb;
                maskBlk = tensor::ExtractSliceOp::create(
                    b, l, mask, offsets, sizes,
                    SmallVector<OpFoldResult>(mType.getRank(),
                                              b.getIndexAttr(1)));
              }
              auto qt = cast<RankedTensorType>(q.getType());
              for (unsigned i = 0; i < mType.getRank(); ++i) {
                unsigned sd = firstDim + i;
                bool scoreDimIsOne =
                    sd == 3 ? false
                            : !qt.isDynamicDim(sd) && qt.getDimSize(sd) == 1;
                bool broadcast = mType.getDimSize(i) == 1 && !scoreDimIsOne;
                exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                          : d(sd));
              }
              inputs.push_back(maskBlk);
              maps.push_back(map(4, exprs));
            }
            maps.push_back(id4);
            Value biasedInit = emptyTensor(b, l, blockSizes, elt);
            bool hasMask = bool(mask);
            Value biased =
                linalg::GenericOp::create(
                    b, l, TypeRange{scores.getType()}, inputs,
                    ValueRange{biasedInit}, maps, iterators(4),
                    [&](OpBuilder &nb, Location nl, ValueRange a) {
                      auto positions = [&](OpBuilder &pb, Location pl) {
                        Value i = linalg::IndexOp::create(pb, pl, 2);
                        Value j = arith::AddIOp::create(
                            pb, pl, kb, linalg::IndexOp::create(pb, pl, 3));
                        Value qpos = arith::AddIOp::create(pb, pl, pos, i);
                        return std::pair<Value, Value>(qpos, j);
                      };
                      Value s = biasedScore(nb, nl, a[0], scale,
                                            hasMask ? a[1] : Value(), ninf,
                                            causal, window, positions);
                      linalg::YieldOp::create(nb, nl, s);
                    })
                    .getResult(0);

            // m' = max(m, rowmax(s))
            Value mNew =
                reduceInto(b, l, biased, m, id4, rows4, 3, /*max=*/true);
            // p = exp(s - m')
            Value p =
                expOfDifference(b, l, biased, mNew, id4, rows4, blockSizes);
            // alpha = exp(m - m'); l·alpha; acc·alpha
            Value alpha = expOfDifference(b, l, m, mNew, id3, id3, rowSizes);
            Value sumScaled = multiplyBy(b, l, sum, alpha, id3, id3, rowSizes);
            Value sumNew =
                reduceInto(b, l, p, sumScaled, id4, rows4, 3, /*max=*/false);
            Value accScaled =
                multiplyBy(b, l, acc, alpha, id4, rows4, accSizes);
            // acc = acc·alpha + p·V_blk
            Value accNew =
                linalg::GenericOp::create(
                    b, l, TypeRange{acc.getType()}, ValueRange{p, vBlk},
                    ValueRange{accScaled}, attentionValueMaps(ctx, group),
                    iterators(4, 1),
                    [](OpBuilder &nb, Location nl, ValueRange a) {
                      // One FMA per value: contracted (each key still
                      // added in order).
                      auto contract = arith::FastMathFlags::contract;
                      Value x =
                          arith::MulFOp::create(nb, nl, a[0], a[1], contract);
                      linalg::YieldOp::create(
                          nb, nl,
                          arith::AddFOp::create(nb, nl, a[2], x, contract)
                              .getResult());
                    })
                    .getResult(0);
            scf::YieldOp::create(b, l, ValueRange{mNew, sumNew, accNew});
          });

      // out = acc / l
      Value acc = loop.getResult(2), sum = loop.getResult(1);
      Value out =
          linalg::GenericOp::create(
              rb, loc, TypeRange{acc.getType()}, ValueRange{acc, sum},
              ValueRange{emptyTensor(rb, loc, accSizes, elt)},
              ArrayRef<AffineMap>{id4, rows4, id4}, iterators(4),
              [](OpBuilder &nb, Location nl, ValueRange a) {
                linalg::YieldOp::create(
                    nb, nl,
                    arith::DivFOp::create(nb, nl, a[0], a[1]).getResult());
              })
              .getResult(0);
      return out;
    };

    // Queries in blocks: with causal attention a query block stops at its
    // own last position, so the key blocks above the diagonal are skipped.
    Value pos0 = offset ? offset : idx(0);
    Value allQueries = getValueOrCreateConstantIndexOp(
        rewriter, loc, dimOf(rewriter, loc, q, 2));
    int64_t queryBlock = keyBlock;
    Value out;
    if (!qType.isDynamicDim(2) && qType.getDimSize(2) <= queryBlock) {
      out = blockAttention(rewriter, loc, q, dimOf(rewriter, loc, q, 2), pos0,
                           mask);
    } else {
      SmallVector<OpFoldResult> outSizes = sizesOf(rewriter, loc, q);
      outSizes[3] = dimOf(rewriter, loc, v, 3);
      Value outInit = emptyTensor(rewriter, loc, outSizes, elt);
      auto queryLoop = scf::ForOp::create(
          rewriter, loc, idx(0), allQueries, idx(queryBlock),
          ValueRange{outInit},
          [&](OpBuilder &b, Location l, Value qb, ValueRange iter) {
            Value n = arith::MinSIOp::create(
                b, l, arith::SubIOp::create(b, l, allQueries, qb),
                arith::ConstantIndexOp::create(b, l, queryBlock));
            OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
            SmallVector<OpFoldResult> qSizes = sizesOf(b, l, q);
            qSizes[2] = n;
            Value qBlk = tensor::ExtractSliceOp::create(
                b, l, q, SmallVector<OpFoldResult>{zero, zero, qb, zero},
                qSizes, SmallVector<OpFoldResult>(4, one));
            Value maskBlk = mask;
            if (mask) {
              auto mType = cast<RankedTensorType>(mask.getType());
              unsigned qDim = mType.getRank() - 2;
              if (mType.getDimSize(qDim) != 1) {
                SmallVector<OpFoldResult> sizes = sizesOf(b, l, mask);
                sizes[qDim] = n;
                SmallVector<OpFoldResult> offsets(mType.getRank(), zero);
                offsets[qDim] = qb;
                maskBlk = tensor::ExtractSliceOp::create(
                    b, l, mask, offsets, sizes,
                    SmallVector<OpFoldResult>(mType.getRank(), one));
              }
            }
            Value posBlk = arith::AddIOp::create(b, l, pos0, qb);
            Value outBlk = blockAttention(b, l, qBlk, n, posBlk, maskBlk);
            SmallVector<OpFoldResult> oSizes = sizesOf(b, l, outBlk);
            Value updated = tensor::InsertSliceOp::create(
                b, l, outBlk, iter[0],
                SmallVector<OpFoldResult>{zero, zero, qb, zero}, oSizes,
                SmallVector<OpFoldResult>(4, one));
            scf::YieldOp::create(b, l, updated);
          });
      out = queryLoop.getResult(0);
    }
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }

  int64_t keyBlock;
  int64_t l1Bytes;
};

/// Decode (one query) as its own case: the keys are cut into `kChunks`
/// chunks that are processed independently, in parallel with the heads (each
/// a parallel loop the runtime splits across threads), each giving a partial
/// maximum, sum and accumulator; the partials are then merged:
///   M = max_c m_c,  w_c = exp(m_c - M),  out = Σ_c acc_c w_c / Σ_c l_c w_c.
/// Keys past the end of the last chunk read the last key and are masked.
struct SplitKeysDecodeLowering : OpConversionPattern<AttentionOp> {
  static constexpr int64_t kChunks = 4;

  SplitKeysDecodeLowering(MLIRContext *ctx)
      : OpConversionPattern(ctx, /*benefit=*/3) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    if (qType.getDimSize(2) != 1 || adaptor.getMask() ||
        qType.isDynamicDim(1) || kType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op,
                                         "not a one-query, unmasked decode");
    int64_t group = op.getGroupSize();
    Type elt = qType.getElementType();
    MLIRContext *ctx = rewriter.getContext();
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto map = [&](unsigned n, ArrayRef<AffineExpr> e) {
      return AffineMap::get(n, 0, e, ctx);
    };
    double inf = std::numeric_limits<double>::infinity();
    auto idx = [&](int64_t c) -> Value {
      return arith::ConstantIndexOp::create(rewriter, loc, c);
    };
    bool causal = op.getCausal();
    std::optional<int64_t> window = op.getWindow();
    Value pos = adaptor.getOffset() ? adaptor.getOffset() : idx(0);

    // The visible keys [first, last), cut into kChunks chunks.
    Value keys = getValueOrCreateConstantIndexOp(rewriter, loc,
                                                 dimOf(rewriter, loc, k, 2));
    Value first = idx(0), last = keys;
    if (causal)
      last = arith::MinSIOp::create(
          rewriter, loc, keys,
          arith::AddIOp::create(rewriter, loc, pos, idx(1)));
    if (causal && window)
      first = arith::MaxSIOp::create(
          rewriter, loc,
          arith::SubIOp::create(
              rewriter, loc, arith::AddIOp::create(rewriter, loc, pos, idx(1)),
              idx(*window)),
          idx(0));
    Value span = arith::SubIOp::create(rewriter, loc, last, first);
    Value chunk = arith::MaxSIOp::create(
        rewriter, loc,
        arith::CeilDivSIOp::create(rewriter, loc, span, idx(kChunks)), idx(1));

    OpFoldResult batch = dimOf(rewriter, loc, q, 0);
    OpFoldResult heads = dimOf(rewriter, loc, q, 1);
    OpFoldResult valueDim = dimOf(rewriter, loc, v, 3);
    SmallVector<OpFoldResult> scoreSizes = {
        batch, heads, rewriter.getIndexAttr(kChunks), chunk};
    SmallVector<OpFoldResult> partSizes = {batch, heads,
                                           rewriter.getIndexAttr(kChunks)};
    SmallVector<OpFoldResult> accSizes = {
        batch, heads, rewriter.getIndexAttr(kChunks), valueDim};
    Value scale = floatConst(rewriter, loc, elt, op.getScaleOrDefault());
    Value ninf = floatConst(rewriter, loc, elt, -inf);

    // The key position of (chunk c, j), clamped into range for reading.
    auto keyIndex = [&](OpBuilder &b, Location l, Value c, Value j) {
      Value idx = arith::AddIOp::create(
          b, l, first,
          arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, c, chunk),
                                j));
      Value lastKey = arith::SubIOp::create(
          b, l, last, arith::ConstantIndexOp::create(b, l, 1));
      Value clamped = arith::MinSIOp::create(b, l, idx, lastKey);
      return std::pair<Value, Value>(idx, clamped);
    };

    // s[b, h, c, j] = scale · Σ_d q[b, h, 0, d] k[b, h/g, key(c, j), d],
    // -inf past the visible keys. The sum is a reduction loop of its own
    // (the key row read by position): parallelized with the contractions
    // and vectorized (reassociation allowed), and not recomputed where
    // the exponentials read it, as an elementwise producer would be.
    auto fastmath =
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    Value dots =
        linalg::GenericOp::create(
            rewriter, loc,
            TypeRange{emptyTensor(rewriter, loc, scoreSizes, elt).getType()},
            ValueRange{q},
            ValueRange{filledTensor(rewriter, loc, scoreSizes, elt, 0.0)},
            ArrayRef<AffineMap>{
                map(5, {d(0), d(1), getAffineConstantExpr(0, ctx), d(4)}),
                map(5, {d(0), d(1), d(2), d(3)})},
            iterators(4, 1),
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value bi = linalg::IndexOp::create(b, l, 0);
              Value hi = linalg::IndexOp::create(b, l, 1);
              Value ci = linalg::IndexOp::create(b, l, 2);
              Value ji = linalg::IndexOp::create(b, l, 3);
              Value di = linalg::IndexOp::create(b, l, 4);
              Value clamped = keyIndex(b, l, ci, ji).second;
              Value kvHead = arith::DivUIOp::create(
                  b, l, hi, arith::ConstantIndexOp::create(b, l, group));
              Value kv = tensor::ExtractOp::create(
                  b, l, k, ValueRange{bi, kvHead, clamped, di});
              Value prod = arith::MulFOp::create(b, l, a[0], kv, fastmath);
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, a[1], prod, fastmath)
                      .getResult());
            })
            .getResult(0);
    Value scores =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{dots.getType()}, ValueRange{dots},
            ValueRange{emptyTensor(rewriter, loc, scoreSizes, elt)},
            ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(4, ctx),
                                AffineMap::getMultiDimIdentityMap(4, ctx)},
            iterators(4),
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value ci = linalg::IndexOp::create(b, l, 2);
              Value ji = linalg::IndexOp::create(b, l, 3);
              Value key = keyIndex(b, l, ci, ji).first;
              Value s = arith::MulFOp::create(b, l, a[0], scale);
              Value outside = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::sge, key, last);
              linalg::YieldOp::create(
                  b, l,
                  arith::SelectOp::create(b, l, outside, ninf, s).getResult());
            })
            .getResult(0);

    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    AffineMap part4 = map(4, {d(0), d(1), d(2)});
    AffineMap id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
    AffineMap head3 = map(3, {d(0), d(1)});
    // Per chunk: m_c, p = exp(s - m_c), l_c, acc_c.
    Value mc = reduceInto(rewriter, loc, scores,
                          filledTensor(rewriter, loc, partSizes, elt, -inf),
                          id4, part4, 3, /*max=*/true);
    Value p =
        expOfDifference(rewriter, loc, scores, mc, id4, part4, scoreSizes);
    Value lc = reduceInto(rewriter, loc, p,
                          filledTensor(rewriter, loc, partSizes, elt, 0.0), id4,
                          part4, 3, /*max=*/false);
    // acc_c[b, h, c, e] = Σ_j p[b, h, c, j] v[b, h/g, key(c, j), e], with
    // loops (b, h, c, j, e): the value row's e innermost, so each key adds
    // p times a contiguous row of V into the accumulator row (vectorized;
    // each element still sums its keys in order).
    Value accInit = filledTensor(rewriter, loc, accSizes, elt, 0.0);
    SmallVector<utils::IteratorType> pvIterators = iterators(3);
    pvIterators.append(
        {utils::IteratorType::reduction, utils::IteratorType::parallel});
    Value accC =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{accInit.getType()}, ValueRange{p},
            ValueRange{accInit},
            ArrayRef<AffineMap>{map(5, {d(0), d(1), d(2), d(3)}),
                                map(5, {d(0), d(1), d(2), d(4)})},
            pvIterators,
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value bi = linalg::IndexOp::create(b, l, 0);
              Value hi = linalg::IndexOp::create(b, l, 1);
              Value ci = linalg::IndexOp::create(b, l, 2);
              Value ji = linalg::IndexOp::create(b, l, 3);
              Value ei = linalg::IndexOp::create(b, l, 4);
              Value clamped = keyIndex(b, l, ci, ji).second;
              Value kvHead = arith::DivUIOp::create(
                  b, l, hi, arith::ConstantIndexOp::create(b, l, group));
              Value vv = tensor::ExtractOp::create(
                  b, l, v, ValueRange{bi, kvHead, clamped, ei});
              Value prod = arith::MulFOp::create(b, l, a[0], vv);
              linalg::YieldOp::create(
                  b, l, arith::AddFOp::create(b, l, a[1], prod).getResult());
            })
            .getResult(0);

    // Merge: M = max_c m_c; w_c = exp(m_c - M); out = Σ acc_c w_c / Σ l_c w_c.
    SmallVector<OpFoldResult> headSizes = {batch, heads};
    Value big = reduceInto(rewriter, loc, mc,
                           filledTensor(rewriter, loc, headSizes, elt, -inf),
                           id3, head3, 2, /*max=*/true);
    Value w = expOfDifference(rewriter, loc, mc, big, id3, head3, partSizes);
    Value total =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{big.getType()}, ValueRange{lc, w},
            ValueRange{filledTensor(rewriter, loc, headSizes, elt, 0.0)},
            ArrayRef<AffineMap>{id3, id3, head3}, iterators(2, 1),
            [](OpBuilder &b, Location l, ValueRange a) {
              Value x = arith::MulFOp::create(b, l, a[0], a[1]);
              linalg::YieldOp::create(
                  b, l, arith::AddFOp::create(b, l, a[2], x).getResult());
            })
            .getResult(0);
    SmallVector<OpFoldResult> outSizes = {batch, heads,
                                          rewriter.getIndexAttr(1), valueDim};
    Value outInit = filledTensor(rewriter, loc, outSizes, elt, 0.0);
    // loops (b, h, i, e, c): i is the single query
    Value merged =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{outInit.getType()}, ValueRange{accC, w},
            ValueRange{outInit},
            ArrayRef<AffineMap>{map(5, {d(0), d(1), d(4), d(3)}),
                                map(5, {d(0), d(1), d(4)}),
                                map(5, {d(0), d(1), d(2), d(3)})},
            iterators(4, 1),
            [](OpBuilder &b, Location l, ValueRange a) {
              Value x = arith::MulFOp::create(b, l, a[0], a[1]);
              linalg::YieldOp::create(
                  b, l, arith::AddFOp::create(b, l, a[2], x).getResult());
            })
            .getResult(0);
    Value out =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{merged.getType()},
            ValueRange{merged, total},
            ValueRange{emptyTensor(rewriter, loc, outSizes, elt)},
            ArrayRef<AffineMap>{id4, map(4, {d(0), d(1)}), id4}, iterators(4),
            [](OpBuilder &b, Location l, ValueRange a) {
              linalg::YieldOp::create(
                  b, l, arith::DivFOp::create(b, l, a[0], a[1]).getResult());
            })
            .getResult(0);
    if (out.getType() != op.getType())
      out = tensor::CastOp::create(rewriter, loc, op.getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::loom::populateTiledAttentionToLinalgPatterns(
    RewritePatternSet &patterns, int64_t keyBlock, int64_t l1Bytes) {
  patterns.add<TiledAttentionLowering>(patterns.getContext(), keyBlock,
                                       l1Bytes);
  patterns.add<SplitKeysDecodeLowering>(patterns.getContext());
}
