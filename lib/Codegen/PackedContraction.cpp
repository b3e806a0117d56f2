//===- PackedContraction.cpp - f32 linear layers on packed weight panels --===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A linear layer with f32 x and w, y[s, n] += sum_k x[s, k] * w[n, k], over
// more than one token (prefill), as an outer-product micro-kernel in the
// manner of BLIS / GotoBLAS: per step of k, `mr` tokens' x[t, k] broadcast
// and `nv` vectors of consecutive features' weights w[n.., k], mr x nv FMAs
// into accumulators that hold y[t, n..] itself (no lane sums at the end).
// A step loads nv + mr values for mr x nv FMAs (6 + 4 for 24 on 512-bit
// vectors, 6 + 2 for 12 on 256-bit ones), where the dot-product form
// (DotContraction.cpp) loads rows + cols vectors for rows x cols FMAs and
// sums every accumulator across lanes.
//
// A weight vector w[n..n+width, k] runs across rows of w, so the weights
// are packed: each task (one panel of nv x width features) copies its
// features' weights for `kc` values of k at a time into a panel
// [kc][nv x width] (16 x 16 or 8 x 8 transposes), small enough to stay in
// cache while every token block runs through it. Packing reads each weight
// once per call, the same as the dot-product form; with the s x k x n
// products of a prompt it is a small part of the work.
//
// 16-bit weights (bf16, f16) are widened to f32 as they are packed, so the
// micro-kernel is the f32 one; 16-bit activations (x rounded to bf16, as
// llama.cpp computes bf16 layers) are widened a block of tokens at a time
// into a small buffer of the task's. Where the target has AVX512-BF16,
// layers with bf16 x and w are left to the dot-product form (vdpbf16ps).
//
// Tokens past the last whole block of `mr` run the same kernel one token at
// a time. Decode (one token) keeps the plain loops: a matrix-vector product
// reads each weight once whatever the order.
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Contractions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::loom::detail;

namespace {

/// The micro-kernel's shape for `width` f32 lanes: tokens per block (mr)
/// and weight vectors per panel (nv). mr x nv accumulators, nv weight
/// vectors and a broadcast fit the register file: 24 + 4 + 1 of 32 (zmm),
/// 12 + 2 + 1 of 16 (ymm). On 512-bit vectors 6 x 4 measured best of 6 x 4,
/// 8 x 3, 12 x 2, 14 x 2 and 4 x 6 (GemmBench, 2-core Xeon).
struct Kernel {
  int64_t width, mr, nv;
  int64_t features() const { return width * nv; }
};

std::optional<Kernel> kernelFor(int64_t width) {
  if (width == 16)
    return Kernel{16, 6, 4};
  if (width == 8)
    return Kernel{8, 6, 2};
  return std::nullopt;
}

Value cidx(OpBuilder &b, Location l, int64_t v) {
  return arith::ConstantIndexOp::create(b, l, v);
}

/// Values of k per packed panel: the largest multiple of `width` up to 256
/// that divides k (a panel of 256 x 64 f32 is 64 KiB: in L2, most of it in
/// L1; 128 measured the same on stories110M, 64 slower).
int64_t panelDepth(int64_t k, int64_t width) {
  for (int64_t kc = 256; kc >= width; kc -= width)
    if (k % kc == 0)
      return kc;
  return width;
}

class PackedEmitter {
public:
  PackedEmitter(Value x, Value w, Value y, const LinearShape &shape,
                const Kernel &kernel, int64_t kc)
      : x(x), w(w), y(y), shape(shape), kernel(kernel), kc(kc) {}

  /// A vector of `width` f32 from `memref` at `at`, widened where the
  /// memref holds 16-bit floats.
  Value loadF32(OpBuilder &b, Location l, Value memref, ValueRange at) {
    Type elt = cast<MemRefType>(memref.getType()).getElementType();
    Value v = vector::LoadOp::create(b, l, VectorType::get({kernel.width}, elt),
                                     memref, at);
    if (elt.isF32())
      return v;
    return arith::ExtFOp::create(
        b, l, VectorType::get({kernel.width}, b.getF32Type()), v);
  }

