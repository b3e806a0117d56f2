//===- InterleavedContraction.cpp - q4_0x8 and q8_0x8 linear layers -------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The contraction for a linear layer whose q4_0 or q8_0 weights come with
// the blocks of 8 rows interleaved (q4_0x8, q8_0x8: the runtime makes them
// from the file's blocks once, at load) and whose activations are 8-bit
// blocks: one integer dot product per step serves the 8 rows of a group,
// one i32 lane each, into one vector<8xf32> of the group's outputs. Decode
// (one token) computes the token's side once, then reads each group's blocks
// in order; prefill reads each block of a group once for a block of tokens.
// QuantizedContraction.cpp dispatches here first.
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::loom::detail;

namespace {

/// The contraction QuantizedPatterns.cpp makes for q4_0x8 / q8_0x8 weights
/// with 8-bit activations: inputs xq [.., s, blocks, 2, 4, 4] / [.., s,
/// blocks, 8, 4] i8, amax [.., s, blocks] f32, the group's values [groups,
/// blocks, chunks (4 | 8), 8, 4] (bytes 16.. of each 144 / 272-byte block),
/// the scales' low and high bytes [groups, blocks, 8]; output y [.., s,
/// groups, 8]. All views of one [groups, blocks, bytes] buffer at static
/// offsets.
struct InterleavedShape {
  bool q4;
  unsigned rank; ///< y's rank
  int64_t groups, blocks;
  int64_t offset; ///< of the raw blocks in their buffer
  /// Chunks of 32 value bytes per block.
  int64_t chunks() const { return q4 ? 4 : 8; }
  /// Bytes per group and block.
  int64_t bytes() const { return 16 + 32 * chunks(); }
  /// What a token block's dot products start from, per unit of sum(x.q):
  /// q4_0's nibbles and q8_0x8's bytes are their values + 8 and + 128.
  int64_t bias() const { return q4 ? 8 : 128; }
};

std::optional<InterleavedShape> matchInterleaved(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 5 ||
      op.getNumDpsInits() != 1)
    return std::nullopt;
  auto type = [&](unsigned i) { return memrefOperand(op, i); };
  MemRefType xq = type(0), xd = type(1), q = type(2), lo = type(3),
             hi = type(4), y = type(5);
  if (!xq || !xd || !q || !lo || !hi || !y || y.getRank() < 3 ||
      !y.getElementType().isF32() || y.getShape().back() != 8 ||
      !xq.getElementType().isInteger(8) || !xd.getElementType().isF32() ||
      xd.getRank() != y.getRank() - 1 || !q.getElementType().isInteger(8) ||
      q.getRank() != 5 || !q.hasStaticShape() || lo.getRank() != 3 ||
      hi.getRank() != 3)
    return std::nullopt;
  InterleavedShape shape;
  shape.q4 = q.getDimSize(2) == 4;
  shape.rank = y.getRank();
  shape.groups = q.getDimSize(0);
  shape.blocks = q.getDimSize(1);
  // q4_0x8: x [.., blocks, 2, 4, 4], loops (.., blk, half, c, t); q8_0x8:
  // x [.., blocks, 8, 4], loops (.., blk, c, t).
  SmallVector<int64_t> xTail = {shape.blocks, 8, 4}, xStrides = {32, 4, 1};
  if (shape.q4) {
    xTail = {shape.blocks, 2, 4, 4};
    xStrides = {32, 16, 4, 1};
  }
  if (q.getShape().drop_front(2) != ArrayRef<int64_t>{shape.chunks(), 8, 4} ||
      xq.getRank() != y.getRank() + int64_t(xTail.size()) - 2 ||
      xq.getShape().take_back(xTail.size()) != ArrayRef<int64_t>(xTail) ||
      int64_t(op.getNumLoops()) != y.getRank() + int64_t(xTail.size()) ||
      y.getDimSize(y.getRank() - 2) != shape.groups)
    return std::nullopt;
  // Strides: the weight's bytes as QuantizedPatterns.cpp views them, each
  // token's blocks contiguous, y's 8 outputs contiguous.
  auto layout = [](MemRefType t, SmallVector<int64_t> &strides,
                   int64_t &offset) {
    return succeeded(t.getStridesAndOffset(strides, offset));
  };
  SmallVector<int64_t> qs, ls, hs, xs, ys;
  int64_t qo, lo_, ho, xo, yo;
  int64_t bytes = shape.bytes(), row = shape.blocks * bytes;
  if (!layout(q, qs, qo) || !layout(lo, ls, lo_) || !layout(hi, hs, ho) ||
      !layout(xq, xs, xo) || !layout(y, ys, yo) ||
      qs != SmallVector<int64_t>{row, bytes, 32, 4, 1} ||
      ls != SmallVector<int64_t>{row, bytes, 2} || ls != hs ||
      ShapedType::isDynamic(qo) || lo_ != qo - 16 || ho != qo - 15 ||
      ArrayRef<int64_t>(xs).take_back(xStrides.size()) !=
          ArrayRef<int64_t>(xStrides) ||
      ys.back() != 1)
    return std::nullopt;
  shape.offset = lo_;
  if (!bodyHas<arith::MulIOp>(op))
    return std::nullopt;
  return shape;
}

