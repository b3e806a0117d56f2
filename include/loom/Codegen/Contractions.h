//===- Contractions.h - the contraction lowerings ---------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The lowerings of contractions on buffers into register-blocked parallel
// loops that loom-parallelize-contractions applies, as functions and as
// rewrite patterns. They live in DotContraction.cpp,
// QuantizedContraction.cpp (with InterleavedContraction.cpp) and
// RowUpdateContraction.cpp, the patterns in ContractionPatterns.cpp, what
// they share in ContractionLoops.h.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_CONTRACTIONS_H
#define LOOM_CODEGEN_CONTRACTIONS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::loom {

/// Rewrites `op`, if it is y[.., s, n] += a[.., s, k] * b[.., n, k] on
/// buffers (f32, k innermost and contiguous in both operands), into an
/// scf.parallel over blocks of `rows x cols` outputs that accumulate in
/// `width`-wide vector registers (see DotContraction.cpp). Fails, changing
/// nothing, for any other op.
/// With `cacheBytes` > 0 the rows are taken in chunks whose rows of a fill
/// at most half of that many bytes (an L2 cache).
/// Operands may be f16/bf16 widened in the body (arith.extf): loaded as
/// 16-bit vectors and widened. With `bf16Dot` (AVX512-BF16), when both are
/// bf16, each step takes pairs of values into x86vector.avx512.dot
/// (vdpbf16ps) instead.
LogicalResult lowerDotContraction(RewriterBase &rewriter, linalg::GenericOp op,
                                  int64_t width, int64_t rows, int64_t cols,
                                  int64_t cacheBytes = 0, bool bf16Dot = false);

/// Rewrites `op`, if it is a linear layer y[1.., s, n] += x[1.., s, k] .
/// w[n, k] with f32 y and f32 or 16-bit x and w (k a multiple of `width`, n
/// of 4 vectors, 2 for 256-bit ones; `width` 16 or 8; not one token), into
/// an f32 outer-product micro-kernel in parallel over panels of features,
/// each task packing its weights transposed and widened
/// (PackedContraction.cpp). With `bf16Dot`, bf16 x and w are left to
/// lowerDotContraction. Fails, changing nothing, for any other op.
LogicalResult lowerPackedContraction(RewriterBase &rewriter,
                                     linalg::GenericOp op, int64_t width,
                                     bool bf16Dot = false);

/// Rewrites `op`, if it is a linear layer y[1.., s, n] += x[1.., s, k] .
/// w[n, k] with bf16 x and w (k and n static multiples of 32, more than one
/// token), into AMX tile multiplies (tdpbf16ps) over blocks of 32 tokens x
/// 32 features, x repacked per call into the tiles' pair order; the tokens
/// past the last whole block go to lowerDotContraction with the other
/// arguments (AmxContraction.cpp). The target must have AMX-BF16. Fails,
/// changing nothing, for any other op.
LogicalResult lowerAmxContraction(RewriterBase &rewriter, linalg::GenericOp op,
                                  int64_t width, int64_t rows, int64_t cols,
                                  int64_t cacheBytes = 0, bool bf16Dot = false);

/// The x86 integer instructions the 8-bit lowerings may call directly.
struct Int8Isa {
  bool vnni = false;       ///< vpdpbusd on 256-bit vectors (hasVNNI)
  bool avx2 = false;       ///< vpmaddubsw and vpmaddwd on 256-bit vectors
  bool avx512bw = false;   ///< and on 512-bit ones
  bool avx512vnni = false; ///< vpdpbusd / vpdpwssd on 512-bit vectors
  bool amxInt8 = false;    ///< AMX-INT8 tiles (tdpbsud)
};

/// Rewrites the contraction convert-loom-to-linalg makes for a linear layer
/// with q8_0 or q4_0 weights into an scf.parallel over blocks of `rows x
/// cols` outputs. With f32 activations, per block of 32 weights each
/// column's bytes are decoded once into two vectors of 16 f32 and used for
/// every row. With 8-bit activations (int8-activations), each pair of
/// blocks meets in one 32-byte integer dot product (vpdpbusd with `vnni`)
/// scaled into an f32 accumulator. Fails, changing nothing, for any other
/// op.
/// `isa`: the integer instructions the target offers.
LogicalResult lowerBlockQuantizedContraction(RewriterBase &rewriter,
                                             linalg::GenericOp op, int64_t rows,
                                             int64_t cols,
                                             int64_t cacheBytes = 0,
                                             const Int8Isa &isa = {});

/// Rewrites `op`, if it is y[.., e] += sum_r a[..] * b[.., e] on buffers
/// (f32; e the output's innermost dimension, contiguous in b, absent from
/// a, static and a multiple of `width`, at most 8 vectors), into an
/// scf.parallel over the output rows whose e values accumulate in vector
/// registers across the reduction. Each element is summed in the op's own
/// order and rounding (fused multiply-adds only where the op allows
/// `contract`). Fails, changing nothing, for any other op.
LogicalResult lowerRowUpdateContraction(RewriterBase &rewriter,
                                        linalg::GenericOp op, int64_t width);

/// What the contraction patterns pass to the lowerings above: the values
/// loom-parallelize-contractions reads from its options and the target.
struct ContractionLoweringOptions {
  /// f32 lanes of the vector accumulators (`width`); none of the patterns
  /// is added where this is not positive.
  int64_t vectorWidth = 16;
  /// Rows of a (tokens) and of b (output features) per register block.
  int64_t blockRows = 4;
  int64_t blockCols = 4;
  /// The cache (L2) a chunk of tokens should fit in; 0: one chunk.
  int64_t cacheBytes = 0;
  /// The integer instructions of the 8-bit lowerings.
  Int8Isa int8;
  /// bf16 operand pairs to vdpbf16ps (AVX512-BF16).
  bool bf16Dot = false;
  /// bf16 linear layers on AMX tiles (AMX-BF16).
  bool amxBf16 = false;
  /// Linear layers on packed f32 weight panels (lowerPackedContraction).
  bool packWeights = true;
};

/// Adds the lowerings above as patterns on linalg.generic, each succeeding
/// exactly where its function does, in the order
/// loom-parallelize-contractions tries them (by benefit): the
/// register-blocked dot product, then the block-quantized contraction, then
/// row updates.
void populateContractionLoweringPatterns(
    RewritePatternSet &patterns, const ContractionLoweringOptions &options);

} // namespace mlir::loom

#endif // LOOM_CODEGEN_CONTRACTIONS_H
