//===- Utils.h - helpers shared by the loom-to-linalg patterns --*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_CONVERSION_LOOMTOLINALG_UTILS_H
#define LOOM_LIB_CONVERSION_LOOMTOLINALG_UTILS_H

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"

namespace mlir::loom::lowering {

/// The size of dimension `dim` of `tensor`: a constant where static.
OpFoldResult dimOf(OpBuilder &b, Location loc, Value tensor, int64_t dim);

/// All sizes of `tensor`.
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value tensor);

/// A `tensor.empty` of the given sizes.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elementType);

/// A tensor of the given sizes filled with `value`.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elementType, double value);

/// A float constant of `type`.
Value floatConst(OpBuilder &b, Location loc, Type type, double value);

/// `n` parallel iterators followed by `r` reductions.
SmallVector<utils::IteratorType> iterators(unsigned n, unsigned r = 0);

/// The map from `numLoops` loops to the listed loop dimensions.
AffineMap mapOf(MLIRContext *ctx, unsigned numLoops, ArrayRef<unsigned> dims);

/// A contraction `out = sum lhs * rhs` as a linalg.generic over
/// `parallelLoops` parallel and one reduction loop, accumulated from zero
/// into a new tensor of `sizes`; `maps` index lhs, rhs and out. The multiply
/// and add carry `reassoc` and `contract`: the dot product may be summed in
/// any order and with FMAs, so that it vectorizes with several accumulators.
/// Operands narrower than `elementType` (bf16) are widened to it in the body.
Value contraction(OpBuilder &b, Location loc, Value lhs, Value rhs,
                  ArrayRef<AffineMap> maps, ArrayRef<OpFoldResult> sizes,
                  Type elementType, unsigned parallelLoops);
/// The same contraction accumulated into `init` (its values are added to).
Value contractInto(OpBuilder &b, Location loc, Value lhs, Value rhs,
                   ArrayRef<AffineMap> maps, Value init,
                   unsigned parallelLoops);

/// The maps of Q·Kᵀ over loops (b, h, i, j, d) for grouped-query attention
/// with `group` query heads per key/value head: q(b, h, i, d),
/// k(b, h / group, j, d), out(b, h, i, j).
SmallVector<AffineMap> attentionScoreMaps(MLIRContext *ctx, int64_t group);
/// The maps of P·V over loops (b, h, i, e, j): p(b, h, i, j),
/// v(b, h / group, j, e), out(b, h, i, e).
SmallVector<AffineMap> attentionValueMaps(MLIRContext *ctx, int64_t group);

/// Whether key position `key` is hidden from a query at `queryPos`: it
/// comes after it, or (with a window W) W or more positions before it.
Value isKeyHidden(OpBuilder &b, Location loc, Value key, Value queryPos,
                  std::optional<int64_t> window);

/// The biased score of a (query, key) pair: scale · `score`, plus `mask`
/// where given, and, when `causal`, -inf (`ninf`) where the key is hidden
/// from the query; `positions` builds their {query, key} positions.
Value biasedScore(
    OpBuilder &b, Location loc, Value score, Value scale, Value mask,
    Value ninf, bool causal, std::optional<int64_t> window,
    function_ref<std::pair<Value, Value>(OpBuilder &, Location)> positions);

/// A running row maximum `m` where it is finite, else 0: what the online
/// softmax subtracts before exp, so that a row fully masked so far gives
/// exp(-inf) = 0 and no NaN.
Value safeMax(OpBuilder &b, Location loc, Value m);

/// Reduces `input` into `init` along the loops `maps` leave out of the
/// output, with `max` (maximumf) or a sum (reassociable, so that it
/// vectorizes); `parallel` loops come first.
Value reduceInto(OpBuilder &b, Location loc, Value input, Value init,
                 AffineMap inputMap, AffineMap outputMap, unsigned parallel,
                 bool max);

/// SiLU of a scalar: x · sigmoid(x).
Value siluScalar(OpBuilder &b, Location loc, Value x);
/// GELU of a scalar: x/2 · (1 + erf(x/√2)), or with `tanh` the tanh
/// approximation x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³))).
Value geluScalar(OpBuilder &b, Location loc, Value x, bool tanh);

/// The numerically careful softmax of `input` along `axis`:
/// exp(x - max) / sum(exp(x - max)).
Value buildSoftmax(OpBuilder &b, Location loc, Value input, int64_t axis);

/// Value `k` of the row `rows` of a block-quantized weight `raw`
/// ([rows..., blocks, bytes]), read with tensor.extract.
Value decodeBlockValue(OpBuilder &b, Location loc, BlockFormat format,
                       Value raw, ValueRange rows, Value k);

/// y[i..., n] = sum_k x[i..., k] * w[n, k] for w given as q8_0 or q4_0
/// blocks `raw` ([n, k / 32, bytes]), decoded inside the contraction;
/// `outSizes` are y's sizes. With `init`, y is accumulated into it instead
/// of a new zero tensor. With `int8Activations`, x is quantized to 8-bit
/// blocks of 32 first (scale f16(max|x| / 127) per block) and the blocks meet
/// the weight's in integer dot products; otherwise the weights are decoded
/// to f32 and multiplied with x as it is.
Value quantizedLinear(OpBuilder &b, Location loc, Value x, Value raw,
                      BlockFormat format, ArrayRef<OpFoldResult> outSizes,
                      Value init = {}, bool int8Activations = false);

} // namespace mlir::loom::lowering

#endif // LOOM_LIB_CONVERSION_LOOMTOLINALG_UTILS_H
