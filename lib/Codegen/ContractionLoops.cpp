//===- ContractionLoops.cpp - loops and helpers the contractions share ----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// What more than one of the contraction lowerings uses (declared in
// ContractionLoops.h): the emitter of the scf.parallel over blocks of
// `rows x cols` outputs, with its whole and edge blocks and its chunks of
// rows sized to the L2; the test for a multiply-add body; and the pieces of
// the 8-bit block dot products that the block-quantized and the interleaved
// lowerings both build (vpdpbusd or its widened form, a token block's scale
// and bytes, the stack buffers of a decode call).
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;

namespace mlir::loom::detail {

//===----------------------------------------------------------------------===//
// Matching
//===----------------------------------------------------------------------===//

std::optional<unsigned> dimOf(AffineExpr e) {
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return d.getPosition();
  return std::nullopt;
}

/// The value `arg` reaches the multiplication as: itself, or widened from
/// f16/bf16 by an arith.extf (a 16-bit weight read in place).
static bool isOperand(Value v, Value arg) {
  if (v == arg)
    return true;
  auto ext = v.getDefiningOp<arith::ExtFOp>();
  return ext && ext.getIn() == arg && ext.getType().isF32() &&
         (arg.getType().isF16() || arg.getType().isBF16());
}

bool isMultiplyAdd(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = dyn_cast<linalg::YieldOp>(body.getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return false;
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  Value a = body.getArgument(0), b = body.getArgument(1),
        out = body.getArgument(2);
  auto mul = add.getRhs().getDefiningOp<arith::MulFOp>();
  Value other = add.getLhs();
  if (!mul) {
    mul = add.getLhs().getDefiningOp<arith::MulFOp>();
    other = add.getRhs();
  }
  if (!mul || other != out || !out.getType().isF32())
    return false;
  bool mulOk = (isOperand(mul.getLhs(), a) && isOperand(mul.getRhs(), b)) ||
               (isOperand(mul.getLhs(), b) && isOperand(mul.getRhs(), a));
  // Nothing else in the body: the extf ops, the multiply, the add.
  size_t widened = 0;
  for (Operation &o : body.without_terminator())
    widened += isa<arith::ExtFOp>(o);
  return mulOk && body.getOperations().size() == 3 + widened;
}

MemRefType memrefOperand(linalg::GenericOp op, unsigned i) {
  return dyn_cast<MemRefType>(op->getOperand(i).getType());
}

//===----------------------------------------------------------------------===//
// Loops
//===----------------------------------------------------------------------===//

SmallVector<Value> sizesOfLoops(RewriterBase &rewriter, linalg::GenericOp op) {
  Location loc = op.getLoc();
  SmallVector<Value> sizes;
  for (Range r : cast<linalg::LinalgOp>(op.getOperation())
                     .createLoopRanges(rewriter, loc))
    sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, r.size));
  return sizes;
}

Value memrefDim(OpBuilder &b, Location loc, Value v, unsigned d) {
  auto type = cast<MemRefType>(v.getType());
  if (!type.isDynamicDim(d))
    return arith::ConstantIndexOp::create(b, loc, type.getDimSize(d));
  return memref::DimOp::create(b, loc, v, d);
}

SmallVector<Value> leadingDims(OpBuilder &b, Location loc, Value v,
                               unsigned inner) {
  SmallVector<Value> sizes;
  unsigned rank = cast<MemRefType>(v.getType()).getRank();
  for (unsigned d = 0; d + inner < rank; ++d)
    sizes.push_back(memrefDim(b, loc, v, d));
  return sizes;
}

