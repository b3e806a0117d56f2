//===- DotContractions.cpp - register-blocked dot-product contractions ----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A contraction whose operands both have the reduction dimension innermost
// (y[.., s, n] += sum_k a[.., s, k] * b[.., n, k]: every linear layer, the
// LM head) becomes loops over blocks of `rows x cols` outputs. Each block
// keeps rows x cols vector accumulators in registers and, per step of
// `width` values of k, loads `rows` vectors of a and `cols` of b for
// rows x cols FMAs: each loaded vector is used `cols` (or `rows`) times
// instead of once. The accumulators are summed across lanes at the end, the
// k values past the last whole vector added one by one. Blocks at the edges
// of s and n run the same code for one output at a time. The block loops
// are one scf.parallel, which the runtime splits across threads.
//
// A contraction whose output's innermost dimension is contiguous in one
// operand and absent from the other (attention's P·V) becomes row updates
// instead: per output row, a few vector accumulators kept in registers
// while the reduction runs, each step one scalar of a broadcast against
// vectors of b.
//
//===----------------------------------------------------------------------===//

#include "DotContractions.h"

#include "loom/Codegen/Passes.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;

namespace {

/// The shape of a matched contraction, in loop dimensions.
struct DotShape {
  unsigned numLoops;
  unsigned k;           ///< the reduction loop
  unsigned s, n;        ///< a's and b's own row loops
  SmallVector<unsigned> batch; ///< the other parallel loops
};

std::optional<unsigned> dimOf(AffineExpr e) {
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return d.getPosition();
  return std::nullopt;
}

/// The value `arg` reaches the multiplication as: itself, or widened from
/// f16/bf16 by an arith.extf (a 16-bit weight read in place).
bool isOperand(Value v, Value arg) {
  if (v == arg)
    return true;
  auto ext = v.getDefiningOp<arith::ExtFOp>();
  return ext && ext.getIn() == arg && ext.getType().isF32() &&
         (arg.getType().isF16() || arg.getType().isBF16());
}

/// Whether `body` is `yield out + a * b` (either order, f32; a and b may
/// each be widened from f16/bf16 first).
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

std::optional<DotShape> match(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !isMultiplyAdd(op))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  unsigned numLoops = op.getNumLoops();
  DotShape shape;
  shape.numLoops = numLoops;
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  for (unsigned d = 0; d < numLoops; ++d)
    if (kinds[d] == utils::IteratorType::reduction)
      shape.k = d;
  // The output: the parallel loops in order.
  AffineMap out = maps[2];
  if (out.getNumResults() != numLoops - 1)
    return std::nullopt;
  for (auto [i, e] : llvm::enumerate(out.getResults())) {
    std::optional<unsigned> d = dimOf(e);
    if (!d || *d == shape.k)
      return std::nullopt;
  }
  // Both inputs: loop dimensions only, k last and contiguous in memory.
  SmallVector<llvm::SmallDenseSet<unsigned, 4>> used(2);
  for (unsigned i = 0; i < 2; ++i) {
    AffineMap m = maps[i];
    if (m.getNumResults() == 0 || dimOf(m.getResults().back()) != shape.k)
      return std::nullopt;
    for (AffineExpr e : m.getResults()) {
      std::optional<unsigned> d = dimOf(e);
      if (!d)
        return std::nullopt;
      used[i].insert(*d);
    }
    auto type = dyn_cast<MemRefType>(op.getDpsInputOperand(i)->get().getType());
    if (!type || !type.isLastDimUnitStride())
      return std::nullopt;
    Type elt = type.getElementType();
    if (!elt.isF32() && !elt.isF16() && !elt.isBF16())
      return std::nullopt;
  }
  auto outType = dyn_cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  if (!outType || !outType.getElementType().isF32())
    return std::nullopt;
  // The blocked loops: the last loop only a reads (its rows, tokens) and
  // the last only b reads (output features). All others are looped over.
  std::optional<unsigned> s, n;
  for (unsigned d = 0; d < numLoops; ++d) {
    if (d == shape.k)
      continue;
    bool inA = used[0].contains(d), inB = used[1].contains(d);
    if (!inA && !inB)
      return std::nullopt;
    if (inA && !inB)
      s = d;
    if (inB && !inA)
      n = d;
  }
  if (!s || !n)
    return std::nullopt;
  shape.s = *s;
  shape.n = *n;
  for (unsigned d = 0; d < numLoops; ++d)
    if (d != shape.k && d != shape.s && d != shape.n)
      shape.batch.push_back(d);
  return shape;
}

/// The sizes of `op`'s loops as index values (constants where static).
SmallVector<Value> sizesOfLoops(RewriterBase &rewriter, linalg::GenericOp op) {
  Location loc = op.getLoc();
  SmallVector<Value> sizes;
  for (Range r :
       cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(rewriter, loc))
    sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, r.size));
  return sizes;
}

/// Loads, FMAs and stores of one block.
class BlockEmitter {
public:
  BlockEmitter(linalg::GenericOp op, const DotShape &shape, int64_t width,
               bool bf16Dot)
      : op(op), shape(shape), width(width), bf16Dot(bf16Dot) {
    maps = op.getIndexingMapsArray();
    a = op.getDpsInputOperand(0)->get();
    b = op.getDpsInputOperand(1)->get();
    y = op.getDpsInitOperand(0)->get();
  }

  /// `v` as f32 (widened from f16/bf16 where narrower).
  static Value widen(OpBuilder &builder, Location loc, Value v) {
    Type f32 = builder.getF32Type();
    Type type = v.getType();
    if (auto vec = dyn_cast<VectorType>(type))
      f32 = VectorType::get(vec.getShape(), f32);
    if (getElementTypeOrSelf(type).isF32())
      return v;
    return arith::ExtFOp::create(builder, loc, f32, v);
  }

