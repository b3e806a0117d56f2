//===- QuantizedPatterns.cpp - block-quantized weights --------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// GGUF's block formats decoded where the values are used. A linear
// layer whose weight is `loom.dequantize` of raw blocks becomes one
// contraction over (rows, blocks, values in a block) that reads the bytes:
// the scale of a block is the same for its 32 values, so once loops are
// made LLVM hoists its decoding out of the innermost loop. An embedding
// decodes the rows it gathers. Anywhere else `loom.dequantize` becomes a
// tensor of decoded values.
//
//===----------------------------------------------------------------------===//

#include "Utils.h"
#include "loom/Conversion/LoomToLinalg/LoomToLinalg.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::lowering;

/// Values per block of q8_0 and q4_0 (and the blocks of 32 the activations
/// are quantized in).
static constexpr int64_t kBlock = 32;

/// Whether `format` is decoded by the contractions below operand by operand
/// (q8_0, q4_0 and the interleaved forms); the others are read byte by
/// byte with decodeBlockValue.
static bool hasOperandLayout(BlockFormat format) {
  switch (format) {
  case BlockFormat::q8_0:
  case BlockFormat::q4_0:
  case BlockFormat::q4_0x8:
  case BlockFormat::q8_0x8:
    return true;
  default:
    return false;
  }
}

/// The value of a q4_0 nibble (`high` selects it) as a signed integer of
/// `type`: nibble - 8.
static Value nibbleValue(OpBuilder &b, Location loc, Value byte, Value high,
                         Type type) {
  Value v = arith::ExtUIOp::create(b, loc, type, byte);
  auto c = [&](int64_t x) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, x));
  };
  Value lo = arith::AndIOp::create(b, loc, v, c(15));
  Value hi = arith::ShRUIOp::create(b, loc, v, c(4));
  Value nibble = arith::SelectOp::create(b, loc, high, hi, lo);
  return arith::SubIOp::create(b, loc, nibble, c(8));
}

/// The value of a q8_0x8 byte (q + 128, unsigned) as a signed integer of
/// `type`.
static Value biasedValue(OpBuilder &b, Location loc, Value byte, Type type) {
  return arith::SubIOp::create(
      b, loc, arith::ExtUIOp::create(b, loc, type, byte),
      arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, 128)));
}

/// The signed value (before scaling) of a q4_0 byte's low (`high` false) or
/// high nibble, as f32: nibble - 8.
static Value decodeNibble(OpBuilder &b, Location loc, Value byte, Value high) {
  return arith::SIToFPOp::create(
      b, loc, b.getF32Type(), nibbleValue(b, loc, byte, high, b.getI32Type()));
}

namespace {

/// Scalar arithmetic on a block's bytes, for the decoders below.
struct BlockBits {
  OpBuilder &b;
  Location loc;
  function_ref<Value(Value)> byteAt; ///< the i8 at an index offset

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value add(Value x, int64_t y) { return add(x, idx(y)); }
  Value mul(Value x, int64_t y) {
    return arith::MulIOp::create(b, loc, x, idx(y));
  }
  Value div(Value x, int64_t y) {
    return arith::DivUIOp::create(b, loc, x, idx(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemUIOp::create(b, loc, x, idx(y));
  }
  /// The byte at `offset` as an unsigned i32.
  Value byte(Value offset) {
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), byteAt(offset));
  }
  Value byte(int64_t offset) { return byte(idx(offset)); }
  /// (v >> shift) & mask, `shift` an index.
  Value bits(Value v, Value shift, int64_t mask) {
    Value s = arith::IndexCastUIOp::create(b, loc, b.getI32Type(), shift);
    return arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, v, s),
                                 i32(mask));
  }
  Value bits(Value v, int64_t shift, int64_t mask) {
    return arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, v, i32(shift)), i32(mask));
  }
  Value shl(Value v, int64_t shift) {
    return arith::ShLIOp::create(b, loc, v, i32(shift));
  }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value subI(Value x, int64_t y) {
    return arith::SubIOp::create(b, loc, x, i32(y));
  }
  Value lt(Value x, int64_t y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, idx(y));
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  /// The little-endian f16 at `offset`, as f32.
  Value half(int64_t offset) {
    return DequantizeOp::buildScale(b, loc, byteAt(idx(offset)),
                                    byteAt(idx(offset + 1)));
  }
  Value toF32(Value signedInt) {
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), signedInt);
  }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }

  /// Nibble j (0-31) of the 16 bytes at `at`: low nibbles are values
  /// 0-15, high ones 16-31 (q4_0's order).
  Value nibble(int64_t at, Value j) {
    Value v = byte(add(rem(j, 16), at));
    return bits(v, mul(div(j, 16), 4), 15);
  }
  /// Bit j of the 32-bit little-endian mask at `at`, as 0 or 1.
  Value maskBit(int64_t at, Value j) {
    return bits(byte(add(div(j, 8), at)), rem(j, 8), 1);
  }

  /// q4_k / q5_k: the 6-bit scale and minimum of sub-block `sub` (0-7)
  /// from the 12 bytes at `at` (ggml's get_scale_min_k4): sub-blocks 0-3
  /// keep them in the low 6 bits of bytes sub and sub + 4; 4-7 in the
  /// nibbles of byte sub + 4 with the top 2 bits of bytes sub - 4 and sub.
  std::pair<Value, Value> scaleMin(int64_t at, Value sub) {
    Value a = rem(sub, 4);
    Value s0 = byte(add(a, at)), s4 = byte(add(a, at + 4)),
          s8 = byte(add(a, at + 8));
    Value low = lt(sub, 4);
    Value sc = select(low, bits(s0, 0, 63),
                      orI(bits(s8, 0, 15), shl(bits(s0, 6, 3), 4)));
    Value m = select(low, bits(s4, 0, 63),
                     orI(bits(s8, 4, 15), shl(bits(s4, 6, 3), 4)));
    return {sc, m};
  }
};

} // namespace

