//===- QuantizedPatterns.cpp - block-quantized weights --------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// GGUF's q8_0, q4_0 and q4_1 blocks decoded where the values are used. A linear
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

static constexpr int64_t kBlock = DequantizeOp::kBlockValues;

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

/// The value of a q4_1 nibble (`high` selects it) as f32: 0 to 15.
static Value unsignedNibble(OpBuilder &b, Location loc, Value byte,
                            Value high) {
  Type i32 = b.getI32Type();
  Value v = arith::ExtUIOp::create(b, loc, i32, byte);
  auto c = [&](int64_t x) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(i32, x));
  };
  Value nibble = arith::SelectOp::create(
      b, loc, high, arith::ShRUIOp::create(b, loc, v, c(4)),
      arith::AndIOp::create(b, loc, v, c(15)));
  return arith::UIToFPOp::create(b, loc, b.getF32Type(), nibble);
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

Value lowering::decodeBlockValue(OpBuilder &b, Location loc, BlockFormat format,
                                 Value raw, ValueRange rows, Value k) {
  auto c = [&](int64_t x) { return arith::ConstantIndexOp::create(b, loc, x); };
  Value block = arith::DivUIOp::create(b, loc, k, c(kBlock));
  Value j = arith::RemUIOp::create(b, loc, k, c(kBlock));
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
  Value scaleAt =
      inGroup ? arith::MulIOp::create(b, loc, inGroup, c(2)) : c(0).getResult();
  Value scale = DequantizeOp::buildScale(
      b, loc, byteAt(scaleAt),
      byteAt(arith::AddIOp::create(b, loc, scaleAt, c(1))));
  if (format == BlockFormat::q4_1) {
    // d * q + m, the nibbles after the two f16s.
    Value half = c(kBlock / 2);
    Value high =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, j, half);
    Value byte = byteAt(arith::AddIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, j, half), c(4)));
    Value min = DequantizeOp::buildScale(b, loc, byteAt(c(2)), byteAt(c(3)));
    return arith::AddFOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, unsignedNibble(b, loc, byte, high),
                              scale),
        min);
  }
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
/// blocks have scale amax / 127), `out` is y ([.., s, n]). Loops (.., s, g,
/// r, blk, [half,] c, t): output n = 8g + r; value 4c + t of the block (of
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
  int64_t blocks = rawType.getDimSize(1);
  // q4_0x8 and q8_0x8 take x as q4_0 and q8_0 do; only the weight's layout
  // differs.
  bool interleaved = DequantizeOp::blockRows(format) > 1;
  // q4_1 is laid out as q4_0, with an f16 minimum after the scale.
  bool q41 = format == BlockFormat::q4_1;
  bool q4 = q41 || format == BlockFormat::q4_0 || format == BlockFormat::q4_0x8;
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
  Value values = byteSlice(b, loc, raw, q41 ? 4 : 2, q4 ? kBlock / 2 : kBlock);
  Value lo = byteSlice(b, loc, raw, 0, 1), hi = byteSlice(b, loc, raw, 1, 1);
  Value minLo = q41 ? byteSlice(b, loc, raw, 2, 1) : Value();
  Value minHi = q41 ? byteSlice(b, loc, raw, 3, 1) : Value();
  // q4_1: a weight d * q + m from the bytes of its value, scale and minimum.
  auto q41Weight = [&](OpBuilder &nb, Location l, Value byte, Value dLo,
                       Value dHi, Value mLo, Value mHi) -> Value {
    Value d = DequantizeOp::buildScale(nb, l, dLo, dHi);
    Value m = DequantizeOp::buildScale(nb, l, mLo, mHi);
    Value q = unsignedNibble(nb, l, byte, inHighHalf(nb, l));
    return arith::AddFOp::create(nb, l, arith::MulFOp::create(nb, l, q, d), m);
  };
  Value out = init ? init : filledTensor(b, loc, outSizes, b.getF32Type(), 0.0);
  auto fastmath =
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  unsigned reductions = numLoops - rank;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();

  // A block's scale from its max |x|: d = amax / 127.
  auto blockScale = [&](OpBuilder &nb, Location l, Value amax) -> Value {
    return arith::DivFOp::create(nb, l, amax, floatConst(nb, l, f32, 127.0));
  };
  // q4_1: y += x * (w.d * w.q + w.m), x either f32 (`amax` null) or the
  // 8-bit blocks of x, as llama.cpp's q8_1 activations meet q4_1 weights
  // (x = x.d * x.q).
  auto q41Contraction = [&](Value xIn, Value amax) -> Value {
    SmallVector<Value> inputs = {xIn};
    SmallVector<AffineMap> maps = {mapOf(ctx, numLoops, xDims)};
    if (amax) {
      inputs.push_back(amax);
      maps.push_back(mapOf(ctx, numLoops, scaleDims));
    }
    inputs.append({values, lo, hi, minLo, minHi});
    maps.push_back(mapOf(ctx, numLoops, {n, blk, valueLoop}));
    maps.append(4, mapOf(ctx, numLoops, {n, blk}));
    maps.push_back(mapOf(ctx, numLoops, outDims));
    return linalg::GenericOp::create(
               b, loc, TypeRange{out.getType()}, inputs, ValueRange{out}, maps,
               iterators(rank, reductions),
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 ValueRange weight = args.slice(amax ? 2 : 1, 5);
                 Value w = q41Weight(nb, l, weight[0], weight[1], weight[2],
                                     weight[3], weight[4]);
                 Value xf = args[0];
                 if (amax)
                   xf = arith::MulFOp::create(
                       nb, l, arith::SIToFPOp::create(nb, l, f32, args[0]),
                       blockScale(nb, l, args[1]));
                 Value p = arith::MulFOp::create(nb, l, xf, w, fastmath);
                 Value s =
                     arith::AddFOp::create(nb, l, args.back(), p, fastmath);
                 linalg::YieldOp::create(nb, l, s);
               })
        .getResult(0);
  };

  if (!int8Activations) {
    if (q41)
      return q41Contraction(xBlocks, Value());
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
  // q8_0 and q4_0 weights: per block of 32 values d = max|x| / 127, and
  // q = roundeven(x * (1 / d)) (0 where d is 0), so x ~ d * q. The blocks of
  // x and w then meet in integer dot products: y += (x.d * w.d) *
  // sum(x.q * w.q) per block.
  unsigned xRank = xShape.size(), scaleRank = rank;
  SmallVector<AffineMap> maps = {mapOf(ctx, numLoops, xDims),
                                 mapOf(ctx, numLoops, scaleDims),
                                 mapOf(ctx, numLoops, {n, blk, valueLoop}),
                                 mapOf(ctx, numLoops, {n, blk}),
                                 mapOf(ctx, numLoops, {n, blk}),
                                 mapOf(ctx, numLoops, outDims)};
  auto contract = [&](Value xq, Value amax) -> Value {
    if (q41)
      return q41Contraction(xq, amax);
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
      if (!made || !made->hasAttr(kActivationBlocksAttr))
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
  AffineMap xId = AffineMap::getMultiDimIdentityMap(xRank, ctx);
  Value xq =
      linalg::GenericOp::create(
          b, loc, TypeRange{RankedTensorType::get(xShape, b.getI8Type())},
          ValueRange{xBlocks, amax},
          ValueRange{emptyTensor(b, loc, xSizes, b.getI8Type())},
          {xId, mapOf(ctx, xRank, sIds), xId}, iterators(xRank),
          [&](OpBuilder &nb, Location l, ValueRange args) {
            // 1 / d, or 0 where d is 0 (a block of zeros).
            Value zero = floatConst(nb, l, f32, 0.0);
            Value d = blockScale(nb, l, args[1]);
            Value inv =
                arith::DivFOp::create(nb, l, floatConst(nb, l, f32, 1.0), d);
            Value isZero = arith::CmpFOp::create(
                nb, l, arith::CmpFPredicate::OEQ, d, zero);
            inv = arith::SelectOp::create(nb, l, isZero, zero, inv);
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
  xq.getDefiningOp()->setAttr(kActivationBlocksAttr, b.getUnitAttr());
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
