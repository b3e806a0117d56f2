//===- AmxContraction.cpp - bf16 linear layers on AMX tiles ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A linear layer with bf16 weights and bf16 activations, y[s, n] += sum_k
// x[s, k] * w[n, k], on a CPU with AMX-BF16: blocks of 32 tokens x 32
// output features accumulate in four 16 x 16 f32 tiles, each step of 32
// values of k one tdpbf16ps per tile (amx.tile_mulf).
//
// The weights stay as the file stores them. A tile multiply takes its left
// operand row-major (16 rows x 32 bf16: 16 weight rows, read in place with
// the row length as stride) and its right one in pairs ([k / 2][16 x 2]:
// VNNI order), so the tokens' side is repacked per call: x[16 tokens][32
// values] viewed as 16 x 16 bf16 pairs and transposed, once per layer (s x
// k, where the products are s x k x n). The result tiles hold y transposed
// ([n][s]); they are stored to a scratch buffer, transposed back and added
// to y.
//
// The token rows past the last whole block of 32 go through the
// register-blocked dot product (lowerDotContraction) as before.
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

using namespace mlir;
using namespace mlir::loom::detail;

namespace {

/// Tokens and output features per block (2 x 2 tiles of 16), and values of
/// k per tile step.
constexpr int64_t kBlock = 32, kTile = 16, kStep = 32;

/// A linear layer with bf16 x and w and f32 y (matchLinear), k and n
/// multiples of 32.
std::optional<LinearShape> matchAmx(linalg::GenericOp op) {
  std::optional<LinearShape> shape = matchLinear(op);
  if (!shape || !memrefOperand(op, 0).getElementType().isBF16() ||
      !memrefOperand(op, 1).getElementType().isBF16() ||
      !memrefOperand(op, 2).getElementType().isF32() || shape->k % kStep ||
      shape->n % kBlock)
    return std::nullopt;
  return shape;
}

/// x rows [0, 16 blocks) repacked for the right operand of the tile
/// multiply: packed[blk][kk][2 t + j] = x[16 blk + t][2 kk + j], in a new
/// buffer (the caller's to free); one scf.parallel over (block, 32 values).
Value packTokens(OpBuilder &b, Location l, Value x, const LinearShape &shape,
                 Value blocks) {
  Type bf16 = b.getBF16Type();
  Value packed = memref::AllocOp::create(
      b, l,
      MemRefType::get({ShapedType::kDynamic, shape.k / 2, 2 * kTile}, bf16),
      ValueRange{blocks}, b.getI64IntegerAttr(64));
  auto cidx = [&](OpBuilder &nb, int64_t v) {
    return arith::ConstantIndexOp::create(nb, l, v);
  };
  auto row = VectorType::get({kStep}, bf16);
  auto lanes = VectorType::get({16}, b.getI32Type());
  scf::ParallelOp::create(
      b, l, ValueRange{cidx(b, 0), cidx(b, 0)},
      ValueRange{blocks, cidx(b, shape.k / kStep)},
      ValueRange{cidx(b, 1), cidx(b, 1)},
      [&](OpBuilder &nb, Location nl, ValueRange at) {
        Value first = arith::MulIOp::create(nb, nl, at[0], cidx(nb, kTile));
        Value k = arith::MulIOp::create(nb, nl, at[1], cidx(nb, kStep));
        SmallVector<Value> rows;
        for (int64_t t = 0; t < kTile; ++t) {
          SmallVector<Value> idx(shape.rank - 2, cidx(nb, 0));
          idx.push_back(arith::AddIOp::create(nb, nl, first, cidx(nb, t)));
          idx.push_back(k);
          rows.push_back(vector::BitCastOp::create(
              nb, nl, lanes, vector::LoadOp::create(nb, nl, row, x, idx)));
        }
        rows = transposeRows(nb, nl, rows);
        Value kk = arith::MulIOp::create(nb, nl, at[1], cidx(nb, kStep / 2));
        for (int64_t i = 0; i < kTile; ++i)
          vector::StoreOp::create(
              nb, nl, vector::BitCastOp::create(nb, nl, row, rows[i]), packed,
              ValueRange{at[0], arith::AddIOp::create(nb, nl, kk, cidx(nb, i)),
                         cidx(nb, 0)});
      });
  return packed;
}

/// y[32 tokens from `t0`, 32 features from `n0`] += the block's products:
/// four f32 tiles over k in chunks of `unroll` steps, the tiles kept in
/// `scratch[at]` ([4][16][16] f32) between chunks: a tile is a value only
/// within a block of straight-line code (MLIR carries no tile through a
/// loop to LLVM, and an alloca inside the parallel loop would grow the
/// stack with every iteration).
void emitTileBlock(OpBuilder &b, Location l, Value w, Value packed, Value y,
                   Value scratchAll, Value at, const LinearShape &shape,
                   Value t0, Value n0) {
  Type f32 = b.getF32Type(), bf16 = b.getBF16Type();
  auto cidx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, l, v);
  };
  auto accType = amx::TileType::get({kTile, kTile}, f32);
  auto operandType = amx::TileType::get({kTile, kStep}, bf16);
  int64_t steps = shape.k / kStep, unroll = 1;
  for (int64_t u : {8, 4, 2})
    if (steps % u == 0) {
      unroll = u;
      break;
    }
  // Tile (i, j): features 16 i, tokens 16 j; stored as [n][t].
  auto scratchType = MemRefType::get(
      {4, kTile, kTile}, f32,
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                             {kTile * kTile, kTile, 1}));
  Value scratch = memref::SubViewOp::create(
      b, l, scratchType, scratchAll,
      ArrayRef<OpFoldResult>{at, b.getIndexAttr(0), b.getIndexAttr(0),
                             b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(4),
                             b.getIndexAttr(kTile), b.getIndexAttr(kTile)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1),
                             b.getIndexAttr(1), b.getIndexAttr(1)});
  for (int64_t c = 0; c < 4; ++c)
    amx::TileStoreOp::create(b, l, scratch,
                             ValueRange{cidx(c), cidx(0), cidx(0)},
                             amx::TileZeroOp::create(b, l, accType));
  Value tb = arith::DivUIOp::create(b, l, t0, cidx(kTile));
  scf::ForOp::create(
      b, l, cidx(0), cidx(steps / unroll), cidx(1), ValueRange{},
      [&](OpBuilder &nb, Location nl, Value chunk, ValueRange) {
        auto ncidx = [&](int64_t v) {
          return arith::ConstantIndexOp::create(nb, nl, v);
        };
        SmallVector<Value> acc;
        for (int64_t c = 0; c < 4; ++c)
          acc.push_back(amx::TileLoadOp::create(
              nb, nl, accType, scratch,
              ValueRange{ncidx(c), ncidx(0), ncidx(0)}));
        Value firstStep = arith::MulIOp::create(nb, nl, chunk, ncidx(unroll));
        for (int64_t u = 0; u < unroll; ++u) {
          Value step = arith::AddIOp::create(nb, nl, firstStep, ncidx(u));
          Value k = arith::MulIOp::create(nb, nl, step, ncidx(kStep));
          Value kk = arith::MulIOp::create(nb, nl, step, ncidx(kStep / 2));
          Value lhs[2], rhs[2];
          for (int64_t i = 0; i < 2; ++i)
            lhs[i] = amx::TileLoadOp::create(
                nb, nl, operandType, w,
                ValueRange{arith::AddIOp::create(nb, nl, n0, ncidx(kTile * i)),
                           k});
          for (int64_t j = 0; j < 2; ++j)
            rhs[j] = amx::TileLoadOp::create(
                nb, nl, operandType, packed,
                ValueRange{arith::AddIOp::create(nb, nl, tb, ncidx(j)), kk,
                           ncidx(0)});
          for (int64_t i = 0; i < 2; ++i)
            for (int64_t j = 0; j < 2; ++j)
              acc[2 * i + j] = amx::TileMulFOp::create(nb, nl, accType, lhs[i],
                                                       rhs[j], acc[2 * i + j]);
        }
        for (int64_t c = 0; c < 4; ++c)
          amx::TileStoreOp::create(nb, nl, scratch,
                                   ValueRange{ncidx(c), ncidx(0), ncidx(0)},
                                   acc[c]);
        scf::YieldOp::create(nb, nl);
      });
  // y[t0 + 16 j + t, n0 + 16 i + n] += scratch[2 i + j][n][t].
  auto v16 = VectorType::get({kTile}, f32);
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 2; ++j) {
      SmallVector<Value> rows;
      for (int64_t n = 0; n < kTile; ++n)
        rows.push_back(vector::LoadOp::create(
            b, l, v16, scratch, ValueRange{cidx(2 * i + j), cidx(n), cidx(0)}));
      rows = transposeRows(b, l, rows);
      Value n = arith::AddIOp::create(b, l, n0, cidx(kTile * i));
      for (int64_t t = 0; t < kTile; ++t) {
        SmallVector<Value> at(shape.rank - 2, cidx(0));
        at.push_back(arith::AddIOp::create(b, l, t0, cidx(kTile * j + t)));
        at.push_back(n);
        Value old = vector::LoadOp::create(b, l, v16, y, at);
        vector::StoreOp::create(b, l, arith::AddFOp::create(b, l, old, rows[t]),
                                y, at);
      }
    }
  }
}

} // namespace