void emitBlockedLoops(RewriterBase &rewriter, Location loc,
                      ArrayRef<Value> leadSizes, Value sSize, Value nSize,
                      int64_t rows, int64_t cols, int64_t work, Value chunk,
                      BlockFn emitBlock) {
  Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value cr = arith::ConstantIndexOp::create(rewriter, loc, rows);
  Value cc = arith::ConstantIndexOp::create(rewriter, loc, cols);
  // Rows [sLo, sHi) as blocks.
  auto emitParallel = [&](OpBuilder &builder, Location pl, Value sLo,
                          Value sHi) {
    SmallVector<Value> lbs(leadSizes.size() + 2, c0);
    SmallVector<Value> steps(leadSizes.size() + 2, c1);
    SmallVector<Value> ubs(leadSizes);
    // Column blocks outside row blocks: a block of weight rows stays in L1
    // while every token's block passes by, and the runtime splits the
    // weight rows across threads. (Rows outside streamed the whole weight
    // matrix once per 4 tokens.)
    ubs.push_back(arith::CeilDivUIOp::create(builder, pl, nSize, cc));
    ubs.push_back(arith::CeilDivUIOp::create(
        builder, pl, arith::SubIOp::create(builder, pl, sHi, sLo), cr));
    unsigned numLead = leadSizes.size();
    auto parallel = scf::ParallelOp::create(
        builder, pl, lbs, ubs, steps,
        [&](OpBuilder &b, Location l, ValueRange ivs) {
          ValueRange lead = ivs.take_front(numLead);
          Value n0 = arith::MulIOp::create(b, l, ivs[numLead], cc);
          Value s0 = arith::AddIOp::create(
              b, l, sLo, arith::MulIOp::create(b, l, ivs[numLead + 1], cr));
          Value sEnd = arith::MinUIOp::create(
              b, l, sHi, arith::AddIOp::create(b, l, s0, cr));
          Value nEnd = arith::MinUIOp::create(
              b, l, nSize, arith::AddIOp::create(b, l, n0, cc));
          auto whole = [&](Value begin, Value end, Value size) {
            return arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::eq,
                arith::SubIOp::create(b, l, end, begin), size);
          };
          Value full = arith::AndIOp::create(b, l, whole(s0, sEnd, cr),
                                             whole(n0, nEnd, cc));
          scf::IfOp::create(
              b, l, full,
              [&](OpBuilder &tb, Location tl) {
                auto offsets = [&](Value base, int64_t count) {
                  SmallVector<Value> idx;
                  for (int64_t i = 0; i < count; ++i)
                    idx.push_back(arith::AddIOp::create(
                        tb, tl, base,
                        arith::ConstantIndexOp::create(tb, tl, i)));
                  return idx;
                };
                emitBlock(tb, tl, lead, offsets(s0, rows), offsets(n0, cols));
                scf::YieldOp::create(tb, tl);
              },
              [&](OpBuilder &eb, Location el) {
                // An edge block: one output at a time.
                scf::ForOp::create(
                    eb, el, s0, sEnd, c1, ValueRange{},
                    [&](OpBuilder &rb, Location rl, Value r, ValueRange) {
                      scf::ForOp::create(
                          rb, rl, n0, nEnd, c1, ValueRange{},
                          [&](OpBuilder &cb, Location cl, Value c, ValueRange) {
                            emitBlock(cb, cl, lead, {r}, {c});
                            scf::YieldOp::create(cb, cl);
                          });
                      scf::YieldOp::create(rb, rl);
                    });
                scf::YieldOp::create(eb, el);
              });
          scf::ReduceOp::create(b, l);
        });
    // For the runtime's task sizes: loom-outline-parallel-loops multiplies
    // in the trip counts of the loops inside.
    parallel->setAttr(loom::kTileWorkAttr, builder.getI64IntegerAttr(work));
  };
  if (!chunk) {
    emitParallel(rewriter, loc, c0, sSize);
    return;
  }
  // Chunks of rows that stay in L2 while the weights stream past.
  scf::ForOp::create(rewriter, loc, c0, sSize, chunk, ValueRange{},
                     [&](OpBuilder &b, Location l, Value s, ValueRange) {
                       Value end = arith::MinUIOp::create(
                           b, l, sSize, arith::AddIOp::create(b, l, s, chunk));
                       emitParallel(b, l, s, end);
                       scf::YieldOp::create(b, l);
                     });
}

Value chunkRows(OpBuilder &b, Location loc, int64_t cacheBytes, Value kSize,
                int64_t bytesPerK, int64_t rows) {
  if (cacheBytes <= 0)
    return {};
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value rowBytes = arith::MulIOp::create(b, loc, kSize, c(bytesPerK));
  Value fit = arith::DivUIOp::create(b, loc, c(cacheBytes / 2), rowBytes);
  Value whole = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, fit, c(rows)), c(rows));
  return arith::MaxUIOp::create(b, loc, whole, c(rows));
}

//===----------------------------------------------------------------------===//
// 8-bit blocks
//===----------------------------------------------------------------------===//

