//===- QuantizedContraction.cpp - q8_0 and q4_0 linear layers -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The contraction convert-loom-to-linalg makes for a linear layer with q8_0
// or q4_0 weights becomes loops over blocks of `rows x cols` outputs, in one
// of two forms. With f32 activations, per block of 32 weights each column's
// bytes are decoded once into two vectors of 16 f32 and used for every row.
// With 8-bit activations (int8-activations), each pair of blocks meets in
// one 32-byte integer dot product (vpdpbusd where the target has it) scaled
// into an f32 accumulator; one token (decode) computes its side once, then
// reads the weight rows one after another. Weights interleaved by groups of
// 8 rows (q4_0x8, q8_0x8) go to InterleavedContraction.cpp.
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Contractions.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::loom::detail;

namespace {

/// The contraction convert-loom-to-linalg makes for a linear layer with
/// q8_0 or q4_0 weights (QuantizedPatterns.cpp), in either of its two forms
/// (matchBlocks, matchInt8Blocks); output y [.., s, n].
struct BlockShape {
  bool q4;
  unsigned rank; ///< y's rank
  int64_t blocks;
};

/// What both forms share, with the weight's values at operand `w` and the
/// low and high bytes of its scales after them: values [n, blocks, 32 | 16]
/// i8 (static, unit stride), scale bytes [n, blocks] i8 indexed (n, block),
/// an f32 output, an x operand whose layout and the loop count say q8_0 or
/// q4_0, and a body that decodes the f16 scale from the two bytes.
std::optional<BlockShape> matchWeightBlocks(linalg::GenericOp op, MemRefType x,
                                            unsigned w) {
  auto type = [&](unsigned i) { return memrefOperand(op, i); };
  MemRefType q = type(w), lo = type(w + 1), hi = type(w + 2), y = type(w + 3);
  if (!x || !q || !lo || !hi || !y || !y.getElementType().isF32() ||
      !q.getElementType().isInteger(8) || !lo.getElementType().isInteger(8) ||
      !hi.getElementType().isInteger(8) || q.getRank() != 3 ||
      lo.getRank() != 2 || !q.isLastDimUnitStride() || !q.hasStaticShape())
    return std::nullopt;
  BlockShape shape;
  shape.rank = y.getRank();
  shape.blocks = q.getDimSize(1);
  int64_t values = q.getDimSize(2);
  if (values == 32 && x.getRank() == shape.rank + 1 &&
      x.getShape().back() == 32 && op.getNumLoops() == shape.rank + 2)
    shape.q4 = false;
  else if (values == 16 && x.getRank() == shape.rank + 2 &&
           x.getShape().back() == 16 && op.getNumLoops() == shape.rank + 3)
    shape.q4 = true;
  else
    return std::nullopt;
  // The maps QuantizedPatterns.cpp writes: loops (.., s, n, blk, ...).
  AffineMap scaleMap = op.getIndexingMapsArray()[w + 1];
  unsigned n = shape.rank - 1, blk = shape.rank;
  if (scaleMap.getNumResults() != 2 || dimOf(scaleMap.getResult(0)) != n ||
      dimOf(scaleMap.getResult(1)) != blk)
    return std::nullopt;
  if (!bodyHas<arith::BitcastOp>(op))
    return std::nullopt;
  return shape;
}

/// Reads the f16 scale of weight block (n, blk) as f32. QuantizedPatterns.cpp
/// passes its low and high bytes as two subviews of the raw blocks, one
/// byte apart: then they are read as one 2-byte vector (one load and a
/// conversion); otherwise as two bytes put together.
class ScaleReader {
public:
  ScaleReader(OpBuilder &b, Location loc, Value lo, Value hi) : lo(lo), hi(hi) {
    auto sl = lo.getDefiningOp<memref::SubViewOp>();
    auto sh = hi.getDefiningOp<memref::SubViewOp>();
    if (!sl || !sh || sl.getSource() != sh.getSource())
      return;
    auto source = cast<MemRefType>(sl.getSource().getType());
    ArrayRef<int64_t> offLo = sl.getStaticOffsets(),
                      offHi = sh.getStaticOffsets();
    ArrayRef<int64_t> sizes = sl.getStaticSizes();
    auto unit = [](ArrayRef<int64_t> v) {
      return llvm::all_of(v, [](int64_t x) { return x == 1; });
    };
    if (source.getRank() != 3 || !source.isLastDimUnitStride() ||
        sizes != sh.getStaticSizes() || sizes.size() != 3 || sizes[2] != 1 ||
        ShapedType::isDynamic(sizes[0]) || ShapedType::isDynamic(sizes[1]) ||
        !unit(sl.getStaticStrides()) || !unit(sh.getStaticStrides()) ||
        llvm::any_of(offLo, ShapedType::isDynamic) ||
        llvm::any_of(offHi, ShapedType::isDynamic) || offLo[0] != offHi[0] ||
        offLo[1] != offHi[1] || offHi[2] != offLo[2] + 1)
      return;
    // At the builder's point: before the contraction, which the source
    // dominates.
    pair = memref::SubViewOp::create(b, loc, sl.getSource(), offLo,
                                     ArrayRef<int64_t>{sizes[0], sizes[1], 2},
                                     ArrayRef<int64_t>{1, 1, 1});
  }

