//===- DecodedContraction.cpp - weights decoded block by block ------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The contraction QuantizedPatterns.cpp makes for a linear layer whose
// weight it decodes from the raw bytes of its blocks (q4_1, q5_0, q5_1 and the
// K-quants; marked loom.block_format) becomes loops over blocks of `rows x
// cols` outputs that decode one block of 32 weights at a time into
// registers, as vectors:
//
//   w = s * u + m   for each half of 16 values,
//
// u the 32 unsigned integer values (a K-quant's 2 to 6 bits, with any
// offset moved into m), s and m f32 (a K-quant's super-block scale times
// its sub-block's scale and minimum; q6_k's -32 * s). With f32 activations
// the decoded weights meet x in FMAs. With 8-bit activations (x = x.d *
// x.q per block of 32) a block is one integer dot product, exact, as
// llama.cpp computes its K-quants:
//
//   y += x.d * (s * sum(u * x.q) + m * sum(x.q))   per half,
//
// vpdpbusd (unsigned u by signed x.q) where the target has it, its lanes
// 0-3 summing the first half and 4-7 the second, so one f32 vector holds
// both halves' scales. One token (decode) computes its side once and reads
// the weight rows one after another.
//
// The K-quants with 8-bit activations (x's super-blocks sharing one scale:
// llama.cpp's q8_K) go further where the target has AVX2: a whole
// super-block accumulates in integers, the sub-block scales applied by
// vpmaddwd, and meets its f32 factors once (emitInt8SuperBlocks).
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Contractions.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::loom::detail;
using mlir::loom::BlockFormat;

namespace {

/// Values per block of x (and per decoded block of weights).
constexpr int64_t kBlock = 32;

/// The contraction's shape: y [.., s, n] f32; x [.., s, blocks, 32] f32 or
/// (int8) 8-bit values with their blocks' max |x| [.., s, blocks]; the raw
/// weight [n, format blocks, bytes] i8 the body reads.
struct DecodedShape {
  BlockFormat format;
  unsigned rank;    ///< y's rank
  int64_t blocks;   ///< blocks of 32 in a row of x
  int64_t perBlock; ///< blocks of 32 in a block of the format
  Value raw;
  bool int8;
  /// K-quants with 8-bit activations: the 8 blocks of x in a super-block
  /// share one scale (loom.activation_blocks = 8 on the op).
  bool sharedScale = false;
};

/// The formats decoded here.
bool decodedHere(BlockFormat format) {
  switch (format) {
  case BlockFormat::iq4_nl:
  case BlockFormat::q4_1:
  case BlockFormat::q5_0:
  case BlockFormat::q5_1:
  case BlockFormat::q2_k:
  case BlockFormat::q3_k:
  case BlockFormat::q4_k:
  case BlockFormat::q5_k:
  case BlockFormat::q6_k:
    return true;
  default:
    return false;
  }
}

std::optional<DecodedShape> matchDecoded(linalg::GenericOp op) {
  auto name = op->getAttrOfType<StringAttr>(loom::kBlockFormatAttr);
  if (!name || !op.hasPureBufferSemantics() || op.getNumDpsInits() != 1)
    return std::nullopt;
  std::optional<BlockFormat> format =
      loom::symbolizeBlockFormat(name.getValue());
  unsigned inputs = op.getNumDpsInputs();
  if (!format || !decodedHere(*format) || (inputs != 1 && inputs != 2))
    return std::nullopt;
  DecodedShape shape;
  shape.format = *format;
  shape.int8 = inputs == 2;
  MemRefType x = memrefOperand(op, 0), y = memrefOperand(op, inputs);
  if (!x || !y || !y.getElementType().isF32())
    return std::nullopt;
  shape.rank = y.getRank();
  unsigned rank = shape.rank;
  if (x.getRank() != rank + 1 || op.getNumLoops() != rank + 2 ||
      x.getShape().back() != kBlock || x.isDynamicDim(rank - 1) ||
      !x.isLastDimUnitStride() ||
      !(shape.int8 ? x.getElementType().isInteger(8)
                   : x.getElementType().isF32()))
    return std::nullopt;
  if (shape.int8) {
    MemRefType d = memrefOperand(op, 1);
    if (!d || !d.getElementType().isF32() || d.getRank() != rank)
      return std::nullopt;
  }
  // The maps QuantizedPatterns.cpp writes: loops (.., s, n, blk, v).
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (dimsOf(maps[0]) != leadingLoops(rank - 1, {rank, rank + 1}) ||
      dimsOf(maps.back()) != leadingLoops(rank))
    return std::nullopt;
  // The raw weight: the one buffer from outside the op its body loads
  // from.
  bool single = true;
  op.getRegion().walk([&](memref::LoadOp load) {
    Value m = load.getMemref();
    if (op.getRegion().isAncestor(m.getParentRegion()))
      return;
    single &= !shape.raw || shape.raw == m;
    shape.raw = m;
  });
  if (!single || !shape.raw)
    return std::nullopt;
  auto raw = dyn_cast<MemRefType>(shape.raw.getType());
  shape.perBlock = loom::DequantizeOp::blockValues(*format) / kBlock;
  shape.blocks = x.getDimSize(rank - 1);
  if (!raw || raw.getRank() != 3 || !raw.getElementType().isInteger(8) ||
      !raw.isLastDimUnitStride() || raw.isDynamicDim(1) ||
      raw.getDimSize(2) != loom::DequantizeOp::blockBytes(*format) ||
      raw.getDimSize(1) * shape.perBlock != shape.blocks)
    return std::nullopt;
  auto shared = op->getAttrOfType<IntegerAttr>(loom::kActivationBlocksAttr);
  shape.sharedScale = shape.int8 && shape.perBlock == 8 && shared &&
                      shared.getInt() == shape.perBlock;
  return shape;
}

/// A block of 32 weights: w = s[h] * u + m[h] for the values of half h.
struct WeightBlock {
  Value u; ///< vector<32xi8>, unsigned
  /// s and m as vector<8xf32>, lanes 0-3 the first half's, 4-7 the
  /// second's (the lanes of an integer dot product's sums).
  Value scales, mins;
};

/// A K-quant super-block's factors, one per group of 16 values:
/// vector<16xf32> s (the super-block scale times the group's) and m.
struct SuperScales {
  Value s, m;
};

/// The same factors as integers: w = d * sc * u - dmin * mn in group g,
/// sc and mn vector<16xi32> (a group's 4- to 8-bit scale and its minimum,
/// or the offset of its values times the scale), d and dmin f32.
struct SuperInts {
  Value sc, mn, d, dmin;
};

Value halves(OpBuilder &b, Location l, Value first, Value second);

/// Decodes block `blk` (of 32 values) of weight row `n` from the raw
/// bytes, as ggml-common.h lays the formats out (the same layouts
/// QuantizedPatterns.cpp's decodeBlockValue reads value by value).
class BlockDecoder {
public:
  /// Block `j` (a constant, so that its offsets, shifts and scale choices
  /// fold) of the format's block `block` in row `n`.
  BlockDecoder(OpBuilder &b, Location l, const DecodedShape &shape, Value n,
               Value block, int64_t j)
      : b(b), l(l), raw(shape.raw), n(n), block(block), j(idx(j)) {}

  /// The block's values; a K-quant's factors come from `super` (made by
  /// superScales for this super-block).
  WeightBlock decode(BlockFormat format, const SuperScales *super) {
    switch (format) {
    case BlockFormat::q4_1:
      return uniform(nibbles(4), half(0), half(2));
    case BlockFormat::iq4_nl: {
      // w = d * table[nibble]: u = table[nibble] + 128 (unsigned), m =
      // -128 d.
      Value d = half(0);
      return uniform(lookup(nibbles(2)), d, fmul(d, fconst(-128.0f)));
    }
    case BlockFormat::q5_0:
    case BlockFormat::q5_1:
      return q5(format == BlockFormat::q5_1);
    default:
      break;
    }
    WeightBlock w;
    w.u = superValues(format);
    // Lanes 0-3 group 2j, 4-7 group 2j + 1 (j a constant).
    int64_t jv = getConstantIntValue(j).value_or(0);
    SmallVector<int64_t> lanes;
    for (int64_t i = 0; i < 8; ++i)
      lanes.push_back(2 * jv + i / 4);
    w.scales = vector::ShuffleOp::create(b, l, super->s, super->s, lanes);
    w.mins = vector::ShuffleOp::create(b, l, super->m, super->m, lanes);
    return w;
  }

  /// A K-quant's block: its 32 unsigned values.
  Value superValues(BlockFormat format) {
    switch (format) {
    case BlockFormat::q4_k:
    case BlockFormat::q5_k:
      return q45k(format == BlockFormat::q5_k);
    case BlockFormat::q6_k:
      return q6k();
    case BlockFormat::q3_k:
      return q3k();
    case BlockFormat::q2_k:
      return q2k();
    default:
      llvm_unreachable("not a K-quant");
    }
  }

  /// The factors of the super-block `block` of row `n` as integers,
  /// vectorised: one load of its packed scales, decoded lane by lane.
  SuperInts superInts(BlockFormat format) {
    switch (format) {
    case BlockFormat::q4_k:
    case BlockFormat::q5_k:
      return q45kScales();
    case BlockFormat::q6_k:
      return q6kScales();
    case BlockFormat::q3_k:
      return q3kScales();
    case BlockFormat::q2_k:
      return q2kScales();
    default:
      llvm_unreachable("not a K-quant");
    }
  }