  /// panel[kk][width g + j] = w[n0 + width g + j][k0 + kk] for kk < kc.
  void pack(OpBuilder &b, Location l, Value panel, Value n0, Value k0) {
    int64_t width = kernel.width;
    scf::ForOp::create(
        b, l, cidx(b, l, 0), cidx(b, l, kc), cidx(b, l, width), ValueRange{},
        [&](OpBuilder &nb, Location nl, Value kk, ValueRange) {
          Value k = arith::AddIOp::create(nb, nl, k0, kk);
          for (int64_t g = 0; g < kernel.nv; ++g) {
            SmallVector<Value> rows;
            for (int64_t j = 0; j < width; ++j) {
              Value n = arith::AddIOp::create(nb, nl, n0,
                                              cidx(nb, nl, width * g + j));
              rows.push_back(loadF32(nb, nl, w, ValueRange{n, k}));
            }
            rows = transposeRows(nb, nl, rows);
            for (int64_t i = 0; i < width; ++i)
              vector::StoreOp::create(
                  nb, nl, rows[i], panel,
                  ValueRange{arith::AddIOp::create(nb, nl, kk, cidx(nb, nl, i)),
                             cidx(nb, nl, width * g)});
          }
          scf::YieldOp::create(nb, nl);
        });
  }

  /// Whether x holds 16-bit floats, widened through a buffer [mr][kc].
  bool narrowX() const {
    return !cast<MemRefType>(x.getType()).getElementType().isF32();
  }

  /// xs[i][kk] = x[t0 + i][k0 + kk] in f32, for i < rows and kk < kc.
  void widenX(OpBuilder &b, Location l, Value xs, Value t0, Value k0,
              int64_t rows) {
    int64_t width = kernel.width;
    scf::ForOp::create(
        b, l, cidx(b, l, 0), cidx(b, l, kc), cidx(b, l, width), ValueRange{},
        [&](OpBuilder &nb, Location nl, Value kk, ValueRange) {
          Value k = arith::AddIOp::create(nb, nl, k0, kk);
          for (int64_t i = 0; i < rows; ++i) {
            SmallVector<Value> at(shape.rank - 2, cidx(nb, nl, 0));
            at.push_back(arith::AddIOp::create(nb, nl, t0, cidx(nb, nl, i)));
            at.push_back(k);
            vector::StoreOp::create(nb, nl, loadF32(nb, nl, x, at), xs,
                                    ValueRange{cidx(nb, nl, i), kk});
          }
          scf::YieldOp::create(nb, nl);
        });
  }

  /// y[t0 .. t0 + rows, n0 .. n0 + features] += x[those tokens, k0 .. k0 +
  /// kc] . the panel: the accumulators start from y and are stored back.
  /// With 16-bit x, `xs` is the task's f32 buffer [mr][kc] for them.
  void kernelBlock(OpBuilder &b, Location l, Value panel, Value xs, Value t0,
                   Value n0, Value k0, int64_t rows) {
    int64_t width = kernel.width, nv = kernel.nv;
    auto vec = VectorType::get({width}, b.getF32Type());
    if (xs)
      widenX(b, l, xs, t0, k0, rows);
    auto yAt = [&](OpBuilder &nb, Location nl, int64_t i, int64_t g) {
      SmallVector<Value> at(shape.rank - 2, cidx(nb, nl, 0));
      at.push_back(arith::AddIOp::create(nb, nl, t0, cidx(nb, nl, i)));
      at.push_back(arith::AddIOp::create(nb, nl, n0, cidx(nb, nl, width * g)));
      return at;
    };
    SmallVector<Value> inits;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t g = 0; g < nv; ++g)
        inits.push_back(vector::LoadOp::create(b, l, vec, y, yAt(b, l, i, g)));
    // Two steps of k per iteration (kc is a multiple of the width).
    constexpr int64_t unroll = 2;
    auto loop = scf::ForOp::create(
        b, l, cidx(b, l, 0), cidx(b, l, kc), cidx(b, l, unroll), inits,
        [&](OpBuilder &nb, Location nl, Value kFirst, ValueRange accsIn) {
          SmallVector<Value> accs(accsIn.begin(), accsIn.end());
          for (int64_t u = 0; u < unroll; ++u) {
            Value kk = arith::AddIOp::create(nb, nl, kFirst, cidx(nb, nl, u));
            SmallVector<Value> wv;
            for (int64_t g = 0; g < nv; ++g)
              wv.push_back(vector::LoadOp::create(
                  nb, nl, vec, panel, ValueRange{kk, cidx(nb, nl, width * g)}));
            Value k = arith::AddIOp::create(nb, nl, k0, kk);
            for (int64_t i = 0; i < rows; ++i) {
              Value xi;
              if (xs) {
                xi = memref::LoadOp::create(nb, nl, xs,
                                            ValueRange{cidx(nb, nl, i), kk});
              } else {
                SmallVector<Value> at(shape.rank - 2, cidx(nb, nl, 0));
                at.push_back(
                    arith::AddIOp::create(nb, nl, t0, cidx(nb, nl, i)));
                at.push_back(k);
                xi = memref::LoadOp::create(nb, nl, x, at);
              }
              Value xv = vector::BroadcastOp::create(nb, nl, vec, xi);
              for (int64_t g = 0; g < nv; ++g)
                accs[i * nv + g] =
                    vector::FMAOp::create(nb, nl, xv, wv[g], accs[i * nv + g]);
            }
          }
          scf::YieldOp::create(nb, nl, accs);
        });
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t g = 0; g < nv; ++g)
        vector::StoreOp::create(b, l, loop.getResult(i * nv + g), y,
                                yAt(b, l, i, g));
  }

  Value x, w, y;
  const LinearShape &shape;
  Kernel kernel;
  int64_t kc;
};

} // namespace