  Value read(OpBuilder &b, Location l, Value n, Value blk) const {
    if (!pair)
      return loom::DequantizeOp::buildScale(
          b, l, memref::LoadOp::create(b, l, lo, ValueRange{n, blk}),
          memref::LoadOp::create(b, l, hi, ValueRange{n, blk}));
    Value c0 = arith::ConstantIndexOp::create(b, l, 0);
    Value bytes =
        vector::LoadOp::create(b, l, VectorType::get({2}, b.getI8Type()), pair,
                               ValueRange{n, blk, c0});
    Value half = vector::ExtractOp::create(
        b, l,
        vector::BitCastOp::create(b, l, VectorType::get({1}, b.getF16Type()),
                                  bytes),
        ArrayRef<int64_t>{0});
    return arith::ExtFOp::create(b, l, b.getF32Type(), half);
  }

private:
  Value lo, hi, pair;
};

/// The form with f32 activations: inputs x [.., s, blocks, 32] (q4_0: [..,
/// s, blocks, 2, 16]) f32, then the weight's values and scale bytes.
std::optional<BlockShape> matchBlocks(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 4 ||
      op.getNumDpsInits() != 1)
    return std::nullopt;
  auto x = dyn_cast<MemRefType>(op->getOperand(0).getType());
  if (!x || !x.getElementType().isF32() || !x.isLastDimUnitStride())
    return std::nullopt;
  return matchWeightBlocks(op, x, 1);
}