/// acc + vpmaddwd(vpmaddubsw(a, bv), 1): lane i sums bytes 4i..4i+3, as
/// vpdpbusd does, exact where no i16 pair saturates (a's bytes below 128).
static Value dotU8S8Pairs(OpBuilder &b, Location l, Value acc, Value a,
                          Value bv) {
  Value ones = arith::ConstantOp::create(
      b, l,
      DenseElementsAttr::get(VectorType::get({16}, b.getI16Type()),
                             b.getI16IntegerAttr(1)));
  return arith::AddIOp::create(b, l, acc,
                               maddWd(b, l, maddUbSw(b, l, a, bv), ones));
}

/// acc + the dot products of any unsigned bytes `a` by signed `bv` without
/// VNNI, exactly, in vpdpbusd's lanes: a = 16 hi + lo, each nibble's
/// vpmaddubsw pairs unsaturated (at most 2 x 15 x 128), summed by vpmaddwd
/// by 1 and by 16.
static Value dotU8S8Nibbles(OpBuilder &b, Location l, Value acc, Value a,
                            Value bv) {
  auto bytes = cast<VectorType>(a.getType());
  auto i16s = VectorType::get({bytes.getNumElements() / 2}, b.getI16Type());
  Value lo = arith::AndIOp::create(b, l, a, splatI8(b, l, bytes, 15));
  Value hi = arith::ShRUIOp::create(b, l, a, splatI8(b, l, bytes, 4));
  auto splat16 = [&](int64_t v) {
    return arith::ConstantOp::create(
        b, l, DenseElementsAttr::get(i16s, b.getI16IntegerAttr(v)));
  };
  Value sum = arith::AddIOp::create(
      b, l, acc, maddWd(b, l, maddUbSw(b, l, lo, bv), splat16(1)));
  return arith::AddIOp::create(
      b, l, sum, maddWd(b, l, maddUbSw(b, l, hi, bv), splat16(16)));
}

/// acc + the dot products without VNNI or AVX2: widened to i32, lane i
/// summing bytes 4i..4i+3 (gathered by four shuffles).
static Value dotU8S8Widened(OpBuilder &b, Location l, Value acc, Value a,
                            Value bv) {
  auto v32i32 = VectorType::get({32}, b.getI32Type());
  Value p = arith::MulIOp::create(b, l, arith::ExtUIOp::create(b, l, v32i32, a),
                                  arith::ExtSIOp::create(b, l, v32i32, bv));
  Value sum = acc;
  for (int64_t c = 0; c < 4; ++c) {
    SmallVector<int64_t> mask;
    for (int64_t i = 0; i < 8; ++i)
      mask.push_back(4 * i + c);
    sum = arith::AddIOp::create(b, l, sum,
                                vector::ShuffleOp::create(b, l, p, p, mask));
  }
  return sum;
}

Value dotU8S8(OpBuilder &b, Location l, const Int8Isa &form, Value acc, Value a,
              Value bv, bool narrow) {
  if (!form.vnni && !form.avx2)
    return dotU8S8Widened(b, l, acc, a, bv);
  if (!form.vnni)
    return narrow ? dotU8S8Pairs(b, l, acc, a, bv)
                  : dotU8S8Nibbles(b, l, acc, a, bv);
  bool wide = cast<VectorType>(acc.getType()).getNumElements() == 16;
  return LLVM::CallIntrinsicOp::create(
             b, l, acc.getType(),
             b.getStringAttr(wide ? "llvm.x86.avx512.vpdpbusd.512"
                                  : "llvm.x86.avx512.vpdpbusd.256"),
             ValueRange{acc, a, bv})
      .getResult(0);
}

Value dotS8S8Signs(OpBuilder &b, Location l, Value acc, Value x, Value w) {
  auto psign = [&](Value v, Value signs) {
    return LLVM::CallIntrinsicOp::create(
               b, l, v.getType(), b.getStringAttr("llvm.x86.avx2.psign.b"),
               ValueRange{v, signs})
        .getResult(0);
  };
  return dotU8S8Pairs(b, l, acc, psign(w, w), psign(x, w));
}

/// y[lead.., rows[i], cols[j]] += the lanes of accumulator i * cols + j,
/// summed.
void addBlockSums(OpBuilder &builder, Location loc, Value y, ValueRange lead,
                  ArrayRef<Value> rows, ArrayRef<Value> cols, ValueRange accs) {
  auto fastmath =
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  for (auto [i, r] : llvm::enumerate(rows)) {
    for (auto [j, n] : llvm::enumerate(cols)) {
      Value sum =
          vector::ReductionOp::create(builder, loc, vector::CombiningKind::ADD,
                                      accs[i * cols.size() + j], fastmath);
      SmallVector<Value> idx(lead.begin(), lead.end());
      idx.append({r, n});
      Value old = memref::LoadOp::create(builder, loc, y, idx);
      memref::StoreOp::create(
          builder, loc, arith::AddFOp::create(builder, loc, old, sum), y, idx);
    }
  }
}