/// Value j of a block of a format other than q8_0 and q4_0 and their
/// interleaved forms, as f32, from its bytes (`byteAt`): the layouts
/// of ggml-common.h.
static Value decodeInBlock(OpBuilder &b, Location loc, BlockFormat format,
                           function_ref<Value(Value)> byteAt, Value j) {
  BlockBits k{b, loc, byteAt};
  switch (format) {
  case BlockFormat::q4_1:
    // d, m, nibbles (the low ones values 0-15): d * q + m.
    return k.fadd(k.fmul(k.toF32(k.nibble(4, j)), k.half(0)), k.half(2));
  case BlockFormat::q5_0:
  case BlockFormat::q5_1: {
    // d[, m], 32 fifth bits, nibbles.
    bool minimum = format == BlockFormat::q5_1;
    int64_t bitsAt = minimum ? 4 : 2;
    Value q = k.orI(k.nibble(bitsAt + 4, j), k.shl(k.maskBit(bitsAt, j), 4));
    if (!minimum)
      return k.fmul(k.toF32(k.subI(q, 16)), k.half(0));
    return k.fadd(k.fmul(k.toF32(q), k.half(0)), k.half(2));
  }
  case BlockFormat::iq4_nl: {
    // d, nibbles indexing ggml's kvalues_iq4nl (-127 ... 113), read here
    // from two 64-bit constants holding the table's bytes (no table in
    // memory).
    static constexpr int8_t kTable[16] = {-127, -104, -83, -65, -49, -35,
                                          -22,  -10,  1,   13,  25,  38,
                                          53,   69,   89,  113};
    uint64_t words[2] = {0, 0};
    for (int i = 0; i < 16; ++i)
      words[i / 8] |= uint64_t(uint8_t(kTable[i])) << (8 * (i % 8));
    Type i64 = b.getI64Type();
    auto word = [&](uint64_t w) {
      return arith::ConstantOp::create(b, loc,
                                       b.getIntegerAttr(i64, int64_t(w)));
    };
    Value q = arith::ExtUIOp::create(b, loc, i64, k.nibble(2, j));
    Value eight = arith::ConstantOp::create(b, loc, b.getIntegerAttr(i64, 8));
    Value high =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, q, eight);
    Value shift = arith::MulIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, q, eight), eight);
    Value table = k.select(high, word(words[1]), word(words[0]));
    Value v = arith::TruncIOp::create(
        b, loc, b.getI8Type(), arith::ShRUIOp::create(b, loc, table, shift));
    return k.fmul(k.toF32(arith::ExtSIOp::create(b, loc, b.getI32Type(), v)),
                  k.half(0));
  }
  case BlockFormat::q4_k:
  case BlockFormat::q5_k: {
    // d, dmin, 12 bytes of scales and minimums, [32 bytes of fifth bits,]
    // 128 bytes of nibbles: sub-block `sub` of 32 values reads bytes 32 *
    // (sub / 2) ... of the nibbles, the low ones for even sub-blocks.
    bool fifth = format == BlockFormat::q5_k;
    Value sub = k.div(j, 32), l = k.rem(j, 32);
    int64_t qsAt = fifth ? 48 : 16;
    Value byte = k.byte(k.add(k.add(k.mul(k.div(sub, 2), 32), l), qsAt));
    Value q = k.bits(byte, k.mul(k.rem(sub, 2), 4), 15);
    if (fifth)
      q = k.orI(q, k.shl(k.bits(k.byte(k.add(l, 16)), sub, 1), 4));
    auto [sc, m] = k.scaleMin(4, sub);
    Value scale = k.fmul(k.half(0), k.toF32(sc));
    Value min = k.fmul(k.half(2), k.toF32(m));
    return k.fsub(k.fmul(scale, k.toF32(q)), min);
  }
  case BlockFormat::q2_k:
  case BlockFormat::q3_k:
  case BlockFormat::q6_k: {
    // Two halves of 128 values, each of 4 quarters of 32 (`quarter`), each
    // of 2 sub-blocks of 16 with a scale of their own (index 8 * half + 2
    // * quarter + l / 16).
    Value half = k.div(j, 128), r = k.rem(j, 128);
    Value quarter = k.div(r, 32), l = k.rem(r, 32);
    Value sub = k.add(k.add(k.mul(half, 8), k.mul(quarter, 2)), k.div(l, 16));
    if (format == BlockFormat::q6_k) {
      // 128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 scales, d.
      Value lowAt =
          k.add(k.add(k.mul(half, 64), k.mul(k.rem(quarter, 2), 32)), l);
      Value low = k.bits(k.byte(lowAt), k.mul(k.div(quarter, 2), 4), 15);
      Value high = k.bits(k.byte(k.add(k.add(k.mul(half, 32), l), 128)),
                          k.mul(quarter, 2), 3);
      Value q = k.subI(k.orI(low, k.shl(high, 4)), 32);
      Value sc = arith::ExtSIOp::create(b, loc, b.getI32Type(),
                                        byteAt(k.add(sub, 192)));
      return k.fmul(k.fmul(k.half(208), k.toF32(sc)), k.toF32(q));
    }
    Value shift = k.mul(quarter, 2);
    if (format == BlockFormat::q2_k) {
      // 16 scale/min bytes, 64 bytes of 2-bit values, d, dmin.
      Value q = k.bits(k.byte(k.add(k.add(k.mul(half, 32), l), 16)), shift, 3);
      Value s = k.byte(sub);
      Value scale = k.fmul(k.half(80), k.toF32(k.bits(s, 0, 15)));
      Value min = k.fmul(k.half(82), k.toF32(k.bits(s, 4, 15)));
      return k.fsub(k.fmul(scale, k.toF32(q)), min);
    }
    // q3_k: 32 bytes of high bits (bit 4 * half + quarter of byte l), 64
    // bytes of 2-bit values, 12 bytes of 6-bit scales (low nibbles in bytes
    // 0-7, the top 2 bits in 8-11), d. value = d * (scale - 32) * (q - 4
    // where the high bit is clear).
    Value low = k.bits(k.byte(k.add(k.add(k.mul(half, 32), l), 32)), shift, 3);
    Value high = k.bits(k.byte(l), k.add(k.mul(half, 4), quarter), 1);
    Value q = k.subI(k.orI(low, k.shl(high, 2)), 4);
    Value sLow =
        k.bits(k.byte(k.add(k.rem(sub, 8), 96)), k.mul(k.div(sub, 8), 4), 15);
    Value sHigh =
        k.bits(k.byte(k.add(k.rem(sub, 4), 104)), k.mul(k.div(sub, 4), 2), 3);
    Value sc = k.subI(k.orI(sLow, k.shl(sHigh, 4)), 32);
    return k.fmul(k.fmul(k.half(108), k.toF32(sc)), k.toF32(q));
  }
  default:
    llvm_unreachable("decoded by decodeBlockValue itself");
  }
}