/// y[rows x cols block] += the dot products of x rows and decoded weight
/// rows, one vector<16xf32> accumulator per output.
void emitBlocks(OpBuilder &builder, Location loc, linalg::GenericOp op,
                const BlockShape &shape, const ScaleReader &scales,
                ValueRange lead, ArrayRef<Value> rows, ArrayRef<Value> cols) {
  Value x = op->getOperand(0), q = op->getOperand(1), y = op->getOperand(4);
  Type f32 = builder.getF32Type();
  auto v16 = VectorType::get({16}, f32);
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0), c1 = cidx(builder, loc, 1);
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(v16, 0.0f));
  SmallVector<Value> inits(rows.size() * cols.size(), zero);
  auto loop = scf::ForOp::create(
      builder, loc, c0, cidx(builder, loc, shape.blocks), c1, inits,
      [&](OpBuilder &b, Location l, Value blk, ValueRange accs) {
        // Each column's weights: two vectors of 16 decoded values.
        SmallVector<std::pair<Value, Value>> w;
        for (Value n : cols) {
          Value s =
              vector::BroadcastOp::create(b, l, v16, scales.read(b, l, n, blk));
          Value first, second;
          if (!shape.q4) {
            auto v32i8 = VectorType::get({32}, b.getI8Type());
            Value bytes =
                vector::LoadOp::create(b, l, v32i8, q, ValueRange{n, blk, c0});
            Value f = arith::SIToFPOp::create(b, l, VectorType::get({32}, f32),
                                              bytes);
            first =
                vector::ExtractStridedSliceOp::create(b, l, f, {0}, {16}, {1});
            second =
                vector::ExtractStridedSliceOp::create(b, l, f, {16}, {16}, {1});
          } else {
            auto v16i8 = VectorType::get({16}, b.getI8Type());
            auto v16i32 = VectorType::get({16}, b.getI32Type());
            Value bytes =
                vector::LoadOp::create(b, l, v16i8, q, ValueRange{n, blk, c0});
            Value wide = arith::ExtUIOp::create(b, l, v16i32, bytes);
            auto splat = [&](int32_t v) {
              return arith::ConstantOp::create(
                  b, l, DenseElementsAttr::get(v16i32, v));
            };
            Value low = arith::SubIOp::create(
                b, l, arith::AndIOp::create(b, l, wide, splat(15)), splat(8));
            Value high = arith::SubIOp::create(
                b, l, arith::ShRUIOp::create(b, l, wide, splat(4)), splat(8));
            first = arith::SIToFPOp::create(b, l, v16, low);
            second = arith::SIToFPOp::create(b, l, v16, high);
          }
          w.push_back({arith::MulFOp::create(b, l, first, s),
                       arith::MulFOp::create(b, l, second, s)});
        }
        SmallVector<Value> next;
        for (auto [i, r] : llvm::enumerate(rows)) {
          SmallVector<Value> at(lead.begin(), lead.end());
          at.append({r, blk, c0});
          SmallVector<Value> at2 = at;
          if (shape.q4) {
            at.push_back(c0);
            at2.back() = c1;
            at2.push_back(c0);
          } else {
            at2.back() = cidx(b, l, 16);
          }
          Value x0 = vector::LoadOp::create(b, l, v16, x, at);
          Value x1 = vector::LoadOp::create(b, l, v16, x, at2);
          for (auto [j, wj] : llvm::enumerate(w)) {
            Value acc = accs[i * cols.size() + j];
            acc = vector::FMAOp::create(b, l, x0, wj.first, acc);
            next.push_back(vector::FMAOp::create(b, l, x1, wj.second, acc));
          }
        }
        scf::YieldOp::create(b, l, next);
      });
  addBlockSums(builder, loc, y, lead, rows, cols, loop.getResults());
}

/// The form of the contraction with 8-bit activations (QuantizedPatterns.cpp
/// with int8-activations): inputs xq [.., s, blocks, 32] i8 (q4_0: [.., s,
/// blocks, 2, 16]), the blocks' max |x| [.., s, blocks] f32 (scale = max /
/// 127), then the weight's values and scale bytes; a body of integer
/// products.
std::optional<BlockShape> matchInt8Blocks(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 5 ||
      op.getNumDpsInits() != 1)
    return std::nullopt;
  auto xq = dyn_cast<MemRefType>(op->getOperand(0).getType());
  auto xd = dyn_cast<MemRefType>(op->getOperand(1).getType());
  auto y = dyn_cast<MemRefType>(op->getOperand(5).getType());
  if (!xq || !xd || !y || !xq.getElementType().isInteger(8) ||
      !xd.getElementType().isF32() || xd.getRank() != y.getRank())
    return std::nullopt;
  std::optional<BlockShape> shape = matchWeightBlocks(op, xq, 2);
  if (!shape)
    return std::nullopt;
  // The bytes of a block are read as whole vectors: contiguous.
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(xq.getStridesAndOffset(strides, offset)))
    return std::nullopt;
  int64_t expected = 1;
  for (unsigned i = 0, dims = shape->q4 ? 2 : 1; i < dims; ++i) {
    unsigned d = xq.getRank() - 1 - i;
    if (strides[d] != expected || xq.isDynamicDim(d))
      return std::nullopt;
    expected *= xq.getDimSize(d);
  }
  if (!bodyHas<arith::MulIOp>(op))
    return std::nullopt;
  return shape;
}

