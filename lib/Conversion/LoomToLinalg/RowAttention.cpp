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
// One query row (decode) splits its keys instead: a thread per (batch,
// head, value chunk, key chunk) walks its chunk of kDecodeChunks as above
// and leaves its (acc, m, l) in a [batch, heads, kDecodeChunks, value
// chunks, chunk + 2] buffer, and a thread per (batch, head, value chunk)
// combines them (flash decoding):
//
//   M = max_c m_c,  w_c = exp(m_c - M),  O = Σ_c acc_c w_c / Σ_c l_c w_c
//
// Two kernels instead of the seven of the direct lowering's scores, scale,
// max, exp, sum, division and weighted sum.
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

/// The chunks of keys one query row (decode) is split into.
constexpr int64_t kDecodeChunks = 32;

/// The value columns one row computes: all of them where they fit next to
/// the query row, else the largest divisor of `valueDim` that does (0 where
/// none does).
int64_t valueChunk(int64_t headDim, int64_t valueDim) {
  for (int64_t chunk = valueDim; chunk >= 1; --chunk)
    if (valueDim % chunk == 0 && headDim + chunk <= kRowFloats)
      return chunk;
  return 0;
}

/// What both row lowerings build from: the operands, the checks, and the
/// walk of one query row over a range of keys.
class RowWalk {
public:
  RowWalk(AttentionOp op, AttentionOp::Adaptor adaptor)
      : op(op), loc(op.getLoc()), q(adaptor.getQuery()), k(adaptor.getKey()),
        v(adaptor.getValue()), mask(adaptor.getMask()),
        offset(adaptor.getOffset()), f32(Float32Type::get(op.getContext())) {}

  /// Why the row lowerings cannot take the op, or "" where they can.
  StringRef unsupported() {
    auto qType = cast<RankedTensorType>(q.getType());
    auto kType = cast<RankedTensorType>(k.getType());
    auto vType = cast<RankedTensorType>(v.getType());
    if (qType.isDynamicDim(1) || kType.isDynamicDim(1))
      return "dynamic head counts";
    headDim = qType.getDimSize(3);
    valueDim = vType.getDimSize(3);
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return "dynamic head dimensions";
    for (Type t : {qType.getElementType(), kType.getElementType(),
                   vType.getElementType(), op.getType().getElementType()})
      if (cast<FloatType>(t).getWidth() > 32)
        return "wider than f32";
    return "";
  }

  Value index(OpBuilder &b, int64_t c) const {
    return arith::ConstantIndexOp::create(b, loc, c);
  }

  /// The key/value head query head `head` reads.
  Value kvHead(OpBuilder &b, Value head) const {
    int64_t group = op.getGroupSize();
    return group == 1 ? head
                      : arith::DivUIOp::create(b, loc, head, index(b, group))
                            .getResult();
  }

