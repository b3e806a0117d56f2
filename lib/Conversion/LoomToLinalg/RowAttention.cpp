//===- RowAttention.cpp - loom.attention as a loop per query row ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The row lowering (attention-rows): attention of several query rows
// (prefill) as an scf.forall over the rows (batch, head, query), each of
// which walks its visible keys one at a time with an online softmax:
//
//   q     = Q[b, h, i, :]                      (a vector of head_dim)
//   for j in visible keys of query i:
//     s   = scale · q·K[b, h/g, j, :] (+ mask)
//     m'  = max(m, s)
//     p   = exp(s - m'),  alpha = exp(m - m')
//     l   = l · alpha + p
//     acc = acc · alpha + p · V[b, h/g, j, :]  (a vector of v_head_dim)
//   O[b, h, i, :] = acc / l
//
// The running maximum, sum and accumulator are loop-carried values, so no
// score is ever stored: on the GPU (a thread per row, see
// loom-tile-parallel-loops-for-gpu) they live in registers, and the memory
// attention needs no longer grows with the square of the sequence. Where a
// row of Q and the accumulator would not fit in a thread's registers
// together (head_dim + v_head_dim > kRowFloats, e.g. 128 + 128), the value
// columns are split into chunks, a row per (row, chunk), each computing
// the row's scores again: the forall is over (batch, head, chunk, query),
// the query innermost so that neighbouring threads read the same key. Causal
// attention and a sliding window are loop bounds, not masks: the keys a
// query cannot see are never read. The sums run in f32 whatever the
// operands' type.
//
// One query row (decode) keeps the other lowerings: a thread per row would
// leave the GPU with one thread per head.
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