/// The 32 unsigned nibbles of q4_0 block (n, blk) of `q` as bytes, low
/// ones (values 0-15) first.
Value q4Nibbles(OpBuilder &b, Location l, Value q, Value n, Value blk) {
  auto v16i8 = VectorType::get({16}, b.getI8Type());
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  Value bytes = vector::LoadOp::create(b, l, v16i8, q, ValueRange{n, blk, c0});
  Value low = arith::AndIOp::create(b, l, bytes, splatI8(b, l, v16i8, 15));
  Value high = arith::ShRUIOp::create(b, l, bytes, splatI8(b, l, v16i8, 4));
  return vector::ShuffleOp::create(b, l, low, high, concat16());
}

/// What a dot product with the 32 bytes `v` on its signed side starts
/// from so that its unsigned side can be offset by `offset`: -offset *
/// sum(v), spread over the lanes (only the lanes' sum is used). q8_0
/// weights: offset 128 (x.q + 128); q4_0 activations: offset 8 (nibble - 8).
Value offsetStart(OpBuilder &b, Location l, const Int8Isa &dotIsa, Value v,
                  int64_t offset) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  auto v32i8 = VectorType::get({32}, b.getI8Type());
  Value zero = arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(v8i32, b.getI32IntegerAttr(0)));
  Value sums = dotU8S8(b, l, dotIsa, zero,
                       splatI8(b, l, v32i8, static_cast<int8_t>(offset)), v);
  return arith::SubIOp::create(b, l, zero, sums);
}