/// a + b of the lanes `first` and `second` pick from the 16 of (x, y).
static Value addPicked(OpBuilder &b, Location l, Value x, Value y,
                       ArrayRef<int64_t> first, ArrayRef<int64_t> second) {
  return arith::AddFOp::create(b, l,
                               vector::ShuffleOp::create(b, l, x, y, first),
                               vector::ShuffleOp::create(b, l, x, y, second));
}

Value sumLanesOf8(OpBuilder &b, Location l, ArrayRef<Value> accs) {
  assert(accs.size() == 8 && "eight accumulators");
  // Halves: [lo(a) + hi(a), lo(c) + hi(c)] for each pair (a, c).
  SmallVector<Value> halves, quarters;
  for (int64_t i = 0; i < 8; i += 2)
    halves.push_back(addPicked(b, l, accs[i], accs[i + 1],
                               {0, 1, 2, 3, 8, 9, 10, 11},
                               {4, 5, 6, 7, 12, 13, 14, 15}));
  // Quarters: lanes 0 + 2 and 1 + 3 of each half, two accumulators' halves
  // from each operand.
  for (int64_t i = 0; i < 4; i += 2)
    quarters.push_back(addPicked(b, l, halves[i], halves[i + 1],
                                 {0, 1, 4, 5, 8, 9, 12, 13},
                                 {2, 3, 6, 7, 10, 11, 14, 15}));
  // Pairs: lane 0 + lane 1 of each quarter.
  return addPicked(b, l, quarters[0], quarters[1], {0, 2, 4, 6, 8, 10, 12, 14},
                   {1, 3, 5, 7, 9, 11, 13, 15});
}

void addTransposedSums(OpBuilder &b, Location l, Value y, ValueRange lead,
                       Value row0, Value col0, ArrayRef<Value> sums) {
  assert(sums.size() == 8 && "eight columns");
  SmallVector<Value> rows =
      transposeRows(b, l, SmallVector<Value>(sums.begin(), sums.end()));
  auto v8 = VectorType::get({8}, b.getF32Type());
  for (int64_t i = 0; i < 8; ++i) {
    SmallVector<Value> at(lead.begin(), lead.end());
    at.append({arith::AddIOp::create(b, l, row0,
                                     arith::ConstantIndexOp::create(b, l, i)),
               col0});
    Value old = vector::LoadOp::create(b, l, v8, y, at);
    vector::StoreOp::create(b, l, arith::AddFOp::create(b, l, old, rows[i]), y,
                            at);
  }
}

SmallVector<Value> transposeRows(OpBuilder &b, Location l,
                                 SmallVector<Value> rows) {
  int64_t n = rows.size();
  for (int64_t h = n / 2; h >= 1; h /= 2) {
    SmallVector<int64_t> low, high;
    for (int64_t p = 0; p < n; ++p) {
      low.push_back(p & h ? n + p - h : p);
      high.push_back(p & h ? n + p : p + h);
    }
    for (int64_t i = 0; i < n; ++i) {
      if (i & h)
        continue;
      Value a = rows[i], c = rows[i + h];
      rows[i] = vector::ShuffleOp::create(b, l, a, c, low);
      rows[i + h] = vector::ShuffleOp::create(b, l, a, c, high);
    }
  }
  return rows;
}

Value rowsFrom(OpBuilder &b, Location l, Value v, unsigned d, Value from) {
  auto type = cast<MemRefType>(v.getType());
  SmallVector<OpFoldResult> offsets, sizes, strides;
  for (unsigned i = 0; i < type.getRank(); ++i) {
    Value size = memrefDim(b, l, v, i);
    offsets.push_back(i == d ? OpFoldResult(from) : b.getIndexAttr(0));
    if (i == d)
      sizes.push_back(arith::SubIOp::create(b, l, size, from).getResult());
    else if (type.isDynamicDim(i))
      sizes.push_back(size);
    else
      sizes.push_back(b.getIndexAttr(type.getDimSize(i)));
    strides.push_back(b.getIndexAttr(1));
  }
  return memref::SubViewOp::create(b, l, v, offsets, sizes, strides);
}

