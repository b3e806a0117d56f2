//===- ContractionLoops.h - shared parts of the contractions ----*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Internal to lib/Codegen: what the contraction lowerings of
// Contractions.h share (ContractionLoops.cpp). The lowerings are
// DotContraction.cpp (register-blocked f32/f16/bf16 dot products),
// RowUpdateContraction.cpp (row updates), QuantizedContraction.cpp (q8_0 and
// q4_0 weights), InterleavedContraction.cpp (q4_0x8 and q8_0x8 weights) and
// DecodedContraction.cpp (the K-quants and the other formats decoded from
// their bytes).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_CODEGEN_CONTRACTIONLOOPS_H
#define LOOM_LIB_CODEGEN_CONTRACTIONLOOPS_H

#include "loom/Codegen/Contractions.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>

namespace mlir::loom::detail {

//===----------------------------------------------------------------------===//
// Matching
//===----------------------------------------------------------------------===//

/// The position of `e` if it is a loop dimension, else nothing.
std::optional<unsigned> dimOf(AffineExpr e);

/// Whether `body` is `yield out + a * b` (either order, f32; a and b may
/// each be widened from f16/bf16 first).
bool isMultiplyAdd(linalg::GenericOp op);

/// Operand `i` of `op` as a memref type, or null.
MemRefType memrefOperand(linalg::GenericOp op, unsigned i);

/// A linear layer y[1.., s, n] += x[1.., s, k] . w[n, k]: loops (.., s, n,
/// k), maps (.., s, k), (n, k), (.., s, n), every leading dimension 1, k
/// and n static, the last dimensions unit-stride, a multiply-add body (the
/// element types are the callers' to check).
struct LinearShape {
  unsigned rank; ///< y's rank
  int64_t k, n;
};
std::optional<LinearShape> matchLinear(linalg::GenericOp op);

/// Whether `op`'s body has an op of type `OpTy` (the form's signature:
/// arith.bitcast decodes an f16 scale, arith.muli multiplies 8-bit values).
template <typename OpTy> bool bodyHas(linalg::GenericOp op) {
  bool found = false;
  op.getRegion().walk([&](OpTy) { found = true; });
  return found;
}

//===----------------------------------------------------------------------===//
// Loops
//===----------------------------------------------------------------------===//

/// The sizes of `op`'s loops as index values (constants where static).
SmallVector<Value> sizesOfLoops(RewriterBase &rewriter, linalg::GenericOp op);

/// Dimension `d` of memref `v`: a constant where it is static.
Value memrefDim(OpBuilder &b, Location loc, Value v, unsigned d);

/// The sizes of memref `v`'s dimensions but its last `inner` (a blocked
/// contraction's leading loops over an [.., s, n] output).
SmallVector<Value> leadingDims(OpBuilder &b, Location loc, Value v,
                               unsigned inner);

/// Emits `emitBlock(builder, loc, lead, rows, cols)` for every block of
/// `rows x cols` outputs of an [.., s, n] result: an scf.parallel over the
/// `leadSizes` loops and the row and column blocks; whole blocks get the
/// block's row and column indices, edge blocks one output at a time.
/// `work` is recorded as the work of one step of the block's inner loop.
/// With `chunk` (a number of rows, a multiple of `rows`), the parallel loop
/// covers `chunk` rows at a time, inside a sequential loop over the chunks.
using BlockFn = function_ref<void(OpBuilder &, Location, ValueRange lead,
                                  ArrayRef<Value> rows, ArrayRef<Value> cols)>;
void emitBlockedLoops(RewriterBase &rewriter, Location loc,
                      ArrayRef<Value> leadSizes, Value sSize, Value nSize,
                      int64_t rows, int64_t cols, int64_t work, Value chunk,
                      BlockFn emitBlock);

/// Rows of a [.., s, k] operand whose rows take `bytesPerK` bytes per value
/// of k, per chunk, so that a chunk takes at most half of `cacheBytes`:
/// max(rows, cacheBytes / 2 / (bytesPerK k)), rounded down to whole blocks
/// of `rows`. Null without a cache size.
Value chunkRows(OpBuilder &b, Location loc, int64_t cacheBytes, Value kSize,
                int64_t bytesPerK, int64_t rows);

//===----------------------------------------------------------------------===//
// 8-bit blocks (QuantizedContraction.cpp, InterleavedContraction.cpp)
//===----------------------------------------------------------------------===//

/// Bytes a token's row takes per block of 32 values once quantized to 8
/// bits: the 32 values and the block's f32 max |x| (for chunkRows).
constexpr int64_t kInt8BlockBytes = 32 + 4;

using loom::Int8Isa;

/// The transpose of n rows of n 32-bit lanes (n = 8 or 16, a power of
/// two): rounds of exchanging blocks across the diagonal (n/2 x n/2 down to
/// 1 x 1), n log2(n) shuffles.
SmallVector<Value> transposeRows(OpBuilder &b, Location l,
                                 SmallVector<Value> rows);

/// A view of rows [from, size) of dimension `d` of memref `v`.
Value rowsFrom(OpBuilder &b, Location l, Value v, unsigned d, Value from);

/// A copy of `op` (at the rewriter's insertion point) whose operands
/// `operands` are views of their rows [from, size) of dimension `d`: the
/// rows a tiled lowering leaves to another.
linalg::GenericOp cloneOnRowsFrom(RewriterBase &rewriter, linalg::GenericOp op,
                                  ArrayRef<unsigned> operands, unsigned d,
                                  Value from);

/// The loop dimensions of `map`'s results, or none where a result is not a
/// plain dimension.
SmallVector<unsigned> dimsOf(AffineMap map);

/// Loop dimensions 0 .. n - 1 followed by `then`: the leading (batch and
/// token) dimensions an operand's map starts with.
SmallVector<unsigned> leadingLoops(unsigned n, ArrayRef<unsigned> then = {});

/// `size` rounded down to a multiple of `block`: the rows a blocked
/// lowering takes whole, the rest going to another.
Value wholeBlocks(OpBuilder &b, Location l, Value size, int64_t block);

/// Blocks [0, `blocks`) of a reduction, software-pipelined over two slots
/// of results (the AMX prefills: tiles multiplied, then scaled into vector
/// accumulators): block b + 1's `multiply` is emitted before block b's
/// `scale`, which folds slot b % 2 into the accumulators, so that the one's
/// latency overlaps the other's work. Returns the accumulators after the
/// last block.
SmallVector<Value> emitPipelinedBlocks(
    OpBuilder &b, Location l, int64_t blocks, ValueRange inits,
    function_ref<void(OpBuilder &, Value blk, Value slot)> multiply,
    function_ref<SmallVector<Value>(OpBuilder &, Value blk, Value slot,
                                    ValueRange accs)>
        scale);

/// The iterations of a loop (dimension) from `lb` to `ub` by `step`, where
/// all three are constants and the step is positive; none otherwise.
std::optional<int64_t> staticTripCount(Value lb, Value ub, Value step);

/// vpmaddubsw: i16 lane i = a[2i] * b[2i] + a[2i + 1] * b[2i + 1], `a`
/// unsigned and `b` signed bytes (32 of each: AVX2; 64: AVX512BW),
/// saturated (the callers' sums stay within i16).
Value maddUbSw(OpBuilder &b, Location l, Value a, Value bv);

/// vpmaddwd: i32 lane i = a[2i] * b[2i] + a[2i + 1] * b[2i + 1] of signed
/// i16 lanes (16 of each: AVX2; 32: AVX512BW). Added to an accumulator, it
/// becomes one vpdpwssd where the target has AVX-VNNI or AVX512-VNNI.
Value maddWd(OpBuilder &b, Location l, Value a, Value bv);

/// acc + maddWd(a, b) in one vpdpwssd (AVX-VNNI or AVX512-VNNI with
/// AVX512VL on 256-bit vectors, AVX512-VNNI on 512-bit ones): called
/// directly, as LLVM fuses the pair itself only for some CPUs.
Value dotWd(OpBuilder &b, Location l, Value acc, Value a, Value bv);

/// acc + the dot products of `a` (32 bytes, unsigned) and `b` (32 bytes,
/// signed): lane i sums bytes 4i..4i+3 (lanes 0-3 the first 16 bytes'
/// products, lanes 4-7 the last 16's), whatever the form. With `form.vnni`,
/// AVX512-VNNI / AVX-VNNI's vpdpbusd (the upstream x86vector dialect has only
/// AVX-VNNI-INT8's signed x signed form, which most x86 CPUs lack);
/// otherwise, with `form.avx2`, vpmaddubsw and vpmaddwd by ones (llama.cpp's
/// AVX2 form) where `narrow` (a's bytes below 128, so that no i16 pair
/// saturates: at most 2 x 127 x 128), else the same for each nibble of a
/// (the high one's pairs by 16); without AVX2, widened to i32. With
/// `form.vnni`, a vector<16xi32> `acc` (64 bytes each in `a` and `bv`)
/// takes the 512-bit vpdpbusd.
Value dotU8S8(OpBuilder &b, Location l, const Int8Isa &form, Value acc, Value a,
              Value bv, bool narrow = false);

/// acc + the dot products of signed bytes `x` (in [-127, 127], as 8-bit
/// activations are) and signed bytes `w`, in vpdpbusd's lanes, with AVX2
/// alone: vpmaddubsw of |w| (vpsignb(w, w), read unsigned: at most 128) by
/// x with w's signs (vpsignb(x, w)), pairs at most 2 x 128 x 127, so none
/// saturates; then vpmaddwd by ones. llama.cpp's AVX2 form: one product
/// per byte where dotU8S8 needs two for unsigned bytes of 8 bits. 32 bytes
/// each.
Value dotS8S8Signs(OpBuilder &b, Location l, Value acc, Value x, Value w);

/// y[lead.., rows[i], cols[j]] += the lanes of accumulator i * cols + j
/// (vectors of f32), summed.
void addBlockSums(OpBuilder &builder, Location loc, Value y, ValueRange lead,
                  ArrayRef<Value> rows, ArrayRef<Value> cols, ValueRange accs);

/// The lane sums of 8 vector<8xf32> accumulators as one vector, lane i
/// accumulator i's: a tree of shuffles and adds (21 operations, against 8
/// reductions of 5 and 8 extractions), summing each accumulator in the order
/// LLVM expands a reassociable vector.reduction of 8 lanes (halves, then
/// quarters, then pairs), so the sums equal addBlockSums' bit for bit.
Value sumLanesOf8(OpBuilder &b, Location l, ArrayRef<Value> accs);

/// y[lead.., row0 + i, col0 + j] += sums[j][i] for 8 rows and 8 columns,
/// `sums[j]` a vector<8xf32> over the rows (sumLanesOf8): transposed in
/// registers, so that y is read and written a row of 8 outputs at a time
/// instead of 64 outputs one row apart.
void addTransposedSums(OpBuilder &b, Location l, Value y, ValueRange lead,
                       Value row0, Value col0, ArrayRef<Value> sums);

/// A vector of `type` (i8 elements) with every element `v`.
Value splatI8(OpBuilder &b, Location l, VectorType type, int64_t v);

/// The shuffle mask that puts two vectors of 16 side by side.
SmallVector<int64_t> concat16();

/// A token block's scale x.d from its max |x| at `at` in `xd`, as the op's
/// body computes it (DequantizeOp::buildActivationScale): f16(max / 127),
/// or 1 / (127 / max) for a K-quant's super-blocks (`superBlock`).
Value tokenScale(OpBuilder &b, Location l, Value xd, ValueRange at,
                 bool superBlock);

/// The 32 bytes of a token's block of `xq` whose first byte is at `at`:
/// q4_0's two halves ([.., 2, 16], the half at `at`'s second-to-last
/// index) side by side, low-nibble values first.
Value tokenBytes(OpBuilder &b, Location l, Value xq, SmallVector<Value> at,
                 bool q4);

/// A stack buffer of `type` at the entry of the function holding `op` (not
/// in a loop: an alloca scope would not survive the lowering of the loops it
/// holds to branches), aligned to `align` bytes where given.
Value entryAlloca(OpBuilder &b, Location l, Operation *op, MemRefType type,
                  int64_t align = 0);

/// A loop over the blocks of one token's 8-bit input (decode: every leading
/// index 0): stores each block's scale x.d in `scale`[blk], then calls
/// `body` with the block and its 32 bytes (tokenBytes of `xq`, [.., blocks,
/// 2, 16] for q4 or [.., blocks, 32]).
void forEachTokenBlock(
    OpBuilder &b, Location l, Value xd, Value xq, bool q4, int64_t blocks,
    Value scale, function_ref<void(OpBuilder &, Location, Value, Value)> body);

//===----------------------------------------------------------------------===//
// The lowerings the block-quantized one dispatches to
//===----------------------------------------------------------------------===//

/// Rewrites `op`, if it is the contraction QuantizedPatterns.cpp makes for
/// a weight it decodes from raw blocks (marked loom.block_format: q5_0,
/// q5_1, the K-quants), into register-blocked loops that decode one block
/// of 32 weights at a time (DecodedContraction.cpp). Fails, changing
/// nothing, for any other op.
LogicalResult lowerDecodedContraction(RewriterBase &rewriter,
                                      linalg::GenericOp op, int64_t rows,
                                      int64_t cols, int64_t cacheBytes,
                                      const Int8Isa &isa);

/// Rewrites `op`, if it is the contraction QuantizedPatterns.cpp makes for
/// q4_0x8 / q8_0x8 weights with 8-bit activations, into an scf.parallel over
/// groups of 8 interleaved weight rows (InterleavedContraction.cpp). Fails,
/// changing nothing, for any other op.
LogicalResult lowerInterleavedContraction(RewriterBase &rewriter,
                                          linalg::GenericOp op, int64_t rows,
                                          int64_t cacheBytes,
                                          const Int8Isa &isa);

} // namespace mlir::loom::detail

#endif // LOOM_LIB_CODEGEN_CONTRACTIONLOOPS_H