/// y[rows x cols block] += per block of 32, (x.d * w.d) * the integer dot
/// product of x.q and w.q; one vector<8xf32> accumulator per output, fed by
/// one 32-byte dot product per block. vpdpbusd multiplies unsigned bytes by
/// signed ones: q4_0's nibbles are unsigned (value = nibble - 8, so the dot
/// product starts at -8 * sum(x.q), once per row and block); for q8_0, x.q
/// + 128 is unsigned (the dot product starts at -128 * sum(w.q), once per
/// column and block).
void emitInt8Blocks(OpBuilder &builder, Location loc, linalg::GenericOp op,
                    const BlockShape &shape, const ScaleReader &scales,
                    const Int8Isa &dotIsa, ValueRange lead,
                    ArrayRef<Value> rows, ArrayRef<Value> cols) {
  Value xq = op->getOperand(0), xd = op->getOperand(1), q = op->getOperand(2),
        y = op->getOperand(5);
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type();
  auto v8 = VectorType::get({8}, f32);
  auto v32i8 = VectorType::get({32}, i8);
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  int64_t lastRow = cast<MemRefType>(q.getType()).getDimSize(0) - 1;
  Value c0 = cidx(builder, loc, 0), c1 = cidx(builder, loc, 1);
  Value zero =
      arith::ConstantOp::create(builder, loc, DenseElementsAttr::get(v8, 0.0f));
  SmallVector<Value> inits(rows.size() * cols.size(), zero);
  auto loop = scf::ForOp::create(
      builder, loc, c0, cidx(builder, loc, shape.blocks), c1, inits,
      [&](OpBuilder &b, Location l, Value blk, ValueRange accs) {
        // Each row's block of x: its bytes, its scale, and what the dot
        // products start from.
        SmallVector<Value> xBytes, xScale, xStart;
        for (Value r : rows) {
          SmallVector<Value> at(lead.begin(), lead.end());
          at.append({r, blk});
          xScale.push_back(tokenScale(b, l, xd, at, false));
          at.append(shape.q4 ? 2 : 1, c0);
          Value bytes = tokenBytes(b, l, xq, at, shape.q4);
          // nibble - 8: start at -8 * sum(x.q).
          if (shape.q4)
            xStart.push_back(offsetStart(b, l, dotIsa, bytes, 8));
          xBytes.push_back(bytes);
        }
        // Each column's block of w: its scale, its bytes (q4_0: the 32
        // nibbles as bytes, low ones first), and for q8_0 the start
        // -128 * sum(w.q) and x.q + 128.
        SmallVector<Value> wBytes, wScale, wStart;
        for (Value n : cols) {
          // The same block of the row `cols` rows further on, which this
          // thread reads next: a software prefetch keeps more of the
          // stream in flight than the loop's own loads do.
          Value ahead = arith::MinUIOp::create(
              b, l, arith::AddIOp::create(b, l, n, cidx(b, l, cols.size())),
              cidx(b, l, lastRow));
          memref::PrefetchOp::create(b, l, q, ValueRange{ahead, blk, c0},
                                     /*isWrite=*/false, /*localityHint=*/3,
                                     /*isDataCache=*/true);
          wScale.push_back(scales.read(b, l, n, blk));
          if (shape.q4) {
            wBytes.push_back(q4Nibbles(b, l, q, n, blk));
          } else {
            Value bytes =
                vector::LoadOp::create(b, l, v32i8, q, ValueRange{n, blk, c0});
            wStart.push_back(offsetStart(b, l, dotIsa, bytes, 128));
            wBytes.push_back(bytes);
          }
        }
        if (!shape.q4)
          for (Value &x : xBytes)
            x = arith::XOrIOp::create(b, l, x, splatI8(b, l, v32i8, -128));
        SmallVector<Value> xScaleVec, wScaleVec;
        for (Value d : xScale)
          xScaleVec.push_back(vector::BroadcastOp::create(b, l, v8, d));
        for (Value d : wScale)
          wScaleVec.push_back(vector::BroadcastOp::create(b, l, v8, d));
        SmallVector<Value> next;
        for (size_t i = 0; i < rows.size(); ++i) {
          for (size_t j = 0; j < cols.size(); ++j) {
            Value dot =
                shape.q4
                    ? dotU8S8(b, l, dotIsa, xStart[i], wBytes[j], xBytes[i],
                              /*narrow=*/true)
                    : dotU8S8(b, l, dotIsa, wStart[j], xBytes[i], wBytes[j]);
            // (dot * w.d) * x.d: each scale broadcast once per block.
            Value scaled = arith::MulFOp::create(
                b, l, arith::SIToFPOp::create(b, l, v8, dot), wScaleVec[j]);
            next.push_back(vector::FMAOp::create(b, l, scaled, xScaleVec[i],
                                                 accs[i * cols.size() + j]));
          }
        }
        scf::YieldOp::create(b, l, next);
      });
  addBlockSums(builder, loc, y, lead, rows, cols, loop.getResults());
}

/// One token's side of the int8 dot products (decode), the same for every
/// weight row: per block, x.d = f16(max|x| / 127), the 32 bytes the dot product
/// takes (q8_0: x.q + 128, the unsigned operand; q4_0: x.q, low-nibble
/// values first) and q4_0's start -8 * sum(x.q). Computed once per call,
/// before the parallel loop, into stack buffers allocated at the entry of
/// the function holding `op`.
struct TokenBlocks {
  Value scale; ///< memref<blocks x f32>
  Value bytes; ///< memref<blocks x 32 x i8>
  Value start; ///< q4_0: memref<blocks x 8 x i32>
};