  /// The same as f32 factors: s = d * sc, m = -dmin * mn.
  SuperScales superScales(BlockFormat format) {
    SuperInts i = superInts(format);
    return {scaled(i.d, i.sc), negated(scaled(i.dmin, i.mn))};
  }

private:
  OpBuilder &b;
  Location l;
  Value raw, n, block, j;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, l, v); }
  Value add(Value x, int64_t y) {
    return arith::AddIOp::create(b, l, x, idx(y));
  }
  Value mul(Value x, int64_t y) {
    return arith::MulIOp::create(b, l, x, idx(y));
  }
  Value div(Value x, int64_t y) {
    return arith::DivUIOp::create(b, l, x, idx(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemUIOp::create(b, l, x, idx(y));
  }
  Value addIdx(Value x, Value y) { return arith::AddIOp::create(b, l, x, y); }

  VectorType bytes(int64_t count) {
    return VectorType::get({count}, b.getI8Type());
  }
  Value load(int64_t count, Value offset) {
    return vector::LoadOp::create(b, l, bytes(count), raw,
                                  ValueRange{n, block, offset});
  }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, l, x, y); }
  Value fconst(float v) {
    return arith::ConstantOp::create(b, l, b.getF32FloatAttr(v));
  }
  Value half(int64_t offset) {
    Value lo =
        memref::LoadOp::create(b, l, raw, ValueRange{n, block, idx(offset)});
    Value hi = memref::LoadOp::create(b, l, raw,
                                      ValueRange{n, block, idx(offset + 1)});
    return loom::DequantizeOp::buildScale(b, l, lo, hi);
  }

  // Vector byte arithmetic (vector<32xi8>).
  Value splat(int64_t v) { return splatI8(b, l, bytes(kBlock), v); }
  Value vshr(Value v, Value amount) {
    Value a = arith::IndexCastUIOp::create(b, l, b.getI8Type(), amount);
    return arith::ShRUIOp::create(
        b, l, v, vector::BroadcastOp::create(b, l, bytes(kBlock), a));
  }
  Value vand(Value v, int64_t mask) {
    return arith::AndIOp::create(b, l, v, splat(mask));
  }
  Value vor(Value x, Value y) { return arith::OrIOp::create(b, l, x, y); }
  Value vshl(Value v, int64_t s) {
    return arith::ShLIOp::create(b, l, v, splat(s));
  }
  /// (v >> amount) & mask on 32 bytes.
  Value field(Value v, Value amount, int64_t mask) {
    return vand(vshr(v, amount), mask);
  }

  WeightBlock uniform(Value u, Value s, Value m) {
    return WeightBlock{u, halves(b, l, s, s), halves(b, l, m, m)};
  }

  // Vector arithmetic on i32 lanes, for the packed scales.
  VectorType i32s(int64_t count) {
    return VectorType::get({count}, b.getI32Type());
  }
  Value splat32(int64_t count, int64_t v) {
    return arith::ConstantOp::create(
        b, l, DenseElementsAttr::get(i32s(count), b.getI32IntegerAttr(v)));
  }
  Value lanes32(ArrayRef<int32_t> values) {
    return arith::ConstantOp::create(
        b, l,
        DenseElementsAttr::get(i32s(values.size()), ArrayRef<int32_t>(values)));
  }
  /// Bytes [offset, offset + count) as i32 lanes, zero- or sign-extended.
  Value wideBytes(int64_t count, int64_t offset, bool isSigned = false) {
    Value v = load(count, idx(offset));
    if (isSigned)
      return arith::ExtSIOp::create(b, l, i32s(count), v);
    return arith::ExtUIOp::create(b, l, i32s(count), v);
  }
  Value pick(Value v, ArrayRef<int64_t> lanes) {
    return vector::ShuffleOp::create(b, l, v, v, lanes);
  }
  Value vf32(Value v) {
    auto type = cast<VectorType>(v.getType());
    return arith::SIToFPOp::create(
        b, l, VectorType::get(type.getShape(), b.getF32Type()), v);
  }
  Value scaled(Value factor, Value v) {
    auto type = cast<VectorType>(v.getType());
    return arith::MulFOp::create(
        b, l, vf32(v),
        vector::BroadcastOp::create(b, l, type.clone(b.getF32Type()), factor));
  }
  Value iand(Value v, int64_t mask) {
    return arith::AndIOp::create(
        b, l, v, splat32(cast<VectorType>(v.getType()).getNumElements(), mask));
  }
  Value ishr(Value v, Value amounts) {
    return arith::ShRUIOp::create(b, l, v, amounts);
  }
  Value ishr(Value v, int64_t amount) {
    return ishr(
        v, splat32(cast<VectorType>(v.getType()).getNumElements(), amount));
  }
  Value ishl(Value v, int64_t amount) {
    return arith::ShLIOp::create(
        b, l, v,
        splat32(cast<VectorType>(v.getType()).getNumElements(), amount));
  }
  /// Eight factors (one per block of 32) as sixteen (one per half).
  Value twice(Value v8) {
    SmallVector<int64_t> lanes;
    for (int64_t i = 0; i < 16; ++i)
      lanes.push_back(i / 2);
    return pick(v8, lanes);
  }
  Value negated(Value v) { return arith::NegFOp::create(b, l, v); }

  /// q4_k / q5_k (get_scale_min_k4 for all 8 blocks at once): bytes 4-15;
  /// block j < 4: scale q[j] & 63, minimum q[j + 4] & 63; j >= 4: scale
  /// q[j + 4] & 15 | (q[j - 4] >> 6) << 4, minimum q[j + 4] >> 4 | (q[j]
  /// >> 6) << 4.
  SuperInts q45kScales() {
    Value q = wideBytes(12, 4);
    Value a = pick(q, {0, 1, 2, 3, 8, 9, 10, 11});
    Value bq = pick(q, {4, 5, 6, 7, 8, 9, 10, 11});
    Value c = pick(q, {0, 1, 2, 3, 0, 1, 2, 3});
    Value d = pick(q, {4, 5, 6, 7, 4, 5, 6, 7});
    Value low =
        arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                              lanes32({0, 1, 2, 3, 4, 5, 6, 7}), splat32(8, 4));
    Value sc = arith::SelectOp::create(
        b, l, low, iand(a, 63),
        arith::OrIOp::create(b, l, iand(a, 15), ishl(ishr(c, 6), 4)));
    Value m = arith::SelectOp::create(
        b, l, low, iand(bq, 63),
        arith::OrIOp::create(b, l, ishr(bq, 4), ishl(ishr(d, 6), 4)));
    return {twice(sc), twice(m), half(0), half(2)};
  }

  /// q6_k: 16 int8 scales at 192, d at 208; values minus 32: mn = 32 sc.
  SuperInts q6kScales() {
    Value sc = wideBytes(16, 192, /*isSigned=*/true);
    Value d = half(208);
    return {sc, ishl(sc, 5), d, d};
  }

  /// q3_k: scale g's low nibble in byte g % 8 (the high nibble for g >=
  /// 8), its top 2 bits in byte 8 + g % 4 at bit 2 * (g / 4); minus 32;
  /// d at 108; values minus 4: mn = 4 sc.
  SuperInts q3kScales() {
    Value p = wideBytes(12, 96);
    SmallVector<int64_t> lowAt, highAt;
    SmallVector<int32_t> lowShift, highShift;
    for (int64_t g = 0; g < 16; ++g) {
      lowAt.push_back(g % 8);
      lowShift.push_back(g < 8 ? 0 : 4);
      highAt.push_back(8 + g % 4);
      highShift.push_back(int32_t(2 * (g / 4)));
    }
    Value lo = iand(ishr(pick(p, lowAt), lanes32(lowShift)), 15);
    Value hi = iand(ishr(pick(p, highAt), lanes32(highShift)), 3);
    Value sc = arith::SubIOp::create(
        b, l, arith::OrIOp::create(b, l, lo, ishl(hi, 4)), splat32(16, 32));
    Value d = half(108);
    return {sc, ishl(sc, 2), d, d};
  }

  /// q2_k: 16 bytes, scale in the low nibble, minimum in the high one; d
  /// at 80, dmin at 82.
  SuperInts q2kScales() {
    Value p = wideBytes(16, 0);
    return {iand(p, 15), ishr(p, 4), half(80), half(82)};
  }

  /// q5_0 (d, 32 fifth bits, nibbles) / q5_1 (d, m, bits, nibbles): the
  /// nibbles are q4_0's (low ones values 0-15); bit i of the 32-bit mask
  /// is value i's fifth bit.
  /// The 16 bytes at `at` as 32 nibbles, the low ones values 0-15 (q4_0's
  /// layout).
  Value nibbles(int64_t at) {
    Value packed = load(16, idx(at));
    Value low =
        arith::AndIOp::create(b, l, packed, splatI8(b, l, bytes(16), 15));
    Value high =
        arith::ShRUIOp::create(b, l, packed, splatI8(b, l, bytes(16), 4));
    return vector::ShuffleOp::create(b, l, low, high, concat16());
  }

  /// ggml's kvalues_iq4nl[i] + 128 for the 32 nibbles i: a tree of
  /// selects on the nibble's bits, 8 + 4 + 2 + 1 of them (no byte shuffle
  /// with a variable index is needed, so every x86-64 class takes it).
  Value lookup(Value index) {
    static constexpr int kTable[16] = {-127, -104, -83, -65, -49, -35,
                                       -22,  -10,  1,   13,  25,  38,
                                       53,   69,   89,  113};
    SmallVector<Value> level;
    for (int v : kTable)
      level.push_back(splat(v + 128));
    for (int bit = 0; bit < 4; ++bit) {
      Value set = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                        vand(index, 1 << bit), splat(0));
      SmallVector<Value> next;
      for (size_t i = 0; i < level.size(); i += 2)
        next.push_back(
            arith::SelectOp::create(b, l, set, level[i + 1], level[i]));
      level = std::move(next);
    }
    return level.front();
  }

  WeightBlock q5(bool minimum) {
    int64_t bitsAt = minimum ? 4 : 2, nibblesAt = bitsAt + 4;
    Value low4 = nibbles(nibblesAt);
    // Byte i / 8 of the mask to lane i, then its bit i % 8.
    Value mask = load(4, idx(bitsAt));
    SmallVector<int64_t> spread;
    SmallVector<int8_t> bit;
    for (int64_t i = 0; i < kBlock; ++i) {
      spread.push_back(i / 8);
      bit.push_back(int8_t(uint8_t(1u << (i % 8))));
    }
    Value lanes = vector::ShuffleOp::create(b, l, mask, mask, spread);
    Value bitMask = arith::ConstantOp::create(
        b, l, DenseElementsAttr::get(bytes(kBlock), ArrayRef<int8_t>(bit)));
    Value set = arith::CmpIOp::create(
        b, l, arith::CmpIPredicate::ne,
        arith::AndIOp::create(b, l, lanes, bitMask), splat(0));
    Value fifth = arith::SelectOp::create(b, l, set, splat(16), splat(0));
    Value u = vor(low4, fifth);
    Value d = half(0);
    return uniform(u, d, minimum ? half(2) : fmul(d, fconst(-16.0f)));
  }

  /// q4_k / q5_k: d, dmin, 12 bytes of 6-bit scales and minimums, (q5_k:
  /// 32 bytes of fifth bits, bit j of byte i for value 32j + i), 128 bytes
  /// of nibbles: sub-block j reads bytes 32 * (j / 2) of them, the low
  /// nibbles for even j. w = d * sc * q - dmin * m.
  Value q45k(bool fifth) {
    int64_t qsAt = fifth ? 48 : 16;
    Value u = field(load(kBlock, add(mul(div(j, 2), 32), qsAt)),
                    mul(rem(j, 2), 4), 15);
    if (fifth)
      u = vor(u, vshl(field(load(kBlock, idx(16)), j, 1), 4));
    return u;
  }

  /// q6_k: 128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 scales, d;
  /// q - 32 in 6 bits. Block j of the super-block is quarter j % 4 of half
  /// j / 4 (128 values each).
  Value q6k() {
    Value h = div(j, 4), k = rem(j, 4);
    Value low = field(load(kBlock, addIdx(mul(h, 64), mul(rem(k, 2), 32))),
                      mul(div(k, 2), 4), 15);
    Value high = field(load(kBlock, add(mul(h, 32), 128)), mul(k, 2), 3);
    return vor(low, vshl(high, 4));
  }

  /// q3_k: 32 bytes of high bits (bit 4 * (j / 4) + j % 4 of byte i), 64
  /// bytes of 2-bit values, 12 bytes of 6-bit scales, d; w = d * (sc - 32)
  /// * (q - 4).
  Value q3k() {
    Value h = div(j, 4), k = rem(j, 4);
    Value low = field(load(kBlock, add(mul(h, 32), 32)), mul(k, 2), 3);
    Value high = field(load(kBlock, idx(0)), addIdx(mul(h, 4), k), 1);
    return vor(low, vshl(high, 2));
  }

  /// q2_k: 16 bytes of 4-bit scale (low) and minimum (high) pairs, 64
  /// bytes of 2-bit values, d, dmin; w = d * sc * q - dmin * m.
  Value q2k() {
    Value h = div(j, 4), k = rem(j, 4);
    return field(load(kBlock, add(mul(h, 32), 16)), mul(k, 2), 3);
  }
};