  /// The keys query `row` sees: [first, last).
  std::pair<Value, Value> visibleKeys(OpBuilder &b, Value row) const {
    Value keys = getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, k, 2));
    Value queryPos =
        offset ? arith::AddIOp::create(b, loc, offset, row).getResult() : row;
    Value first = index(b, 0), last = keys;
    if (op.getCausal()) {
      Value next = arith::AddIOp::create(b, loc, queryPos, index(b, 1));
      last = arith::MinSIOp::create(b, loc, keys, next);
      if (std::optional<int64_t> window = op.getWindow())
        first = arith::MaxSIOp::create(
            b, loc, arith::SubIOp::create(b, loc, next, index(b, *window)),
            index(b, 0));
    }
    return {first, last};
  }

  /// `size` values of row `at` of `t` from column `from`, in f32.
  Value readRow(OpBuilder &b, Value t, ValueRange at, Value from,
                int64_t size) const {
    auto type = cast<RankedTensorType>(t.getType());
    SmallVector<Value> indices(at);
    indices.push_back(from);
    auto rowType = VectorType::get({size}, type.getElementType());
    Value pad = floatConst(b, loc, type.getElementType(), 0.0);
    Value r = vector::TransferReadOp::create(b, loc, rowType, t, indices, pad,
                                             ArrayRef<bool>{true});
    if (type.getElementType() != f32)
      r = arith::ExtFOp::create(b, loc, VectorType::get({size}, f32), r);
    return r;
  }

  /// Query row `row` of (batch, head) over keys [first, last) with an
  /// online softmax: its running max, sum and accumulator of the `chunk`
  /// value columns from `column`.
  scf::ForOp walk(OpBuilder &b, Value batch, Value head, Value row, Value first,
                  Value last, Value column, int64_t chunk) const {
    Value kv = kvHead(b, head);
    Value qRow = readRow(b, q, {batch, head, row}, index(b, 0), headDim);
    auto accType = VectorType::get({chunk}, f32);
    Value scale = floatConst(b, loc, f32, op.getScaleOrDefault());
    Value ninf =
        floatConst(b, loc, f32, -std::numeric_limits<double>::infinity());
    Value zero = floatConst(b, loc, f32, 0.0);
    Value zeros = arith::ConstantOp::create(
        b, loc, accType, DenseElementsAttr::get(accType, 0.0f));
    auto fastmath =
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    return scf::ForOp::create(
        b, loc, first, last, index(b, 1), ValueRange{ninf, zero, zeros},
        [&](OpBuilder &lb, Location l, Value key, ValueRange carried) {
          Value m = carried[0], sum = carried[1], acc = carried[2];
          Value kRow = readRow(lb, k, {batch, kv, key}, index(lb, 0), headDim);
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
            for (auto [i, at] : llvm::enumerate(at))
              if (mType.getDimSize(i) == 1)
                at = index(lb, 0);
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
          Value p = math::ExpOp::create(lb, l,
                                        arith::SubFOp::create(lb, l, s, shift));
          Value alpha = math::ExpOp::create(
              lb, l, arith::SubFOp::create(lb, l, m, shift));
          Value sumNew = arith::AddFOp::create(
              lb, l, arith::MulFOp::create(lb, l, sum, alpha), p);
          Value vRow = readRow(lb, v, {batch, kv, key}, column, chunk);
          Value scaled = arith::MulFOp::create(
              lb, l, acc, vector::BroadcastOp::create(lb, l, accType, alpha));
          Value accNew = vector::FMAOp::create(
              lb, l, vector::BroadcastOp::create(lb, l, accType, p), vRow,
              scaled);
          scf::YieldOp::create(lb, l, ValueRange{mNew, sumNew, accNew});
        });
  }

  /// Writes vector `row` into `out` (a forall's shared output) at
  /// `offsets` (its last dimension's offset last): the write in the body
  /// and the parallel_insert_slice in the terminator of `forall`.
  void writeRow(OpBuilder &b, scf::ForallOp forall, Value out, Value row,
                SmallVector<OpFoldResult> offsets) const {
    auto vectorType = cast<VectorType>(row.getType());
    int64_t size = vectorType.getDimSize(0);
    SmallVector<OpFoldResult> sizes(offsets.size(), b.getIndexAttr(1));
    sizes.back() = b.getIndexAttr(size);
    SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
    auto sliceType = RankedTensorType::get({size}, vectorType.getElementType());
    Value slice = tensor::ExtractSliceOp::create(b, loc, sliceType, out,
                                                 offsets, sizes, strides);
    Value written = vector::TransferWriteOp::create(b, loc, row, slice,
                                                    ValueRange{index(b, 0)},
                                                    ArrayRef<bool>{true})
                        .getResult();
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, loc, written, out, offsets, sizes,
                                          strides);
  }

  /// `row` (f32) in the result's element type.
  Value narrow(OpBuilder &b, Value row) const {
    Type outElt = op.getType().getElementType();
    if (outElt == f32)
      return row;
    auto type = cast<VectorType>(row.getType());
    return arith::TruncFOp::create(
        b, loc, VectorType::get(type.getShape(), outElt), row);
  }

  mutable AttentionOp op;
  Location loc;
  Value q, k, v, mask, offset;
  Type f32;
  int64_t headDim = 0, valueDim = 0;
};

