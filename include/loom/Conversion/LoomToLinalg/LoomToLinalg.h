//===- LoomToLinalg.h - lower loom ops to linalg ----------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CONVERSION_LOOMTOLINALG_LOOMTOLINALG_H
#define LOOM_CONVERSION_LOOMTOLINALG_LOOMTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::loom {

/// Embedding, linear and matmul: gathers and contractions. With
/// `int8Activations`, linear layers with q8_0/q4_0 weights quantize their
/// input to 8-bit blocks and multiply in integers (as llama.cpp does);
/// otherwise they decode the weights to f32 inside the contraction. With
/// `bf16Activations`, linear layers with bf16 weights round their input to
/// bf16 (as llama.cpp does) so that both operands are bf16.
void populateLinearAlgebraToLinalgPatterns(RewritePatternSet &patterns,
                                           bool int8Activations = true,
                                           bool bf16Activations = true);
/// rms_norm, layer_norm, softmax, silu, gelu.
void populateNormalizationToLinalgPatterns(RewritePatternSet &patterns);
/// rope and positional_encoding.
void populatePositionToLinalgPatterns(RewritePatternSet &patterns);
/// attention, written out without tiling.
void populateAttentionToLinalgPatterns(RewritePatternSet &patterns);
/// attention as a loop over blocks of `keyBlock` keys with an online
/// softmax (preferred over the direct lowering when both are added).
/// `keyBlock` 0 takes the largest power of two up to 256 for which a block
/// of K and V fits in half of `l1Bytes`.
void populateTiledAttentionToLinalgPatterns(RewritePatternSet &patterns,
                                            int64_t keyBlock, int64_t l1Bytes);
/// attention as parallel loops over rows, each walking its visible keys
/// with an online softmax in loop-carried values (the GPU's flash
/// attention: a thread per row, no score in memory); one query row
/// (decode) splits its keys into chunks, combined afterwards. Preferred
/// over the other lowerings.
void populateRowAttentionToLinalgPatterns(RewritePatternSet &patterns);
/// kv_cache_write / kv_cache_read, transpose, repeat_interleave.
void populateLayoutToLinalgPatterns(RewritePatternSet &patterns);

/// moe_router, moe_dispatch, moe_expert_ffn, moe_combine. `gathered`: no
/// sequential pass over the pairs and no loop over the experts (each row
/// finds its pair, each row's products read its expert's weights), for
/// the GPU.
void populateMoEToLinalgPatterns(RewritePatternSet &patterns,
                                 bool gathered = false);

/// loom.dequantize: q8_0/q4_0 blocks decoded to a tensor (linear layers and
/// embeddings decode in place instead).
void populateQuantizedToLinalgPatterns(RewritePatternSet &patterns);

/// All of the above.
void populateLoomToLinalgPatterns(RewritePatternSet &patterns,
                                  bool int8Activations = true,
                                  bool bf16Activations = true,
                                  bool moeGathered = false);

} // namespace mlir::loom

#endif // LOOM_CONVERSION_LOOMTOLINALG_LOOMTOLINALG_H