linalg::GenericOp cloneOnRowsFrom(RewriterBase &rewriter, linalg::GenericOp op,
                                  ArrayRef<unsigned> operands, unsigned d,
                                  Value from) {
  IRMapping map;
  for (unsigned i : operands) {
    Value v = op->getOperand(i);
    map.map(v, rowsFrom(rewriter, op.getLoc(), v, d, from));
  }
  return cast<linalg::GenericOp>(rewriter.clone(*op, map));
}

SmallVector<unsigned> dimsOf(AffineMap map) {
  SmallVector<unsigned> d;
  for (AffineExpr e : map.getResults()) {
    std::optional<unsigned> dim = dimOf(e);
    if (!dim)
      return {};
    d.push_back(*dim);
  }
  return d;
}

SmallVector<unsigned> leadingLoops(unsigned n, ArrayRef<unsigned> then) {
  SmallVector<unsigned> d = llvm::to_vector(llvm::seq<unsigned>(0, n));
  llvm::append_range(d, then);
  return d;
}

std::optional<int64_t> staticTripCount(Value lb, Value ub, Value step) {
  std::optional<int64_t> l = getConstantIntValue(lb),
                         u = getConstantIntValue(ub),
                         s = getConstantIntValue(step);
  if (!l || !u || !s || *s <= 0)
    return std::nullopt;
  return std::max<int64_t>(0, (*u - *l + *s - 1) / *s);
}

Value wholeBlocks(OpBuilder &b, Location l, Value size, int64_t block) {
  return arith::SubIOp::create(
      b, l, size,
      arith::RemUIOp::create(b, l, size,
                             arith::ConstantIndexOp::create(b, l, block)));
}

SmallVector<Value> emitPipelinedBlocks(
    OpBuilder &b, Location l, int64_t blocks, ValueRange inits,
    function_ref<void(OpBuilder &, Value, Value)> multiply,
    function_ref<SmallVector<Value>(OpBuilder &, Value, Value, ValueRange)>
        scale) {
  auto cidx = [&](OpBuilder &nb, int64_t v) {
    return arith::ConstantIndexOp::create(nb, l, v);
  };
  int64_t last = blocks - 1;
  multiply(b, cidx(b, 0), cidx(b, 0));
  auto loop = scf::ForOp::create(
      b, l, cidx(b, 0), cidx(b, last), cidx(b, 1), inits,
      [&](OpBuilder &nb, Location, Value blk, ValueRange accs) {
        Value next = arith::AddIOp::create(nb, l, blk, cidx(nb, 1));
        multiply(nb, next, arith::RemUIOp::create(nb, l, next, cidx(nb, 2)));
        scf::YieldOp::create(
            nb, l,
            scale(nb, blk, arith::RemUIOp::create(nb, l, blk, cidx(nb, 2)),
                  accs));
      });
  return scale(b, cidx(b, last), cidx(b, last % 2), loop.getResults());
}

std::optional<LinearShape> matchLinear(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !isMultiplyAdd(op))
    return std::nullopt;
  MemRefType x = memrefOperand(op, 0), w = memrefOperand(op, 1),
             y = memrefOperand(op, 2);
  if (!x || !w || !y || w.getRank() != 2 || x.getRank() != y.getRank() ||
      y.getRank() < 2 || !x.isLastDimUnitStride() || !w.isLastDimUnitStride() ||
      !y.isLastDimUnitStride())
    return std::nullopt;
  LinearShape shape;
  shape.rank = y.getRank();
  unsigned rank = shape.rank;
  for (unsigned d = 0; d + 2 < rank; ++d)
    if (x.getDimSize(d) != 1 || y.getDimSize(d) != 1)
      return std::nullopt;
  shape.k = w.getDimSize(1);
  shape.n = w.getDimSize(0);
  if (ShapedType::isDynamic(shape.k) || ShapedType::isDynamic(shape.n) ||
      x.getDimSize(rank - 1) != shape.k || y.getDimSize(rank - 1) != shape.n)
    return std::nullopt;
  // Loops (.., s, n, k), as ContractionPatterns' linear layers have them.
  if (op.getNumLoops() != rank + 1)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (dimsOf(maps[0]) != leadingLoops(rank - 1, {rank}) ||
      dimsOf(maps[1]) != SmallVector<unsigned>{rank - 1, rank} ||
      dimsOf(maps[2]) != leadingLoops(rank))
    return std::nullopt;
  return shape;
}