  /// `width` values of `memref` from `idx` on, as f32.
  Value loadWide(OpBuilder &builder, Location loc, Value memref,
                 ValueRange idx) {
    Type elt = cast<MemRefType>(memref.getType()).getElementType();
    return widen(builder, loc,
                 vector::LoadOp::create(builder, loc,
                                        VectorType::get({width}, elt), memref,
                                        idx));
  }

  /// The indices of operand `map` at the loop values `loops`.
  SmallVector<Value> indices(AffineMap map, ArrayRef<Value> loops) {
    SmallVector<Value> idx;
    for (AffineExpr e : map.getResults())
      idx.push_back(loops[*dimOf(e)]);
    return idx;
  }

  /// y[rows x cols block at loops] += sum_k a * b, with `rowIdx[i]`,
  /// `colIdx[j]` the s and n values of the block.
  void emit(OpBuilder &builder, Location loc, SmallVector<Value> loops,
            ArrayRef<Value> rowIdx, ArrayRef<Value> colIdx, Value kSize) {
    auto vecType = VectorType::get({width}, builder.getF32Type());
    auto fastmath = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    Value c0 = arith::ConstantIndexOp::create(builder, loc, 0);
    // Both operands bf16 on a target with AVX512-BF16: each step takes 2 x
    // width values of k as bf16 pairs into one vdpbf16ps per output.
    auto isBF16 = [](Value v) {
      return cast<MemRefType>(v.getType()).getElementType().isBF16();
    };
    bool pairs = bf16Dot && isBF16(a) && isBF16(b);
    int64_t step = pairs ? 2 * width : width;
    Value cw = arith::ConstantIndexOp::create(builder, loc, step);
    // Whole vectors of k: kVec = kSize - kSize % step (a constant where k
    // is static, so the runtime's task sizes see the trip count).
    Value kVec;
    if (std::optional<int64_t> k = getConstantIntValue(kSize))
      kVec = arith::ConstantIndexOp::create(builder, loc, *k - *k % step);
    else
      kVec = arith::SubIOp::create(
          builder, loc, kSize, arith::RemUIOp::create(builder, loc, kSize, cw));
    Value zero = arith::ConstantOp::create(
        builder, loc, DenseElementsAttr::get(vecType, 0.0f));
    size_t rows = rowIdx.size(), cols = colIdx.size();
    SmallVector<Value> inits(rows * cols, zero);
    auto loop = scf::ForOp::create(
        builder, loc, c0, kVec, cw, inits,
        [&](OpBuilder &b2, Location l, Value k, ValueRange accs) {
          loops[shape.k] = k;
          SmallVector<Value> av, bv;
          auto pairType = VectorType::get({step}, b2.getBF16Type());
          for (Value r : rowIdx) {
            loops[shape.s] = r;
            av.push_back(pairs ? vector::LoadOp::create(
                                     b2, l, pairType, a, indices(maps[0], loops))
                               : loadWide(b2, l, a, indices(maps[0], loops)));
          }
          for (Value c : colIdx) {
            loops[shape.n] = c;
            bv.push_back(pairs ? vector::LoadOp::create(
                                     b2, l, pairType, b, indices(maps[1], loops))
                               : loadWide(b2, l, b, indices(maps[1], loops)));
          }
          SmallVector<Value> next;
          for (size_t i = 0; i < rows; ++i)
            for (size_t j = 0; j < cols; ++j)
              next.push_back(
                  pairs ? x86vector::DotBF16Op::create(b2, l, vecType,
                                                       accs[i * cols + j],
                                                       av[i], bv[j])
                              .getResult()
                        : vector::FMAOp::create(b2, l, av[i], bv[j],
                                                accs[i * cols + j])
                              .getResult());
          scf::YieldOp::create(b2, l, next);
        });
    Value c1 = arith::ConstantIndexOp::create(builder, loc, 1);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < cols; ++j) {
        loops[shape.s] = rowIdx[i];
        loops[shape.n] = colIdx[j];
        Value sum = vector::ReductionOp::create(
            builder, loc, vector::CombiningKind::ADD,
            loop.getResult(i * cols + j), fastmath);
        // The k values past the last whole vector.
        auto tail = scf::ForOp::create(
            builder, loc, kVec, kSize, c1, ValueRange{sum},
            [&](OpBuilder &b2, Location l, Value k, ValueRange acc) {
              SmallVector<Value> at = loops;
              at[shape.k] = k;
              Value x = widen(
                  b2, l, memref::LoadOp::create(b2, l, a, indices(maps[0], at)));
              Value w = widen(
                  b2, l, memref::LoadOp::create(b2, l, b, indices(maps[1], at)));
              Value p = arith::MulFOp::create(b2, l, x, w, fastmath);
              scf::YieldOp::create(
                  b2, l, ValueRange{arith::AddFOp::create(b2, l, acc[0], p,
                                                          fastmath)});
            });
        SmallVector<Value> outIdx = indices(maps[2], loops);
        Value old = memref::LoadOp::create(builder, loc, y, outIdx);
        Value updated =
            arith::AddFOp::create(builder, loc, old, tail.getResult(0));
        memref::StoreOp::create(builder, loc, updated, y, outIdx);
      }
    }
  }

  linalg::GenericOp op;
  const DotShape &shape;
  int64_t width;
  bool bf16Dot;
  SmallVector<AffineMap> maps;
  Value a, b, y;
};

} // namespace

namespace {

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
                      BlockFn emitBlock) {
  Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value cr = arith::ConstantIndexOp::create(rewriter, loc, rows);
  Value cc = arith::ConstantIndexOp::create(rewriter, loc, cols);
  // Rows [sLo, sHi) as blocks.
  auto emitParallel = [&](OpBuilder &builder, Location pl, Value sLo, Value sHi) {
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
            return arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                         arith::SubIOp::create(b, l, end, begin),
                                         size);
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
                        tb, tl, base, arith::ConstantIndexOp::create(tb, tl, i)));
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