/// The weight as its raw blocks [groups, blocks, bytes].
Value interleavedBlocks(OpBuilder &b, Location l, linalg::GenericOp op,
                        const InterleavedShape &shape) {
  int64_t bytes = shape.bytes(), row = shape.blocks * bytes;
  auto type = MemRefType::get(
      {shape.groups, shape.blocks, bytes}, b.getI8Type(),
      StridedLayoutAttr::get(b.getContext(), shape.offset, {row, bytes, 1}));
  return memref::ReinterpretCastOp::create(
      b, l, type, op->getOperand(2), shape.offset,
      ArrayRef<int64_t>{shape.groups, shape.blocks, bytes},
      ArrayRef<int64_t>{row, bytes, 1});
}

/// A token's 8-bit values with the last two dimensions of xq merged: [..,
/// s, blocks, 2, 16] for q4_0x8, [.., s, blocks, 32] for q8_0x8.
Value tokenValues(OpBuilder &b, Location l, Value xq) {
  unsigned rank = cast<MemRefType>(xq.getType()).getRank();
  SmallVector<ReassociationIndices> merge;
  for (unsigned d = 0; d + 2 < rank; ++d)
    merge.push_back({int64_t(d)});
  merge.push_back({int64_t(rank - 2), int64_t(rank - 1)});
  return memref::CollapseShapeOp::create(b, l, xq, merge);
}

/// One group's block of the weight: the 8 rows' scales as f32, and its
/// values (+ 8 or + 128, unsigned) as 8 vectors of 32 bytes, each 4 values
/// of each row, lane by lane: q4_0x8's chunk c's low nibbles (values
/// 4c..4c+3) at 2c, its high nibbles (16 + 4c..) at 2c + 1; q8_0x8's chunk
/// c (values 4c..4c+3) at c.
struct GroupBlock {
  Value scales;
  SmallVector<Value, 8> values;
};

GroupBlock readGroupBlock(OpBuilder &b, Location l,
                          const InterleavedShape &shape, Value raw, Value g,
                          Value blk) {
  auto v16i8 = VectorType::get({16}, b.getI8Type());
  auto v32i8 = VectorType::get({32}, b.getI8Type());
  auto cidx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  GroupBlock block;
  Value bytes =
      vector::LoadOp::create(b, l, v16i8, raw, ValueRange{g, blk, cidx(0)});
  Value halfs = vector::BitCastOp::create(
      b, l, VectorType::get({8}, b.getF16Type()), bytes);
  block.scales =
      arith::ExtFOp::create(b, l, VectorType::get({8}, b.getF32Type()), halfs);
  for (int64_t c = 0; c < shape.chunks(); ++c) {
    Value w = vector::LoadOp::create(b, l, v32i8, raw,
                                     ValueRange{g, blk, cidx(16 + 32 * c)});
    if (!shape.q4) {
      block.values.push_back(w);
      continue;
    }
    block.values.push_back(
        arith::AndIOp::create(b, l, w, splatI8(b, l, v32i8, 15)));
    block.values.push_back(
        arith::ShRUIOp::create(b, l, w, splatI8(b, l, v32i8, 4)));
  }
  return block;
}

/// Where the token's 4 bytes for value vector k of a group's block start in
/// its 32 bytes of a block (low-nibble values first for q4_0x8).
int64_t tokenWordOffset(const InterleavedShape &shape, int64_t k) {
  return shape.q4 ? 16 * (k % 2) + 4 * (k / 2) : 4 * k;
}