TokenBlocks prepareTokenBlocks(OpBuilder &b, Location l, linalg::GenericOp op,
                               const BlockShape &shape, const Int8Isa &dotIsa) {
  Value xq = op->getOperand(0), xd = op->getOperand(1);
  Type i8 = b.getI8Type(), i32 = b.getI32Type(), f32 = b.getF32Type();
  auto v32i8 = VectorType::get({32}, i8);
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  TokenBlocks t;
  t.scale = entryAlloca(b, l, op, MemRefType::get({shape.blocks}, f32));
  t.bytes = entryAlloca(b, l, op, MemRefType::get({shape.blocks, 32}, i8), 32);
  if (shape.q4)
    t.start =
        entryAlloca(b, l, op, MemRefType::get({shape.blocks, 8}, i32), 32);
  forEachTokenBlock(
      b, l, xd, xq, shape.q4, shape.blocks, t.scale,
      [&](OpBuilder &nb, Location nl, Value blk, Value bytes) {
        if (shape.q4)
          vector::StoreOp::create(nb, nl, offsetStart(nb, nl, dotIsa, bytes, 8),
                                  t.start, ValueRange{blk, c0});
        else
          bytes = arith::XOrIOp::create(nb, nl, bytes,
                                        splatI8(nb, nl, v32i8, -128));
        vector::StoreOp::create(nb, nl, bytes, t.bytes, ValueRange{blk, c0});
      });
  return t;
}

/// y[lead.., 0, cols[j]] += the dot product of the token and weight row
/// cols[j], one row after another: each row's blocks are read in order
/// (one contiguous stream per thread, which the hardware prefetcher
/// follows; rows interleaved block by block decoded at half the speed on
/// Zen 4), into two vector<8xf32> accumulators taking alternate blocks.
void emitInt8Rows(OpBuilder &builder, Location loc, linalg::GenericOp op,
                  const BlockShape &shape, const ScaleReader &scales,
                  const TokenBlocks &token, const Int8Isa &dotIsa,
                  ValueRange lead, ArrayRef<Value> cols) {
  Value q = op->getOperand(2), y = op->getOperand(5);
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type();
  auto v8 = VectorType::get({8}, f32);
  auto v8i32 = VectorType::get({8}, builder.getI32Type());
  auto v32i8 = VectorType::get({32}, i8);
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0), c2 = cidx(builder, loc, 2);
  Value zero =
      arith::ConstantOp::create(builder, loc, DenseElementsAttr::get(v8, 0.0f));
  // acc + (x.d * w.d) * (the integer dot product of block blk of row n).
  auto step = [&](OpBuilder &b, Location l, Value n, Value blk, Value acc) {
    Value d = arith::MulFOp::create(
        b, l, scales.read(b, l, n, blk),
        memref::LoadOp::create(b, l, token.scale, ValueRange{blk}));
    Value xBytes =
        vector::LoadOp::create(b, l, v32i8, token.bytes, ValueRange{blk, c0});
    Value dot;
    if (shape.q4) {
      Value start =
          vector::LoadOp::create(b, l, v8i32, token.start, ValueRange{blk, c0});
      dot = dotU8S8(b, l, dotIsa, start, q4Nibbles(b, l, q, n, blk), xBytes,
                    /*narrow=*/true);
    } else {
      Value w = vector::LoadOp::create(b, l, v32i8, q, ValueRange{n, blk, c0});
      dot = dotU8S8(b, l, dotIsa, offsetStart(b, l, dotIsa, w, 128), xBytes, w);
    }
    return vector::FMAOp::create(b, l, arith::SIToFPOp::create(b, l, v8, dot),
                                 vector::BroadcastOp::create(b, l, v8, d), acc);
  };
  for (Value n : cols) {
    int64_t pairs = shape.blocks / 2;
    auto loop = scf::ForOp::create(
        builder, loc, c0, cidx(builder, loc, pairs), cidx(builder, loc, 1),
        ValueRange{zero, zero},
        [&](OpBuilder &b, Location l, Value p, ValueRange accs) {
          Value blk = arith::MulIOp::create(b, l, p, c2);
          Value next = arith::AddIOp::create(b, l, blk, cidx(b, l, 1));
          scf::YieldOp::create(b, l,
                               ValueRange{step(b, l, n, blk, accs[0]),
                                          step(b, l, n, next, accs[1])});
        });
    Value acc = arith::AddFOp::create(builder, loc, loop.getResult(0),
                                      loop.getResult(1));
    if (shape.blocks % 2)
      acc = step(builder, loc, n, cidx(builder, loc, shape.blocks - 1), acc);
    addBlockSums(builder, loc, y, lead, {c0}, {n}, acc);
  }
}

} // namespace

