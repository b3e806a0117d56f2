//===- LoomFolds.cpp - loom folders and canonicalizations -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Only the obvious rewrites live here: identities that fold away and spellings
// that have one canonical form (a transpose feeding a matmul becomes the
// matmul's own transpose flag). Graph-level recognition, such as attention
// fusion, is a pass of its own.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::loom;

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

/// The softmax of a single element is one.
OpFoldResult SoftmaxOp::fold(FoldAdaptor) {
  auto type = getInput().getType();
  if (type.getDimSize(getNormalizedAxis()) != 1 || !type.hasStaticShape())
    return {};
  return DenseElementsAttr::get(type,
                                FloatAttr::get(type.getElementType(), 1.0));
}

//===----------------------------------------------------------------------===//
// KVCacheReadOp
//===----------------------------------------------------------------------===//

/// Reading the whole capacity of a cache reads the cache itself.
OpFoldResult KVCacheReadOp::fold(FoldAdaptor adaptor) {
  auto length = dyn_cast_if_present<IntegerAttr>(adaptor.getLength());
  if (!length || getResult().getType() != getCache().getType())
    return {};
  int64_t capacity = getCache().getType().getDimSize(2);
  if (ShapedType::isDynamic(capacity) || length.getInt() != capacity)
    return {};
  return getCache();
}

//===----------------------------------------------------------------------===//
// TransposeOp
//===----------------------------------------------------------------------===//

static bool isIdentityPermutation(ArrayRef<int64_t> perm) {
  for (auto [i, p] : llvm::enumerate(perm))
    if (int64_t(i) != p)
      return false;
  return true;
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  if (isIdentityPermutation(getPermutation()) &&
      getInput().getType() == getResult().getType())
    return getInput();
  return {};
}

namespace {
/// transpose(transpose(x, inner), outer) -> transpose(x, inner ∘ outer).
struct ComposeTransposes : OpRewritePattern<TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TransposeOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<TransposeOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not a transpose");
    SmallVector<int64_t> perm;
    for (int64_t p : op.getPermutation())
      perm.push_back(inner.getPermutation()[p]);
    rewriter.replaceOpWithNewOp<TransposeOp>(op, op.getType(), inner.getInput(),
                                             perm);
    return success();
  }
};
} // namespace

void TransposeOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                              MLIRContext *context) {
  patterns.add<ComposeTransposes>(context);
}

//===----------------------------------------------------------------------===//
// RepeatInterleaveOp
//===----------------------------------------------------------------------===//

OpFoldResult RepeatInterleaveOp::fold(FoldAdaptor) {
  if (getRepeats() == 1 && getInput().getType() == getResult().getType())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

namespace {
/// matmul(transpose(a, swap last two), b) -> matmul(a, b) with the operand's
/// transpose flag toggled: one spelling for "read this operand transposed".
struct FoldTransposeIntoMatmul : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  static TransposeOp getSwapOfLastTwo(Value v) {
    auto t = v.getDefiningOp<TransposeOp>();
    if (!t)
      return {};
    ArrayRef<int64_t> perm = t.getPermutation();
    int64_t rank = perm.size();
    if (rank < 2 || perm[rank - 1] != rank - 2 || perm[rank - 2] != rank - 1)
      return {};
    for (int64_t i = 0; i < rank - 2; ++i)
      if (perm[i] != i)
        return {};
    return t;
  }

  LogicalResult matchAndRewrite(MatmulOp op,
                                PatternRewriter &rewriter) const override {
    TransposeOp lhsT = getSwapOfLastTwo(op.getLhs());
    TransposeOp rhsT = getSwapOfLastTwo(op.getRhs());
    if (!lhsT && !rhsT)
      return rewriter.notifyMatchFailure(op, "no operand is a 2-d transpose");
    Value lhs = lhsT ? lhsT.getInput() : op.getLhs();
    Value rhs = rhsT ? rhsT.getInput() : op.getRhs();
    bool transposeLhs = op.getTransposeLhs() != bool(lhsT);
    bool transposeRhs = op.getTransposeRhs() != bool(rhsT);
    rewriter.replaceOpWithNewOp<MatmulOp>(op, op.getType(), lhs, rhs,
                                          transposeLhs, transposeRhs);
    return success();
  }
};
} // namespace

void MatmulOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                           MLIRContext *context) {
  patterns.add<FoldTransposeIntoMatmul>(context);
}