Value lowering::decodeBlockValue(OpBuilder &b, Location loc, BlockFormat format,
                                 Value raw, ValueRange rows, Value k) {
  auto c = [&](int64_t x) { return arith::ConstantIndexOp::create(b, loc, x); };
  int64_t perBlock = DequantizeOp::blockValues(format);
  Value block = arith::DivUIOp::create(b, loc, k, c(perBlock));
  Value j = arith::RemUIOp::create(b, loc, k, c(perBlock));
  SmallVector<Value> at(rows.begin(), rows.end());
  // q4_0x8 / q8_0x8: row r is row r % 8 of group r / 8; its scale is the
  // group's (r % 8)-th f16, its byte i at 16 + 32 * (i / 4) + 4 * (r % 8) +
  // i % 4.
  Value inGroup;
  if (DequantizeOp::blockRows(format) > 1) {
    inGroup = arith::RemUIOp::create(b, loc, at.back(), c(8));
    at.back() = arith::DivUIOp::create(b, loc, at.back(), c(8));
  }
  auto byteAt = [&](Value offset) {
    SmallVector<Value> idx = at;
    idx.append({block, offset});
    return tensor::ExtractOp::create(b, loc, raw, idx).getResult();
  };
  // Byte i of the row's values (2 + i, or where the group keeps it).
  auto valueByte = [&](Value i) {
    if (!inGroup)
      return byteAt(arith::AddIOp::create(b, loc, i, c(2)));
    Value chunk = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, i, c(4)), c(32));
    Value lane = arith::MulIOp::create(b, loc, inGroup, c(4));
    return byteAt(arith::AddIOp::create(
        b, loc, arith::AddIOp::create(b, loc, chunk, lane),
        arith::AddIOp::create(b, loc, arith::RemUIOp::create(b, loc, i, c(4)),
                              c(16))));
  };
  if (!hasOperandLayout(format))
    return decodeInBlock(b, loc, format, byteAt, j);
  Value scaleAt =
      inGroup ? arith::MulIOp::create(b, loc, inGroup, c(2)) : c(0).getResult();
  Value scale = DequantizeOp::buildScale(
      b, loc, byteAt(scaleAt),
      byteAt(arith::AddIOp::create(b, loc, scaleAt, c(1))));
  Value value;
  if (format == BlockFormat::q8_0) {
    value = arith::SIToFPOp::create(b, loc, b.getF32Type(), valueByte(j));
  } else if (format == BlockFormat::q8_0x8) {
    value = arith::SIToFPOp::create(
        b, loc, b.getF32Type(),
        biasedValue(b, loc, valueByte(j), b.getI32Type()));
  } else {
    Value half = c(kBlock / 2);
    Value high =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, j, half);
    Value inHalf = arith::RemUIOp::create(b, loc, j, half);
    value = decodeNibble(b, loc, valueByte(inHalf), high);
  }
  return arith::MulFOp::create(b, loc, value, scale);
}

