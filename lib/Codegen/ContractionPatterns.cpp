//===- ContractionPatterns.cpp - the contraction lowerings as patterns ----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The lowerings of Contractions.h as rewrite patterns on linalg.generic:
// each calls its lowering with the options' sizes and succeeds where the
// lowering does (which changes nothing where it fails). Their benefits give
// the order in which loom-parallelize-contractions tries the lowerings.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Contractions.h"

using namespace mlir;

namespace {

/// lowerAmxContraction, tried first where the target has AMX-BF16.
struct AmxContractionPattern : OpRewritePattern<linalg::GenericOp> {
  AmxContractionPattern(MLIRContext *ctx,
                        const loom::ContractionLoweringOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/4), options(options) {}

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!options.amxBf16)
      return failure();
    return loom::lowerAmxContraction(rewriter, op, options.vectorWidth,
                                     options.blockRows, options.blockCols,
                                     options.cacheBytes, options.bf16Dot);
  }

  loom::ContractionLoweringOptions options;
};

/// lowerPackedContraction (AMX's pattern, tried first, takes bf16 only).
struct PackedContractionPattern : OpRewritePattern<linalg::GenericOp> {
  PackedContractionPattern(MLIRContext *ctx,
                           const loom::ContractionLoweringOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/4), options(options) {}

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!options.packWeights)
      return failure();
    return loom::lowerPackedContraction(rewriter, op, options.vectorWidth,
                                        options.bf16Dot);
  }

  loom::ContractionLoweringOptions options;
};

/// lowerDotContraction, tried next.
struct DotContractionPattern : OpRewritePattern<linalg::GenericOp> {
  DotContractionPattern(MLIRContext *ctx,
                        const loom::ContractionLoweringOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/3), options(options) {}

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    return loom::lowerDotContraction(rewriter, op, options.vectorWidth,
                                     options.blockRows, options.blockCols,
                                     options.cacheBytes, options.bf16Dot);
  }

  loom::ContractionLoweringOptions options;
};

/// lowerBlockQuantizedContraction, where the dot product does not apply.
struct BlockQuantizedContractionPattern : OpRewritePattern<linalg::GenericOp> {
  BlockQuantizedContractionPattern(
      MLIRContext *ctx, const loom::ContractionLoweringOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    return loom::lowerBlockQuantizedContraction(
        rewriter, op, options.blockRows, options.blockCols, options.cacheBytes,
        options.int8);
  }

  loom::ContractionLoweringOptions options;
};

/// lowerRowUpdateContraction, tried last.
struct RowUpdateContractionPattern : OpRewritePattern<linalg::GenericOp> {
  RowUpdateContractionPattern(MLIRContext *ctx,
                              const loom::ContractionLoweringOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/1), options(options) {}

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    return loom::lowerRowUpdateContraction(rewriter, op, options.vectorWidth);
  }

  loom::ContractionLoweringOptions options;
};

} // namespace

void mlir::loom::populateContractionLoweringPatterns(
    RewritePatternSet &patterns, const ContractionLoweringOptions &options) {
  // As loom-parallelize-contractions: no vector registers, no lowering.
  if (options.vectorWidth <= 0)
    return;
  patterns.add<AmxContractionPattern, PackedContractionPattern,
               DotContractionPattern, BlockQuantizedContractionPattern,
               RowUpdateContractionPattern>(patterns.getContext(), options);
}