/// Rows of a [.., s, k] operand whose rows take `bytesPerK` bytes per value
/// of k, per chunk, so that a chunk takes at most half of `cacheBytes`:
/// max(rows, cacheBytes / 2 / (bytesPerK k)), rounded down to whole blocks
/// of `rows`. Null without a cache size.
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

} // namespace

LogicalResult mlir::loom::lowerDotContraction(RewriterBase &rewriter,
                                              linalg::GenericOp op,
                                              int64_t width, int64_t rows,
                                              int64_t cols, int64_t cacheBytes,
                                              bool bf16Dot) {
  std::optional<DotShape> shape = match(op);
  if (!shape)
    return failure();
  // A single row (decode: a matrix-vector product) of f32 operands gains
  // nothing from blocking: every weight is read once either way; it is left
  // to the plain parallel loops. Narrow operands are worth blocking for one
  // token too (16-bit loads widened in registers), but the rows of a block
  // are read one after another: a block's rows interleaved step by step are
  // as many streams a row apart, which the hardware prefetcher follows
  // badly (four interleaved f32 rows measured 2x slower than one on
  // stories15M's LM head, q8_0 rows half the speed of rows in order, Zen 4).
  SmallVector<int64_t> staticRanges = op.getStaticLoopRanges();
  auto narrow = [](Value v) {
    return !cast<MemRefType>(v.getType()).getElementType().isF32();
  };
  bool widens = narrow(op.getDpsInputOperand(0)->get()) ||
                narrow(op.getDpsInputOperand(1)->get());
  bool oneRow = staticRanges[shape->s] == 1;
  if (oneRow) {
    if (!widens)
      return failure();
    rows = 1;
  }
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Value> loopSizes = sizesOfLoops(rewriter, op);
  auto sizeOf = [&](unsigned d) { return loopSizes[d]; };
  Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value sSize = sizeOf(shape->s), nSize = sizeOf(shape->n);
  Value kSize = sizeOf(shape->k);
  SmallVector<Value> leadSizes;
  for (unsigned d : shape->batch)
    leadSizes.push_back(sizeOf(d));
  BlockEmitter emitter(op, *shape, width, bf16Dot);
  emitBlockedLoops(
      rewriter, loc, leadSizes, sSize, nSize, rows, cols, rows * cols * width,
      chunkRows(rewriter, loc, cacheBytes, kSize,
                cast<MemRefType>(op.getDpsInputOperand(0)->get().getType())
                        .getElementTypeBitWidth() /
                    8,
                rows),
      [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
          ArrayRef<Value> colIdx) {
        SmallVector<Value> loops(shape->numLoops, c0);
        for (auto [i, d] : llvm::enumerate(shape->batch))
          loops[d] = lead[i];
        if (!oneRow) {
          emitter.emit(b, l, loops, rowIdx, colIdx, kSize);
          return;
        }
        for (Value c : colIdx)
          emitter.emit(b, l, loops, rowIdx, {c}, kSize);
      });
  rewriter.eraseOp(op);
  return success();
}

//===----------------------------------------------------------------------===//
// Row updates: y[.., e] += a[..] * b[.., e]
//===----------------------------------------------------------------------===//

namespace {

/// A contraction whose reduction is not innermost in memory but whose
/// output's innermost dimension `e` is (attention's P·V: out[b, h, i, e] +=
/// p[b, h, i, j] * v[b, h / g, j, e]).
struct RowUpdateShape {
  unsigned numLoops;
  unsigned r;            ///< the reduction loop
  unsigned e;            ///< the output's innermost loop, contiguous in b
  int64_t eSize;         ///< its (static) size
  unsigned scalar;       ///< the operand read once per (.., r): a
  SmallVector<unsigned> outer; ///< the other parallel loops
};

std::optional<RowUpdateShape> matchRowUpdate(linalg::GenericOp op,
                                             int64_t width) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !isMultiplyAdd(op) || width <= 0)
    return std::nullopt;
  // f32 operands only (16-bit ones are for the dot-product form).
  if (!op.getRegion().getOps<arith::ExtFOp>().empty())
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  RowUpdateShape shape;
  shape.numLoops = op.getNumLoops();
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  for (unsigned d = 0; d < shape.numLoops; ++d)
    if (kinds[d] == utils::IteratorType::reduction)
      shape.r = d;
  AffineMap out = maps[2];
  if (out.getNumResults() != shape.numLoops - 1 || !out.isProjectedPermutation())
    return std::nullopt;
  std::optional<unsigned> e = dimOf(out.getResults().back());
  if (!e)
    return std::nullopt;
  shape.e = *e;
  // One input indexed by e last (the vector operand), one without e.
  auto usesDim = [](AffineMap m, unsigned d) {
    return llvm::any_of(m.getResults(), [&](AffineExpr x) {
      return x.isFunctionOfDim(d);
    });
  };
  std::optional<unsigned> vectorOperand;
  for (unsigned i = 0; i < 2; ++i) {
    if (!usesDim(maps[i], shape.r))
      return std::nullopt;
    bool lastIsE = dimOf(maps[i].getResults().back()) == shape.e;
    bool elsewhere = llvm::any_of(maps[i].getResults().drop_back(),
                                  [&](AffineExpr x) { return x.isFunctionOfDim(shape.e); });
    if (lastIsE && !elsewhere)
      vectorOperand = i;
    else if (usesDim(maps[i], shape.e))
      return std::nullopt;
  }
  if (!vectorOperand)
    return std::nullopt;
  shape.scalar = 1 - *vectorOperand;
  // The dot-product form (r innermost in both) is better where it applies.
  if (dimOf(maps[0].getResults().back()) == shape.r &&
      dimOf(maps[1].getResults().back()) == shape.r)
    return std::nullopt;
  auto contiguous = [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getElementType().isF32() && t.isLastDimUnitStride();
  };
  if (!contiguous(op.getDpsInputOperand(*vectorOperand)->get()) ||
      !contiguous(op.getDpsInitOperand(0)->get()))
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  shape.eSize = ranges[shape.e];
  // The row of accumulators stays in registers: a few whole vectors.
  if (ShapedType::isDynamic(shape.eSize) || shape.eSize % width != 0 ||
      shape.eSize / width > 8)
    return std::nullopt;
  for (unsigned d = 0; d < shape.numLoops; ++d)
    if (d != shape.r && d != shape.e)
      shape.outer.push_back(d);
  return shape;
}

} // namespace