/// A static slice of the last dimension of `raw` ([rows..., blocks, bytes]):
/// bytes [offset, offset + size), dropped when `size` is 1.
static Value byteSlice(OpBuilder &b, Location loc, Value raw, int64_t offset,
                       int64_t size) {
  auto type = cast<RankedTensorType>(raw.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes, strides(rank, b.getIndexAttr(1));
  for (int64_t d = 0; d + 1 < rank; ++d)
    sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
  offsets.back() = b.getIndexAttr(offset);
  sizes.push_back(b.getIndexAttr(size));
  SmallVector<int64_t> shape(type.getShape().drop_back());
  if (size != 1)
    shape.push_back(size);
  auto result = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, result, raw, offsets, sizes,
                                        strides);
}

/// `v` with its last dimension split in two, `size` the inner one.
static Value splitLast(OpBuilder &b, Location loc, Value v, int64_t size) {
  auto type = cast<RankedTensorType>(v.getType());
  unsigned rank = type.getRank();
  SmallVector<int64_t> shape(type.getShape().drop_back());
  shape.append({type.getShape().back() / size, size});
  SmallVector<ReassociationIndices> reassociation;
  for (unsigned d = 0; d + 1 < rank; ++d)
    reassociation.push_back({int64_t(d)});
  reassociation.push_back({int64_t(rank - 1), int64_t(rank)});
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), v,
      reassociation);
}

/// The contraction of a linear layer with q4_0x8 or q8_0x8 weights `raw`
/// ([n / 8, blocks, 144 | 272]): x is `xBlocks` (q4_0x8: [.., s, blocks, 2,
/// 16], q8_0x8: [.., s, blocks, 32]; f32 or, with `amax`, 8-bit values whose
/// blocks have scale f16(amax / 127)), `out` is y ([.., s, n]). Loops (.., s,
/// g, r, blk, [half,] c, t): output n = 8g + r; value 4c + t of the block (of
/// its half, for q4_0x8), which is byte 4c + t of row r's values: byte 16 +
/// 32c + 4r + t of the group's block. `body` makes the op's body from its
/// arguments and, for q4_0x8, whether the value is a high nibble.
static Value interleavedContraction(
    OpBuilder &b, Location loc, bool q4, Value xBlocks, Value amax, Value raw,
    Value out,
    function_ref<void(OpBuilder &, Location, ValueRange, Value)> body) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = cast<RankedTensorType>(out.getType()).getRank();
  unsigned g = rank - 1, r = rank, blk = rank + 1, half = rank + 2;
  unsigned c = q4 ? rank + 3 : rank + 2, t = c + 1, numLoops = t + 1;
  // [g, blk, bytes] -> values [g, blk, c, r, t]; scale bytes [g, blk, r].
  int64_t chunks = q4 ? 4 : 8;
  auto rawType = cast<RankedTensorType>(raw.getType());
  Value values = tensor::ExpandShapeOp::create(
      b, loc,
      RankedTensorType::get(
          {rawType.getDimSize(0), rawType.getDimSize(1), chunks, 8, 4},
          b.getI8Type()),
      byteSlice(b, loc, raw, 16, 32 * chunks),
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3, 4}});
  Value pairs = splitLast(b, loc, byteSlice(b, loc, raw, 0, 16), 2);
  Value lo = byteSlice(b, loc, pairs, 0, 1),
        hi = byteSlice(b, loc, pairs, 1, 1);
  Value x = splitLast(b, loc, xBlocks, 4);
  Value y = splitLast(b, loc, out, 8);
  SmallVector<unsigned> xDims, yDims, scaleDims;
  for (unsigned d = 0; d + 1 < rank; ++d)
    xDims.push_back(d);
  yDims = xDims;
  scaleDims = xDims;
  xDims.push_back(blk);
  if (q4)
    xDims.push_back(half);
  xDims.append({c, t});
  scaleDims.push_back(blk);
  yDims.append({g, r});
  SmallVector<AffineMap> maps = {mapOf(ctx, numLoops, xDims)};
  SmallVector<Value> inputs = {x};
  if (amax) {
    maps.push_back(mapOf(ctx, numLoops, scaleDims));
    inputs.push_back(amax);
  }
  maps.append({mapOf(ctx, numLoops, {g, blk, c, r, t}),
               mapOf(ctx, numLoops, {g, blk, r}),
               mapOf(ctx, numLoops, {g, blk, r}), mapOf(ctx, numLoops, yDims)});
  inputs.append({values, lo, hi});
  Value result = linalg::GenericOp::create(
                     b, loc, TypeRange{y.getType()}, inputs, ValueRange{y},
                     maps, iterators(rank + 1, numLoops - rank - 1),
                     [&](OpBuilder &nb, Location l, ValueRange args) {
                       Value high;
                       if (q4) {
                         Value index = linalg::IndexOp::create(nb, l, half);
                         Value zero = arith::ConstantIndexOp::create(nb, l, 0);
                         high = arith::CmpIOp::create(
                             nb, l, arith::CmpIPredicate::ne, index, zero);
                       }
                       body(nb, l, args, high);
                     })
                     .getResult(0);
  SmallVector<ReassociationIndices> merge;
  for (unsigned d = 0; d + 1 < rank; ++d)
    merge.push_back({int64_t(d)});
  merge.push_back({int64_t(rank - 1), int64_t(rank)});
  return tensor::CollapseShapeOp::create(b, loc, out.getType(), result, merge);
}