Value maddUbSw(OpBuilder &b, Location l, Value a, Value bv) {
  int64_t n = cast<VectorType>(a.getType()).getNumElements();
  return LLVM::CallIntrinsicOp::create(
             b, l, VectorType::get({n / 2}, b.getI16Type()),
             b.getStringAttr(n == 64 ? "llvm.x86.avx512.pmaddubs.w.512"
                                     : "llvm.x86.avx2.pmadd.ub.sw"),
             ValueRange{a, bv})
      .getResult(0);
}

Value maddWd(OpBuilder &b, Location l, Value a, Value bv) {
  int64_t n = cast<VectorType>(a.getType()).getNumElements();
  return LLVM::CallIntrinsicOp::create(
             b, l, VectorType::get({n / 2}, b.getI32Type()),
             b.getStringAttr(n == 32 ? "llvm.x86.avx512.pmaddw.d.512"
                                     : "llvm.x86.avx2.pmadd.wd"),
             ValueRange{a, bv})
      .getResult(0);
}

Value dotWd(OpBuilder &b, Location l, Value acc, Value a, Value bv) {
  int64_t n = cast<VectorType>(acc.getType()).getNumElements();
  return LLVM::CallIntrinsicOp::create(
             b, l, acc.getType(),
             b.getStringAttr(n == 16 ? "llvm.x86.avx512.vpdpwssd.512"
                                     : "llvm.x86.avx512.vpdpwssd.256"),
             ValueRange{acc, a, bv})
      .getResult(0);
}

Value splatI8(OpBuilder &b, Location l, VectorType type, int64_t v) {
  return arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(type, b.getIntegerAttr(b.getI8Type(), v)));
}

SmallVector<int64_t> concat16() {
  SmallVector<int64_t> mask;
  for (int64_t i = 0; i < 32; ++i)
    mask.push_back(i);
  return mask;
}

Value tokenScale(OpBuilder &b, Location l, Value xd, ValueRange at,
                 bool superBlock) {
  return loom::DequantizeOp::buildActivationScale(
      b, l, memref::LoadOp::create(b, l, xd, at), superBlock);
}

Value tokenBytes(OpBuilder &b, Location l, Value xq, SmallVector<Value> at,
                 bool q4) {
  Type i8 = b.getI8Type();
  if (!q4)
    return vector::LoadOp::create(b, l, VectorType::get({32}, i8), xq, at);
  auto v16i8 = VectorType::get({16}, i8);
  Value low = vector::LoadOp::create(b, l, v16i8, xq, at);
  at[at.size() - 2] = arith::ConstantIndexOp::create(b, l, 1);
  Value high = vector::LoadOp::create(b, l, v16i8, xq, at);
  return vector::ShuffleOp::create(b, l, low, high, concat16());
}

Value entryAlloca(OpBuilder &b, Location l, Operation *op, MemRefType type,
                  int64_t align) {
  OpBuilder::InsertionGuard guard(b);
  // After the allocas already there: buffers in the order they are made.
  Block &entry = op->getParentRegion()->front();
  auto first = llvm::find_if(
      entry, [](Operation &o) { return !isa<memref::AllocaOp>(o); });
  b.setInsertionPoint(&entry, first);
  if (!align)
    return memref::AllocaOp::create(b, l, type);
  return memref::AllocaOp::create(b, l, type, b.getI64IntegerAttr(align));
}

void forEachTokenBlock(
    OpBuilder &b, Location l, Value xd, Value xq, bool q4, int64_t blocks,
    Value scale, function_ref<void(OpBuilder &, Location, Value, Value)> body) {
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  unsigned dRank = cast<MemRefType>(xd.getType()).getRank();
  scf::ForOp::create(b, l, c0, arith::ConstantIndexOp::create(b, l, blocks),
                     arith::ConstantIndexOp::create(b, l, 1), ValueRange{},
                     [&](OpBuilder &nb, Location nl, Value blk, ValueRange) {
                       SmallVector<Value> at(dRank, c0);
                       at.back() = blk;
                       memref::StoreOp::create(
                           nb, nl, tokenScale(nb, nl, xd, at, false), scale,
                           ValueRange{blk});
                       at.append(q4 ? 2 : 1, c0);
                       body(nb, nl, blk, tokenBytes(nb, nl, xq, at, q4));
                       scf::YieldOp::create(nb, nl);
                     });
}

} // namespace mlir::loom::detail