/// Several query rows (prefill): a thread per (batch, head, value chunk,
/// query).
struct RowAttentionLowering : OpConversionPattern<AttentionOp> {
  // Preferred over the direct lowering where both are added.
  RowAttentionLowering(MLIRContext *ctx)
      : OpConversionPattern(ctx, /*benefit=*/2) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RowWalk rows(op, adaptor);
    if (cast<RankedTensorType>(rows.q.getType()).getDimSize(2) == 1)
      return rewriter.notifyMatchFailure(op, "one query row (decode)");
    if (StringRef why = rows.unsupported(); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    int64_t chunk = valueChunk(rows.headDim, rows.valueDim);
    if (chunk == 0)
      return rewriter.notifyMatchFailure(op, "a query row too wide");
    Location loc = op.getLoc();
    Value q = rows.q;

    SmallVector<OpFoldResult> outSizes = {
        dimOf(rewriter, loc, q, 0), dimOf(rewriter, loc, q, 1),
        dimOf(rewriter, loc, q, 2), rewriter.getIndexAttr(rows.valueDim)};
    SmallVector<OpFoldResult> loops = {
        outSizes[0], outSizes[1], rewriter.getIndexAttr(rows.valueDim / chunk),
        outSizes[2]};
    Value init =
        emptyTensor(rewriter, loc, outSizes, op.getType().getElementType());
    auto forall = scf::ForallOp::create(rewriter, loc, loops, ValueRange{init},
                                        /*mapping=*/std::nullopt);
    OpBuilder b = OpBuilder::atBlockBegin(forall.getBody());
    SmallVector<Value> ivs = forall.getInductionVars();
    Value batch = ivs[0], head = ivs[1], row = ivs[3];
    Value column =
        arith::MulIOp::create(b, loc, ivs[2], rows.index(b, chunk)).getResult();
    auto [first, last] = rows.visibleKeys(b, row);
    scf::ForOp walk =
        rows.walk(b, batch, head, row, first, last, column, chunk);

    // O[b, h, i, chunk] = acc / l.
    Value outRow = arith::DivFOp::create(
        b, loc, walk.getResult(2),
        vector::BroadcastOp::create(b, loc, walk.getResult(2).getType(),
                                    walk.getResult(1)));
    rows.writeRow(b, forall, forall.getRegionOutArgs()[0],
                  rows.narrow(b, outRow), {batch, head, row, column});

    Value result = forall.getResult(0);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// One query row (decode): the keys split into kDecodeChunks chunks, a
/// thread per (batch, head, value chunk, key chunk), then a thread per
/// (batch, head, value chunk) combining the key chunks.
struct SplitKeysRowAttentionLowering : OpConversionPattern<AttentionOp> {
  // Preferred over the direct and the tiled lowerings.
  SplitKeysRowAttentionLowering(MLIRContext *ctx)
      : OpConversionPattern(ctx, /*benefit=*/4) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RowWalk rows(op, adaptor);
    if (cast<RankedTensorType>(rows.q.getType()).getDimSize(2) != 1)
      return rewriter.notifyMatchFailure(op, "not one query row");
    if (StringRef why = rows.unsupported(); !why.empty())
      return rewriter.notifyMatchFailure(op, why);
    // The value columns a thread computes (heads of 128: 32 of them, each
    // value chunk's threads computing the scores again).
    int64_t valueDim = rows.valueDim;
    int64_t chunk = valueChunk(rows.headDim, valueDim);
    if (chunk == 0)
      return rewriter.notifyMatchFailure(op, "a query row too wide");
    int64_t valueChunks = valueDim / chunk;
    Location loc = op.getLoc();
    Value q = rows.q;
    Type f32 = rows.f32;

    // Each (key chunk, value chunk)'s (acc, m, l):
    // [batch, heads, key chunks, value chunks, chunk + 2].
    OpFoldResult batches = dimOf(rewriter, loc, q, 0);
    OpFoldResult heads = dimOf(rewriter, loc, q, 1);
    Value partInit = emptyTensor(
        rewriter, loc,
        {batches, heads, rewriter.getIndexAttr(kDecodeChunks),
         rewriter.getIndexAttr(valueChunks), rewriter.getIndexAttr(chunk + 2)},
        f32);
    // The key chunk innermost: the threads of a block.
    auto parts = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{batches, heads,
                               rewriter.getIndexAttr(valueChunks),
                               rewriter.getIndexAttr(kDecodeChunks)},
        ValueRange{partInit}, /*mapping=*/std::nullopt);
    {
      OpBuilder b = OpBuilder::atBlockBegin(parts.getBody());
      SmallVector<Value> ivs = parts.getInductionVars();
      Value batch = ivs[0], head = ivs[1], vc = ivs[2], c = ivs[3];
      Value zero = rows.index(b, 0);
      Value column =
          arith::MulIOp::create(b, loc, vc, rows.index(b, chunk)).getResult();
      // Chunk c of the visible keys: [first + c * size, ... + size).
      auto [first, last] = rows.visibleKeys(b, zero);
      Value span = arith::SubIOp::create(b, loc, last, first);
      Value size = arith::CeilDivSIOp::create(b, loc, span,
                                              rows.index(b, kDecodeChunks));
      Value from = arith::AddIOp::create(
          b, loc, first, arith::MulIOp::create(b, loc, c, size));
      Value to = arith::MinSIOp::create(
          b, loc, last, arith::AddIOp::create(b, loc, from, size));
      scf::ForOp walk =
          rows.walk(b, batch, head, zero, from, to, column, chunk);
      // (acc, m, l) as one vector: one write.
      auto partType = VectorType::get({chunk + 2}, f32);
      Value part = arith::ConstantOp::create(
          b, loc, partType, DenseElementsAttr::get(partType, 0.0f));
      part = vector::InsertStridedSliceOp::create(b, loc, walk.getResult(2),
                                                  part, ArrayRef<int64_t>{0},
                                                  ArrayRef<int64_t>{1});
      part = vector::InsertOp::create(b, loc, walk.getResult(0), part,
                                      ArrayRef<int64_t>{chunk});
      part = vector::InsertOp::create(b, loc, walk.getResult(1), part,
                                      ArrayRef<int64_t>{chunk + 1});
      rows.writeRow(b, parts, parts.getRegionOutArgs()[0], part,
                    {batch, head, c, vc, b.getIndexAttr(0)});
    }
    Value partial = parts.getResult(0);

    // O[b, h, 0, :] = Σ_c acc_c w_c / Σ_c l_c w_c, w_c = exp(m_c - M).
    Value init = emptyTensor(rewriter, loc,
                             {batches, heads, rewriter.getIndexAttr(1),
                              rewriter.getIndexAttr(valueDim)},
                             op.getType().getElementType());
    auto combine = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{batches, heads,
                               rewriter.getIndexAttr(valueChunks)},
        ValueRange{init}, /*mapping=*/std::nullopt);
    {
      OpBuilder b = OpBuilder::atBlockBegin(combine.getBody());
      SmallVector<Value> ivs = combine.getInductionVars();
      Value batch = ivs[0], head = ivs[1], vc = ivs[2];
      Value zero = rows.index(b, 0), one = rows.index(b, 1);
      Value chunks = rows.index(b, kDecodeChunks);
      auto scalar = [&](OpBuilder &lb, Value c, int64_t at) -> Value {
        return tensor::ExtractOp::create(
            lb, loc, partial,
            ValueRange{batch, head, c, vc, rows.index(lb, at)});
      };
      Value ninf =
          floatConst(b, loc, f32, -std::numeric_limits<double>::infinity());
      auto max = scf::ForOp::create(
          b, loc, zero, chunks, one, ValueRange{ninf},
          [&](OpBuilder &lb, Location l, Value c, ValueRange carried) {
            Value m = arith::MaximumFOp::create(lb, l, carried[0],
                                                scalar(lb, c, chunk));
            scf::YieldOp::create(lb, l, m);
          });
      Value shift = safeMax(b, loc, max.getResult(0));
      auto accType = VectorType::get({chunk}, f32);
      Value zeros = arith::ConstantOp::create(
          b, loc, accType, DenseElementsAttr::get(accType, 0.0f));
      auto sums = scf::ForOp::create(
          b, loc, zero, chunks, one,
          ValueRange{floatConst(b, loc, f32, 0.0), zeros},
          [&](OpBuilder &lb, Location l, Value c, ValueRange carried) {
            Value w = math::ExpOp::create(
                lb, l,
                arith::SubFOp::create(lb, l, scalar(lb, c, chunk), shift));
            Value den = arith::AddFOp::create(
                lb, l, carried[0],
                arith::MulFOp::create(lb, l, scalar(lb, c, chunk + 1), w));
            Value acc =
                rows.readRow(lb, partial, {batch, head, c, vc}, zero, chunk);
            Value num = vector::FMAOp::create(
                lb, l, vector::BroadcastOp::create(lb, l, accType, w), acc,
                carried[1]);
            scf::YieldOp::create(lb, l, ValueRange{den, num});
          });
      Value outRow = arith::DivFOp::create(
          b, loc, sums.getResult(1),
          vector::BroadcastOp::create(b, loc, accType, sums.getResult(0)));
      Value column =
          arith::MulIOp::create(b, loc, vc, rows.index(b, chunk)).getResult();
      rows.writeRow(b, combine, combine.getRegionOutArgs()[0],
                    rows.narrow(b, outRow), {batch, head, zero, column});
    }

    Value result = combine.getResult(0);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::loom::populateRowAttentionToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RowAttentionLowering, SplitKeysRowAttentionLowering>(
      patterns.getContext());
}