/// A vector<8xf32> holding `first` in lanes 0-3 and `second` in 4-7 (one
/// broadcast where they are the same value).
Value halves(OpBuilder &b, Location l, Value first, Value second) {
  auto v8 = VectorType::get({8}, b.getF32Type());
  Value lo = vector::BroadcastOp::create(b, l, v8, first);
  if (first == second)
    return lo;
  Value hi = vector::BroadcastOp::create(b, l, v8, second);
  SmallVector<bool> upper = {false, false, false, false,
                             true,  true,  true,  true};
  Value mask = arith::ConstantOp::create(
      b, l,
      DenseElementsAttr::get(VectorType::get({8}, b.getI1Type()),
                             ArrayRef<bool>(upper)));
  return arith::SelectOp::create(b, l, mask, hi, lo);
}

/// The per-lane sums of a block's 32 signed bytes, four per lane (lanes
/// 0-3: the first half), as f32.
Value laneSums(OpBuilder &b, Location l, const Int8Isa &dotIsa, Value bytes) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  Value zero = arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(v8i32, b.getI32IntegerAttr(0)));
  Value ones = splatI8(b, l, VectorType::get({32}, b.getI8Type()), 1);
  return arith::SIToFPOp::create(b, l, VectorType::get({8}, b.getF32Type()),
                                 dotU8S8(b, l, dotIsa, zero, ones, bytes,
                                         /*narrow=*/true));
}

/// acc + x.d * (S * dot(u, x.q) + M * sums(x.q)), lane by lane: one block
/// of 32 of a weight row against one of a token. `narrow`: u below 128 (all
/// but IQ4_NL's table + 128), see dotU8S8.
Value accumulateInt8(OpBuilder &b, Location l, const Int8Isa &dotIsa, Value acc,
                     Value u, Value scales, Value mins, Value xBytes,
                     Value xSums, Value xScale, bool narrow) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  auto v8 = VectorType::get({8}, b.getF32Type());
  Value zero = arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(v8i32, b.getI32IntegerAttr(0)));
  Value dot = arith::SIToFPOp::create(
      b, l, v8, dotU8S8(b, l, dotIsa, zero, u, xBytes, narrow));
  Value t = vector::FMAOp::create(b, l, xSums, mins,
                                  arith::MulFOp::create(b, l, dot, scales));
  return vector::FMAOp::create(b, l, t, xScale, acc);
}

/// The loop over a row's blocks of 32, unrolled by a whole block of the
/// format (8 for the K-quants: each super-block's scales are read with
/// constant offsets and its f16 factors once) or by `minUnroll`: `body`
/// gets block `u` of iteration `it` as the x block index and the decoder's
/// (format block, block within it). Blocks left over (q5_x with an odd
/// count) run after the loop with `u` = 0.
struct BlockLoop {
  const DecodedShape &shape;
  int64_t unroll;

  BlockLoop(const DecodedShape &shape, int64_t minUnroll = 1)
      : shape(shape), unroll(std::max(shape.perBlock, minUnroll)) {}

  int64_t iterations() const { return shape.blocks / unroll; }
  int64_t leftOver() const { return shape.blocks % unroll; }

  /// x's block index of block `u` of iteration `it`.
  Value xBlock(OpBuilder &b, Location l, Value it, int64_t u) const {
    Value base = arith::MulIOp::create(
        b, l, it, arith::ConstantIndexOp::create(b, l, unroll));
    return arith::AddIOp::create(b, l, base,
                                 arith::ConstantIndexOp::create(b, l, u));
  }

  /// Block `u` of iteration `it`, decoded from row `n`; a K-quant
  /// super-block's factors are decoded at its first block and kept in
  /// `supers` (per row, for the iteration).
  WeightBlock decode(OpBuilder &b, Location l, Value n, Value it, int64_t u,
                     llvm::DenseMap<Value, SuperScales> &supers) const {
    if (shape.perBlock > 1) {
      // One iteration, one format block (unroll == perBlock).
      BlockDecoder decoder(b, l, shape, n, it, u);
      auto [at, fresh] = supers.try_emplace(n);
      if (fresh)
        at->second = decoder.superScales(shape.format);
      return decoder.decode(shape.format, &at->second);
    }
    return BlockDecoder(b, l, shape, n, xBlock(b, l, it, u), 0)
        .decode(shape.format, nullptr);
  }
};

/// One block of the loop: `u` its place in the unrolled iteration, `xBlk`
/// x's block index, `decode(n)` row n's weights; returns the new
/// accumulators.
using BlockStep = llvm::function_ref<SmallVector<Value>(
    OpBuilder &, Location, int64_t u, Value xBlk,
    llvm::function_ref<WeightBlock(Value n)> decode, ValueRange accs)>;

/// The accumulators after all of a row's blocks (`minUnroll` as in
/// BlockLoop).
SmallVector<Value> emitBlockLoop(OpBuilder &builder, Location loc,
                                 const DecodedShape &shape, int64_t minUnroll,
                                 ValueRange inits, BlockStep step) {
  BlockLoop blocks(shape, minUnroll);
  auto cidx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(builder, loc, v);
  };
  auto loop = scf::ForOp::create(
      builder, loc, cidx(0), cidx(blocks.iterations()), cidx(1), inits,
      [&](OpBuilder &b, Location l, Value it, ValueRange accs) {
        SmallVector<Value> current(accs.begin(), accs.end());
        llvm::DenseMap<Value, SuperScales> supers;
        for (int64_t u = 0; u < blocks.unroll; ++u)
          current = step(
              b, l, u, blocks.xBlock(b, l, it, u),
              [&](Value n) { return blocks.decode(b, l, n, it, u, supers); },
              current);
        scf::YieldOp::create(b, l, current);
      });
  SmallVector<Value> results(loop.getResults());
  for (int64_t u = 0; u < blocks.leftOver(); ++u) {
    // Only where a format block is one block of 32.
    Value blk = cidx(blocks.iterations() * blocks.unroll + u);
    results = step(
        builder, loc, u, blk,
        [&](Value n) {
          return BlockDecoder(builder, loc, shape, n, blk, 0)
              .decode(shape.format, nullptr);
        },
        results);
  }
  return results;
}

/// y[rows x cols block] += x rows . decoded weight rows, f32 activations:
/// per block, each column's 32 weights decoded once into two vectors of 16
/// f32, used for every row.
void emitF32Blocks(OpBuilder &builder, Location loc, linalg::GenericOp op,
                   const DecodedShape &shape, ValueRange lead,
                   ArrayRef<Value> rows, ArrayRef<Value> cols) {
  Value x = op->getOperand(0), y = op->getOperand(1);
  Type f32 = builder.getF32Type();
  auto v16 = VectorType::get({16}, f32);
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0);
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(v16, 0.0f));
  SmallVector<Value> inits(rows.size() * cols.size(), zero);
  SmallVector<Value> sums = emitBlockLoop(
      builder, loc, shape, 1, inits,
      [&](OpBuilder &b, Location l, int64_t, Value blk,
          llvm::function_ref<WeightBlock(Value)> decode, ValueRange accs) {
        SmallVector<std::pair<Value, Value>> w;
        for (Value n : cols) {
          WeightBlock wb = decode(n);
          Value u =
              arith::UIToFPOp::create(b, l, VectorType::get({32}, f32), wb.u);
          Value part[2];
          for (int h = 0; h < 2; ++h) {
            Value values = vector::ExtractStridedSliceOp::create(
                b, l, u, {16 * h}, {16}, {1});
            SmallVector<int64_t> lane(16, 4 * h);
            part[h] = vector::FMAOp::create(
                b, l, values,
                vector::ShuffleOp::create(b, l, wb.scales, wb.scales, lane),
                vector::ShuffleOp::create(b, l, wb.mins, wb.mins, lane));
          }
          w.push_back({part[0], part[1]});
        }
        SmallVector<Value> next;
        for (Value r : rows) {
          SmallVector<Value> at(lead.begin(), lead.end());
          at.append({r, blk, c0});
          SmallVector<Value> at2 = at;
          at2.back() = cidx(b, l, 16);
          Value x0 = vector::LoadOp::create(b, l, v16, x, at);
          Value x1 = vector::LoadOp::create(b, l, v16, x, at2);
          for (auto [j, wj] : llvm::enumerate(w)) {
            Value acc = accs[next.size()];
            acc = vector::FMAOp::create(b, l, x0, wj.first, acc);
            next.push_back(vector::FMAOp::create(b, l, x1, wj.second, acc));
          }
        }
        return next;
      });
  addBlockSums(builder, loc, y, lead, rows, cols, sums);
}

/// y[rows x cols block] += x rows . decoded weight rows, 8-bit activations:
/// one vector<8xf32> accumulator per output, one integer dot product per
/// pair of blocks.
void emitInt8Blocks(OpBuilder &builder, Location loc, linalg::GenericOp op,
                    const DecodedShape &shape, const Int8Isa &dotIsa,
                    ValueRange lead, ArrayRef<Value> rows,
                    ArrayRef<Value> cols) {
  Value xq = op->getOperand(0), xd = op->getOperand(1),
        y = op.getDpsInitOperand(0)->get();
  auto v8 = VectorType::get({8}, builder.getF32Type());
  auto v32i8 = VectorType::get({32}, builder.getI8Type());
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0);
  Value zero =
      arith::ConstantOp::create(builder, loc, DenseElementsAttr::get(v8, 0.0f));
  SmallVector<Value> inits(rows.size() * cols.size(), zero);
  SmallVector<Value> sums = emitBlockLoop(
      builder, loc, shape, 1, inits,
      [&](OpBuilder &b, Location l, int64_t, Value blk,
          llvm::function_ref<WeightBlock(Value)> decode, ValueRange accs) {
        SmallVector<Value> xBytes, xSums, xScales;
        for (Value r : rows) {
          SmallVector<Value> at(lead.begin(), lead.end());
          at.append({r, blk});
          xScales.push_back(vector::BroadcastOp::create(
              b, l, v8, tokenScale(b, l, xd, at, shape.sharedScale)));
          at.push_back(c0);
          Value bytes = vector::LoadOp::create(b, l, v32i8, xq, at);
          xBytes.push_back(bytes);
          xSums.push_back(laneSums(b, l, dotIsa, bytes));
        }
        SmallVector<WeightBlock> w;
        SmallVector<Value> scales, mins;
        for (Value n : cols) {
          w.push_back(decode(n));
          scales.push_back(w.back().scales);
          mins.push_back(w.back().mins);
        }
        SmallVector<Value> next;
        for (size_t i = 0; i < rows.size(); ++i)
          for (size_t j = 0; j < cols.size(); ++j)
            next.push_back(accumulateInt8(
                b, l, dotIsa, accs[i * cols.size() + j], w[j].u, scales[j],
                mins[j], xBytes[i], xSums[i], xScales[i],
                /*narrow=*/shape.format != BlockFormat::iq4_nl));
        return next;
      });
  addBlockSums(builder, loc, y, lead, rows, cols, sums);
}

/// One token's side of the 8-bit dot products (decode), computed once per
/// call before the parallel loop: per block, x.d, the 32 bytes and their
/// lane sums.
struct TokenBlocks {
  Value scale; ///< memref<blocks x f32>
  Value bytes; ///< memref<blocks x 32 x i8>
  Value sums;  ///< memref<blocks x 8 x f32>
};