/// Whether q8_0x8's dot products take the signs form (dotS8S8Signs): AVX2
/// without VNNI, where the stored bytes (values + 128) would need the
/// nibble split of dotU8S8.
bool signsForm(const InterleavedShape &shape, const Int8Isa &dotIsa) {
  return !shape.q4 && !dotIsa.vnni && dotIsa.avx2;
}

/// The i32 dot products of a group's block with a token's (one lane per
/// row), from `start` (-bias * sum(x.q): the weight's bytes are its values
/// + bias): `word(k)` gives the token's 4 bytes for value vector k as an
/// i32. Two chains (alternate vectors), added at the end. q4_0's nibbles
/// are below 128 (dotU8S8's `narrow`). In the signs form, q8_0x8's bytes
/// are made signed again (xor 128) and multiplied by dotS8S8Signs from 0:
/// there is no `start` (null).
Value groupDot(OpBuilder &b, Location l, const InterleavedShape &shape,
               const Int8Isa &dotIsa, const GroupBlock &block, Value start,
               function_ref<Value(int64_t)> word) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  auto v32i8 = VectorType::get({32}, b.getI8Type());
  bool signs = signsForm(shape, dotIsa);
  Value zero = arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(v8i32, b.getI32IntegerAttr(0)));
  assert(bool(start) != signs && "a start exactly where the bytes are biased");
  Value chains[2] = {
      signs ? zero : vector::BroadcastOp::create(b, l, v8i32, start), zero};
  for (int64_t k = 0; k < 8; ++k) {
    Value x = vector::BitCastOp::create(
        b, l, v32i8, vector::BroadcastOp::create(b, l, v8i32, word(k)));
    Value &chain = chains[k % 2];
    if (signs)
      chain = dotS8S8Signs(b, l, chain, x,
                           arith::XOrIOp::create(b, l, block.values[k],
                                                 splatI8(b, l, v32i8, -128)));
    else
      chain = dotU8S8(b, l, dotIsa, chain, block.values[k], x,
                      /*narrow=*/shape.q4);
  }
  return arith::AddIOp::create(b, l, chains[0], chains[1]);
}

/// The i32 at `at` of a token's bytes (tokenValues): 4 of them.
Value tokenWord(OpBuilder &b, Location l, Value values, ValueRange at) {
  Value bytes = vector::LoadOp::create(
      b, l, VectorType::get({4}, b.getI8Type()), values, at);
  return vector::ExtractOp::create(
      b, l,
      vector::BitCastOp::create(b, l, VectorType::get({1}, b.getI32Type()),
                                bytes),
      ArrayRef<int64_t>{0});
}

/// -bias * the sum of a token block's 32 bytes `v`.
Value blockStart(OpBuilder &b, Location l, Value v, int64_t bias) {
  Type i32 = b.getI32Type();
  Value sum = vector::ReductionOp::create(
      b, l, vector::CombiningKind::ADD,
      arith::ExtSIOp::create(b, l, VectorType::get({32}, i32), v));
  return arith::MulIOp::create(
      b, l, sum, arith::ConstantOp::create(b, l, b.getI32IntegerAttr(-bias)));
}

/// y[lead.., s, g, 0..8] += acc.
void addGroupOutputs(OpBuilder &b, Location l, Value y, ValueRange lead,
                     Value s, Value g, Value acc) {
  auto v8 = VectorType::get({8}, b.getF32Type());
  SmallVector<Value> at(lead.begin(), lead.end());
  at.append({s, g, arith::ConstantIndexOp::create(b, l, 0)});
  Value old = vector::LoadOp::create(b, l, v8, y, at);
  vector::StoreOp::create(b, l, arith::AddFOp::create(b, l, old, acc), y, at);
}

/// Decode: one token against groups `groups`, each group's blocks in order
/// (one contiguous stream), its 8 outputs in one vector<8xf32>. The token's
/// scale, bytes (as 8 i32 words) and start per block are computed once per
/// call, before the parallel loop, into allocas at the function's entry.
struct InterleavedToken {
  Value scale; ///< memref<blocks x f32>
  Value words; ///< memref<blocks x 8 x i32> (q4_0x8: low-nibble values first)
  Value start; ///< memref<blocks x i32>; null in the signs form
};

