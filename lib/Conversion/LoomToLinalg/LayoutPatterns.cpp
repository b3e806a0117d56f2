//===- LayoutPatterns.cpp - KV cache, transpose, repeat_interleave --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
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

/// The update lands in cache[:, :, position : position + len, :].
struct KVCacheWriteLowering : OpConversionPattern<KVCacheWriteOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(KVCacheWriteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value update = adaptor.getUpdate();
    OpFoldResult zero = rewriter.getIndexAttr(0),
                 one = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> offsets = {zero, zero, adaptor.getPosition(),
                                         zero};
    SmallVector<OpFoldResult> strides(4, one);
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, update, adaptor.getCache(), offsets, sizesOf(rewriter, loc, update),
        strides);
    return success();
  }
};

/// cache[:, :, 0 : length, :]
struct KVCacheReadLowering : OpConversionPattern<KVCacheReadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(KVCacheReadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value cache = adaptor.getCache();
    OpFoldResult zero = rewriter.getIndexAttr(0),
                 one = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, cache);
    sizes[2] = adaptor.getLength();
    Value slice = tensor::ExtractSliceOp::create(
        rewriter, loc, cache, SmallVector<OpFoldResult>(4, zero), sizes,
        SmallVector<OpFoldResult>(4, one));
    if (slice.getType() != op.getType())
      slice = tensor::CastOp::create(rewriter, loc, op.getType(), slice);
    rewriter.replaceOp(op, slice);
    return success();
  }
};

/// The reassociation that collapses `shape` onto its dimensions not known
/// to be 1, each unit dimension grouped with the next such dimension (the
/// last one's group for trailing ones); empty where every dimension is 1.
SmallVector<ReassociationIndices> unitDimsGrouped(ArrayRef<int64_t> shape) {
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices pending;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    pending.push_back(d);
    if (shape[d] != 1) {
      groups.push_back(pending);
      pending.clear();
    }
  }
  if (!groups.empty())
    llvm::append_range(groups.back(), pending);
  return groups;
}

struct TransposeLowering : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    SmallVector<OpFoldResult> in = sizesOf(rewriter, loc, input), sizes;
    for (int64_t p : op.getPermutation())
      sizes.push_back(in[p]);
    // Where only dimensions of size 1 move (decode's [1, 1, heads, dim] to
    // [1, heads, 1, dim]), the elements keep their order: a reshape, a view
    // after bufferization, not a copy.
    auto inType = cast<RankedTensorType>(input.getType());
    SmallVector<int64_t> moved;
    for (int64_t p : op.getPermutation())
      if (inType.getDimSize(p) != 1)
        moved.push_back(p);
    auto outType = RankedTensorType::get(
        llvm::map_to_vector(op.getPermutation(),
                            [&](int64_t p) { return inType.getDimSize(p); }),
        inType.getElementType());
    if (!moved.empty() && llvm::is_sorted(moved)) {
      Value collapsed = tensor::CollapseShapeOp::create(
          rewriter, loc, input, unitDimsGrouped(inType.getShape()));
      Value result = tensor::ExpandShapeOp::create(
          rewriter, loc, outType, collapsed,
          unitDimsGrouped(outType.getShape()), sizes);
      if (result.getType() != op.getType())
        result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
      rewriter.replaceOp(op, result);
      return success();
    }
    Value init =
        emptyTensor(rewriter, loc, sizes, op.getType().getElementType());
    auto t = linalg::TransposeOp::create(rewriter, loc, input, init,
                                         op.getPermutation());
    Value result = t.getResult()[0];
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// result[.., i, ..] = input[.., i / repeats, ..] along `axis`.
struct RepeatInterleaveLowering : OpConversionPattern<RepeatInterleaveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RepeatInterleaveOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    int64_t axis = op.getAxis(), repeats = op.getRepeats();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, input);
    if (auto v = dyn_cast<Value>(sizes[axis]))
      sizes[axis] = arith::MulIOp::create(
                        rewriter, loc, v,
                        arith::ConstantIndexOp::create(rewriter, loc, repeats))
                        .getResult();
    else
      sizes[axis] = rewriter.getIndexAttr(
          cast<IntegerAttr>(cast<Attribute>(sizes[axis])).getInt() * repeats);
    Value init = emptyTensor(rewriter, loc, sizes, type.getElementType());
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<AffineExpr> exprs;
    for (unsigned d = 0; d < rank; ++d)
      exprs.push_back(d == axis ? getAffineDimExpr(d, ctx).floorDiv(repeats)
                                : getAffineDimExpr(d, ctx));
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{init.getType()}, ValueRange{input},
        ValueRange{init},
        ArrayRef<AffineMap>{AffineMap::get(rank, 0, exprs, ctx),
                            AffineMap::getMultiDimIdentityMap(rank, ctx)},
        iterators(rank), [](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, args[0]);
        });
    Value result = generic.getResult(0);
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(rewriter, loc, op.getType(), result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::loom::populateLayoutToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<KVCacheWriteLowering, KVCacheReadLowering, TransposeLowering,
               RepeatInterleaveLowering>(patterns.getContext());
}