TokenBlocks prepareTokenBlocks(OpBuilder &b, Location l, linalg::GenericOp op,
                               const DecodedShape &shape,
                               const Int8Isa &dotIsa) {
  Value xq = op->getOperand(0), xd = op->getOperand(1);
  Type i8 = b.getI8Type(), f32 = b.getF32Type();
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  TokenBlocks t;
  t.scale = entryAlloca(b, l, op, MemRefType::get({shape.blocks}, f32));
  t.bytes = entryAlloca(b, l, op, MemRefType::get({shape.blocks, 32}, i8), 32);
  t.sums = entryAlloca(b, l, op, MemRefType::get({shape.blocks, 8}, f32), 32);
  forEachTokenBlock(
      b, l, xd, xq, /*q4=*/false, shape.blocks, t.scale,
      [&](OpBuilder &nb, Location nl, Value blk, Value bytes) {
        vector::StoreOp::create(nb, nl, bytes, t.bytes, ValueRange{blk, c0});
        vector::StoreOp::create(nb, nl, laneSums(nb, nl, dotIsa, bytes), t.sums,
                                ValueRange{blk, c0});
      });
  return t;
}

/// y[lead.., 0, cols[j]] += the token . weight row cols[j], the rows one
/// after another, each read in order into two accumulators taking
/// alternate blocks.
void emitInt8Rows(OpBuilder &builder, Location loc, linalg::GenericOp op,
                  const DecodedShape &shape, const TokenBlocks &token,
                  const Int8Isa &dotIsa, ValueRange lead,
                  ArrayRef<Value> cols) {
  Value y = op.getDpsInitOperand(0)->get();
  auto v8 = VectorType::get({8}, builder.getF32Type());
  auto v32i8 = VectorType::get({32}, builder.getI8Type());
  Value c0 = arith::ConstantIndexOp::create(builder, loc, 0);
  Value zero =
      arith::ConstantOp::create(builder, loc, DenseElementsAttr::get(v8, 0.0f));
  // The rows are short (a few hundred bytes): the thread's stream of them
  // gets a software prefetch about 4 KiB ahead, each cache line of a
  // format block, which keeps more loads in flight than the loop's own.
  auto rawType = cast<MemRefType>(shape.raw.getType());
  int64_t blockBytes = rawType.getDimSize(2);
  int64_t rowBytes = rawType.getDimSize(1) * blockBytes;
  int64_t aheadRows = std::max<int64_t>(1, llvm::divideCeil(4096, rowBytes));
  Value lastRow = memrefDim(builder, loc, shape.raw, 0);
  lastRow = arith::SubIOp::create(
      builder, loc, lastRow, arith::ConstantIndexOp::create(builder, loc, 1));
  for (Value n : cols) {
    SmallVector<Value> accs = emitBlockLoop(
        builder, loc, shape, /*minUnroll=*/2, ValueRange{zero, zero},
        [&](OpBuilder &b, Location l, int64_t u, Value blk,
            llvm::function_ref<WeightBlock(Value)> decode, ValueRange accs) {
          if (u == 0) {
            Value block = blk;
            if (shape.perBlock > 1)
              block = arith::DivUIOp::create(
                  b, l, blk,
                  arith::ConstantIndexOp::create(b, l, shape.perBlock));
            Value ahead = arith::MinUIOp::create(
                b, l,
                arith::AddIOp::create(
                    b, l, n, arith::ConstantIndexOp::create(b, l, aheadRows)),
                lastRow);
            for (int64_t at = 0; at < blockBytes; at += 64)
              memref::PrefetchOp::create(
                  b, l, shape.raw,
                  ValueRange{ahead, block,
                             arith::ConstantIndexOp::create(b, l, at)},
                  /*isWrite=*/false, /*localityHint=*/3,
                  /*isDataCache=*/true);
          }
          WeightBlock w = decode(n);
          Value xScale = vector::BroadcastOp::create(
              b, l, v8,
              memref::LoadOp::create(b, l, token.scale, ValueRange{blk}));
          Value xBytes = vector::LoadOp::create(b, l, v32i8, token.bytes,
                                                ValueRange{blk, c0});
          Value xSums =
              vector::LoadOp::create(b, l, v8, token.sums, ValueRange{blk, c0});
          SmallVector<Value> next(accs.begin(), accs.end());
          next[u % 2] = accumulateInt8(
              b, l, dotIsa, accs[u % 2], w.u, w.scales, w.mins, xBytes, xSums,
              xScale, /*narrow=*/shape.format != BlockFormat::iq4_nl);
          return next;
        });
    Value acc = arith::AddFOp::create(builder, loc, accs[0], accs[1]);
    addBlockSums(builder, loc, y, lead, {c0}, {n}, acc);
  }
}

/// x's sums of every 16 8-bit values, [.., s, super-blocks, 16] i16 (a
/// new buffer, the caller's to free): llama.cpp's q8_K bsums, for the
/// K-quants' minimums. With `scales`, also each super-block's scale x.d,
/// [.., s, super-blocks] f32 (another new buffer), so that the contraction
/// loads it instead of dividing its max |x| by 127 for every tile.
Value groupSums(OpBuilder &b, Location l, const DecodedShape &shape, Value xq,
                Value *scales = nullptr, Value xd = {}) {
  auto xType = cast<MemRefType>(xq.getType());
  unsigned rank = shape.rank;
  SmallVector<int64_t> sizes(xType.getShape().take_front(rank - 1));
  sizes.append({shape.blocks / shape.perBlock, 16});
  SmallVector<Value> dynamic, upper;
  for (unsigned d = 0; d + 1 < rank; ++d) {
    Value size = memrefDim(b, l, xq, d);
    upper.push_back(size);
    if (xType.isDynamicDim(d))
      dynamic.push_back(size);
  }
  Value sums =
      memref::AllocOp::create(b, l, MemRefType::get(sizes, b.getI16Type()),
                              dynamic, b.getI64IntegerAttr(64));
  if (scales)
    *scales = memref::AllocOp::create(
        b, l,
        MemRefType::get(ArrayRef<int64_t>(sizes).drop_back(), b.getF32Type()),
        dynamic, b.getI64IntegerAttr(64));
  Value c0 = arith::ConstantIndexOp::create(b, l, 0),
        c1 = arith::ConstantIndexOp::create(b, l, 1);
  upper.push_back(arith::ConstantIndexOp::create(b, l, sizes[rank - 1]));
  SmallVector<Value> lower(upper.size(), c0), steps(upper.size(), c1);
  auto v16i8 = VectorType::get({16}, b.getI8Type());
  auto v16i16 = VectorType::get({16}, b.getI16Type());
  scf::ParallelOp::create(
      b, l, lower, upper, steps,
      [&](OpBuilder &nb, Location nl, ValueRange at) {
        SmallVector<Value> into(at.begin(), at.end());
        into.push_back(c0);
        SmallVector<Value> from(at.begin(), at.end());
        from.push_back(c0);
        Value first = arith::MulIOp::create(
            nb, nl, at.back(),
            arith::ConstantIndexOp::create(nb, nl, shape.perBlock));
        if (scales) {
          SmallVector<Value> block(at.begin(), at.end());
          block.back() = first;
          memref::StoreOp::create(
              nb, nl, tokenScale(nb, nl, xd, block, shape.sharedScale), *scales,
              at);
        }
        for (int64_t g = 0; g < 16; ++g) {
          from[rank - 1] = arith::AddIOp::create(
              nb, nl, first, arith::ConstantIndexOp::create(nb, nl, g / 2));
          from[rank] = arith::ConstantIndexOp::create(nb, nl, 16 * (g % 2));
          Value values = arith::ExtSIOp::create(
              nb, nl, v16i16, vector::LoadOp::create(nb, nl, v16i8, xq, from));
          into[rank] = arith::ConstantIndexOp::create(nb, nl, g);
          memref::StoreOp::create(
              nb, nl,
              vector::ReductionOp::create(nb, nl, vector::CombiningKind::ADD,
                                          values),
              sums, into);
        }
      });
  return sums;
}