InterleavedToken prepareInterleavedToken(OpBuilder &b, Location l,
                                         linalg::GenericOp op,
                                         const InterleavedShape &shape,
                                         const Int8Isa &dotIsa) {
  Value values = tokenValues(b, l, op->getOperand(0)), xd = op->getOperand(1);
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  auto cidx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(0);
  InterleavedToken t;
  t.scale = entryAlloca(b, l, op, MemRefType::get({shape.blocks}, f32));
  t.words = entryAlloca(b, l, op, MemRefType::get({shape.blocks, 8}, i32), 32);
  if (!signsForm(shape, dotIsa))
    t.start = entryAlloca(b, l, op, MemRefType::get({shape.blocks}, i32));
  forEachTokenBlock(
      b, l, xd, values, shape.q4, shape.blocks, t.scale,
      [&](OpBuilder &nb, Location nl, Value blk, Value bytes) {
        if (t.start)
          memref::StoreOp::create(nb, nl,
                                  blockStart(nb, nl, bytes, shape.bias()),
                                  t.start, ValueRange{blk});
        vector::StoreOp::create(
            nb, nl,
            vector::BitCastOp::create(
                nb, nl, VectorType::get({8}, nb.getI32Type()), bytes),
            t.words, ValueRange{blk, c0});
      });
  return t;
}

void emitInterleavedRows(OpBuilder &builder, Location loc, linalg::GenericOp op,
                         const InterleavedShape &shape, Value raw,
                         const InterleavedToken &token, const Int8Isa &dotIsa,
                         ValueRange lead, ArrayRef<Value> groups) {
  Value y = op->getOperand(5);
  auto v8 = VectorType::get({8}, builder.getF32Type());
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0);
  Value zero =
      arith::ConstantOp::create(builder, loc, DenseElementsAttr::get(v8, 0.0f));
  for (Value g : groups) {
    auto loop = scf::ForOp::create(
        builder, loc, c0, cidx(builder, loc, shape.blocks),
        cidx(builder, loc, 1), ValueRange{zero},
        [&](OpBuilder &b, Location l, Value blk, ValueRange accs) {
          GroupBlock block = readGroupBlock(b, l, shape, raw, g, blk);
          Value start;
          if (token.start)
            start = memref::LoadOp::create(b, l, token.start, ValueRange{blk});
          Value dot =
              groupDot(b, l, shape, dotIsa, block, start, [&](int64_t k) {
                Value w = cidx(b, l, tokenWordOffset(shape, k) / 4);
                return memref::LoadOp::create(b, l, token.words,
                                              ValueRange{blk, w})
                    .getResult();
              });
          // (w.d * x.d) * dot, as the one-row lowering computes it.
          Value d = arith::MulFOp::create(
              b, l, block.scales,
              vector::BroadcastOp::create(
                  b, l, v8,
                  memref::LoadOp::create(b, l, token.scale, ValueRange{blk})));
          scf::YieldOp::create(
              b, l,
              ValueRange{vector::FMAOp::create(
                  b, l, arith::SIToFPOp::create(b, l, v8, dot), d, accs[0])});
        });
    addGroupOutputs(builder, loc, y, lead, c0, g, loop.getResult(0));
  }
}

/// Every token block's scale x.d and start -bias * sum(x.q), computed once
/// per call (not once per group of rows) into buffers shaped like the
/// amax operand, [.., s, blocks]; freed by `release`.
struct TokenBlockTerms {
  Value scale; ///< f32
  Value start; ///< i32; null in the signs form
  void release(OpBuilder &b, Location l) const {
    memref::DeallocOp::create(b, l, scale);
    if (start)
      memref::DeallocOp::create(b, l, start);
  }
};