LogicalResult mlir::loom::lowerRowUpdateContraction(RewriterBase &rewriter,
                                                    linalg::GenericOp op,
                                                    int64_t width) {
  std::optional<RowUpdateShape> shape = matchRowUpdate(op, width);
  if (!shape)
    return failure();
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Value> loopSizes = sizesOfLoops(rewriter, op);
  auto sizeOf = [&](unsigned d) { return loopSizes[d]; };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  Value a = op.getDpsInputOperand(shape->scalar)->get();
  Value b = op.getDpsInputOperand(1 - shape->scalar)->get();
  Value y = op.getDpsInitOperand(0)->get();
  AffineMap aMap = maps[shape->scalar], bMap = maps[1 - shape->scalar],
            yMap = maps[2];
  // Products in the op's own rounding: fused only where it allows.
  auto flags = arith::FastMathFlags::none;
  for (Operation &inner : op.getRegion().front())
    if (auto fm = dyn_cast<arith::ArithFastMathInterface>(&inner))
      flags = flags | fm.getFastMathFlagsAttr().getValue();
  bool fuse = bitEnumContainsAll(flags, arith::FastMathFlags::contract);

  Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
  SmallVector<Value> lbs(shape->outer.size(), c0), steps(shape->outer.size(), c1);
  SmallVector<Value> ubs;
  for (unsigned d : shape->outer)
    ubs.push_back(sizeOf(d));
  Value rSize = sizeOf(shape->r);
  int64_t vectors = shape->eSize / width;
  auto vecType = VectorType::get({width}, rewriter.getF32Type());
  auto parallel = scf::ParallelOp::create(
      rewriter, loc, lbs, ubs, steps,
      [&](OpBuilder &pb, Location l, ValueRange ivs) {
        SmallVector<Value> loops(shape->numLoops, c0);
        for (auto [i, d] : llvm::enumerate(shape->outer))
          loops[d] = ivs[i];
        // The operand indices of `map` at `loops` (affine expressions of
        // the loops, e.g. a head divided by the group size).
        auto indices = [&](OpBuilder &b2, AffineMap map) {
          SmallVector<Value> idx;
          for (AffineExpr x : map.getResults()) {
            if (std::optional<unsigned> d = dimOf(x)) {
              idx.push_back(loops[*d]);
              continue;
            }
            idx.push_back(affine::AffineApplyOp::create(
                b2, l, AffineMap::get(shape->numLoops, 0, x), loops));
          }
          return idx;
        };
        auto at = [&](OpBuilder &b2, AffineMap map, int64_t t) {
          loops[shape->e] = arith::ConstantIndexOp::create(b2, l, t * width);
          return indices(b2, map);
        };
        SmallVector<Value> accs;
        for (int64_t t = 0; t < vectors; ++t)
          accs.push_back(vector::LoadOp::create(pb, l, vecType, y, at(pb, yMap, t)));
        auto loop = scf::ForOp::create(
            pb, l, c0, rSize, c1, accs,
            [&](OpBuilder &fb, Location fl, Value r, ValueRange acc) {
              loops[shape->r] = r;
              Value s = memref::LoadOp::create(fb, fl, a, indices(fb, aMap));
              Value sv = vector::BroadcastOp::create(fb, fl, vecType, s);
              SmallVector<Value> next;
              for (int64_t t = 0; t < vectors; ++t) {
                Value bv = vector::LoadOp::create(fb, fl, vecType, b, at(fb, bMap, t));
                if (fuse) {
                  next.push_back(vector::FMAOp::create(fb, fl, sv, bv, acc[t]));
                } else {
                  Value prod = arith::MulFOp::create(fb, fl, sv, bv, flags);
                  next.push_back(arith::AddFOp::create(fb, fl, acc[t], prod, flags));
                }
              }
              scf::YieldOp::create(fb, fl, next);
            });
        for (int64_t t = 0; t < vectors; ++t)
          vector::StoreOp::create(pb, l, loop.getResult(t), y, at(pb, yMap, t));
        scf::ReduceOp::create(pb, l);
      });
  parallel->setAttr(loom::kTileWorkAttr, rewriter.getI64IntegerAttr(shape->eSize));
  rewriter.eraseOp(op);
  return success();
}

//===----------------------------------------------------------------------===//
// Block-quantized weights
//===----------------------------------------------------------------------===//

