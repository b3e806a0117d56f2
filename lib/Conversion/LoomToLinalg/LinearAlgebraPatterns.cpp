//===- LinearAlgebraPatterns.cpp - embedding, linear, matmul --------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Gathers and contractions as linalg.generic. Contractions accumulate from
// zero with reassociation allowed (see lowering::contraction), which lets
// LLVM vectorize them; the logits of stories260K stay within 1.6e-5 of
// llama2.c's in-order sums.
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

/// result[i..., j] = table[ids[i...], j]
struct EmbeddingLowering : OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value table = adaptor.getTable(), ids = adaptor.getIds();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, ids);
    sizes.push_back(dimOf(rewriter, loc, table, 1));
    Value init = emptyTensor(rewriter, loc, sizes, type.getElementType());
    SmallVector<unsigned> idDims;
    for (unsigned d = 0; d + 1 < rank; ++d)
      idDims.push_back(d);
    MLIRContext *ctx = rewriter.getContext();
    // A block-quantized table: decode the gathered rows only; a 16-bit one:
    // widen the gathered rows only (not the whole table, every call).
    auto quantized = op.getTable().getDefiningOp<DequantizeOp>();
    if (auto widened = op.getTable().getDefiningOp<arith::ExtFOp>())
      table = widened.getIn();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{ids}, ValueRange{init},
        ArrayRef<AffineMap>{mapOf(ctx, rank, idDims),
                            AffineMap::getMultiDimIdentityMap(rank, ctx)},
        iterators(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value row =
              arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value col = linalg::IndexOp::create(b, l, rank - 1);
          Value v = quantized ? decodeBlockValue(b, l, quantized.getFormat(),
                                                 quantized.getInput(), row, col)
                              : tensor::ExtractOp::create(b, l, table,
                                                          ValueRange{row, col})
                                    .getResult();
          if (v.getType() != type.getElementType())
            v = arith::ExtFOp::create(b, l, type.getElementType(), v);
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// x rounded to bf16 (to nearest, ties to even), elementwise; once per x.
static Value roundToBF16(OpBuilder &b, Location loc, Value x) {
  for (Operation *user : x.getUsers())
    if (user->hasAttr(kBF16ActivationsAttr))
      return user->getResult(0);
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  Value init = emptyTensor(b, loc, sizesOf(b, loc, x), b.getBF16Type());
  auto rounded = linalg::GenericOp::create(
      b, loc, TypeRange{init.getType()}, ValueRange{x}, ValueRange{init},
      ArrayRef<AffineMap>{id, id}, iterators(rank),
      [](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(
            nb, l,
            arith::TruncFOp::create(nb, l, nb.getBF16Type(), args[0])
                .getResult());
      });
  rounded->setAttr(kBF16ActivationsAttr, b.getUnitAttr());
  return rounded.getResult(0);
}

/// y[i..., n] = sum_k x[i..., k] * w[n, k]  (+ b[n])
struct LinearLowering : OpConversionPattern<LinearOp> {
  LinearLowering(MLIRContext *ctx, bool int8Activations, bool bf16Activations)
      : OpConversionPattern(ctx), int8Activations(int8Activations),
        bf16Activations(bf16Activations) {}
  bool int8Activations, bf16Activations;
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput(), w = adaptor.getWeight();
    auto type = cast<RankedTensorType>(op.getType());
    Type elt = type.getElementType();
    unsigned rank = type.getRank(); // loops: rank parallel + k
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, x);
    sizes.back() = dimOf(rewriter, loc, w, 0);
    SmallVector<unsigned> xDims, outDims;
    for (unsigned d = 0; d + 1 < rank; ++d)
      xDims.push_back(d);
    xDims.push_back(rank);
    for (unsigned d = 0; d < rank; ++d)
      outDims.push_back(d);
    // A block-quantized weight is decoded inside the contraction.
    auto quantized = op.getWeight().getDefiningOp<DequantizeOp>();
    // A bf16 weight widened to f32: with bf16 activations, x is rounded to
    // bf16 once and both sides are widened inside the contraction (bf16
    // products are exact in f32), which AVX512-BF16's dot product computes
    // directly.
    auto widened = op.getWeight().getDefiningOp<arith::ExtFOp>();
    bool bf16 = bf16Activations && widened && elt.isF32() &&
                getElementTypeOrSelf(widened.getIn().getType()).isBF16();
    SmallVector<AffineMap> maps = {mapOf(ctx, rank + 1, xDims),
                                   mapOf(ctx, rank + 1, {rank - 1, rank}),
                                   mapOf(ctx, rank + 1, outDims)};
    Value y;
    if (quantized && elt.isF32()) {
      y = quantizedLinear(rewriter, loc, x, quantized.getInput(),
                          quantized.getFormat(), sizes, /*init=*/{},
                          int8Activations);
    } else if (bf16) {
      y = contraction(rewriter, loc, roundToBF16(rewriter, loc, x),
                      widened.getIn(), maps, sizes, elt, rank);
    } else {
      y = contraction(rewriter, loc, x, w, maps, sizes, elt, rank);
    }
    if (Value bias = adaptor.getBias()) {
      AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
      Value out = emptyTensor(rewriter, loc, sizes, elt);
      y = linalg::GenericOp::create(
              rewriter, loc, TypeRange{y.getType()}, ValueRange{y, bias},
              ValueRange{out},
              ArrayRef<AffineMap>{id, mapOf(ctx, rank, {rank - 1}), id},
              iterators(rank),
              [](OpBuilder &b, Location l, ValueRange args) {
                linalg::YieldOp::create(
                    b, l,
                    arith::AddFOp::create(b, l, args[0], args[1]).getResult());
              })
              .getResult(0);
    }
    if (y.getType() != type)
      y = tensor::CastOp::create(rewriter, loc, type, y);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// out[b..., m, n] = sum_k lhs[b..., m, k] * rhs[b..., k, n], either operand
/// read transposed.
struct MatmulLowering : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value lhs = adaptor.getLhs(), rhs = adaptor.getRhs();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    unsigned m = rank - 2, n = rank - 1, k = rank;
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<unsigned> lhsDims, rhsDims, outDims;
    for (unsigned d = 0; d < rank - 2; ++d) {
      lhsDims.push_back(d);
      rhsDims.push_back(d);
    }
    outDims = lhsDims;
    bool tl = op.getTransposeLhs(), tr = op.getTransposeRhs();
    lhsDims.append(tl ? SmallVector<unsigned>{k, m}
                      : SmallVector<unsigned>{m, k});
    rhsDims.append(tr ? SmallVector<unsigned>{n, k}
                      : SmallVector<unsigned>{k, n});
    outDims.append({m, n});
    SmallVector<OpFoldResult> sizes;
    for (unsigned d = 0; d < rank - 2; ++d)
      sizes.push_back(dimOf(rewriter, loc, lhs, d));
    sizes.push_back(dimOf(rewriter, loc, lhs, tl ? rank - 1 : rank - 2));
    sizes.push_back(dimOf(rewriter, loc, rhs, tr ? rank - 2 : rank - 1));
    Value out = contraction(rewriter, loc, lhs, rhs,
                            {mapOf(ctx, rank + 1, lhsDims),
                             mapOf(ctx, rank + 1, rhsDims),
                             mapOf(ctx, rank + 1, outDims)},
                            sizes, type.getElementType(), rank);
    if (out.getType() != type)
      out = tensor::CastOp::create(rewriter, loc, type, out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::loom::populateLinearAlgebraToLinalgPatterns(
    RewritePatternSet &patterns, bool int8Activations, bool bf16Activations) {
  patterns.add<EmbeddingLowering, MatmulLowering>(patterns.getContext());
  patterns.add<LinearLowering>(patterns.getContext(), int8Activations,
                               bf16Activations);
}