/// y[rows x cols block] += x rows . K-quant weight rows, 8-bit
/// activations whose super-blocks share one scale (QuantizedPatterns.cpp:
/// llama.cpp's q8_K), in integers as llama.cpp computes it:
///
///   y += x.d * (d * sum_g sc_g * sum(u . x.q) - dmin * sum_g mn_g * bsum_g)
///
/// per super-block, g its 16 groups of 16 values. `k` blocks of 32 (1, or
/// 2 on 512-bit vectors) go into each vpmaddubsw (u . x.q in i16 pairs) and
/// vpmaddwd (times the groups' scales, into i32 lanes: one vpdpwssd with
/// VNNI); a super-block's i32 sums and its minimums' (x's group sums
/// against mn) meet the f32 factors once. With `prefetch` (one token), the
/// weight rows `ahead` rows on are prefetched at each super-block. Returns
/// the f32 accumulators, vector<8xf32> for output (rows[i], cols[j]) at
/// i * cols + j, for the caller to sum into y.
SmallVector<Value> emitInt8SuperBlocks(OpBuilder &builder, Location loc,
                                       linalg::GenericOp op,
                                       const DecodedShape &shape, Value sums,
                                       Value scales, int64_t k, bool vnni,
                                       ValueRange lead, ArrayRef<Value> rows,
                                       ArrayRef<Value> cols, bool prefetch) {
  Value xq = op->getOperand(0);
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type(),
       i16 = builder.getI16Type(), i32 = builder.getI32Type();
  auto lanes = VectorType::get({8}, f32);
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(lanes, 0.0f));
  SmallVector<Value> inits(rows.size() * cols.size(), zero);
  auto rawType = cast<MemRefType>(shape.raw.getType());
  int64_t blockBytes = rawType.getDimSize(2);
  int64_t aheadRows = std::max<int64_t>(
      1, llvm::divideCeil(4096, rawType.getDimSize(1) * blockBytes));
  Value lastRow;
  if (prefetch)
    lastRow = arith::SubIOp::create(builder, loc,
                                    memrefDim(builder, loc, shape.raw, 0),
                                    cidx(builder, loc, 1));
  auto loop = scf::ForOp::create(
      builder, loc, cidx(builder, loc, 0),
      cidx(builder, loc, shape.blocks / shape.perBlock), cidx(builder, loc, 1),
      inits, [&](OpBuilder &b, Location l, Value g, ValueRange accs) {
        auto i32s = [&](int64_t n) { return VectorType::get({n}, i32); };
        auto i16s = [&](int64_t n) { return VectorType::get({n}, i16); };
        // The columns' factors: i16 scales and minimums per group.
        SmallVector<SuperInts> factors;
        SmallVector<Value> sc, mn;
        for (Value n : cols) {
          if (prefetch) {
            Value ahead = arith::MinUIOp::create(
                b, l, arith::AddIOp::create(b, l, n, cidx(b, l, aheadRows)),
                lastRow);
            for (int64_t at = 0; at < blockBytes; at += 64)
              memref::PrefetchOp::create(b, l, shape.raw,
                                         ValueRange{ahead, g, cidx(b, l, at)},
                                         /*isWrite=*/false,
                                         /*localityHint=*/3,
                                         /*isDataCache=*/true);
          }
          factors.push_back(
              BlockDecoder(b, l, shape, n, g, 0).superInts(shape.format));
          sc.push_back(
              arith::TruncIOp::create(b, l, i16s(16), factors.back().sc));
          mn.push_back(
              arith::TruncIOp::create(b, l, i16s(16), factors.back().mn));
        }
        Value first = arith::MulIOp::create(b, l, g, cidx(b, l, 8));
        // The rows' scales (x.d) and group sums.
        SmallVector<Value> xScale, xSums;
        for (Value r : rows) {
          SmallVector<Value> at(lead.begin(), lead.end());
          at.append({r, g});
          xScale.push_back(memref::LoadOp::create(b, l, scales, at));
          at.push_back(cidx(b, l, 0));
          xSums.push_back(vector::LoadOp::create(b, l, i16s(16), sums, at));
        }
        auto ints = arith::ConstantOp::create(
            b, l, DenseElementsAttr::get(i32s(8 * k), b.getI32IntegerAttr(0)));
        SmallVector<Value> dots(rows.size() * cols.size(), ints);
        for (int64_t step = 0; step < 8; step += k) {
          // Each column's k blocks of values and their groups' scales
          // (group 2j + h on the i16 lanes of block j's half h).
          SmallVector<Value> u, pair;
          SmallVector<int64_t> spread;
          for (int64_t j = step; j < step + k; ++j)
            for (int64_t i = 0; i < 16; ++i)
              spread.push_back(2 * j + i / 8);
          for (auto [c, n] : llvm::enumerate(cols)) {
            Value v =
                BlockDecoder(b, l, shape, n, g, step).superValues(shape.format);
            if (k == 2)
              v = vector::ShuffleOp::create(
                  b, l, v,
                  BlockDecoder(b, l, shape, n, g, step + 1)
                      .superValues(shape.format),
                  llvm::to_vector(llvm::seq<int64_t>(0, 64)));
            u.push_back(v);
            pair.push_back(
                vector::ShuffleOp::create(b, l, sc[c], sc[c], spread));
          }
          for (auto [i, r] : llvm::enumerate(rows)) {
            SmallVector<Value> at(lead.begin(), lead.end());
            at.append({r, arith::AddIOp::create(b, l, first, cidx(b, l, step)),
                       cidx(b, l, 0)});
            Value xBytes =
                vector::LoadOp::create(b, l, VectorType::get({32}, i8), xq, at);
            if (k == 2) {
              at[at.size() - 2] =
                  arith::AddIOp::create(b, l, first, cidx(b, l, step + 1));
              xBytes = vector::ShuffleOp::create(
                  b, l, xBytes,
                  vector::LoadOp::create(b, l, VectorType::get({32}, i8), xq,
                                         at),
                  llvm::to_vector(llvm::seq<int64_t>(0, 64)));
            }
            for (size_t c = 0; c < cols.size(); ++c) {
              Value &dot = dots[i * cols.size() + c];
              Value pairs = maddUbSw(b, l, u[c], xBytes);
              dot = vnni ? dotWd(b, l, dot, pairs, pair[c])
                         : arith::AddIOp::create(b, l, dot,
                                                 maddWd(b, l, pairs, pair[c]));
            }
          }
        }
        // acc += x.d * (d * dots - dmin * minimums) on 8 lanes (the
        // 512-bit sums folded in halves, exactly, so that every class of
        // CPU runs the same f32 operations); where d is dmin (q3_k, q6_k)
        // the minimums are subtracted in integers.
        SmallVector<Value> next;
        if (k == 2) {
          SmallVector<int64_t> low = llvm::to_vector(llvm::seq<int64_t>(0, 8)),
                               high =
                                   llvm::to_vector(llvm::seq<int64_t>(8, 16));
          for (Value &dot : dots)
            dot = arith::AddIOp::create(
                b, l, vector::ShuffleOp::create(b, l, dot, dot, low),
                vector::ShuffleOp::create(b, l, dot, dot, high));
        }
        SmallVector<Value> d, dmin;
        for (auto [c, n] : llvm::enumerate(cols)) {
          const SuperInts &f = factors[c];
          d.push_back(vector::BroadcastOp::create(b, l, lanes, f.d));
          if (f.dmin != f.d)
            dmin.push_back(vector::BroadcastOp::create(
                b, l, lanes, arith::NegFOp::create(b, l, f.dmin)));
        }
        for (auto [i, r] : llvm::enumerate(rows)) {
          Value dx = vector::BroadcastOp::create(b, l, lanes, xScale[i]);
          for (auto [c, n] : llvm::enumerate(cols)) {
            Value dot = dots[i * cols.size() + c];
            Value minimums = maddWd(b, l, xSums[i], mn[c]);
            Value t;
            if (dmin.empty()) {
              t = arith::MulFOp::create(
                  b, l,
                  arith::SIToFPOp::create(
                      b, l, lanes, arith::SubIOp::create(b, l, dot, minimums)),
                  d[c]);
            } else {
              t = arith::MulFOp::create(
                  b, l, arith::SIToFPOp::create(b, l, lanes, dot), d[c]);
              t = vector::FMAOp::create(
                  b, l, arith::SIToFPOp::create(b, l, lanes, minimums), dmin[c],
                  t);
            }
            next.push_back(
                vector::FMAOp::create(b, l, t, dx, accs[i * cols.size() + c]));
          }
        }
        scf::YieldOp::create(b, l, next);
      });
  return SmallVector<Value>(loop.getResults());
}

/// The rows-in-lanes K-quant kernel's shape: weight rows per task (the i32
/// lanes of a vector: 16 on 512-bit vectors, 8 on 256-bit ones), tokens per
/// register block (3 accumulators each: 8 with 32 registers, 4 with 16),
/// and whether vpdpbusd multiplies (else vpmaddubsw pairs, two 4-byte
/// groups added in i16 and scaled by vpmaddwd).
struct RowLanes {
  int64_t rows;
  int64_t tokens;
  bool vnni;
};
/// Tokens from which a K-quant prefill takes the rows-in-lanes kernel: its
/// decode of each block of rows into a scratch buffer pays off over about
/// 20 tokens.
constexpr int64_t kLaneMinTokens = 32;