namespace {

/// The contraction convert-loom-to-linalg makes for a linear layer with
/// q8_0 or q4_0 weights (QuantizedPatterns.cpp), in either of its two forms
/// (matchBlocks, matchInt8Blocks); output y [.., s, n].
struct BlockShape {
  bool q4;
  unsigned rank;   ///< y's rank
  int64_t blocks;
};

/// Dimension `d` of memref `v`: a constant where it is static.
Value memrefDim(OpBuilder &b, Location loc, Value v, unsigned d) {
  auto type = cast<MemRefType>(v.getType());
  if (!type.isDynamicDim(d))
    return arith::ConstantIndexOp::create(b, loc, type.getDimSize(d));
  return memref::DimOp::create(b, loc, v, d);
}

/// Bytes a token's row takes per block of 32 values once quantized to 8
/// bits: the 32 values and the block's f32 max |x| (for chunkRows).
constexpr int64_t kInt8BlockBytes = 32 + 4;

/// Operand `i` of `op` as a memref type, or null.
MemRefType memrefOperand(linalg::GenericOp op, unsigned i) {
  return dyn_cast<MemRefType>(op->getOperand(i).getType());
}

/// Whether `op`'s body has an op of type `OpTy` (the form's signature:
/// arith.bitcast decodes an f16 scale, arith.muli multiplies 8-bit values).
template <typename OpTy> bool bodyHas(linalg::GenericOp op) {
  bool found = false;
  op.getRegion().walk([&](OpTy) { found = true; });
  return found;
}

/// What both forms share, with the weight's values at operand `w` and the
/// low and high bytes of its scales after them: values [n, blocks, 32 | 16]
/// i8 (static, unit stride), scale bytes [n, blocks] i8 indexed (n, block),
/// an f32 output, an x operand whose layout and the loop count say q8_0 or
/// q4_0, and a body that decodes the f16 scale from the two bytes.
std::optional<BlockShape> matchWeightBlocks(linalg::GenericOp op,
                                            MemRefType x, unsigned w) {
  auto type = [&](unsigned i) { return memrefOperand(op, i); };
  MemRefType q = type(w), lo = type(w + 1), hi = type(w + 2),
             y = type(w + 3);
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
    ArrayRef<int64_t> offLo = sl.getStaticOffsets(), offHi = sh.getStaticOffsets();
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
    pair = memref::SubViewOp::create(
        b, loc, sl.getSource(), offLo,
        ArrayRef<int64_t>{sizes[0], sizes[1], 2}, ArrayRef<int64_t>{1, 1, 1});
  }