Value lowering::quantizedLinear(OpBuilder &b, Location loc, Value x, Value raw,
                                BlockFormat format,
                                ArrayRef<OpFoldResult> outSizes, Value init,
                                bool int8Activations) {
  MLIRContext *ctx = b.getContext();
  auto xType = cast<RankedTensorType>(x.getType());
  auto rawType = cast<RankedTensorType>(raw.getType());
  unsigned rank = xType.getRank(); // the output's rank too
  // Blocks of 32 values of x (a K-quant's super-block holds 8).
  int64_t blocks =
      rawType.getDimSize(1) * (DequantizeOp::blockValues(format) / kBlock);
  // q4_0x8 and q8_0x8 take x as q4_0 and q8_0 do; only the weight's layout
  // differs.
  bool interleaved = DequantizeOp::blockRows(format) > 1;
  bool q4 = format == BlockFormat::q4_0 || format == BlockFormat::q4_0x8;
  // The other formats (q4_1, q5_x, iq4_nl, the K-quants) take x as q8_0
  // does, and decode each weight from the bytes of its block.
  bool decoded = !hasOperandLayout(format);
  // Blocks of 32 of x sharing one scale with 8-bit activations (below).
  int64_t perScale = decoded ? DequantizeOp::blockValues(format) / kBlock : 1;
  // Loops: the input's leading dims, n, the block, (q4_0: which half,) and
  // the value within the block (or half).
  unsigned n = rank - 1, blk = rank;
  unsigned numLoops = q4 ? rank + 3 : rank + 2;
  SmallVector<int64_t> inner = q4 ? SmallVector<int64_t>{blocks, 2, kBlock / 2}
                                  : SmallVector<int64_t>{blocks, kBlock};
  SmallVector<int64_t> xShape(xType.getShape().drop_back());
  xShape.append(inner);
  SmallVector<ReassociationIndices> reassociation;
  for (unsigned d = 0; d + 1 < rank; ++d)
    reassociation.push_back({int64_t(d)});
  ReassociationIndices last;
  for (unsigned i = 0; i < inner.size(); ++i)
    last.push_back(rank - 1 + i);
  reassociation.push_back(last);
  Value xBlocks = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(xShape, xType.getElementType()), x,
      reassociation);

  SmallVector<unsigned> xDims, outDims, scaleDims;
  for (unsigned d = 0; d + 1 < rank; ++d) {
    xDims.push_back(d);
    outDims.push_back(d);
    scaleDims.push_back(d);
  }
  outDims.push_back(n);
  scaleDims.push_back(blk);
  for (unsigned i = 0; i < inner.size(); ++i)
    xDims.push_back(blk + i);
  unsigned valueLoop = numLoops - 1;
  // q4_0/q4_1: whether the loop over a block's halves is at the high
  // nibbles.
  auto inHighHalf = [&](OpBuilder &nb, Location l) -> Value {
    Value half = linalg::IndexOp::create(nb, l, blk + 1);
    Value zero = arith::ConstantIndexOp::create(nb, l, 0);
    return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ne, half, zero);
  };
  Value values, lo, hi;
  if (!decoded) {
    values = byteSlice(b, loc, raw, 2, q4 ? kBlock / 2 : kBlock);
    lo = byteSlice(b, loc, raw, 0, 1);
    hi = byteSlice(b, loc, raw, 1, 1);
  }
  Value out = init ? init : filledTensor(b, loc, outSizes, b.getF32Type(), 0.0);
  auto fastmath =
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  unsigned reductions = numLoops - rank;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();

  // A block's scale from its max |x|, as llama.cpp stores it: f16(amax /
  // 127) for blocks of 32, 1 / (127 / amax) for a K-quant's super-blocks.
  auto blockScale = [&](OpBuilder &nb, Location l, Value amax) -> Value {
    return DequantizeOp::buildActivationScale(nb, l, amax, perScale > 1);
  };
  // q4_1, q5_0, q5_1, iq4_nl, the K-quants: y += x * w, w decoded from the
  // bytes of its block (decodeBlockValue) at value 32 * blk + v of its row;
  // x f32 or (with `amax`) 8-bit blocks of 32 (for q4_1 as llama.cpp's
  // q8_1 activations meet it).
  auto decodedContraction = [&](Value xIn, Value amax) -> Value {
    SmallVector<Value> inputs = {xIn};
    SmallVector<AffineMap> maps = {mapOf(ctx, numLoops, xDims)};
    if (amax) {
      inputs.push_back(amax);
      maps.push_back(mapOf(ctx, numLoops, scaleDims));
    }
    maps.push_back(mapOf(ctx, numLoops, outDims));
    auto op = linalg::GenericOp::create(
        b, loc, TypeRange{out.getType()}, inputs, ValueRange{out}, maps,
        iterators(rank, reductions),
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value row = linalg::IndexOp::create(nb, l, n);
          Value k = arith::AddIOp::create(
              nb, l,
              arith::MulIOp::create(
                  nb, l, linalg::IndexOp::create(nb, l, blk),
                  arith::ConstantIndexOp::create(nb, l, kBlock)),
              linalg::IndexOp::create(nb, l, valueLoop));
          Value w = decodeBlockValue(nb, l, format, raw, row, k);
          Value xf = args[0];
          if (amax)
            xf = arith::MulFOp::create(
                nb, l, arith::SIToFPOp::create(nb, l, f32, args[0]),
                blockScale(nb, l, args[1]));
          Value p = arith::MulFOp::create(nb, l, xf, w, fastmath);
          Value s = arith::AddFOp::create(nb, l, args.back(), p, fastmath);
          linalg::YieldOp::create(nb, l, s);
        });
    op->setAttr(kBlockFormatAttr,
                b.getStringAttr(stringifyBlockFormat(format)));
    // The lowering may read a super-block's scale once.
    if (amax && perScale > 1)
      op->setAttr(kActivationBlocksAttr, b.getI64IntegerAttr(perScale));
    return op.getResult(0);
  };

  if (!int8Activations) {
    if (decoded)
      return decodedContraction(xBlocks, Value());
    if (interleaved)
      return interleavedContraction(
          b, loc, q4, xBlocks, Value(), raw, out,
          [&](OpBuilder &nb, Location l, ValueRange args, Value high) {
            Value scale = DequantizeOp::buildScale(nb, l, args[2], args[3]);
            Value q = q4 ? decodeNibble(nb, l, args[1], high)
                         : arith::SIToFPOp::create(
                               nb, l, f32, biasedValue(nb, l, args[1], i32))
                               .getResult();
            Value w = arith::MulFOp::create(nb, l, q, scale);
            Value p = arith::MulFOp::create(nb, l, args[0], w, fastmath);
            Value s = arith::AddFOp::create(nb, l, args[4], p, fastmath);
            linalg::YieldOp::create(nb, l, s);
          });
    SmallVector<AffineMap> maps = {
        mapOf(ctx, numLoops, xDims), mapOf(ctx, numLoops, {n, blk, valueLoop}),
        mapOf(ctx, numLoops, {n, blk}), mapOf(ctx, numLoops, {n, blk}),
        mapOf(ctx, numLoops, outDims)};
    return linalg::GenericOp::create(
               b, loc, TypeRange{out.getType()},
               ValueRange{xBlocks, values, lo, hi}, ValueRange{out}, maps,
               iterators(rank, reductions),
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value scale =
                     DequantizeOp::buildScale(nb, l, args[2], args[3]);
                 Value q;
                 if (q4) {
                   q = decodeNibble(nb, l, args[1], inHighHalf(nb, l));
                 } else {
                   q = arith::SIToFPOp::create(nb, l, f32, args[1]);
                 }
                 Value w = arith::MulFOp::create(nb, l, q, scale);
                 Value p = arith::MulFOp::create(nb, l, args[0], w, fastmath);
                 Value s = arith::AddFOp::create(nb, l, args[4], p, fastmath);
                 linalg::YieldOp::create(nb, l, s);
               })
        .getResult(0);
  }

  // The activations as 8-bit blocks of their own, as llama.cpp multiplies
  // q8_0 and q4_0 weights (its x86 code): per block of 32 values d =
  // f16(max|x| / 127) (llama.cpp's q8_0 and q8_1 store d as f16), and q =
  // roundeven(x * (127 / max|x|)) (0 where max|x| is 0), so x ~ d * q. The
  // blocks of x and w then meet in integer dot products: y += (x.d * w.d) *
  // sum(x.q * w.q) per block.
  //
  // A K-quant takes x as llama.cpp's q8_K: the 8 blocks of a super-block
  // share one scale (their largest max |x|), so that a super-block
  // accumulates in integers (DecodedContraction.cpp); the contraction says
  // so with the same loom.activation_blocks as the quantizing op.
  unsigned xRank = xShape.size(), scaleRank = rank;
  SmallVector<AffineMap> maps = {mapOf(ctx, numLoops, xDims),
                                 mapOf(ctx, numLoops, scaleDims),
                                 mapOf(ctx, numLoops, {n, blk, valueLoop}),
                                 mapOf(ctx, numLoops, {n, blk}),
                                 mapOf(ctx, numLoops, {n, blk}),
                                 mapOf(ctx, numLoops, outDims)};
  auto contract = [&](Value xq, Value amax) -> Value {
    if (decoded)
      return decodedContraction(xq, amax);
    if (interleaved)
      return interleavedContraction(
          b, loc, q4, xq, amax, raw, out,
          [&](OpBuilder &nb, Location l, ValueRange args, Value high) {
            Value scale = DequantizeOp::buildScale(nb, l, args[3], args[4]);
            Value wq = q4 ? nibbleValue(nb, l, args[2], high, i32)
                          : biasedValue(nb, l, args[2], i32);
            Value xi = arith::ExtSIOp::create(nb, l, i32, args[0]);
            Value prod = arith::SIToFPOp::create(
                nb, l, f32, arith::MulIOp::create(nb, l, xi, wq));
            Value ds =
                arith::MulFOp::create(nb, l, blockScale(nb, l, args[1]), scale);
            Value p = arith::MulFOp::create(nb, l, prod, ds, fastmath);
            Value s = arith::AddFOp::create(nb, l, args[5], p, fastmath);
            linalg::YieldOp::create(nb, l, s);
          });
    return linalg::GenericOp::create(
               b, loc, TypeRange{out.getType()},
               ValueRange{xq, amax, values, lo, hi}, ValueRange{out}, maps,
               iterators(rank, reductions),
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value scale =
                     DequantizeOp::buildScale(nb, l, args[3], args[4]);
                 Value wq;
                 if (q4) {
                   wq = nibbleValue(nb, l, args[2], inHighHalf(nb, l), i32);
                 } else {
                   wq = arith::ExtSIOp::create(nb, l, i32, args[2]);
                 }
                 Value xi = arith::ExtSIOp::create(nb, l, i32, args[0]);
                 Value prod = arith::SIToFPOp::create(
                     nb, l, f32, arith::MulIOp::create(nb, l, xi, wq));
                 Value d = blockScale(nb, l, args[1]);
                 Value ds = arith::MulFOp::create(nb, l, d, scale);
                 Value p = arith::MulFOp::create(nb, l, prod, ds, fastmath);
                 Value s = arith::AddFOp::create(nb, l, args[5], p, fastmath);
                 linalg::YieldOp::create(nb, l, s);
               })
        .getResult(0);
  };
  // An input several layers read (Q, K and V; gate and up) is quantized
  // once: the blocks an earlier layer made of the same x, in the same
  // layout, are reused (they come before this layer in the block).
  for (Operation *user : x.getUsers()) {
    auto expand = dyn_cast<tensor::ExpandShapeOp>(user);
    if (!expand || expand.getResult() == xBlocks ||
        expand.getType() != xBlocks.getType())
      continue;
    for (Operation *blocksUser : expand->getUsers()) {
      auto made = dyn_cast<linalg::GenericOp>(blocksUser);
      auto shared =
          made ? made->getAttrOfType<IntegerAttr>(kActivationBlocksAttr)
               : IntegerAttr();
      if (!shared || shared.getInt() != perScale)
        continue;
      return contract(made.getResult(0), made.getDpsInputOperand(1)->get());
    }
  }
  SmallVector<OpFoldResult> scaleSizes = sizesOf(b, loc, xBlocks);
  SmallVector<OpFoldResult> xSizes = scaleSizes;
  scaleSizes.resize(scaleRank);
  SmallVector<unsigned> xIds, sIds;
  for (unsigned d = 0; d < xRank; ++d)
    xIds.push_back(d);
  for (unsigned d = 0; d < scaleRank; ++d)
    sIds.push_back(d);
  auto scaleType = RankedTensorType::get(
      ArrayRef<int64_t>(xShape).take_front(scaleRank), f32);
  Value amax =
      linalg::GenericOp::create(
          b, loc, TypeRange{scaleType}, ValueRange{xBlocks},
          ValueRange{filledTensor(b, loc, scaleSizes, f32, 0.0)},
          {mapOf(ctx, xRank, xIds), mapOf(ctx, xRank, sIds)},
          iterators(scaleRank, xRank - scaleRank),
          [&](OpBuilder &nb, Location l, ValueRange args) {
            Value a = math::AbsFOp::create(nb, l, args[0]);
            linalg::YieldOp::create(
                nb, l,
                arith::MaximumFOp::create(nb, l, args[1], a).getResult());
          })
          .getResult(0);
  if (perScale > 1) {
    // Each block's scale becomes its super-block's: the max over the 8.
    SmallVector<int64_t> grouped(xShape.begin(), xShape.end() - 2);
    grouped.append({blocks / perScale, perScale});
    SmallVector<ReassociationIndices> into;
    for (unsigned d = 0; d + 1 < scaleRank; ++d)
      into.push_back({int64_t(d)});
    into.push_back({int64_t(scaleRank - 1), int64_t(scaleRank)});
    Value perBlock = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(grouped, f32), amax, into);
    // Loops (.., s, g, j, i): out[.., s, g, j] = max_i in[.., s, g, i].
    unsigned loops = grouped.size() + 1;
    SmallVector<unsigned> in, outIds;
    for (unsigned d = 0; d + 2 < loops; ++d) {
      in.push_back(d);
      outIds.push_back(d);
    }
    in.push_back(loops - 1);
    outIds.push_back(loops - 2);
    Value shared =
        linalg::GenericOp::create(
            b, loc, TypeRange{perBlock.getType()}, ValueRange{perBlock},
            ValueRange{
                filledTensor(b, loc, sizesOf(b, loc, perBlock), f32, 0.0)},
            {mapOf(ctx, loops, in), mapOf(ctx, loops, outIds)},
            iterators(loops - 1, 1),
            [&](OpBuilder &nb, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  nb, l,
                  arith::MaximumFOp::create(nb, l, args[1], args[0])
                      .getResult());
            })
            .getResult(0);
    amax = tensor::CollapseShapeOp::create(b, loc, scaleType, shared, into);
  }
  AffineMap xId = AffineMap::getMultiDimIdentityMap(xRank, ctx);
  Value xq =
      linalg::GenericOp::create(
          b, loc, TypeRange{RankedTensorType::get(xShape, b.getI8Type())},
          ValueRange{xBlocks, amax},
          ValueRange{emptyTensor(b, loc, xSizes, b.getI8Type())},
          {xId, mapOf(ctx, xRank, sIds), xId}, iterators(xRank),
          [&](OpBuilder &nb, Location l, ValueRange args) {
            // 127 / amax, or 0 where amax is 0 (a block of zeros).
            Value inv = DequantizeOp::buildActivationInverse(nb, l, args[1]);
            Value v = arith::MulFOp::create(nb, l, args[0], inv);
            v = math::RoundEvenOp::create(nb, l, v);
            v = arith::MaximumFOp::create(nb, l, v,
                                          floatConst(nb, l, f32, -127.0));
            v = arith::MinimumFOp::create(nb, l, v,
                                          floatConst(nb, l, f32, 127.0));
            linalg::YieldOp::create(
                nb, l,
                arith::FPToSIOp::create(nb, l, nb.getI8Type(), v).getResult());
          })
          .getResult(0);
  xq.getDefiningOp()->setAttr(kActivationBlocksAttr,
                              b.getI64IntegerAttr(perScale));
  return contract(xq, amax);
}

namespace {

/// The decoded values as a tensor: for consumers that are neither a linear
/// layer nor an embedding.
struct DequantizeLowering : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    unsigned rank = type.getRank();
    Value raw = adaptor.getInput();
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < rank; ++d)
      sizes.push_back(rewriter.getIndexAttr(type.getDimSize(d)));
    Value init = emptyTensor(rewriter, loc, sizes, type.getElementType());
    BlockFormat format = op.getFormat();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{
            AffineMap::getMultiDimIdentityMap(rank, rewriter.getContext())},
        iterators(rank), [&](OpBuilder &b, Location l, ValueRange) {
          SmallVector<Value> rows;
          for (unsigned d = 0; d + 1 < rank; ++d)
            rows.push_back(linalg::IndexOp::create(b, l, d));
          Value k = linalg::IndexOp::create(b, l, rank - 1);
          linalg::YieldOp::create(b, l,
                                  decodeBlockValue(b, l, format, raw, rows, k));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void mlir::loom::populateQuantizedToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<DequantizeLowering>(patterns.getContext());
}