/// y[.., s, n] += x . K-quant weight rows, 8-bit activations whose
/// super-blocks share one scale, with the weight rows in the lanes: `lanes`
/// rows per task, decoded once into a scratch buffer of 4-byte groups
/// interleaved row by row ([super-block][k / 4][rows] i32), their groups'
/// scales, minimums and factors beside them; then for each block of tokens
/// and each group of 16 values, the rows' bytes by a token's 4 bytes
/// broadcast: with VNNI 4 vpdpbusd (64 products each on 512-bit vectors,
/// against vpmaddubsw + vpdpwssd for as many) and the group's i32 sums
/// times its scales (vpmulld); without, 4 vpmaddubsw whose i16 pairs are
/// added two groups of 4 bytes at a time (at most 2 x 2 x 63 x 127, no
/// overflow) and scaled by vpmaddwd against the scale in both halves of
/// each row's lane. The minimums by vpmaddwd (vpdpwssd) of the rows'
/// minimum pairs by the token's group-sum pair broadcast, and per
/// super-block
///
///   acc += x.d * (d * sums - dmin * minimums)
///
/// on f32 lanes, one per row: no lane sums, and y is written a token's
/// `lanes` outputs at a time. The integers are those of
/// emitInt8SuperBlocks; the f32 work meets them per super-block whole (not
/// per lane), so the outputs round differently (and no worse).
void emitKQuantRowLanes(OpBuilder &builder, Location loc, linalg::GenericOp op,
                        const DecodedShape &shape, Value sums, Value scales,
                        ArrayRef<Value> leadSizes, Value sSize, int64_t nSize,
                        RowLanes lanes) {
  const int64_t kLaneRows = lanes.rows, kLaneTokens = lanes.tokens;
  Value xq = op->getOperand(0), y = op.getDpsInitOperand(0)->get();
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type(),
       i16 = builder.getI16Type(), i32 = builder.getI32Type();
  int64_t sbs = shape.blocks / shape.perBlock;
  // Whether d is dmin (q3_k, q6_k: the minimums are subtracted in
  // integers), as the decoder says (set while the decode below is built).
  bool dminIsD = false;
  auto vI32 = VectorType::get({kLaneRows}, i32);
  auto vBytes = VectorType::get({4 * kLaneRows}, i8);
  auto vI16 = VectorType::get({2 * kLaneRows}, i16);
  auto vF32 = VectorType::get({kLaneRows}, f32);
  auto cidx = [](OpBuilder &b, Location l, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  // A 4-byte group of `from` at `at` (an i8 or i16 memref) in every lane.
  auto broadcast4 = [&](OpBuilder &b, Location l, Value from, ValueRange at,
                        VectorType as) {
    Type element = cast<MemRefType>(from.getType()).getElementType();
    int64_t n = 32 / element.getIntOrFloatBitWidth();
    Value v =
        vector::LoadOp::create(b, l, VectorType::get({n}, element), from, at);
    Value word = vector::ExtractOp::create(
        b, l, vector::BitCastOp::create(b, l, VectorType::get({1}, i32), v),
        ArrayRef<int64_t>{0});
    return vector::BitCastOp::create(
        b, l, as, vector::BroadcastOp::create(b, l, vI32, word));
  };

  SmallVector<Value> lower(leadSizes.size() + 1, cidx(builder, loc, 0));
  SmallVector<Value> steps(leadSizes.size() + 1, cidx(builder, loc, 1));
  SmallVector<Value> upper(leadSizes.begin(), leadSizes.end());
  upper.push_back(cidx(builder, loc, nSize / kLaneRows));
  auto parallel = scf::ParallelOp::create(
      builder, loc, lower, upper, steps,
      [&](OpBuilder &b, Location l, ValueRange ivs) {
        ValueRange lead = ivs.drop_back();
        Value n0 =
            arith::MulIOp::create(b, l, ivs.back(), cidx(b, l, kLaneRows));
        auto scratch = [&](ArrayRef<int64_t> shapeOf, Type element) {
          return memref::AllocOp::create(b, l,
                                         MemRefType::get(shapeOf, element),
                                         ValueRange{}, b.getI64IntegerAttr(64));
        };
        Value w = scratch({sbs, 64, kLaneRows}, i32);
        Value sc = scratch({sbs, 16, kLaneRows}, i32);
        Value mn = scratch({sbs, 8, kLaneRows}, i32);
        Value dAll = scratch({sbs, 2, kLaneRows}, f32);

        // The rows, decoded: row r's values, scales, minimum pairs and
        // factors in lane r. Each row's are staged whole, then the rows
        // transposed 8 lanes at a time.
        Value valuesIn = scratch({8, kLaneRows, 8}, i32);
        Value scalesIn = scratch({kLaneRows, 16}, i32);
        Value pairsIn = scratch({kLaneRows, 8}, i32);
        auto v8i32 = VectorType::get({8}, i32);
        scf::ForOp::create(
            b, l, cidx(b, l, 0), cidx(b, l, sbs), cidx(b, l, 1), ValueRange{},
            [&](OpBuilder &gb, Location gl, Value g, ValueRange) {
              scf::ForOp::create(
                  gb, gl, cidx(gb, gl, 0), cidx(gb, gl, kLaneRows),
                  cidx(gb, gl, 1), ValueRange{},
                  [&](OpBuilder &rb, Location rl, Value r, ValueRange) {
                    Value n = arith::AddIOp::create(rb, rl, n0, r);
                    SuperInts f = BlockDecoder(rb, rl, shape, n, g, 0)
                                      .superInts(shape.format);
                    dminIsD = f.dmin == f.d;
                    Value groupScales = f.sc;
                    if (!lanes.vnni) {
                      // Each scale in both i16 halves of its lane.
                      Value narrow = arith::TruncIOp::create(
                          rb, rl, VectorType::get({16}, i16), f.sc);
                      SmallVector<int64_t> twice;
                      for (int64_t q = 0; q < 16; ++q)
                        twice.append({q, q});
                      groupScales = vector::BitCastOp::create(
                          rb, rl, VectorType::get({16}, i32),
                          vector::ShuffleOp::create(rb, rl, narrow, narrow,
                                                    twice));
                    }
                    vector::StoreOp::create(rb, rl, groupScales, scalesIn,
                                            ValueRange{r, cidx(rb, rl, 0)});
                    Value pairs = vector::BitCastOp::create(
                        rb, rl, v8i32,
                        arith::TruncIOp::create(
                            rb, rl, VectorType::get({16}, i16), f.mn));
                    vector::StoreOp::create(rb, rl, pairs, pairsIn,
                                            ValueRange{r, cidx(rb, rl, 0)});
                    memref::StoreOp::create(rb, rl, f.d, dAll,
                                            ValueRange{g, cidx(rb, rl, 0), r});
                    memref::StoreOp::create(rb, rl, f.dmin, dAll,
                                            ValueRange{g, cidx(rb, rl, 1), r});
                    for (int64_t j = 0; j < 8; ++j)
                      vector::StoreOp::create(
                          rb, rl,
                          vector::BitCastOp::create(
                              rb, rl, v8i32,
                              BlockDecoder(rb, rl, shape, n, g, j)
                                  .superValues(shape.format)),
                          valuesIn,
                          ValueRange{cidx(rb, rl, j), r, cidx(rb, rl, 0)});
                    scf::YieldOp::create(rb, rl);
                  });
              // The rows of 8 lanes (`from`'s [row, at..]) as 8 vectors of
              // a lane per row, into[g, first + q, ..].
              auto transpose = [&](Value from, ArrayRef<int64_t> at, Value into,
                                   int64_t first) {
                SmallVector<Value> halves[2];
                for (int64_t h = 0; h < kLaneRows / 8; ++h) {
                  SmallVector<Value> rows;
                  for (int64_t r = 0; r < 8; ++r) {
                    SmallVector<Value> index;
                    for (int64_t v : at)
                      index.push_back(cidx(gb, gl, v));
                    index.insert(index.end() - 1, cidx(gb, gl, 8 * h + r));
                    rows.push_back(
                        vector::LoadOp::create(gb, gl, v8i32, from, index));
                  }
                  halves[h] = transposeRows(gb, gl, rows);
                }
                for (int64_t q = 0; q < 8; ++q)
                  vector::StoreOp::create(
                      gb, gl,
                      kLaneRows == 8
                          ? halves[0][q]
                          : vector::ShuffleOp::create(
                                gb, gl, halves[0][q], halves[1][q],
                                llvm::to_vector(llvm::seq<int64_t>(0, 16)))
                                .getResult(),
                      into,
                      ValueRange{g, cidx(gb, gl, first + q), cidx(gb, gl, 0)});
              };
              for (int64_t j = 0; j < 8; ++j)
                transpose(valuesIn, {j, 0}, w, 8 * j);
              transpose(scalesIn, {0}, sc, 0);
              transpose(scalesIn, {8}, sc, 8);
              transpose(pairsIn, {0}, mn, 0);
              scf::YieldOp::create(gb, gl);
            });

        // `count` tokens from t0 against the rows.
        auto tokens = [&](OpBuilder &tb, Location tl, Value t0, int64_t count) {
          auto token = [&](OpBuilder &ob, Location ol, int64_t t) {
            return arith::AddIOp::create(ob, ol, t0, cidx(ob, ol, t));
          };
          Value zeroF = arith::ConstantOp::create(
              tb, tl, DenseElementsAttr::get(vF32, 0.0f));
          Value zeroI = arith::ConstantOp::create(
              tb, tl, DenseElementsAttr::get(vI32, tb.getI32IntegerAttr(0)));
          auto superBlocks = scf::ForOp::create(
              tb, tl, cidx(tb, tl, 0), cidx(tb, tl, sbs), cidx(tb, tl, 1),
              SmallVector<Value>(count, zeroF),
              [&](OpBuilder &gb, Location gl, Value g, ValueRange accs) {
                Value first = arith::MulIOp::create(gb, gl, g, cidx(gb, gl, 8));
                // Blocks j of 32 values, groups 2j and 2j + 1.
                auto blocks = scf::ForOp::create(
                    gb, gl, cidx(gb, gl, 0), cidx(gb, gl, 8), cidx(gb, gl, 1),
                    SmallVector<Value>(count, zeroI),
                    [&](OpBuilder &jb, Location jl, Value j, ValueRange ints) {
                      SmallVector<Value> next(ints);
                      Value blk = arith::AddIOp::create(jb, jl, first, j);
                      for (int64_t h = 0; h < 2; ++h) {
                        Value group = arith::AddIOp::create(
                            jb, jl,
                            arith::MulIOp::create(jb, jl, j, cidx(jb, jl, 2)),
                            cidx(jb, jl, h));
                        SmallVector<Value> dots(count, zeroI), pairSums(count);
                        Value scale = vector::LoadOp::create(
                            jb, jl, vI32, sc,
                            ValueRange{g, group, cidx(jb, jl, 0)});
                        for (int64_t q = 0; q < 4; ++q) {
                          Value kq = arith::AddIOp::create(
                              jb, jl,
                              arith::MulIOp::create(jb, jl, group,
                                                    cidx(jb, jl, 4)),
                              cidx(jb, jl, q));
                          Value rowsBytes = vector::BitCastOp::create(
                              jb, jl, vBytes,
                              vector::LoadOp::create(
                                  jb, jl, vI32, w,
                                  ValueRange{g, kq, cidx(jb, jl, 0)}));
                          for (int64_t t = 0; t < count; ++t) {
                            SmallVector<Value> at(lead.begin(), lead.end());
                            at.append({token(jb, jl, t), blk,
                                       cidx(jb, jl, 16 * h + 4 * q)});
                            Value xb = broadcast4(jb, jl, xq, at, vBytes);
                            if (lanes.vnni) {
                              dots[t] = dotU8S8(
                                  jb, jl, Int8Isa{/*vnni=*/true, /*avx2=*/true},
                                  dots[t], rowsBytes, xb);
                              continue;
                            }
                            Value p = maddUbSw(jb, jl, rowsBytes, xb);
                            if (q % 2 == 0) {
                              pairSums[t] = p;
                              continue;
                            }
                            Value both =
                                arith::AddIOp::create(jb, jl, pairSums[t], p);
                            next[t] = arith::AddIOp::create(
                                jb, jl, next[t],
                                maddWd(jb, jl, both,
                                       vector::BitCastOp::create(jb, jl, vI16,
                                                                 scale)));
                          }
                        }
                        if (lanes.vnni)
                          for (int64_t t = 0; t < count; ++t)
                            next[t] = arith::AddIOp::create(
                                jb, jl, next[t],
                                arith::MulIOp::create(jb, jl, dots[t], scale));
                      }
                      scf::YieldOp::create(jb, jl, next);
                    });
                // The minimums: group pairs (2p, 2p + 1).
                SmallVector<Value> mins(count, zeroI);
                for (int64_t p = 0; p < 8; ++p) {
                  Value pairs = vector::BitCastOp::create(
                      gb, gl, vI16,
                      vector::LoadOp::create(
                          gb, gl, vI32, mn,
                          ValueRange{g, cidx(gb, gl, p), cidx(gb, gl, 0)}));
                  for (int64_t t = 0; t < count; ++t) {
                    SmallVector<Value> at(lead.begin(), lead.end());
                    at.append({token(gb, gl, t), g, cidx(gb, gl, 2 * p)});
                    Value bs = broadcast4(gb, gl, sums, at, vI16);
                    mins[t] =
                        lanes.vnni
                            ? dotWd(gb, gl, mins[t], bs, pairs)
                            : arith::AddIOp::create(gb, gl, mins[t],
                                                    maddWd(gb, gl, bs, pairs))
                                  .getResult();
                  }
                }
                Value d = vector::LoadOp::create(
                    gb, gl, vF32, dAll,
                    ValueRange{g, cidx(gb, gl, 0), cidx(gb, gl, 0)});
                Value negDmin;
                if (!dminIsD)
                  negDmin = arith::NegFOp::create(
                      gb, gl,
                      vector::LoadOp::create(
                          gb, gl, vF32, dAll,
                          ValueRange{g, cidx(gb, gl, 1), cidx(gb, gl, 0)}));
                SmallVector<Value> next;
                for (int64_t t = 0; t < count; ++t) {
                  Value dot = blocks.getResult(t);
                  Value part;
                  if (dminIsD) {
                    part = arith::MulFOp::create(
                        gb, gl,
                        arith::SIToFPOp::create(
                            gb, gl, vF32,
                            arith::SubIOp::create(gb, gl, dot, mins[t])),
                        d);
                  } else {
                    part = vector::FMAOp::create(
                        gb, gl, arith::SIToFPOp::create(gb, gl, vF32, mins[t]),
                        negDmin,
                        arith::MulFOp::create(
                            gb, gl, arith::SIToFPOp::create(gb, gl, vF32, dot),
                            d));
                  }
                  SmallVector<Value> at(lead.begin(), lead.end());
                  at.append({token(gb, gl, t), g});
                  Value dx = vector::BroadcastOp::create(
                      gb, gl, vF32, memref::LoadOp::create(gb, gl, scales, at));
                  next.push_back(
                      vector::FMAOp::create(gb, gl, part, dx, accs[t]));
                }
                scf::YieldOp::create(gb, gl, next);
              });
          for (int64_t t = 0; t < count; ++t) {
            SmallVector<Value> at(lead.begin(), lead.end());
            at.append({token(tb, tl, t), n0});
            Value old = vector::LoadOp::create(tb, tl, vF32, y, at);
            vector::StoreOp::create(
                tb, tl,
                arith::AddFOp::create(tb, tl, old, superBlocks.getResult(t)), y,
                at);
          }
        };
        Value whole = arith::MulIOp::create(
            b, l, arith::DivUIOp::create(b, l, sSize, cidx(b, l, kLaneTokens)),
            cidx(b, l, kLaneTokens));
        scf::ForOp::create(
            b, l, cidx(b, l, 0), whole, cidx(b, l, kLaneTokens), ValueRange{},
            [&](OpBuilder &tb, Location tl, Value t0, ValueRange) {
              tokens(tb, tl, t0, kLaneTokens);
              scf::YieldOp::create(tb, tl);
            });
        scf::ForOp::create(
            b, l, whole, sSize, cidx(b, l, 1), ValueRange{},
            [&](OpBuilder &tb, Location tl, Value t0, ValueRange) {
              tokens(tb, tl, t0, 1);
              scf::YieldOp::create(tb, tl);
            });
        for (Value v : {w, sc, mn, dAll, valuesIn, scalesIn, pairsIn})
          memref::DeallocOp::create(b, l, v);
        scf::ReduceOp::create(b, l);
      });
  // For the runtime's task sizes: the work of one task's block of rows.
  parallel->setAttr(loom::kTileWorkAttr,
                    builder.getI64IntegerAttr(kLaneRows * shape.blocks * 32));
}

/// Tokens per AMX tile (rows of the left operand).
constexpr int64_t kAmxTokens = 16;

/// Per token and block of 32: x.d, x.d * the first half's sum of 8-bit
/// values and x.d * the second's, [.., s, blocks, 3] f32 (a new buffer,
/// the caller's to free), from x's scales and group sums (groupSums).
Value tokenTerms(OpBuilder &b, Location l, const DecodedShape &shape, Value xd,
                 Value sums) {
  auto type = cast<MemRefType>(xd.getType());
  unsigned rank = type.getRank();
  SmallVector<int64_t> shapeOut(type.getShape());
  shapeOut.push_back(3);
  SmallVector<Value> dynamic, upper;
  for (unsigned d = 0; d < rank; ++d) {
    upper.push_back(memrefDim(b, l, xd, d));
    if (type.isDynamicDim(d))
      dynamic.push_back(upper.back());
  }
  Value terms =
      memref::AllocOp::create(b, l, MemRefType::get(shapeOut, b.getF32Type()),
                              dynamic, b.getI64IntegerAttr(64));
  Value c0 = arith::ConstantIndexOp::create(b, l, 0),
        c1 = arith::ConstantIndexOp::create(b, l, 1);
  scf::ParallelOp::create(
      b, l, SmallVector<Value>(rank, c0), upper, SmallVector<Value>(rank, c1),
      [&](OpBuilder &nb, Location nl, ValueRange at) {
        auto cidx = [&](int64_t v) {
          return arith::ConstantIndexOp::create(nb, nl, v);
        };
        Value d = tokenScale(nb, nl, xd, at, shape.sharedScale);
        Value blk = at.back();
        SmallVector<Value> s(at.begin(), at.end());
        s.back() = arith::DivUIOp::create(nb, nl, blk, cidx(shape.perBlock));
        Value half0 = arith::MulIOp::create(
            nb, nl, arith::RemUIOp::create(nb, nl, blk, cidx(shape.perBlock)),
            cidx(2));
        SmallVector<Value> out(at.begin(), at.end());
        out.push_back(cidx(0));
        memref::StoreOp::create(nb, nl, d, terms, out);
        for (int64_t h = 0; h < 2; ++h) {
          SmallVector<Value> si = s;
          si.push_back(arith::AddIOp::create(nb, nl, half0, cidx(h)));
          Value sum =
              arith::SIToFPOp::create(nb, nl, nb.getF32Type(),
                                      memref::LoadOp::create(nb, nl, sums, si));
          out.back() = cidx(1 + h);
          memref::StoreOp::create(nb, nl, arith::MulFOp::create(nb, nl, d, sum),
                                  terms, out);
        }
      });
  return terms;
}

/// K-quant prefill on AMX-INT8 tiles for the weight rows [16 p, 16 p + 16)
/// and tokens [0, `tokens`) (a multiple of 16). The rows are first decoded
/// once (per call) into a buffer of their own in the tiles' layout: per
/// block of 32 values, 8 chunks of 16 rows x 4 unsigned values (the right
/// operand of a tile multiply) and the rows' f32 factors s and m of each
/// half-block (w = s u + m). Then per block, one tdpbsud of 16 tokens'
/// 8-bit values against the 16 rows (two, of 16 values each, where the
/// scales change every 16: q2_k, q3_k, q6_k), and per token
///
///   acc += x.d * (s_lo dot_lo + s_hi dot_hi) + m_lo (x.d bsum_lo) + m_hi
///          (x.d bsum_hi)
///
/// on the 16 rows' lanes, the token's three terms read from `terms`
/// ([.., s, blocks, 3] f32, tokenTerms). (Each block is scaled in f32, where
/// the vector path sums a super-block in integers first: the two agree to f32
/// rounding, not bit for bit.)
void emitAmxKQuantRows(OpBuilder &b, Location l, linalg::GenericOp op,
                       const DecodedShape &shape, Value xBytes, Value terms,
                       Value tokens, ValueRange lead, Value p) {
  Value y = op.getDpsInitOperand(0)->get();
  Type i8 = b.getI8Type(), i32 = b.getI32Type(), f32 = b.getF32Type();
  auto cidx = [&](OpBuilder &nb, int64_t v) {
    return arith::ConstantIndexOp::create(nb, l, v);
  };
  bool halves =
      shape.format != BlockFormat::q4_k && shape.format != BlockFormat::q5_k;
  int64_t depth = halves ? 16 : 32; // values of k per tile multiply
  int64_t blocks = shape.blocks, superBlocks = blocks / shape.perBlock;
  // This task's buffers: values [blocks][8 chunks][16 rows][4] u8 (the two
  // groups side by side in each 64-byte chunk), factors [2][blocks]
  // [s_lo, s_hi, m_lo, m_hi][8] f32, the dot tiles [2 blocks in flight][2
  // halves][16][16] i32.
  Value values =
      memref::AllocOp::create(b, l, MemRefType::get({blocks, 512}, i8),
                              ValueRange{}, b.getI64IntegerAttr(64));
  Value factors =
      memref::AllocOp::create(b, l, MemRefType::get({2, blocks, 4, 8}, f32),
                              ValueRange{}, b.getI64IntegerAttr(64));
  Value dots = memref::AllocOp::create(
      b, l, MemRefType::get({2, 2, kAmxTokens, 16}, i32), ValueRange{},
      b.getI64IntegerAttr(64));
  auto v8i32 = VectorType::get({8}, i32);
  auto v16 = VectorType::get({16}, f32);
  auto v16i32 = VectorType::get({16}, i32);
  // Decoding: per group and super-block, the 8 rows' blocks transposed
  // into chunks, their factors into vectors over the rows.
  scf::ForOp::create(
      b, l, cidx(b, 0), cidx(b, superBlocks), cidx(b, 1), ValueRange{},
      [&](OpBuilder &nb, Location, Value sb, ValueRange) {
        for (int64_t g = 0; g < 2; ++g) {
          Value row0 = arith::AddIOp::create(
              nb, l, arith::MulIOp::create(nb, l, p, cidx(nb, 16)),
              cidx(nb, 8 * g));
          SmallVector<Value> s16, m16;
          SmallVector<SmallVector<Value>> u(8);
          for (int64_t r = 0; r < 8; ++r) {
            Value n = arith::AddIOp::create(nb, l, row0, cidx(nb, r));
            SuperScales f =
                BlockDecoder(nb, l, shape, n, sb, 0).superScales(shape.format);
            s16.push_back(f.s);
            m16.push_back(f.m);
            for (int64_t j = 0; j < 8; ++j)
              u[j].push_back(
                  vector::BitCastOp::create(nb, l, v8i32,
                                            BlockDecoder(nb, l, shape, n, sb, j)
                                                .superValues(shape.format)));
          }
          // Lane r of vector 2j + h: row r's factor of block j, half h.
          Value zero = arith::ConstantOp::create(
              nb, l, DenseElementsAttr::get(v16, 0.0f));
          auto overRows = [&](SmallVector<Value> rows) {
            rows.resize(16, zero);
            return transposeRows(nb, l, rows);
          };
          SmallVector<Value> s = overRows(s16), m = overRows(m16);
          Value gIdx = cidx(nb, g);
          for (int64_t j = 0; j < 8; ++j) {
            Value blk = arith::AddIOp::create(
                nb, l, arith::MulIOp::create(nb, l, sb, cidx(nb, 8)),
                cidx(nb, j));
            SmallVector<Value> chunks = transposeRows(nb, l, u[j]);
            for (int64_t c = 0; c < 8; ++c)
              vector::StoreOp::create(
                  nb, l,
                  vector::BitCastOp::create(nb, l, VectorType::get({32}, i8),
                                            chunks[c]),
                  values, ValueRange{blk, cidx(nb, 64 * c + 32 * g)});
            Value kinds[4] = {s[2 * j], s[2 * j + 1], m[2 * j], m[2 * j + 1]};
            for (int64_t k = 0; k < 4; ++k)
              vector::StoreOp::create(
                  nb, l,
                  vector::ExtractStridedSliceOp::create(nb, l, kinds[k], {0},
                                                        {8}, {1}),
                  factors, ValueRange{gIdx, blk, cidx(nb, k), cidx(nb, 0)});
          }
        }
        scf::YieldOp::create(nb, l);
      });
  auto lhsType = amx::TileType::get({kAmxTokens, depth}, i8);
  auto rhsType = amx::TileType::get({depth / 4, 64}, i8);
  auto accType = amx::TileType::get({kAmxTokens, 16}, i32);
  Value zero =
      arith::ConstantOp::create(b, l, DenseElementsAttr::get(v16, 0.0f));
  // Block blk's dot products of the tokens from t0, into dots[blk % 2].
  auto multiply = [&](OpBuilder &nb, Value t0, Value blk, Value slot) {
    Value k0 = arith::MulIOp::create(nb, l, blk, cidx(nb, 32));
    for (int64_t h = 0; h < 32 / depth; ++h) {
      SmallVector<Value> at(lead.begin(), lead.end());
      at.append({t0, arith::AddIOp::create(nb, l, k0, cidx(nb, depth * h))});
      Value lhs = amx::TileLoadOp::create(nb, l, lhsType, xBytes, at);
      Value rhs = amx::TileLoadOp::create(nb, l, rhsType, values,
                                          ValueRange{blk, cidx(nb, 256 * h)},
                                          cidx(nb, 64));
      Value dot = amx::TileMulIOp::create(
          nb, l, accType, lhs, rhs, amx::TileZeroOp::create(nb, l, accType),
          /*isZextLhs=*/false, /*isZextRhs=*/true);
      amx::TileStoreOp::create(
          nb, l, dots, ValueRange{slot, cidx(nb, h), cidx(nb, 0), cidx(nb, 0)},
          dot);
    }
  };
  // accs + block blk's products, scaled, from dots[blk % 2].
  auto scale = [&](OpBuilder &nb, Value t0, Value blk, Value slot,
                   ValueRange accs) -> SmallVector<Value> {
    SmallVector<int64_t> both = llvm::to_vector(llvm::seq<int64_t>(0, 16));
    auto factor = [&](int64_t k) {
      Value g0 = vector::LoadOp::create(
          nb, l, VectorType::get({8}, f32), factors,
          ValueRange{cidx(nb, 0), blk, cidx(nb, k), cidx(nb, 0)});
      Value g1 = vector::LoadOp::create(
          nb, l, VectorType::get({8}, f32), factors,
          ValueRange{cidx(nb, 1), blk, cidx(nb, k), cidx(nb, 0)});
      return vector::ShuffleOp::create(nb, l, g0, g1, both).getResult();
    };
    Value sLo = factor(0), sHi = factor(1), mLo = factor(2), mHi = factor(3);
    SmallVector<Value> next;
    for (int64_t t = 0; t < kAmxTokens; ++t) {
      Value tok = arith::AddIOp::create(nb, l, t0, cidx(nb, t));
      // x.d, x.d * bsum_lo, x.d * bsum_hi, broadcast.
      auto term = [&](int64_t k) {
        SmallVector<Value> at(lead.begin(), lead.end());
        at.append({tok, blk, cidx(nb, k)});
        return vector::BroadcastOp::create(
            nb, l, v16, memref::LoadOp::create(nb, l, terms, at));
      };
      auto dot = [&](int64_t h) {
        return arith::SIToFPOp::create(
            nb, l, v16,
            vector::LoadOp::create(
                nb, l, v16i32, dots,
                ValueRange{slot, cidx(nb, h), cidx(nb, t), cidx(nb, 0)}));
      };
      Value v = arith::MulFOp::create(nb, l, dot(0), sLo);
      if (halves)
        v = vector::FMAOp::create(nb, l, dot(1), sHi, v);
      Value acc = vector::FMAOp::create(nb, l, v, term(0), accs[t]);
      acc = vector::FMAOp::create(nb, l, term(1), mLo, acc);
      next.push_back(vector::FMAOp::create(nb, l, term(2), mHi, acc));
    }
    return next;
  };
  scf::ForOp::create(
      b, l, cidx(b, 0), tokens, cidx(b, kAmxTokens), ValueRange{},
      [&](OpBuilder &tb, Location, Value t0, ValueRange) {
        // Software-pipelined: block blk + 1's tiles are multiplied before
        // block blk's are scaled, so that the AVX-512 work hides the
        // tiles' latency (and the store of their results).
        SmallVector<Value> sumsOut = emitPipelinedBlocks(
            tb, l, blocks, SmallVector<Value>(kAmxTokens, zero),
            [&](OpBuilder &nb, Value blk, Value slot) {
              multiply(nb, t0, blk, slot);
            },
            [&](OpBuilder &nb, Value blk, Value slot, ValueRange accs) {
              return scale(nb, t0, blk, slot, accs);
            });
        // y[t0 + t, 16 p ..] += acc[t].
        for (int64_t t = 0; t < kAmxTokens; ++t) {
          SmallVector<Value> at(lead.begin(), lead.end());
          at.append({arith::AddIOp::create(tb, l, t0, cidx(tb, t)),
                     arith::MulIOp::create(tb, l, p, cidx(tb, 16))});
          Value old = vector::LoadOp::create(tb, l, v16, y, at);
          vector::StoreOp::create(
              tb, l, arith::AddFOp::create(tb, l, old, sumsOut[t]), y, at);
        }
        scf::YieldOp::create(tb, l);
      });
  for (Value v : {values, factors, dots})
    memref::DeallocOp::create(b, l, v);
}

} // namespace