/// x's per-block scales and, with `starts` (the biased form's), its
/// -bias * sum(x.q) per block.
TokenBlockTerms prepareTokenBlockTerms(OpBuilder &b, Location l,
                                       const InterleavedShape &shape,
                                       bool starts, Value values, Value xd) {
  auto type = cast<MemRefType>(xd.getType());
  unsigned rank = type.getRank();
  SmallVector<Value> dynamic, sizes;
  for (unsigned d = 0; d < rank; ++d) {
    sizes.push_back(memrefDim(b, l, xd, d));
    if (type.isDynamicDim(d))
      dynamic.push_back(sizes.back());
  }
  TokenBlockTerms t;
  t.scale = memref::AllocOp::create(
      b, l, MemRefType::get(type.getShape(), b.getF32Type()), dynamic);
  if (starts)
    t.start = memref::AllocOp::create(
        b, l, MemRefType::get(type.getShape(), b.getI32Type()), dynamic);
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  Value c1 = arith::ConstantIndexOp::create(b, l, 1);
  scf::buildLoopNest(
      b, l, SmallVector<Value>(rank, c0), sizes, SmallVector<Value>(rank, c1),
      [&](OpBuilder &nb, Location nl, ValueRange at) {
        memref::StoreOp::create(nb, nl, tokenScale(nb, nl, xd, at, false),
                                t.scale, at);
        if (!t.start)
          return;
        SmallVector<Value> bytesAt(at.begin(), at.end());
        bytesAt.append(shape.q4 ? 2 : 1, c0);
        memref::StoreOp::create(
            nb, nl,
            blockStart(nb, nl, tokenBytes(nb, nl, values, bytesAt, shape.q4),
                       shape.bias()),
            t.start, at);
      });
  return t;
}

/// Prefill: tokens `rows` against group `groups` (one at a time): each
/// block of the group is read (and split into nibbles) once for all the
/// tokens.
void emitInterleavedBlock(OpBuilder &builder, Location loc,
                          linalg::GenericOp op, const InterleavedShape &shape,
                          Value raw, Value values, const TokenBlockTerms &terms,
                          const Int8Isa &dotIsa, ValueRange lead,
                          ArrayRef<Value> rows, ArrayRef<Value> groups) {
  Value y = op->getOperand(5);
  auto v8 = VectorType::get({8}, builder.getF32Type());
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0), c1 = cidx(builder, loc, 1);
  Value zero =
      arith::ConstantOp::create(builder, loc, DenseElementsAttr::get(v8, 0.0f));
  for (Value g : groups) {
    SmallVector<Value> inits(rows.size(), zero);
    auto loop = scf::ForOp::create(
        builder, loc, c0, cidx(builder, loc, shape.blocks), c1, inits,
        [&](OpBuilder &b, Location l, Value blk, ValueRange accs) {
          GroupBlock block = readGroupBlock(b, l, shape, raw, g, blk);
          SmallVector<Value> next;
          for (auto [i, s] : llvm::enumerate(rows)) {
            SmallVector<Value> at(lead.begin(), lead.end());
            at.append({s, blk});
            Value xScale = memref::LoadOp::create(b, l, terms.scale, at);
            Value start;
            if (terms.start)
              start = memref::LoadOp::create(b, l, terms.start, at);
            Value dot =
                groupDot(b, l, shape, dotIsa, block, start, [&](int64_t k) {
                  SmallVector<Value> w = at;
                  int64_t offset = tokenWordOffset(shape, k);
                  if (shape.q4)
                    w.append(
                        {cidx(b, l, offset / 16), cidx(b, l, offset % 16)});
                  else
                    w.push_back(cidx(b, l, offset));
                  return tokenWord(b, l, values, w);
                });
            // (dot * w.d) * x.d, as the register-blocked lowering computes
            // it.
            Value scaled = arith::MulFOp::create(
                b, l, arith::SIToFPOp::create(b, l, v8, dot), block.scales);
            next.push_back(vector::FMAOp::create(
                b, l, scaled, vector::BroadcastOp::create(b, l, v8, xScale),
                accs[i]));
          }
          scf::YieldOp::create(b, l, next);
        });
    for (auto [i, s] : llvm::enumerate(rows))
      addGroupOutputs(builder, loc, y, lead, s, g, loop.getResult(i));
  }
}

/// Tokens per AMX tile (rows of the left operand).
constexpr int64_t kAmxTokens = 16;