LogicalResult mlir::loom::lowerPackedContraction(RewriterBase &rewriter,
                                                 linalg::GenericOp op,
                                                 int64_t width, bool bf16Dot) {
  std::optional<Kernel> kernel = kernelFor(width);
  std::optional<LinearShape> shape = matchLinear(op);
  if (!kernel || !shape || !memrefOperand(op, 2).getElementType().isF32() ||
      shape->k % kernel->width || shape->n % kernel->features())
    return failure();
  // matchLinear lets x and w be f32 or 16-bit floats widened in the body.
  Type xType = memrefOperand(op, 0).getElementType(),
       wType = memrefOperand(op, 1).getElementType();
  if (bf16Dot && xType.isBF16() && wType.isBF16())
    return failure();
  Value x = op.getDpsInputOperand(0)->get(),
        w = op.getDpsInputOperand(1)->get(), y = op.getDpsInitOperand(0)->get();
  unsigned rank = shape->rank;
  // Fewer tokens than a block (one, in decode) are not worth packing for.
  int64_t tokens = cast<MemRefType>(y.getType()).getDimSize(rank - 2);
  if (!ShapedType::isDynamic(tokens) && tokens < kernel->mr)
    return failure();
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  int64_t kc = panelDepth(shape->k, kernel->width);
  PackedEmitter emitter(x, w, y, *shape, *kernel, kc);
  Value s = memrefDim(rewriter, loc, y, rank - 2);
  Value whole = wholeBlocks(rewriter, loc, s, kernel->mr);
  int64_t features = kernel->features();
  // In parallel over panels of features; each task packs its panel kc
  // values of k at a time into a buffer of its own (on the heap: an alloca
  // in a parallel body would grow the stack with every iteration) and runs
  // every token through it.
  scf::ParallelOp::create(
      rewriter, loc, ValueRange{cidx(rewriter, loc, 0)},
      ValueRange{cidx(rewriter, loc, shape->n / features)},
      ValueRange{cidx(rewriter, loc, 1)},
      [&](OpBuilder &b, Location l, ValueRange at) {
        Value n0 = arith::MulIOp::create(b, l, at[0], cidx(b, l, features));
        Value panel = memref::AllocOp::create(
            b, l, MemRefType::get({kc, features}, b.getF32Type()), ValueRange{},
            b.getI64IntegerAttr(64));
        Value xs;
        if (emitter.narrowX())
          xs = memref::AllocOp::create(
              b, l, MemRefType::get({kernel->mr, kc}, b.getF32Type()),
              ValueRange{}, b.getI64IntegerAttr(64));
        scf::ForOp::create(
            b, l, cidx(b, l, 0), cidx(b, l, shape->k), cidx(b, l, kc),
            ValueRange{},
            [&](OpBuilder &kb, Location kl, Value k0, ValueRange) {
              emitter.pack(kb, kl, panel, n0, k0);
              scf::ForOp::create(
                  kb, kl, cidx(kb, kl, 0), whole, cidx(kb, kl, kernel->mr),
                  ValueRange{},
                  [&](OpBuilder &tb, Location tl, Value t0, ValueRange) {
                    emitter.kernelBlock(tb, tl, panel, xs, t0, n0, k0,
                                        kernel->mr);
                    scf::YieldOp::create(tb, tl);
                  });
              scf::ForOp::create(
                  kb, kl, whole, s, cidx(kb, kl, 1), ValueRange{},
                  [&](OpBuilder &tb, Location tl, Value t, ValueRange) {
                    emitter.kernelBlock(tb, tl, panel, xs, t, n0, k0, 1);
                    scf::YieldOp::create(tb, tl);
                  });
              scf::YieldOp::create(kb, kl);
            });
        memref::DeallocOp::create(b, l, panel);
        if (xs)
          memref::DeallocOp::create(b, l, xs);
      });
  rewriter.eraseOp(op);
  return success();
}