LogicalResult mlir::loom::detail::lowerDecodedContraction(
    RewriterBase &rewriter, linalg::GenericOp op, int64_t rows, int64_t cols,
    int64_t cacheBytes, const Int8Isa &target) {
  std::optional<DecodedShape> shape = matchDecoded(op);
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
  bool oneToken = rows == 1 && shape->int8 &&
                  isa<FunctionOpInterface>(op->getParentOp()) &&
                  llvm::all_of(yType.getShape().drop_back(),
                               [](int64_t d) { return d == 1; });
  // K-quant prefill on AMX tiles: 16 tokens or more, rows in 16s, one
  // sequence (every leading dimension 1); the rest of the tokens below.
  int64_t tokenCount = yType.getDimSize(rank - 2);
  if (shape->sharedScale && target.amxInt8 && !oneToken &&
      (ShapedType::isDynamic(tokenCount) || tokenCount >= kAmxTokens) &&
      !yType.isDynamicDim(rank - 1) && yType.getDimSize(rank - 1) % 16 == 0 &&
      llvm::all_of(yType.getShape().drop_back(2),
                   [](int64_t d) { return d == 1; })) {
    Value xq = op->getOperand(0);
    Value sums = groupSums(rewriter, loc, *shape, xq);
    // xq as [.., s, blocks * 32]: a tile's rows, one token apart.
    unsigned xRank = cast<MemRefType>(xq.getType()).getRank();
    SmallVector<ReassociationIndices> merge;
    for (unsigned d = 0; d + 2 < xRank; ++d)
      merge.push_back({int64_t(d)});
    merge.push_back({int64_t(xRank - 2), int64_t(xRank - 1)});
    Value xBytes = memref::CollapseShapeOp::create(rewriter, loc, xq, merge);
    Value s = dim(rank - 2);
    Value whole = wholeBlocks(rewriter, loc, s, kAmxTokens);
    SmallVector<Value> lower(leadSizes.size() + 1,
                             arith::ConstantIndexOp::create(rewriter, loc, 0));
    SmallVector<Value> steps(leadSizes.size() + 1,
                             arith::ConstantIndexOp::create(rewriter, loc, 1));
    SmallVector<Value> upper = leadSizes;
    upper.push_back(arith::ConstantIndexOp::create(
        rewriter, loc, yType.getDimSize(rank - 1) / 16));
    Value terms = tokenTerms(rewriter, loc, *shape, op->getOperand(1), sums);
    scf::ParallelOp::create(rewriter, loc, lower, upper, steps,
                            [&](OpBuilder &b, Location l, ValueRange at) {
                              emitAmxKQuantRows(b, l, op, *shape, xBytes, terms,
                                                whole, at.drop_back(),
                                                at.back());
                            });
    memref::DeallocOp::create(rewriter, loc, terms);
    memref::DeallocOp::create(rewriter, loc, sums);
    // The tokens past the last whole tile: the vector path on views.
    linalg::GenericOp rest =
        cloneOnRowsFrom(rewriter, op, {0, 1, 2}, rank - 2, whole);
    rewriter.eraseOp(op);
    Int8Isa vector = target;
    vector.amxInt8 = false;
    return lowerDecodedContraction(rewriter, rest, rows, cols, cacheBytes,
                                   vector);
  }
  if (shape->sharedScale && target.avx2) {
    // K-quants in integers. Each output holds an i32 and an f32 vector
    // accumulator: blocks of 8 tokens x 1 row on 512-bit vectors (32
    // registers), 2 x 2 on 256-bit ones (16 registers; measured on
    // stories110M's shapes, 8 x 1 and 2 x 2 were the fastest of 2 x 1 to
    // 8 x 1 and 2 x 2 to 4 x 2). One token: one weight row at a time (on
    // a Zen 4, one row decoded stories110M's Q4_K_M at 0.94-1.12x llama.cpp
    // and Q6_K at 1.20-1.24x, against 0.80x and 0.71x with two rows and
    // 0.58x and 0.63x with four; the rows' prefetch ahead is worth as much
    // again: two rows without it measured 0.55x and 0.44x). On 256-bit
    // vectors too: code for x86-64-v3 on the same Zen 4 decoded Q4_K_M
    // 22% and Q6_K 37% faster with one row than with two.
    //
    // Several tokens on 512-bit vectors: blocks of 8 tokens x 8 rows, each
    // row an 8 x 1 register block after the other, their sums transposed
    // so that y is written 8 outputs of a token at a time, and the 8
    // tokens' activations read from L1 for the 8 rows. (With one weight
    // row per block, the lane sums and y's outputs one token apart took a
    // fifth of stories110M's Q6_K prefill, and every block read its
    // tokens' activations from L2 again.)
    int64_t k = target.avx512bw ? 2 : 1;
    bool rowsInTurn = k == 2 && !oneToken;
    int64_t tileRows = oneToken ? 1 : k == 2 ? 8 : 2;
    int64_t tileCols = oneToken ? 1 : k == 1 ? 2 : 8;
    bool dotVnni = k == 2 ? target.avx512vnni : target.vnni;
    Value scales;
    Value sums = groupSums(rewriter, loc, *shape, op->getOperand(0), &scales,
                           op->getOperand(1));
    // kLaneMinTokens tokens or more: the rows-in-lanes kernel, 16 rows on
    // 512-bit vectors with AVX512-VNNI, else 8 on 256-bit ones (vpdpbusd
    // with AVX-VNNI); the blocks below otherwise.
    int64_t nSize = yType.getDimSize(rank - 1);
    std::optional<OpBuilder::InsertionGuard> guard;
    RowLanes lanes =
        target.avx512vnni ? RowLanes{16, 8, true} : RowLanes{8, 4, target.vnni};
    if (!oneToken && !ShapedType::isDynamic(nSize) && nSize % lanes.rows == 0) {
      Value many = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::uge, dim(rank - 2),
          arith::ConstantIndexOp::create(rewriter, loc, kLaneMinTokens));
      auto choice = scf::IfOp::create(rewriter, loc, many, /*else=*/true);
      guard.emplace(rewriter);
      rewriter.setInsertionPoint(choice.thenBlock()->getTerminator());
      emitKQuantRowLanes(rewriter, loc, op, *shape, sums, scales, leadSizes,
                         dim(rank - 2), nSize, lanes);
      rewriter.setInsertionPoint(choice.elseBlock()->getTerminator());
    }
    emitBlockedLoops(
        rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), tileRows,
        tileCols, tileRows * tileCols * 32,
        tileRows > 1 ? chunkRows(rewriter, loc, cacheBytes,
                                 arith::ConstantIndexOp::create(rewriter, loc,
                                                                shape->blocks),
                                 kInt8BlockBytes, tileRows)
                     : Value(),
        [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
            ArrayRef<Value> colIdx) {
          if (!rowsInTurn || colIdx.size() == 1) {
            addBlockSums(b, l, y, lead, rowIdx, colIdx,
                         emitInt8SuperBlocks(b, l, op, *shape, sums, scales, k,
                                             dotVnni, lead, rowIdx, colIdx,
                                             oneToken));
            return;
          }
          // The columns in turn, their lane sums passed down 8 registers
          // (after the loop, column j's in the j-th).
          Value zero = arith::ConstantOp::create(
              b, l,
              DenseElementsAttr::get(VectorType::get({8}, b.getF32Type()),
                                     0.0f));
          auto c = [&](int64_t v) {
            return arith::ConstantIndexOp::create(b, l, v);
          };
          auto columns = scf::ForOp::create(
              b, l, c(0), c(colIdx.size()), c(1),
              SmallVector<Value>(colIdx.size(), zero),
              [&](OpBuilder &cb, Location cl, Value j, ValueRange queue) {
                Value n = arith::AddIOp::create(cb, cl, colIdx.front(), j);
                SmallVector<Value> accs =
                    emitInt8SuperBlocks(cb, cl, op, *shape, sums, scales, k,
                                        dotVnni, lead, rowIdx, {n}, false);
                SmallVector<Value> next(queue.drop_front());
                next.push_back(sumLanesOf8(cb, cl, accs));
                scf::YieldOp::create(cb, cl, next);
              });
          addTransposedSums(b, l, y, lead, rowIdx.front(), colIdx.front(),
                            SmallVector<Value>(columns.getResults()));
        });
    guard.reset();
    memref::DeallocOp::create(rewriter, loc, scales);
    memref::DeallocOp::create(rewriter, loc, sums);
    rewriter.eraseOp(op);
    return success();
  }
  if (oneToken) {
    TokenBlocks token = prepareTokenBlocks(rewriter, loc, op, *shape, target);
    emitBlockedLoops(rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), 1,
                     cols, 64, Value(),
                     [&](OpBuilder &b, Location l, ValueRange lead,
                         ArrayRef<Value>, ArrayRef<Value> colIdx) {
                       emitInt8Rows(b, l, op, *shape, token, target, lead,
                                    colIdx);
                     });
    rewriter.eraseOp(op);
    return success();
  }
  emitBlockedLoops(
      rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), rows, cols,
      rows * cols * 32,
      rows > 1 ? chunkRows(rewriter, loc, cacheBytes,
                           arith::ConstantIndexOp::create(rewriter, loc,
                                                          shape->blocks),
                           shape->int8 ? kInt8BlockBytes : 32 * 4, rows)
               : Value(),
      [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
          ArrayRef<Value> colIdx) {
        if (shape->int8)
          emitInt8Blocks(b, l, op, *shape, target, lead, rowIdx, colIdx);
        else
          emitF32Blocks(b, l, op, *shape, lead, rowIdx, colIdx);
      });
  rewriter.eraseOp(op);
  return success();
}