/// Prefill of q8_0x8 on AMX-INT8 tiles, rows [0, `tokens`) (a multiple of
/// 16), for a pair of groups (16 weight rows). The pair's blocks are first
/// repacked, once per call, into the right operand of a 16-feature tile
/// multiply: per block, 8 rows of 64 bytes (row c: group 0's chunk c, then
/// group 1's: bytes 4c..4c+3 of each of the 16 weight rows) made signed
/// again (the stored bytes are values + 128), and the 16 rows' scales in
/// f32. Then per 16 tokens and block one tdpbssd of the tokens' 8-bit
/// values (a 16 x 32-byte tile read in place: xq's rows) into a 16 x 16
/// i32 tile, stored to `scratch` and scaled into f32 accumulators as the
/// vector prefill scales its dot products: dot * w.d, times x.d, added per
/// block in order. The vector path's dot is start + the biased sum, which
/// is the signed sum exactly, so the logits are that path's bit for bit.
///
/// The blocks are software-pipelined over two scratch slots
/// (emitPipelinedBlocks), so that the tile multiply's latency (and its
/// store's, to the vector loads) overlaps the vector work instead of
/// stalling it once per block.
void emitAmxPairs(OpBuilder &b, Location l, linalg::GenericOp op,
                  const InterleavedShape &shape, Value raw, Value values,
                  const TokenBlockTerms &terms, Value tokens, ValueRange lead,
                  Value pair) {
  Type i8 = b.getI8Type(), i32 = b.getI32Type(), f32 = b.getF32Type();
  Value y = op->getOperand(5);
  auto cidx = [&](OpBuilder &nb, int64_t v) {
    return arith::ConstantIndexOp::create(nb, l, v);
  };
  int64_t blocks = shape.blocks;
  auto lhsType = amx::TileType::get({kAmxTokens, 32}, i8);
  auto rhsType = amx::TileType::get({8, 64}, i8);
  auto accType = amx::TileType::get({kAmxTokens, 16}, i32);
  auto v16 = VectorType::get({16}, f32);
  auto v16i32 = VectorType::get({16}, i32);
  auto v32i8 = VectorType::get({32}, i8);
  Value g[2];
  g[0] = arith::MulIOp::create(b, l, pair, cidx(b, 2));
  g[1] = arith::AddIOp::create(b, l, g[0], cidx(b, 1));
  // The pair's blocks and scales, and two slots of i32 results; on the
  // heap (an alloca in a parallel body would grow the stack with every
  // iteration).
  Value weights =
      memref::AllocOp::create(b, l, MemRefType::get({blocks, 8, 64}, i8),
                              ValueRange{}, b.getI64IntegerAttr(64));
  Value scales =
      memref::AllocOp::create(b, l, MemRefType::get({blocks, 16}, f32),
                              ValueRange{}, b.getI64IntegerAttr(64));
  Value scratch =
      memref::AllocOp::create(b, l, MemRefType::get({2, kAmxTokens, 16}, i32),
                              ValueRange{}, b.getI64IntegerAttr(64));
  Value bias = splatI8(b, l, v32i8, -128);
  scf::ForOp::create(
      b, l, cidx(b, 0), cidx(b, blocks), cidx(b, 1), ValueRange{},
      [&](OpBuilder &nb, Location, Value blk, ValueRange) {
        Value both[2];
        for (int64_t j = 0; j < 2; ++j) {
          GroupBlock block = readGroupBlock(nb, l, shape, raw, g[j], blk);
          both[j] = block.scales;
          for (int64_t c = 0; c < 8; ++c)
            vector::StoreOp::create(
                nb, l, arith::XOrIOp::create(nb, l, block.values[c], bias),
                weights, ValueRange{blk, cidx(nb, c), cidx(nb, 32 * j)});
        }
        vector::StoreOp::create(nb, l,
                                vector::ShuffleOp::create(
                                    nb, l, both[0], both[1],
                                    llvm::to_vector(llvm::seq<int64_t>(0, 16))),
                                scales, ValueRange{blk, cidx(nb, 0)});
        scf::YieldOp::create(nb, l);
      });
  Value zero =
      arith::ConstantOp::create(b, l, DenseElementsAttr::get(v16, 0.0f));
  // Block `blk`'s tile for the tokens from `t0`, into slot `slot`.
  auto multiply = [&](OpBuilder &nb, Value t0, Value blk, Value slot) {
    SmallVector<Value> at(lead.begin(), lead.end());
    at.append({t0, arith::MulIOp::create(nb, l, blk, cidx(nb, 32))});
    Value lhs = amx::TileLoadOp::create(nb, l, lhsType, values, at);
    Value rhs = amx::TileLoadOp::create(
        nb, l, rhsType, weights, ValueRange{blk, cidx(nb, 0), cidx(nb, 0)});
    Value dot = amx::TileMulIOp::create(
        nb, l, accType, lhs, rhs, amx::TileZeroOp::create(nb, l, accType),
        /*isZextLhs=*/false, /*isZextRhs=*/false);
    amx::TileStoreOp::create(nb, l, scratch,
                             ValueRange{slot, cidx(nb, 0), cidx(nb, 0)}, dot);
  };
  // The accumulators after block `blk`, whose tile is in slot `slot`.
  auto scale = [&](OpBuilder &nb, Value t0, Value blk, Value slot,
                   ValueRange accs) {
    Value w = vector::LoadOp::create(nb, l, v16, scales,
                                     ValueRange{blk, cidx(nb, 0)});
    SmallVector<Value> next;
    for (int64_t t = 0; t < kAmxTokens; ++t) {
      SmallVector<Value> tok(lead.begin(), lead.end());
      tok.append({arith::AddIOp::create(nb, l, t0, cidx(nb, t)), blk});
      Value xScale = memref::LoadOp::create(nb, l, terms.scale, tok);
      Value dot = vector::LoadOp::create(
          nb, l, v16i32, scratch, ValueRange{slot, cidx(nb, t), cidx(nb, 0)});
      Value scaled = arith::MulFOp::create(
          nb, l, arith::SIToFPOp::create(nb, l, v16, dot), w);
      next.push_back(vector::FMAOp::create(
          nb, l, scaled, vector::BroadcastOp::create(nb, l, v16, xScale),
          accs[t]));
    }
    return next;
  };
  scf::ForOp::create(
      b, l, cidx(b, 0), tokens, cidx(b, kAmxTokens), ValueRange{},
      [&](OpBuilder &tb, Location, Value t0, ValueRange) {
        SmallVector<Value> sums = emitPipelinedBlocks(
            tb, l, blocks, SmallVector<Value>(kAmxTokens, zero),
            [&](OpBuilder &nb, Value blk, Value slot) {
              multiply(nb, t0, blk, slot);
            },
            [&](OpBuilder &nb, Value blk, Value slot, ValueRange accs) {
              return scale(nb, t0, blk, slot, accs);
            });
        for (int64_t t = 0; t < kAmxTokens; ++t) {
          Value s = arith::AddIOp::create(tb, l, t0, cidx(tb, t));
          for (int64_t j = 0; j < 2; ++j)
            addGroupOutputs(tb, l, y, lead, s, g[j],
                            vector::ExtractStridedSliceOp::create(
                                tb, l, sums[t], {8 * j}, {8}, {1}));
        }
        scf::YieldOp::create(tb, l);
      });
  for (Value v : {weights, scales, scratch})
    memref::DeallocOp::create(b, l, v);
}