LogicalResult mlir::loom::lowerBlockQuantizedContraction(
    RewriterBase &rewriter, linalg::GenericOp op, int64_t rows, int64_t cols,
    int64_t cacheBytes, const Int8Isa &target) {
  if (succeeded(lowerInterleavedContraction(rewriter, op, rows, cacheBytes,
                                            target)) ||
      succeeded(lowerDecodedContraction(rewriter, op, rows, cols, cacheBytes,
                                        target)))
    return success();
  std::optional<BlockShape> shape = matchBlocks(op);
  bool int8 = false;
  if (!shape) {
    shape = matchInt8Blocks(op);
    int8 = true;
  }
  if (!shape)
    return failure();
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value y = op.getDpsInitOperand(0)->get();
  auto yType = cast<MemRefType>(y.getType());
  unsigned rank = shape->rank;
  if (yType.getDimSize(rank - 2) == 1)
    rows = 1; // one token: blocks of one row
  auto dim = [&](unsigned d) { return memrefDim(rewriter, loc, y, d); };
  SmallVector<Value> leadSizes = leadingDims(rewriter, loc, y, 2);
  ScaleReader scales(rewriter, loc, op->getOperand(int8 ? 3 : 2),
                     op->getOperand(int8 ? 4 : 3));
  // One token with 8-bit activations (decode): the token's side once,
  // then the weight rows one after another. Its buffers are allocas at the
  // function's entry (the op is not in a loop there; an alloca scope would
  // not survive the lowering of the loops it holds to branches).
  bool oneToken = rows == 1 && int8 &&
                  isa<FunctionOpInterface>(op->getParentOp()) &&
                  llvm::all_of(yType.getShape().drop_back(),
                               [](int64_t d) { return d == 1; });
  if (oneToken) {
    TokenBlocks token = prepareTokenBlocks(rewriter, loc, op, *shape, target);
    emitBlockedLoops(rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), 1,
                     cols, 64, Value(),
                     [&](OpBuilder &b, Location l, ValueRange lead,
                         ArrayRef<Value>, ArrayRef<Value> colIdx) {
                       emitInt8Rows(b, l, op, *shape, scales, token, target,
                                    lead, colIdx);
                     });
    rewriter.eraseOp(op);
    return success();
  }
  emitBlockedLoops(rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), rows,
                   cols, rows * cols * 32,
                   // A token's row: 32 bytes per block of 8-bit values (and its
                   // f32 max), or 32 f32 values.
                   rows > 1 ? chunkRows(rewriter, loc, cacheBytes,
                                        arith::ConstantIndexOp::create(
                                            rewriter, loc, shape->blocks),
                                        int8 ? kInt8BlockBytes : 32 * 4, rows)
                            : Value(),
                   [&](OpBuilder &b, Location l, ValueRange lead,
                       ArrayRef<Value> rowIdx, ArrayRef<Value> colIdx) {
                     if (int8)
                       emitInt8Blocks(b, l, op, *shape, scales, target, lead,
                                      rowIdx, colIdx);
                     else
                       emitBlocks(b, l, op, *shape, scales, lead, rowIdx,
                                  colIdx);
                   });
  rewriter.eraseOp(op);
  return success();
}