LogicalResult mlir::loom::lowerAmxContraction(RewriterBase &rewriter,
                                              linalg::GenericOp op,
                                              int64_t width, int64_t rows,
                                              int64_t cols, int64_t cacheBytes,
                                              bool bf16Dot) {
  std::optional<LinearShape> shape = matchAmx(op);
  if (!shape)
    return failure();
  Value x = op.getDpsInputOperand(0)->get(),
        w = op.getDpsInputOperand(1)->get(), y = op.getDpsInitOperand(0)->get();
  unsigned rank = shape->rank;
  // Fewer tokens than a block (one, in decode) leave nothing to tiles.
  int64_t tokens = cast<MemRefType>(y.getType()).getDimSize(rank - 2);
  if (!ShapedType::isDynamic(tokens) && tokens < kBlock)
    return failure();
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  auto cidx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  Value s = memrefDim(rewriter, loc, y, rank - 2);
  Value whole = wholeBlocks(rewriter, loc, s, kBlock);
  Value packed =
      packTokens(rewriter, loc, x, *shape,
                 arith::DivUIOp::create(rewriter, loc, whole, cidx(kTile)));
  // In parallel over blocks of 32 features, each going through the token
  // blocks in turn (its weights stay in cache; the packed tokens, s x k
  // bf16, are read by every block) with a scratch of its own for its tiles.
  Value scratch = memref::AllocOp::create(
      rewriter, loc,
      MemRefType::get({shape->n / kBlock, 4, kTile, kTile},
                      rewriter.getF32Type()),
      ValueRange{}, rewriter.getI64IntegerAttr(64));
  Value tokenBlocks =
      arith::DivUIOp::create(rewriter, loc, whole, cidx(kBlock));
  auto blocks = scf::ParallelOp::create(
      rewriter, loc, ValueRange{cidx(0)}, ValueRange{cidx(shape->n / kBlock)},
      ValueRange{cidx(1)}, [&](OpBuilder &b, Location l, ValueRange at) {
        Value n0 = arith::MulIOp::create(
            b, l, at[0], arith::ConstantIndexOp::create(b, l, kBlock));
        scf::ForOp::create(
            b, l, arith::ConstantIndexOp::create(b, l, 0), tokenBlocks,
            arith::ConstantIndexOp::create(b, l, 1), ValueRange{},
            [&](OpBuilder &nb, Location nl, Value tb, ValueRange) {
              Value t0 = arith::MulIOp::create(
                  nb, nl, tb, arith::ConstantIndexOp::create(nb, nl, kBlock));
              emitTileBlock(nb, nl, w, packed, y, scratch, at[0], *shape, t0,
                            n0);
              scf::YieldOp::create(nb, nl);
            });
      });
  (void)blocks;
  memref::DeallocOp::create(rewriter, loc, scratch);
  memref::DeallocOp::create(rewriter, loc, packed);
  // The rows past the last whole block: the same op on views of them.
  linalg::GenericOp rest =
      cloneOnRowsFrom(rewriter, op, {0, 2}, rank - 2, whole);
  rewriter.eraseOp(op);
  if (failed(lowerDotContraction(rewriter, rest, width, rows, cols, cacheBytes,
                                 bf16Dot)))
    return rest.emitOpError("the rows past the AMX blocks cannot be lowered");
  return success();
}