LogicalResult lowerInterleaved(RewriterBase &rewriter, linalg::GenericOp op,
                               const InterleavedShape &shape, int64_t rows,
                               int64_t cacheBytes, const Int8Isa &dotIsa);

/// The AMX prefill for the whole tiles of 16 tokens, the rest (and every
/// other case) by lowerInterleaved on views of the remaining rows.
LogicalResult lowerInterleavedAmx(RewriterBase &rewriter, linalg::GenericOp op,
                                  const InterleavedShape &shape, int64_t rows,
                                  int64_t cacheBytes, const Int8Isa &dotIsa) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value y = op.getDpsInitOperand(0)->get();
  unsigned rank = shape.rank;
  auto cidx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  SmallVector<Value> leadSizes = leadingDims(rewriter, loc, y, 3);
  Value raw = interleavedBlocks(rewriter, loc, op, shape);
  // xq's values as [.., s, blocks * 32]: a tile's rows, stride one token.
  Value bytes = tokenValues(rewriter, loc, op->getOperand(0));
  {
    unsigned r = cast<MemRefType>(bytes.getType()).getRank();
    SmallVector<ReassociationIndices> merge;
    for (unsigned d = 0; d + 2 < r; ++d)
      merge.push_back({int64_t(d)});
    merge.push_back({int64_t(r - 2), int64_t(r - 1)});
    bytes = memref::CollapseShapeOp::create(rewriter, loc, bytes, merge);
  }
  Value values = tokenValues(rewriter, loc, op->getOperand(0));
  // The tiles multiply signed bytes (the weights' made signed as they are
  // repacked): x's scales only, no starts.
  TokenBlockTerms terms = prepareTokenBlockTerms(
      rewriter, loc, shape, /*starts=*/false, values, op->getOperand(1));
  Value s = memrefDim(rewriter, loc, y, rank - 3);
  Value whole = wholeBlocks(rewriter, loc, s, kAmxTokens);
  // Parallel over pairs of groups (each its weights in cache while it goes
  // through the token tiles) and the leading dimensions.
  SmallVector<Value> lower(leadSizes.size() + 1, cidx(0)),
      steps(leadSizes.size() + 1, cidx(1)), upper = leadSizes;
  upper.push_back(cidx(shape.groups / 2));
  scf::ParallelOp::create(rewriter, loc, lower, upper, steps,
                          [&](OpBuilder &b, Location l, ValueRange at) {
                            emitAmxPairs(b, l, op, shape, raw, bytes, terms,
                                         whole, at.drop_back(), at.back());
                          });
  terms.release(rewriter, loc);
  // The rows past the last whole tile: the vector prefill on views.
  // xq, xd and y all have the tokens at dimension rank - 3.
  linalg::GenericOp rest =
      cloneOnRowsFrom(rewriter, op, {0, 1, 5}, rank - 3, whole);
  rewriter.eraseOp(op);
  return lowerInterleaved(rewriter, rest, shape, rows, cacheBytes, dotIsa);
}