namespace {

/// The floats of a row of Q and of the accumulator one row (a GPU thread)
/// holds: 160 keeps a head of 128 under the 255 registers of a thread
/// (ptxas: 168 registers for 64 + 64, spills for 128 + 128).
constexpr int64_t kRowFloats = 160;

/// The value columns one row computes: all of them where they fit next to
/// the query row, else the largest divisor of `valueDim` that does (0 where
/// none does).
int64_t valueChunk(int64_t headDim, int64_t valueDim) {
  for (int64_t chunk = valueDim; chunk >= 1; --chunk)
    if (valueDim % chunk == 0 && headDim + chunk <= kRowFloats)
      return chunk;
  return 0;
}

struct RowAttentionLowering : OpConversionPattern<AttentionOp> {
  // Preferred over the direct lowering where both are added.
  RowAttentionLowering(MLIRContext *ctx)
      : OpConversionPattern(ctx, /*benefit=*/2) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
    Value mask = adaptor.getMask();
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    auto vType = cast<RankedTensorType>(v.getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    if (qType.getDimSize(2) == 1)
      return rewriter.notifyMatchFailure(op, "one query row (decode)");
    if (qType.isDynamicDim(1) || kType.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "dynamic head counts");
    int64_t headDim = qType.getDimSize(3), valueDim = vType.getDimSize(3);
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return rewriter.notifyMatchFailure(op, "dynamic head dimensions");
    int64_t chunk = valueChunk(headDim, valueDim);
    if (chunk == 0)
      return rewriter.notifyMatchFailure(op, "a query row too wide");
    Type f32 = rewriter.getF32Type();
    for (Type t : {qType.getElementType(), kType.getElementType(),
                   vType.getElementType(), resultType.getElementType()})
      if (cast<FloatType>(t).getWidth() > 32)
        return rewriter.notifyMatchFailure(op, "wider than f32");
    int64_t group = op.getGroupSize();
    bool causal = op.getCausal();
    std::optional<int64_t> window = op.getWindow();
    Value offset = adaptor.getOffset();
    double inf = std::numeric_limits<double>::infinity();
    auto idx = [&](OpBuilder &b, int64_t c) -> Value {
      return arith::ConstantIndexOp::create(b, loc, c);
    };

    SmallVector<OpFoldResult> outSizes = {
        dimOf(rewriter, loc, q, 0), dimOf(rewriter, loc, q, 1),
        dimOf(rewriter, loc, q, 2), rewriter.getIndexAttr(valueDim)};
    SmallVector<OpFoldResult> rows = {outSizes[0], outSizes[1],
                                      rewriter.getIndexAttr(valueDim / chunk),
                                      outSizes[2]};
    Value init =
        emptyTensor(rewriter, loc, outSizes, resultType.getElementType());
    Value keys = getValueOrCreateConstantIndexOp(rewriter, loc,
                                                 dimOf(rewriter, loc, k, 2));
    auto forall = scf::ForallOp::create(rewriter, loc, rows, ValueRange{init},
                                        /*mapping=*/std::nullopt);
    OpBuilder b = OpBuilder::atBlockBegin(forall.getBody());
    SmallVector<Value> ivs = forall.getInductionVars();
    Value batch = ivs[0], head = ivs[1], row = ivs[3];
    Value column =
        arith::MulIOp::create(b, loc, ivs[2], idx(b, chunk)).getResult();
    Value out = forall.getRegionOutArgs()[0];
    Value kvHead =
        group == 1 ? head : arith::DivUIOp::create(b, loc, head, idx(b, group));

    // `size` values of a row of `t` from column `from`, in f32.
    auto readRow = [&](OpBuilder &rb, Value t, ValueRange at, Value from,
                       int64_t size) -> Value {
      auto type = cast<RankedTensorType>(t.getType());
      SmallVector<Value> indices(at);
      indices.push_back(from);
      auto rowType = VectorType::get({size}, type.getElementType());
      Value pad = floatConst(rb, loc, type.getElementType(), 0.0);
      Value r = vector::TransferReadOp::create(rb, loc, rowType, t, indices,
                                               pad, ArrayRef<bool>{true});
      if (type.getElementType() != f32)
        r = arith::ExtFOp::create(rb, loc, VectorType::get({size}, f32), r);
      return r;
    };

    // The keys query `row` sees: [first, last).
    Value queryPos =
        offset ? arith::AddIOp::create(b, loc, offset, row).getResult() : row;
    Value first = idx(b, 0), last = keys;
    if (causal) {
      Value next = arith::AddIOp::create(b, loc, queryPos, idx(b, 1));
      last = arith::MinSIOp::create(b, loc, keys, next);
      if (window)
        first = arith::MaxSIOp::create(
            b, loc, arith::SubIOp::create(b, loc, next, idx(b, *window)),
            idx(b, 0));
    }

    Value qRow = readRow(b, q, {batch, head, row}, idx(b, 0), headDim);
    auto accType = VectorType::get({chunk}, f32);
    Value scale = floatConst(b, loc, f32, op.getScaleOrDefault());
    Value ninf = floatConst(b, loc, f32, -inf);
    Value zero = floatConst(b, loc, f32, 0.0);
    Value zeros = arith::ConstantOp::create(
        b, loc, accType, DenseElementsAttr::get(accType, 0.0f));
    auto fastmath =
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    auto walk = scf::ForOp::create(
        b, loc, first, last, idx(b, 1), ValueRange{ninf, zero, zeros},
        [&](OpBuilder &lb, Location l, Value key, ValueRange carried) {
          Value m = carried[0], sum = carried[1], acc = carried[2];
          Value kRow =
              readRow(lb, k, {batch, kvHead, key}, idx(lb, 0), headDim);
          Value products = arith::MulFOp::create(lb, l, qRow, kRow);
          Value dot = vector::ReductionOp::create(
              lb, l, vector::CombiningKind::ADD, products, fastmath);
          Value bias;
          if (mask) {
            // The mask broadcasts along its dimensions of size 1 and is
            // [q_len, kv_len] where it has rank 2.
            auto mType = cast<RankedTensorType>(mask.getType());
            SmallVector<Value> all = {batch, head, row, key};
            SmallVector<Value> at(all.end() - mType.getRank(), all.end());
            for (auto [i, index] : llvm::enumerate(at))
              if (mType.getDimSize(i) == 1)
                index = idx(lb, 0);
            bias = tensor::ExtractOp::create(lb, l, mask, at);
            if (bias.getType() != f32)
              bias = arith::ExtFOp::create(lb, l, f32, bias);
          }
          // Hidden keys are outside [first, last): nothing to mask here.
          Value s = biasedScore(
              lb, l, dot, scale, bias, ninf, /*causal=*/false, std::nullopt,
              [](OpBuilder &, Location) -> std::pair<Value, Value> {
                return {};
              });
          Value mNew = arith::MaximumFOp::create(lb, l, m, s);
          Value shift = safeMax(lb, l, mNew);
          Value p = math::ExpOp::create(
              lb, l, arith::SubFOp::create(lb, l, s, shift));
          Value alpha = math::ExpOp::create(
              lb, l, arith::SubFOp::create(lb, l, m, shift));
          Value sumNew = arith::AddFOp::create(
              lb, l, arith::MulFOp::create(lb, l, sum, alpha), p);
          Value vRow = readRow(lb, v, {batch, kvHead, key}, column, chunk);
          Value scaled = arith::MulFOp::create(
              lb, l, acc, vector::BroadcastOp::create(lb, l, accType, alpha));
          Value accNew = vector::FMAOp::create(
              lb, l, vector::BroadcastOp::create(lb, l, accType, p), vRow,
              scaled);
          scf::YieldOp::create(lb, l, ValueRange{mNew, sumNew, accNew});
        });

    // O[b, h, i, chunk] = acc / l, written into its slice of the result.
    Value outRow = arith::DivFOp::create(
        b, loc, walk.getResult(2),
        vector::BroadcastOp::create(b, loc, accType, walk.getResult(1)));
    Type outElt = resultType.getElementType();
    if (outElt != f32)
      outRow = arith::TruncFOp::create(
          b, loc, VectorType::get({chunk}, outElt), outRow);
    SmallVector<OpFoldResult> offsets = {batch, head, row, column};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(1),
                                       b.getIndexAttr(1),
                                       b.getIndexAttr(chunk)};
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    auto sliceType = RankedTensorType::get({chunk}, outElt);
    Value slice = tensor::ExtractSliceOp::create(b, loc, sliceType, out,
                                                 offsets, sizes, strides);
    Value written =
        vector::TransferWriteOp::create(b, loc, outRow, slice,
                                        ValueRange{idx(b, 0)},
                                        ArrayRef<bool>{true})
            .getResult();
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, loc, written, out, offsets, sizes,
                                          strides);

    Value result = forall.getResult(0);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::loom::populateRowAttentionToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RowAttentionLowering>(patterns.getContext());
}