  Value read(OpBuilder &b, Location l, Value n, Value blk) const {
    if (!pair)
      return loom::DequantizeOp::buildScale(
          b, l, memref::LoadOp::create(b, l, lo, ValueRange{n, blk}),
          memref::LoadOp::create(b, l, hi, ValueRange{n, blk}));
    Value c0 = arith::ConstantIndexOp::create(b, l, 0);
    Value bytes = vector::LoadOp::create(
        b, l, VectorType::get({2}, b.getI8Type()), pair,
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

/// y[lead.., rows[i], cols[j]] += the lanes of accumulator i * cols + j,
/// summed.
void addBlockSums(OpBuilder &builder, Location loc, Value y, ValueRange lead,
                  ArrayRef<Value> rows, ArrayRef<Value> cols, ValueRange accs) {
  auto fastmath = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  for (auto [i, r] : llvm::enumerate(rows)) {
    for (auto [j, n] : llvm::enumerate(cols)) {
      Value sum = vector::ReductionOp::create(
          builder, loc, vector::CombiningKind::ADD, accs[i * cols.size() + j],
          fastmath);
      SmallVector<Value> idx(lead.begin(), lead.end());
      idx.append({r, n});
      Value old = memref::LoadOp::create(builder, loc, y, idx);
      memref::StoreOp::create(builder, loc,
                              arith::AddFOp::create(builder, loc, old, sum), y,
                              idx);
    }
  }
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
          Value s = vector::BroadcastOp::create(b, l, v16,
                                                scales.read(b, l, n, blk));
          Value first, second;
          if (!shape.q4) {
            auto v32i8 = VectorType::get({32}, b.getI8Type());
            Value bytes = vector::LoadOp::create(b, l, v32i8, q,
                                                 ValueRange{n, blk, c0});
            Value f = arith::SIToFPOp::create(
                b, l, VectorType::get({32}, f32), bytes);
            first = vector::ExtractStridedSliceOp::create(b, l, f, {0}, {16},
                                                          {1});
            second = vector::ExtractStridedSliceOp::create(b, l, f, {16}, {16},
                                                           {1});
          } else {
            auto v16i8 = VectorType::get({16}, b.getI8Type());
            auto v16i32 = VectorType::get({16}, b.getI32Type());
            Value bytes = vector::LoadOp::create(b, l, v16i8, q,
                                                 ValueRange{n, blk, c0});
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

/// acc + the dot products of `a` (32 bytes, unsigned) and `b` (32 bytes,
/// signed), four adjacent byte pairs per i32 lane. With `vnni`, AVX512-VNNI /
/// AVX-VNNI's vpdpbusd (the upstream x86vector dialect has only
/// AVX-VNNI-INT8's signed x signed form, which most x86 CPUs lack);
/// otherwise widened to i32 and summed in groups, which also leaves each
/// lane's sum exact: only the sum of all lanes is used.
Value dotU8S8(OpBuilder &b, Location l, bool vnni, Value acc, Value a,
              Value bv) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  if (vnni)
    return LLVM::CallIntrinsicOp::create(
               b, l, v8i32, b.getStringAttr("llvm.x86.avx512.vpdpbusd.256"),
               ValueRange{acc, a, bv})
        .getResult(0);
  auto v32i32 = VectorType::get({32}, b.getI32Type());
  Value p = arith::MulIOp::create(b, l, arith::ExtUIOp::create(b, l, v32i32, a),
                                  arith::ExtSIOp::create(b, l, v32i32, bv));
  Value groups = vector::ShapeCastOp::create(
      b, l, VectorType::get({4, 8}, b.getI32Type()), p);
  Value sum = acc;
  for (int64_t g = 0; g < 4; ++g)
    sum = arith::AddIOp::create(
        b, l, sum, vector::ExtractOp::create(b, l, groups, ArrayRef<int64_t>{g}));
  return sum;
}

/// A vector of `type` (i8 elements) with every element `v`.
Value splatI8(OpBuilder &b, Location l, VectorType type, int64_t v) {
  return arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(type, b.getIntegerAttr(b.getI8Type(), v)));
}

/// The shuffle mask that puts two vectors of 16 side by side.
SmallVector<int64_t> concat16() {
  SmallVector<int64_t> mask;
  for (int64_t i = 0; i < 32; ++i)
    mask.push_back(i);
  return mask;
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
Value offsetStart(OpBuilder &b, Location l, bool vnni, Value v,
                  int64_t offset) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  auto v32i8 = VectorType::get({32}, b.getI8Type());
  Value zero = arith::ConstantOp::create(
      b, l, DenseElementsAttr::get(v8i32, b.getI32IntegerAttr(0)));
  Value sums = dotU8S8(b, l, vnni, zero,
                       splatI8(b, l, v32i8, static_cast<int8_t>(offset)), v);
  return arith::SubIOp::create(b, l, zero, sums);
}

/// A token block's scale x.d from its max |x| at `at` in `xd`, as the op's
/// body computes it: max / 127.
Value tokenScale(OpBuilder &b, Location l, Value xd, ValueRange at) {
  return arith::DivFOp::create(
      b, l, memref::LoadOp::create(b, l, xd, at),
      arith::ConstantOp::create(b, l, b.getF32FloatAttr(127.0f)));
}

/// The 32 bytes of a token's block of `xq` whose first byte is at `at`:
/// q4_0's two halves ([.., 2, 16], the half at `at`'s second-to-last
/// index) side by side, low-nibble values first.
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

/// y[rows x cols block] += per block of 32, (x.d * w.d) * the integer dot
/// product of x.q and w.q; one vector<8xf32> accumulator per output, fed by
/// one 32-byte dot product per block. vpdpbusd multiplies unsigned bytes by
/// signed ones: q4_0's nibbles are unsigned (value = nibble - 8, so the dot
/// product starts at -8 * sum(x.q), once per row and block); for q8_0, x.q
/// + 128 is unsigned (the dot product starts at -128 * sum(w.q), once per
/// column and block).
void emitInt8Blocks(OpBuilder &builder, Location loc, linalg::GenericOp op,
                    const BlockShape &shape, const ScaleReader &scales,
                    bool vnni, ValueRange lead, ArrayRef<Value> rows,
                    ArrayRef<Value> cols) {
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
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(v8, 0.0f));
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
          xScale.push_back(tokenScale(b, l, xd, at));
          at.append(shape.q4 ? 2 : 1, c0);
          Value bytes = tokenBytes(b, l, xq, at, shape.q4);
          // nibble - 8: start at -8 * sum(x.q).
          if (shape.q4)
            xStart.push_back(offsetStart(b, l, vnni, bytes, 8));
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
            Value bytes = vector::LoadOp::create(b, l, v32i8, q,
                                                 ValueRange{n, blk, c0});
            wStart.push_back(offsetStart(b, l, vnni, bytes, 128));
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
                    ? dotU8S8(b, l, vnni, xStart[i], wBytes[j], xBytes[i])
                    : dotU8S8(b, l, vnni, wStart[j], xBytes[i], wBytes[j]);
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

/// A stack buffer of `type` at the entry of the function holding `op` (not
/// in a loop: an alloca scope would not survive the lowering of the loops it
/// holds to branches), aligned to `align` bytes where given.
Value entryAlloca(OpBuilder &b, Location l, Operation *op, MemRefType type,
                  int64_t align = 0) {
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

/// A loop over the blocks of one token's 8-bit input (decode: every leading
/// index 0): stores each block's scale x.d in `scale`[blk], then calls
/// `body` with the block and its 32 bytes (tokenBytes of `xq`, [.., blocks,
/// 2, 16] for q4 or [.., blocks, 32]).
void forEachTokenBlock(
    OpBuilder &b, Location l, Value xd, Value xq, bool q4, int64_t blocks,
    Value scale, function_ref<void(OpBuilder &, Location, Value, Value)> body) {
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  unsigned dRank = cast<MemRefType>(xd.getType()).getRank();
  scf::ForOp::create(
      b, l, c0, arith::ConstantIndexOp::create(b, l, blocks),
      arith::ConstantIndexOp::create(b, l, 1), ValueRange{},
      [&](OpBuilder &nb, Location nl, Value blk, ValueRange) {
        SmallVector<Value> at(dRank, c0);
        at.back() = blk;
        memref::StoreOp::create(nb, nl, tokenScale(nb, nl, xd, at), scale,
                                ValueRange{blk});
        at.append(q4 ? 2 : 1, c0);
        body(nb, nl, blk, tokenBytes(nb, nl, xq, at, q4));
        scf::YieldOp::create(nb, nl);
      });
}

/// One token's side of the int8 dot products (decode), the same for every
/// weight row: per block, x.d = max|x| / 127, the 32 bytes the dot product
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
                               const BlockShape &shape, bool vnni) {
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
          vector::StoreOp::create(nb, nl, offsetStart(nb, nl, vnni, bytes, 8),
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
                  const TokenBlocks &token, bool vnni, ValueRange lead,
                  ArrayRef<Value> cols) {
  Value q = op->getOperand(2), y = op->getOperand(5);
  Type f32 = builder.getF32Type(), i8 = builder.getI8Type();
  auto v8 = VectorType::get({8}, f32);
  auto v8i32 = VectorType::get({8}, builder.getI32Type());
  auto v32i8 = VectorType::get({32}, i8);
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0), c2 = cidx(builder, loc, 2);
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(v8, 0.0f));
  // acc + (x.d * w.d) * (the integer dot product of block blk of row n).
  auto step = [&](OpBuilder &b, Location l, Value n, Value blk, Value acc) {
    Value d = arith::MulFOp::create(
        b, l, scales.read(b, l, n, blk),
        memref::LoadOp::create(b, l, token.scale, ValueRange{blk}));
    Value xBytes = vector::LoadOp::create(b, l, v32i8, token.bytes,
                                          ValueRange{blk, c0});
    Value dot;
    if (shape.q4) {
      Value start = vector::LoadOp::create(b, l, v8i32, token.start,
                                           ValueRange{blk, c0});
      dot = dotU8S8(b, l, vnni, start, q4Nibbles(b, l, q, n, blk), xBytes);
    } else {
      Value w = vector::LoadOp::create(b, l, v32i8, q, ValueRange{n, blk, c0});
      dot = dotU8S8(b, l, vnni, offsetStart(b, l, vnni, w, 128), xBytes, w);
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

//===----------------------------------------------------------------------===//
// q4_0x8 and q8_0x8: the blocks of 8 rows interleaved
//===----------------------------------------------------------------------===//

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
  if (q.getShape().drop_front(2) !=
          ArrayRef<int64_t>{shape.chunks(), 8, 4} ||
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

/// acc + per i32 lane, the dot product of that lane's 4 bytes of `a`
/// (unsigned) and `bv` (signed): vpdpbusd with `vnni`, otherwise widened
/// and summed per lane.
Value dotLanesU8S8(OpBuilder &b, Location l, bool vnni, Value acc, Value a,
                   Value bv) {
  if (vnni)
    return dotU8S8(b, l, vnni, acc, a, bv);
  Type i32 = b.getI32Type();
  auto v32i32 = VectorType::get({32}, i32);
  Value p = arith::MulIOp::create(b, l, arith::ExtUIOp::create(b, l, v32i32, a),
                                  arith::ExtSIOp::create(b, l, v32i32, bv));
  // Byte k of every lane, for k = 0..3, added to the lanes.
  for (int64_t k = 0; k < 4; ++k) {
    SmallVector<int64_t> mask;
    for (int64_t lane = 0; lane < 8; ++lane)
      mask.push_back(4 * lane + k);
    acc = arith::AddIOp::create(b, l, acc,
                                vector::ShuffleOp::create(b, l, p, p, mask));
  }
  return acc;
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
  auto cidx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v); };
  GroupBlock block;
  Value bytes = vector::LoadOp::create(b, l, v16i8, raw,
                                       ValueRange{g, blk, cidx(0)});
  Value halfs =
      vector::BitCastOp::create(b, l, VectorType::get({8}, b.getF16Type()),
                                bytes);
  block.scales = arith::ExtFOp::create(
      b, l, VectorType::get({8}, b.getF32Type()), halfs);
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

/// The i32 dot products of a group's block with a token's (one lane per
/// row), from `start` (-bias * sum(x.q): the weight's bytes are its values
/// + bias): `word(k)` gives the token's 4 bytes for value vector k as an
/// i32. Two chains (alternate vectors), added at the end.
Value groupDot(OpBuilder &b, Location l, bool vnni, const GroupBlock &block,
               Value start, function_ref<Value(int64_t)> word) {
  auto v8i32 = VectorType::get({8}, b.getI32Type());
  auto v32i8 = VectorType::get({32}, b.getI8Type());
  Value chains[2] = {
      vector::BroadcastOp::create(b, l, v8i32, start),
      arith::ConstantOp::create(
          b, l, DenseElementsAttr::get(v8i32, b.getI32IntegerAttr(0)))};
  for (int64_t k = 0; k < 8; ++k) {
    Value x = vector::BitCastOp::create(
        b, l, v32i8, vector::BroadcastOp::create(b, l, v8i32, word(k)));
    chains[k % 2] = dotLanesU8S8(b, l, vnni, chains[k % 2], block.values[k], x);
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
  Value start; ///< memref<blocks x i32>
};

InterleavedToken prepareInterleavedToken(OpBuilder &b, Location l,
                                         linalg::GenericOp op,
                                         const InterleavedShape &shape) {
  Value values = tokenValues(b, l, op->getOperand(0)), xd = op->getOperand(1);
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  auto cidx = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v); };
  Value c0 = cidx(0);
  InterleavedToken t;
  t.scale = entryAlloca(b, l, op, MemRefType::get({shape.blocks}, f32));
  t.words = entryAlloca(b, l, op, MemRefType::get({shape.blocks, 8}, i32), 32);
  t.start = entryAlloca(b, l, op, MemRefType::get({shape.blocks}, i32));
  forEachTokenBlock(
      b, l, xd, values, shape.q4, shape.blocks, t.scale,
      [&](OpBuilder &nb, Location nl, Value blk, Value bytes) {
        memref::StoreOp::create(nb, nl,
                                blockStart(nb, nl, bytes, shape.bias()),
                                t.start, ValueRange{blk});
        vector::StoreOp::create(
            nb, nl,
            vector::BitCastOp::create(nb, nl,
                                      VectorType::get({8}, nb.getI32Type()),
                                      bytes),
            t.words, ValueRange{blk, c0});
      });
  return t;
}

void emitInterleavedRows(OpBuilder &builder, Location loc, linalg::GenericOp op,
                         const InterleavedShape &shape, Value raw,
                         const InterleavedToken &token, bool vnni,
                         ValueRange lead, ArrayRef<Value> groups) {
  Value y = op->getOperand(5);
  auto v8 = VectorType::get({8}, builder.getF32Type());
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0);
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(v8, 0.0f));
  for (Value g : groups) {
    auto loop = scf::ForOp::create(
        builder, loc, c0, cidx(builder, loc, shape.blocks),
        cidx(builder, loc, 1), ValueRange{zero},
        [&](OpBuilder &b, Location l, Value blk, ValueRange accs) {
          GroupBlock block = readGroupBlock(b, l, shape, raw, g, blk);
          Value start = memref::LoadOp::create(b, l, token.start, ValueRange{blk});
          Value dot = groupDot(b, l, vnni, block, start, [&](int64_t k) {
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
                  b, l, arith::SIToFPOp::create(b, l, v8, dot), d,
                  accs[0])});
        });
    addGroupOutputs(builder, loc, y, lead, c0, g, loop.getResult(0));
  }
}

/// Every token block's scale x.d and start -8 * sum(x.q), computed once
/// per call (not once per group of rows) into buffers shaped like the
/// amax operand, [.., s, blocks]; freed by `release`.
struct TokenBlockTerms {
  Value scale; ///< f32
  Value start; ///< i32
  void release(OpBuilder &b, Location l) const {
    memref::DeallocOp::create(b, l, scale);
    memref::DeallocOp::create(b, l, start);
  }
};

TokenBlockTerms prepareTokenBlockTerms(OpBuilder &b, Location l,
                                       const InterleavedShape &shape,
                                       Value values, Value xd) {
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
  t.start = memref::AllocOp::create(
      b, l, MemRefType::get(type.getShape(), b.getI32Type()), dynamic);
  Value c0 = arith::ConstantIndexOp::create(b, l, 0);
  Value c1 = arith::ConstantIndexOp::create(b, l, 1);
  scf::buildLoopNest(
      b, l, SmallVector<Value>(rank, c0), sizes, SmallVector<Value>(rank, c1),
      [&](OpBuilder &nb, Location nl, ValueRange at) {
        memref::StoreOp::create(nb, nl, tokenScale(nb, nl, xd, at), t.scale,
                                at);
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
                          bool vnni, ValueRange lead, ArrayRef<Value> rows,
                          ArrayRef<Value> groups) {
  Value y = op->getOperand(5);
  auto v8 = VectorType::get({8}, builder.getF32Type());
  auto cidx = [&](OpBuilder &b, Location l, int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  Value c0 = cidx(builder, loc, 0), c1 = cidx(builder, loc, 1);
  Value zero = arith::ConstantOp::create(builder, loc,
                                         DenseElementsAttr::get(v8, 0.0f));
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
            Value start = memref::LoadOp::create(b, l, terms.start, at);
            Value dot = groupDot(b, l, vnni, block, start, [&](int64_t k) {
              SmallVector<Value> w = at;
              int64_t offset = tokenWordOffset(shape, k);
              if (shape.q4)
                w.append({cidx(b, l, offset / 16), cidx(b, l, offset % 16)});
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

LogicalResult lowerInterleaved(RewriterBase &rewriter, linalg::GenericOp op,
                               const InterleavedShape &shape, int64_t rows,
                               int64_t cacheBytes, bool vnni) {
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value y = op.getDpsInitOperand(0)->get();
  auto yType = cast<MemRefType>(y.getType());
  unsigned rank = shape.rank;
  auto dim = [&](unsigned d) { return memrefDim(rewriter, loc, y, d); };
  SmallVector<Value> leadSizes;
  for (unsigned d = 0; d + 3 < rank; ++d)
    leadSizes.push_back(dim(d));
  Value raw = interleavedBlocks(rewriter, loc, op, shape);
  bool oneToken = isa<FunctionOpInterface>(op->getParentOp()) &&
                  llvm::all_of(yType.getShape().drop_back(2),
                               [](int64_t d) { return d == 1; });
  if (oneToken) {
    InterleavedToken token = prepareInterleavedToken(rewriter, loc, op, shape);
    // 8 groups (64 rows) per task, as the one-row lowering.
    emitBlockedLoops(
        rewriter, loc, leadSizes, dim(rank - 3), dim(rank - 2), 1, 8, 64,
        Value(),
        [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value>,
            ArrayRef<Value> groups) {
          emitInterleavedRows(b, l, op, shape, raw, token, vnni, lead, groups);
        });
    rewriter.eraseOp(op);
    return success();
  }
  Value values = tokenValues(rewriter, loc, op->getOperand(0));
  TokenBlockTerms terms =
      prepareTokenBlockTerms(rewriter, loc, shape, values, op->getOperand(1));
  emitBlockedLoops(
      rewriter, loc, leadSizes, dim(rank - 3), dim(rank - 2), rows, 1,
      rows * 8 * 32,
      chunkRows(rewriter, loc, cacheBytes,
                arith::ConstantIndexOp::create(rewriter, loc, shape.blocks),
                kInt8BlockBytes, rows),
      [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
          ArrayRef<Value> groups) {
        emitInterleavedBlock(b, l, op, shape, raw, values, terms, vnni, lead,
                             rowIdx, groups);
      });
  terms.release(rewriter, loc);
  rewriter.eraseOp(op);
  return success();
}

} // namespace

LogicalResult mlir::loom::lowerBlockQuantizedContraction(RewriterBase &rewriter,
                                                         linalg::GenericOp op,
                                                         int64_t rows,
                                                         int64_t cols,
                                                         int64_t cacheBytes,
                                                         bool vnni) {
  if (std::optional<InterleavedShape> interleaved = matchInterleaved(op))
    return lowerInterleaved(rewriter, op, *interleaved, rows, cacheBytes, vnni);
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
  SmallVector<Value> leadSizes;
  for (unsigned d = 0; d + 2 < rank; ++d)
    leadSizes.push_back(dim(d));
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
    TokenBlocks token = prepareTokenBlocks(rewriter, loc, op, *shape, vnni);
    emitBlockedLoops(
        rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), 1, cols,
        64, Value(),
        [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value>,
            ArrayRef<Value> colIdx) {
          emitInt8Rows(b, l, op, *shape, scales, token, vnni, lead, colIdx);
        });
    rewriter.eraseOp(op);
    return success();
  }
  emitBlockedLoops(
      rewriter, loc, leadSizes, dim(rank - 2), dim(rank - 1), rows, cols,
      rows * cols * 32,
      // A token's row: 32 bytes per block of 8-bit values (and its f32
      // max), or 32 f32 values.
      rows > 1 ? chunkRows(rewriter, loc, cacheBytes,
                           arith::ConstantIndexOp::create(rewriter, loc,
                                                          shape->blocks),
                           int8 ? kInt8BlockBytes : 32 * 4, rows)
               : Value(),
      [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
          ArrayRef<Value> colIdx) {
        if (int8)
          emitInt8Blocks(b, l, op, *shape, scales, vnni, lead, rowIdx,
                         colIdx);
        else
          emitBlocks(b, l, op, *shape, scales, lead, rowIdx, colIdx);
      });
  rewriter.eraseOp(op);
  return success();
}