LogicalResult lowerInterleaved(RewriterBase &rewriter, linalg::GenericOp op,
                               const InterleavedShape &shape, int64_t rows,
                               int64_t cacheBytes, const Int8Isa &dotIsa) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value y = op.getDpsInitOperand(0)->get();
  auto yType = cast<MemRefType>(y.getType());
  unsigned rank = shape.rank;
  auto dim = [&](unsigned d) { return memrefDim(rewriter, loc, y, d); };
  SmallVector<Value> leadSizes = leadingDims(rewriter, loc, y, 3);
  Value raw = interleavedBlocks(rewriter, loc, op, shape);
  bool oneToken = isa<FunctionOpInterface>(op->getParentOp()) &&
                  llvm::all_of(yType.getShape().drop_back(2),
                               [](int64_t d) { return d == 1; });
  if (oneToken) {
    InterleavedToken token =
        prepareInterleavedToken(rewriter, loc, op, shape, dotIsa);
    // 8 groups (64 rows) per task, as the one-row lowering.
    emitBlockedLoops(rewriter, loc, leadSizes, dim(rank - 3), dim(rank - 2), 1,
                     8, 64, Value(),
                     [&](OpBuilder &b, Location l, ValueRange lead,
                         ArrayRef<Value>, ArrayRef<Value> groups) {
                       emitInterleavedRows(b, l, op, shape, raw, token, dotIsa,
                                           lead, groups);
                     });
    rewriter.eraseOp(op);
    return success();
  }
  Value values = tokenValues(rewriter, loc, op->getOperand(0));
  TokenBlockTerms terms =
      prepareTokenBlockTerms(rewriter, loc, shape, !signsForm(shape, dotIsa),
                             values, op->getOperand(1));
  emitBlockedLoops(
      rewriter, loc, leadSizes, dim(rank - 3), dim(rank - 2), rows, 1,
      rows * 8 * 32,
      chunkRows(rewriter, loc, cacheBytes,
                arith::ConstantIndexOp::create(rewriter, loc, shape.blocks),
                kInt8BlockBytes, rows),
      [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
          ArrayRef<Value> groups) {
        emitInterleavedBlock(b, l, op, shape, raw, values, terms, dotIsa, lead,
                             rowIdx, groups);
      });
  terms.release(rewriter, loc);
  rewriter.eraseOp(op);
  return success();
}

} // namespace

LogicalResult mlir::loom::detail::lowerInterleavedContraction(
    RewriterBase &rewriter, linalg::GenericOp op, int64_t rows,
    int64_t cacheBytes, const Int8Isa &target) {
  std::optional<InterleavedShape> shape = matchInterleaved(op);
  if (!shape)
    return failure();
  // AMX for q8_0x8 prefill: pairs of groups, 16 tokens or more (or a
  // dynamic count).
  auto yType = cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  int64_t tokens = yType.getDimSize(shape->rank - 3);
  if (target.amxInt8 && !shape->q4 && shape->groups % 2 == 0 &&
      (ShapedType::isDynamic(tokens) || tokens >= kAmxTokens) &&
      llvm::all_of(yType.getShape().drop_back(3),
                   [](int64_t d) { return d == 1; }))
    return lowerInterleavedAmx(rewriter, op, *shape, rows, cacheBytes, target);
  return lowerInterleaved(rewriter, op, *shape, rows, cacheBytes, target);
}
