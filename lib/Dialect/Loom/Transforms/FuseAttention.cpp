//===- FuseAttention.cpp - attention written out into loom.attention ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The pattern is anchored at the last matmul of attention, P·V, and walks
// up: softmax over the keys, an optional additive mask, an optional scale,
// Q·Kᵀ. Every step either matches one of the spellings listed in Passes.td
// or the pattern gives up and leaves the IR alone.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/Support/DebugLog.h"

#include <cmath>
#include <functional>
#include <limits>

#define DEBUG_TYPE "loom-fuse-attention"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMFUSEATTENTIONPASS
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

/// The float every element of `v` holds, if `v` is a splat of a constant:
/// `arith.constant dense<c>` or `tensor.splat` of an `arith.constant`.
std::optional<double> splatConstant(Value v) {
  Attribute attr;
  if (matchPattern(v, m_Constant(&attr))) {
    if (auto dense = dyn_cast<SplatElementsAttr>(attr))
      if (auto f = dyn_cast<FloatAttr>(dense.getSplatValue<Attribute>()))
        return f.getValueAsDouble();
    return std::nullopt;
  }
  if (auto splat = v.getDefiningOp<tensor::SplatOp>()) {
    FloatAttr f;
    if (matchPattern(splat.getInput(), m_Constant(&f)))
      return f.getValueAsDouble();
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Elementwise values, however spelled
//===----------------------------------------------------------------------===//

/// A value as an elementwise computation sees it: a scalar inside a linalg
/// op's body (`map` null), or a tensor read at the consumer's own indices
/// (`map` null) or through `map` (from the consumer's iteration space to
/// the tensor's indices: a broadcast, a transpose). Arith and math ops on
/// tensors and the bodies of elementwise linalg ops (generic and named:
/// linalg.mul, linalg.exp, linalg.broadcast, linalg.transpose, ...) are
/// then walked alike, fused or not.
struct Ref {
  Value value;
  AffineMap map;
  bool operator==(const Ref &o) const {
    return value == o.value && map == o.map;
  }
  bool operator!=(const Ref &o) const { return !(*this == o); }
};

/// Whether `op` is an elementwise linalg op on tensors: every loop
/// parallel, one result written in loop order.
bool isElementwise(linalg::LinalgOp op) {
  return op.hasPureTensorSemantics() && op->getNumResults() == 1 &&
         op.getNumDpsInits() == 1 &&
         op.getNumLoops() == op.getNumParallelLoops() &&
         op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity();
}

/// If `v` is produced by an elementwise linalg op with one input whose body
/// yields that input unchanged (linalg.transpose, linalg.broadcast, a
/// copying linalg.generic), the input and its indexing map.
std::optional<std::pair<Value, AffineMap>> copiedInput(Value v) {
  auto op = v.getDefiningOp<linalg::LinalgOp>();
  if (!op || !isElementwise(op) || op.getNumDpsInputs() != 1 || !op.getBlock())
    return std::nullopt;
  auto arg =
      dyn_cast<BlockArgument>(op.getBlock()->getTerminator()->getOperand(0));
  if (!arg || arg.getArgNumber() != 0)
    return std::nullopt;
  return std::pair{op.getDpsInputs()[0],
                   op.getMatchingIndexingMap(op.getDpsInputOperand(0))};
}

/// `r` with the layers that only forward a value peeled: a body's block
/// argument becomes the input it reads (with its map), and a tensor read
/// directly that an elementwise linalg op produced becomes the value that
/// op's body yields. Stops at anything else.
Ref resolve(Ref r) {
  for (int guard = 0; guard < 64; ++guard) {
    if (auto arg = dyn_cast<BlockArgument>(r.value)) {
      auto op =
          dyn_cast_or_null<linalg::LinalgOp>(arg.getOwner()->getParentOp());
      if (!op || r.map || arg.getArgNumber() >= op.getNumDpsInputs())
        return r;
      OpOperand *input = op.getDpsInputOperand(arg.getArgNumber());
      AffineMap map = op.getMatchingIndexingMap(input);
      r = {input->get(), map.isIdentity() ? AffineMap() : map};
      continue;
    }
    if (r.map || !isa<RankedTensorType>(r.value.getType()))
      return r;
    auto op = r.value.getDefiningOp<linalg::LinalgOp>();
    if (!op || !isElementwise(op) || op.getBlock() == nullptr)
      return r;
    // A body that reads its position (`linalg.index`: a generated mask) is
    // no function of its inputs alone: the tensor it makes is the value.
    if (!op.getBlock()->getOps<linalg::IndexOp>().empty())
      return r;
    Value yielded = op.getBlock()->getTerminator()->getOperand(0);
    // A transpose or broadcast stays a tensor: matmulOf's operands are
    // looked through transposes by transposeOf, in a layout it checks, and
    // reductions read back along an axis by reductionInput.
    if (auto arg = dyn_cast<BlockArgument>(yielded))
      if (arg.getArgNumber() < op.getNumDpsInputs() &&
          !op.getMatchingIndexingMap(op.getDpsInputOperand(arg.getArgNumber()))
               .isIdentity())
        return r;
    r = {yielded, AffineMap()};
  }
  return r;
}

/// The op that computes `r` elementwise (an arith/math op on tensors or in
/// a body), once resolved; null for a leaf.
Operation *elementwiseOp(Ref r) {
  if (r.map)
    return nullptr;
  Operation *op = r.value.getDefiningOp();
  if (!op || op->getNumResults() != 1 ||
      !isa<arith::ArithDialect, math::MathDialect>(op->getDialect()))
    return nullptr;
  return op;
}

/// Operand `i` of an elementwise op, resolved.
Ref operandRef(Operation *op, unsigned i) {
  return resolve({op->getOperand(i), AffineMap()});
}

/// The constant `r` holds everywhere: a scalar arith.constant, or a splat
/// tensor (through any map).
std::optional<double> constantOf(Ref r) {
  FloatAttr f;
  if (matchPattern(r.value, m_Constant(&f)))
    return f.getValueAsDouble();
  if (isa<RankedTensorType>(r.value.getType()))
    return splatConstant(r.value);
  return std::nullopt;
}

/// Whether `r` is -inf everywhere (constantOf).
bool isNegInf(Ref r) {
  std::optional<double> c = constantOf(r);
  return c && std::isinf(*c) && *c < 0;
}

/// Peels constant factors off `r` (multiplications by and divisions by a
/// constant, either operand order for a product), returning their product.
double peelScales(Ref &r) {
  double scale = 1.0;
  r = resolve(r);
  while (Operation *op = elementwiseOp(r)) {
    if (isa<arith::MulFOp>(op)) {
      if (auto c = constantOf(operandRef(op, 1))) {
        scale *= *c;
        r = operandRef(op, 0);
        continue;
      }
      if (auto c = constantOf(operandRef(op, 0))) {
        scale *= *c;
        r = operandRef(op, 1);
        continue;
      }
      break;
    }
    if (isa<arith::DivFOp>(op)) {
      auto c = constantOf(operandRef(op, 1));
      if (!c || *c == 0.0)
        break;
      scale /= *c;
      r = operandRef(op, 0);
      continue;
    }
    break;
  }
  return scale;
}

/// The tensor `r` is, read at the consumer's indices; null when `r` is a
/// scalar computed in a body or a tensor read through a map.
Value tensorOf(Ref r) {
  if (r.map || !isa<RankedTensorType>(r.value.getType()))
    return Value();
  return r.value;
}

/// Whether `map` (rank `rank`) reads a tensor broadcast along `axis`: all
/// dimensions but `axis` in order (the axis reduced away), or all with 0
/// at `axis` (kept as a dimension of 1).
bool broadcastsAlong(AffineMap map, int64_t axis, int64_t rank) {
  if (!map || map.getNumDims() != rank || map.getNumSymbols())
    return false;
  SmallVector<AffineExpr> results(map.getResults());
  if (int64_t(results.size()) == rank - 1) {
    for (int64_t i = 0, d = 0; i < rank - 1; ++i, ++d) {
      if (d == axis)
        ++d;
      auto dim = dyn_cast<AffineDimExpr>(results[i]);
      if (!dim || dim.getPosition() != d)
        return false;
    }
    return true;
  }
  if (int64_t(results.size()) != rank)
    return false;
  for (int64_t i = 0; i < rank; ++i) {
    if (i == axis) {
      auto c = dyn_cast<AffineConstantExpr>(results[i]);
      if (!c || c.getValue() != 0)
        return false;
      continue;
    }
    auto dim = dyn_cast<AffineDimExpr>(results[i]);
    if (!dim || dim.getPosition() != i)
      return false;
  }
  return true;
}

/// Whether `init` is filled with `v` everywhere (linalg.fill of a constant
/// or a splat constant), or for -inf with anything at most the lowest f32.
bool filledWith(Value init, double v) {
  std::optional<double> c;
  if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
    FloatAttr f;
    if (matchPattern(fill.getInputs()[0], m_Constant(&f)))
      c = f.getValueAsDouble();
  } else {
    c = splatConstant(init);
  }
  if (!c)
    return false;
  if (std::isinf(v) && v < 0)
    return *c <= -double(std::numeric_limits<float>::max());
  return *c == v;
}

enum class Combine { Sum, Max };

/// If `r` is a reduction of one tensor over `axis` (of `rank` dimensions)
/// by `combine` (linalg.reduce or a linalg.generic with one reduction
/// loop, the axis reduced away or kept as 1), read through a map that
/// broadcasts it back along the axis, the reduced tensor read at the
/// consumer's indices.
std::optional<Ref> reductionInput(Ref r, Combine combine, int64_t axis,
                                  int64_t rank) {
  // A linalg.broadcast (or a generic copying through a broadcasting map)
  // is read as its input through that map.
  if (!r.map)
    if (auto copied = copiedInput(r.value))
      r = {copied->first, copied->second};
  // The reduction's result given its axis back as a dimension of 1 by an
  // expand_shape and read with 0 there (torch-mlir's keepdim) is the
  // result read without the axis.
  if (auto expand = r.value.getDefiningOp<tensor::ExpandShapeOp>();
      expand && r.map && broadcastsAlong(r.map, axis, rank) &&
      r.map.getNumResults() == unsigned(rank) && axis == rank - 1 &&
      expand.getSrcType().getRank() == rank - 1 &&
      expand.getResultType().getDimSize(axis) == 1 &&
      expand.getReassociationIndices().back() ==
          ReassociationIndices{rank - 2, rank - 1})
    r = {expand.getSrc(), r.map.dropResult(axis)};
  if (!broadcastsAlong(r.map, axis, rank))
    return std::nullopt;
  // The reduced value is the op's first result; further results (the
  // argmax torch-mlir computes beside a max) are left as they are.
  auto op = r.value.getDefiningOp<linalg::LinalgOp>();
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 1 ||
      cast<OpResult>(r.value).getResultNumber() != 0 ||
      op.getNumLoops() != rank || op.getNumReductionLoops() != 1 ||
      !op.getBlock())
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (iterators[axis] != utils::IteratorType::reduction ||
      !op.getMatchingIndexingMap(op.getDpsInputOperand(0)).isIdentity() ||
      !broadcastsAlong(op.getMatchingIndexingMap(op.getDpsInitOperand(0)), axis,
                       rank))
    return std::nullopt;
  if (!filledWith(op.getDpsInits()[0],
                  combine == Combine::Sum
                      ? 0.0
                      : -std::numeric_limits<double>::infinity()))
    return std::nullopt;
  Block *body = op.getBlock();
  Operation *c = body->getTerminator()->getOperand(0).getDefiningOp();
  bool kind = combine == Combine::Sum
                  ? isa_and_nonnull<arith::AddFOp>(c)
                  : isa_and_nonnull<arith::MaximumFOp, arith::MaxNumFOp>(c);
  if (!kind)
    return std::nullopt;
  Value in = body->getArgument(0), acc = body->getArgument(1);
  if (!((c->getOperand(0) == in && c->getOperand(1) == acc) ||
        (c->getOperand(0) == acc && c->getOperand(1) == in)))
    return std::nullopt;
  return Ref{op.getDpsInputs()[0], AffineMap()};
}

/// A softmax over `axis` of a `rank`-dimensional tensor, as loom.softmax,
/// linalg.softmax, or written out: exp(x - max(x)) / sum(exp(x - max(x)))
/// (or without the max), the reductions broadcast back by linalg.broadcast
/// or a generic's map. Returns what the softmax normalises (x).
std::optional<Ref> softmaxInput(Value p, int64_t rank) {
  int64_t axis = rank - 1;
  if (auto sm = p.getDefiningOp<SoftmaxOp>()) {
    if (int64_t(sm.getNormalizedAxis()) != axis)
      return std::nullopt;
    return Ref{sm.getInput(), AffineMap()};
  }
  if (auto sm = p.getDefiningOp<linalg::SoftmaxOp>()) {
    if (int64_t(sm.getDimension()) != axis)
      return std::nullopt;
    return Ref{sm.getInput(), AffineMap()};
  }
  Ref r = resolve({p, AffineMap()});
  Operation *div = elementwiseOp(r);
  if (!isa_and_nonnull<arith::DivFOp>(div))
    return std::nullopt;
  Ref num = operandRef(div, 0), den = operandRef(div, 1);
  std::optional<Ref> summed = reductionInput(den, Combine::Sum, axis, rank);
  if (!summed || resolve(*summed) != num)
    return std::nullopt;
  Operation *exp = elementwiseOp(num);
  if (!isa_and_nonnull<math::ExpOp>(exp))
    return std::nullopt;
  Ref arg = operandRef(exp, 0);
  // exp(x - max(x)): x is what the max reduces.
  if (Operation *sub = elementwiseOp(arg);
      isa_and_nonnull<arith::SubFOp>(sub)) {
    if (std::optional<Ref> x =
            reductionInput(operandRef(sub, 1), Combine::Max, axis, rank))
      if (resolve(*x) == operandRef(sub, 0))
        return *x;
  }
  return arg;
}

//===----------------------------------------------------------------------===//
// Matrix products and transposes, however spelled
//===----------------------------------------------------------------------===//

/// C[.., m, n] = sum_k lhs[.., m, k] rhs[.., k, n] over leading batch
/// dimensions, with `rhsT` when rhs is stored [.., n, k].
struct Matmul {
  Value lhs, rhs;
  bool rhsT = false;
  unsigned rank;
  /// rhs is [b, kv, repeats, ..] whose dimensions 1 and 2 are the heads
  /// (a repeat of the heads and the batch merged by one collapse_shape):
  /// the product's rank-4 rhs is it with those two collapsed.
  bool rhsSplitHeads = false;
};

/// The matrix product `c` is, if it is one: loom.matmul (lhs not
/// transposed), or a linalg contraction on tensors (linalg.batch_matmul,
/// linalg.matmul with any maps, an einsum-style linalg.generic) with every
/// batch dimension in the same order everywhere, a multiply-add body and a
/// zero init.
std::optional<Matmul> matmulOf(Value c) {
  if (!c)
    return std::nullopt;
  // A rank-4 product written as a batch matmul over [b * h, ..] between
  // reshapes (torch-mlir's aten.matmul): expand_shape(batch_matmul(
  // collapse_shape(a), collapse_shape(b))), each merging the two leading
  // dimensions, is the product of a and b.
  if (auto expand = c.getDefiningOp<tensor::ExpandShapeOp>()) {
    auto merged = [](ArrayRef<ReassociationIndices> groups) {
      return groups.size() == 3 && groups[0] == ReassociationIndices{0, 1} &&
             groups[1] == ReassociationIndices{2} &&
             groups[2] == ReassociationIndices{3};
    };
    if (!merged(expand.getReassociationIndices()))
      return std::nullopt;
    std::optional<Matmul> mm = matmulOf(expand.getSrc());
    if (!mm || mm->rank != 3)
      return std::nullopt;
    auto lhs = mm->lhs.getDefiningOp<tensor::CollapseShapeOp>();
    auto rhs = mm->rhs.getDefiningOp<tensor::CollapseShapeOp>();
    if (!lhs || !rhs || !merged(lhs.getReassociationIndices()))
      return std::nullopt;
    ArrayRef<int64_t> out = expand.getResultType().getShape();
    if (lhs.getSrcType().getShape().take_front(2) != out.take_front(2) ||
        ShapedType::isDynamic(out[0]) || ShapedType::isDynamic(out[1]))
      return std::nullopt;
    // The rhs merges b and the heads, or b and the heads split in two (a
    // repeat of shared K/V heads folded into the same collapse).
    ArrayRef<int64_t> r = rhs.getSrcType().getShape();
    bool split =
        rhs.getReassociationIndices().size() == 3 &&
        rhs.getReassociationIndices()[0] == ReassociationIndices{0, 1, 2} &&
        r.size() == 5 && r[0] == out[0] && !ShapedType::isDynamic(r[1]) &&
        !ShapedType::isDynamic(r[2]) && r[1] * r[2] == out[1];
    if (!split && (!merged(rhs.getReassociationIndices()) ||
                   r.take_front(2) != out.take_front(2)))
      return std::nullopt;
    Matmul result{lhs.getSrc(), rhs.getSrc(), mm->rhsT, 4};
    result.rhsSplitHeads = split;
    return result;
  }
  if (auto mm = c.getDefiningOp<MatmulOp>()) {
    if (mm.getTransposeLhs())
      return std::nullopt;
    return Matmul{mm.getLhs(), mm.getRhs(), mm.getTransposeRhs(),
                  unsigned(mm.getType().getRank())};
  }
  auto op = c.getDefiningOp<linalg::LinalgOp>();
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !linalg::isaContractionOpInterface(op) ||
      !filledWith(op.getDpsInits()[0], 0.0))
    return std::nullopt;
  unsigned rank = cast<RankedTensorType>(c.getType()).getRank();
  if (op.getNumLoops() != rank + 1)
    return std::nullopt;
  auto dims = [](AffineMap map) {
    SmallVector<int64_t> d;
    for (AffineExpr e : map.getResults()) {
      auto dim = dyn_cast<AffineDimExpr>(e);
      if (!dim)
        return SmallVector<int64_t>{};
      d.push_back(dim.getPosition());
    }
    return d;
  };
  SmallVector<int64_t> out =
      dims(op.getMatchingIndexingMap(op.getDpsInitOperand(0)));
  SmallVector<int64_t> a =
      dims(op.getMatchingIndexingMap(op.getDpsInputOperand(0)));
  SmallVector<int64_t> b =
      dims(op.getMatchingIndexingMap(op.getDpsInputOperand(1)));
  if (out.size() != rank || a.size() != rank || b.size() != rank)
    return std::nullopt;
  SmallVector<utils::IteratorType> it = op.getIteratorTypesArray();
  int64_t k = -1;
  for (unsigned d = 0; d < it.size(); ++d)
    if (it[d] == utils::IteratorType::reduction)
      k = d;
  int64_t m = out[rank - 2], n = out[rank - 1];
  ArrayRef<int64_t> batch = ArrayRef<int64_t>(out).drop_back(2);
  if (ArrayRef<int64_t>(a).drop_back(2) != batch ||
      ArrayRef<int64_t>(b).drop_back(2) != batch)
    return std::nullopt;
  if (a[rank - 2] != m || a[rank - 1] != k)
    return std::nullopt; // lhs transposed (Pᵀ·V is not attention)
  Matmul mm{op.getDpsInputs()[0], op.getDpsInputs()[1], false, rank};
  if (b[rank - 2] == k && b[rank - 1] == n)
    return mm;
  if (b[rank - 2] == n && b[rank - 1] == k) {
    mm.rhsT = true;
    return mm;
  }
  return std::nullopt;
}

/// If `v` is a transpose (loom.transpose, linalg.transpose, or a
/// linalg.generic copying its input through a permutation), its input and
/// the permutation as loom.transpose states it (result dimension i is
/// input dimension perm[i]).
std::optional<std::pair<Value, SmallVector<int64_t>>> transposeOf(Value v) {
  if (auto t = v.getDefiningOp<TransposeOp>())
    return std::pair{t.getInput(), llvm::to_vector(t.getPermutation())};
  auto copied = copiedInput(v);
  if (!copied || !copied->second.isPermutation())
    return std::nullopt;
  AffineMap map = copied->second;
  // The input's index i is the loop (result) dimension map[i]: result
  // dimension j reads input dimension perm[j] with map[perm[j]] = j.
  unsigned rank = map.getNumResults();
  SmallVector<int64_t> perm(rank);
  for (unsigned i = 0; i < rank; ++i)
    perm[cast<AffineDimExpr>(map.getResult(i)).getPosition()] = i;
  return std::pair{copied->first, perm};
}

/// What the walk up from the softmax found.
struct Scores {
  Value query, key;       // key in [batch, heads, seq, head_dim] layout ...
  bool keyIsBSHD = false; // ... or, when set, in [batch, seq, heads, head_dim]
  double scale = 1.0;
  unsigned rank = 4; ///< 3: [batch * heads, seq, head_dim]
};

/// Matches `[scale] (Q·Kᵀ) [scale]` with constant factors on the scores,
/// on Q, on K or Kᵀ (split between them too).
FailureOr<Scores> matchScores(Ref r) {
  Scores s;
  s.scale = peelScales(r);
  std::optional<Matmul> qk = matmulOf(tensorOf(r));
  if (!qk)
    return failure();
  s.rank = qk->rank;
  Ref q{qk->lhs, AffineMap()}, k{qk->rhs, AffineMap()};
  s.scale *= peelScales(q);
  s.scale *= peelScales(k);
  Value key = tensorOf(k);
  if (!key)
    return failure();
  if (!qk->rhsT) {
    // Kᵀ from [.., s, d] (the last two dimensions swapped) or, rank 4,
    // straight from [b, s, h, d] ([0, 2, 3, 1]).
    auto t = transposeOf(key);
    if (!t)
      return failure();
    SmallVector<int64_t> swap = llvm::to_vector(llvm::seq<int64_t>(0, s.rank));
    std::swap(swap[s.rank - 1], swap[s.rank - 2]);
    if (s.rank == 4 && t->second == ArrayRef<int64_t>{0, 2, 3, 1})
      s.keyIsBSHD = true;
    else if (t->second != ArrayRef<int64_t>(swap))
      return failure();
    k = {t->first, AffineMap()};
    s.scale *= peelScales(k);
    key = tensorOf(k);
    if (!key)
      return failure();
  }
  s.query = tensorOf(q);
  s.key = key;
  if (!s.query)
    return failure();
  return s;
}

/// A recognised causal mask: -inf where key j > offset + i, and with a
/// window also where j + W <= offset + i.
struct CausalMask {
  Value offset; // null: 0
  std::optional<int64_t> window;
};

/// The body of a generated mask: its region, the value it yields, and
/// which values are the query index i and the key index j (the block
/// arguments of a `tensor.generate`, or `linalg.index 2` and `3` in a
/// `linalg.generic` that reads nothing).
struct MaskBody {
  Region *region = nullptr;
  Value yielded;
  std::function<bool(Value)> isI, isJ;
};

/// `mask`'s body where it is a rank-4 tensor.generate, or a rank-4
/// linalg.generic with no inputs, parallel loops, an identity map and its
/// output unread.
std::optional<MaskBody> maskBody(Value mask) {
  if (auto gen = mask.getDefiningOp<tensor::GenerateOp>()) {
    if (gen.getType().getRank() != 4)
      return std::nullopt;
    Block &body = gen.getBody().front();
    Value i = body.getArgument(2), j = body.getArgument(3);
    return MaskBody{
        &gen.getBody(), cast<tensor::YieldOp>(body.getTerminator()).getValue(),
        [i](Value v) { return v == i; }, [j](Value v) { return v == j; }};
  }
  auto generic = mask.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic.getNumDpsInputs() != 0 ||
      generic.getNumResults() != 1 || generic.getNumLoops() != 4 ||
      generic.getNumParallelLoops() != 4 ||
      !generic.getIndexingMapsArray().front().isIdentity())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  if (!body.getArgument(0).use_empty())
    return std::nullopt;
  auto index = [](int64_t dim) {
    return [dim](Value v) {
      auto op = v.getDefiningOp<linalg::IndexOp>();
      return op && int64_t(op.getDim()) == dim;
    };
  };
  return MaskBody{&generic.getRegion(),
                  cast<linalg::YieldOp>(body.getTerminator()).getOperand(0),
                  index(2), index(3)};
}

/// Whether `v` is `offset + i` (or `i`) for the mask's query index `i`.
bool matchQueryPosition(Value v, const MaskBody &m, Value &offset) {
  if (m.isI(v))
    return true;
  auto add = v.getDefiningOp<arith::AddIOp>();
  if (!add)
    return false;
  for (auto [a, b] : {std::pair{add.getLhs(), add.getRhs()},
                      std::pair{add.getRhs(), add.getLhs()}}) {
    if (m.isI(b) && !m.region->isAncestor(a.getParentRegion())) {
      offset = a;
      return true;
    }
  }
  return false;
}

/// `p` with its operands swapped (a < b is b > a).
arith::CmpIPredicate swapped(arith::CmpIPredicate p) {
  using P = arith::CmpIPredicate;
  switch (p) {
  case P::slt:
    return P::sgt;
  case P::sgt:
    return P::slt;
  case P::sle:
    return P::sge;
  case P::sge:
    return P::sle;
  case P::ult:
    return P::ugt;
  case P::ugt:
    return P::ult;
  case P::ule:
    return P::uge;
  case P::uge:
    return P::ule;
  default:
    return p;
  }
}

/// `cond` as a comparison `key PRED other`, where `isKey` picks the side
/// that holds the key (either operand order).
std::optional<std::pair<arith::CmpIPredicate, Value>>
keyComparison(Value cond, function_ref<bool(Value)> isKey) {
  auto cmp = cond.getDefiningOp<arith::CmpIOp>();
  if (!cmp)
    return std::nullopt;
  if (isKey(cmp.getLhs()))
    return std::pair{cmp.getPredicate(), cmp.getRhs()};
  if (isKey(cmp.getRhs()))
    return std::pair{swapped(cmp.getPredicate()), cmp.getLhs()};
  return std::nullopt;
}

/// Matches the condition "key j is hidden from query i": `j > offset + i`
/// in either operand order (`offset + i < j`), signed or unsigned,
/// optionally or-ed with `j + W <= offset + i` (a sliding window, also in
/// either order).
FailureOr<CausalMask> matchHiddenCondition(Value cond, const MaskBody &m) {
  using P = arith::CmpIPredicate;
  CausalMask result;
  Value windowCond;
  auto isJ = [&](Value v) { return m.isJ(v); };
  if (auto orOp = cond.getDefiningOp<arith::OrIOp>()) {
    // Either side may be the window's.
    cond = orOp.getLhs();
    windowCond = orOp.getRhs();
    auto after = keyComparison(cond, isJ);
    if (!after || (after->first != P::ugt && after->first != P::sgt))
      std::swap(cond, windowCond);
  }
  // key after query: j > qpos
  auto after = keyComparison(cond, isJ);
  if (!after || (after->first != P::ugt && after->first != P::sgt) ||
      !matchQueryPosition(after->second, m, result.offset))
    return failure();
  if (windowCond) {
    // key too old: j + W <= qpos
    IntegerAttr w;
    auto isJPlusW = [&](Value v) {
      auto add = v.getDefiningOp<arith::AddIOp>();
      if (!add)
        return false;
      for (auto [a, b] : {std::pair{add.getLhs(), add.getRhs()},
                          std::pair{add.getRhs(), add.getLhs()}})
        if (m.isJ(a) && matchPattern(b, m_Constant(&w)))
          return true;
      return false;
    };
    auto old = keyComparison(windowCond, isJPlusW);
    Value unusedOffset;
    if (!old || (old->first != P::ule && old->first != P::sle) ||
        !matchQueryPosition(old->second, m, unusedOffset) ||
        unusedOffset != result.offset || w.getInt() <= 0)
      return failure();
    result.window = w.getInt();
  }
  return result;
}

/// Matches "key j is visible to query i": `j <= offset + i` in either
/// operand order (no window).
FailureOr<CausalMask> matchVisibleCondition(Value cond, const MaskBody &m) {
  using P = arith::CmpIPredicate;
  CausalMask result;
  auto visible = keyComparison(cond, [&](Value v) { return m.isJ(v); });
  if (!visible || (visible->first != P::ule && visible->first != P::sle) ||
      !matchQueryPosition(visible->second, m, result.offset))
    return failure();
  return result;
}

/// A causal additive mask: a generated mask (maskBody) yielding
/// select(hidden, -inf, 0) or select(visible, 0, -inf).
FailureOr<CausalMask> matchCausalMask(Value mask) {
  std::optional<MaskBody> m = maskBody(mask);
  if (!m)
    return failure();
  auto select = m->yielded.getDefiningOp<arith::SelectOp>();
  if (!select)
    return failure();
  FloatAttr onTrue, onFalse;
  if (!matchPattern(select.getTrueValue(), m_Constant(&onTrue)) ||
      !matchPattern(select.getFalseValue(), m_Constant(&onFalse)))
    return failure();
  auto isNegInf = [](FloatAttr f) {
    return f.getValue().isInfinity() && f.getValue().isNegative();
  };
  // select(hidden, -inf, 0) or select(visible, 0, -inf).
  if (isNegInf(onTrue) && onFalse.getValue().isZero())
    return matchHiddenCondition(select.getCondition(), *m);
  if (onTrue.getValue().isZero() && isNegInf(onFalse))
    return matchVisibleCondition(select.getCondition(), *m);
  return failure();
}

/// A causal boolean mask: a generated mask (maskBody) of i1 yielding the
/// hidden condition (`hidden` true) or the visible one (`hidden` false).
FailureOr<CausalMask> matchCausalCondition(Value cond, bool hidden) {
  std::optional<MaskBody> m = maskBody(cond);
  if (!m)
    return failure();
  return hidden ? matchHiddenCondition(m->yielded, *m)
                : matchVisibleCondition(m->yielded, *m);
}

//===----------------------------------------------------------------------===//
// Masks of static shape, evaluated
//===----------------------------------------------------------------------===//

/// The elements of a mask of static shape computed from indices and
/// constants only (exporters' spellings: torch-mlir's Trilu of ones, then
/// compared with 0 and selected to -inf), evaluated at every index by
/// interpreting the elementwise linalg.generic ops and scalar arith ops
/// that make it. Anything else (a tensor argument, an op it does not know)
/// stops the evaluation.
class MaskEvaluator {
public:
  /// The most elements evaluated: a 2048 x 2048 mask.
  static constexpr int64_t kMaxElements = int64_t(1) << 22;

  /// The mask's elements in row-major order, or nullopt.
  std::optional<std::vector<double>> evaluate(Value mask) {
    auto type = dyn_cast<RankedTensorType>(mask.getType());
    if (!type || !type.hasStaticShape() || type.getNumElements() > kMaxElements)
      return std::nullopt;
    std::vector<double> out;
    out.reserve(type.getNumElements());
    SmallVector<int64_t> idx(type.getRank(), 0);
    for (int64_t n = 0; n < type.getNumElements(); ++n) {
      std::optional<double> v = at(mask, idx, 0);
      if (!v)
        return std::nullopt;
      out.push_back(*v);
      for (int64_t d = type.getRank() - 1; d >= 0; --d) {
        if (++idx[d] < type.getDimSize(d))
          break;
        idx[d] = 0;
      }
    }
    return out;
  }

private:
  /// Integers and floats alike as doubles: masks' values and indices are
  /// far inside the 53 bits a double holds exactly.
  using Env = llvm::DenseMap<Value, double>;

  /// Tensor `t` at `idx`.
  std::optional<double> at(Value t, ArrayRef<int64_t> idx, int depth) {
    if (depth > 16)
      return std::nullopt;
    if (auto c = t.getDefiningOp<arith::ConstantOp>()) {
      auto dense = dyn_cast<DenseElementsAttr>(c.getValue());
      if (!dense)
        return std::nullopt;
      auto type = cast<RankedTensorType>(dense.getType());
      int64_t linear = 0;
      for (int64_t d = 0; d < type.getRank(); ++d)
        linear = linear * type.getDimSize(d) + idx[d];
      if (dense.isSplat())
        linear = 0;
      Type elt = type.getElementType();
      if (isa<FloatType>(elt))
        return (dense.isSplat() ? dense.getSplatValue<APFloat>()
                                : dense.getValues<APFloat>()[linear])
            .convertToDouble();
      if (elt.isSignlessInteger(1))
        return (dense.isSplat() ? dense.getSplatValue<bool>()
                                : dense.getValues<bool>()[linear])
                   ? 1.0
                   : 0.0;
      if (elt.isIntOrIndex())
        return double((dense.isSplat() ? dense.getSplatValue<APInt>()
                                       : dense.getValues<APInt>()[linear])
                          .getSExtValue());
      return std::nullopt;
    }
    if (auto fill = t.getDefiningOp<linalg::FillOp>()) {
      Env env;
      return scalar(fill.getInputs()[0], env, {}, nullptr, depth);
    }
    auto generic = t.getDefiningOp<linalg::GenericOp>();
    if (!generic || generic.getNumParallelLoops() != generic.getNumLoops())
      return std::nullopt;
    unsigned result = cast<OpResult>(t).getResultNumber();
    if (!generic.getIndexingMapsArray()[generic.getNumDpsInputs() + result]
             .isIdentity())
      return std::nullopt;
    Env env;
    Block &body = generic.getRegion().front();
    return scalar(
        cast<linalg::YieldOp>(body.getTerminator()).getOperand(result), env,
        idx, generic, depth);
  }

  /// Scalar `v` of `generic`'s body at loop indices `idx`.
  std::optional<double> scalar(Value v, Env &env, ArrayRef<int64_t> idx,
                               linalg::GenericOp generic, int depth) {
    if (auto it = env.find(v); it != env.end())
      return it->second;
    std::optional<double> r = compute(v, env, idx, generic, depth);
    if (r)
      env[v] = *r;
    return r;
  }

  std::optional<double> compute(Value v, Env &env, ArrayRef<int64_t> idx,
                                linalg::GenericOp generic, int depth) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (!generic || arg.getOwner() != &generic.getRegion().front() ||
          arg.getArgNumber() >= generic.getNumDpsInputs())
        return std::nullopt; // an init's value, or another region's
      OpOperand *in = generic.getDpsInputOperand(arg.getArgNumber());
      if (!isa<RankedTensorType>(in->get().getType())) {
        Env outer;
        return scalar(in->get(), outer, {}, nullptr, depth + 1);
      }
      AffineMap map = generic.getMatchingIndexingMap(in);
      SmallVector<int64_t> point;
      for (AffineExpr e : map.getResults()) {
        if (auto d = dyn_cast<AffineDimExpr>(e))
          point.push_back(idx[d.getPosition()]);
        else if (auto c = dyn_cast<AffineConstantExpr>(e))
          point.push_back(c.getValue());
        else
          return std::nullopt;
      }
      return at(in->get(), point, depth + 1);
    }
    Operation *op = v.getDefiningOp();
    if (!op || op->getNumResults() != 1)
      return std::nullopt;
    if (auto index = dyn_cast<linalg::IndexOp>(op))
      return generic && index.getDim() < idx.size()
                 ? std::optional<double>(double(idx[index.getDim()]))
                 : std::nullopt;
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      if (auto f = dyn_cast<FloatAttr>(c.getValue()))
        return f.getValueAsDouble();
      if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
        return c.getType().isInteger(1) ? double(i.getValue().getBoolValue())
                                        : double(i.getValue().getSExtValue());
      return std::nullopt;
    }
    SmallVector<double, 3> in;
    for (Value operand : op->getOperands()) {
      std::optional<double> x = scalar(operand, env, idx, generic, depth);
      if (!x)
        return std::nullopt;
      in.push_back(*x);
    }
    using IP = arith::CmpIPredicate;
    using FP = arith::CmpFPredicate;
    if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
      double a = in[0], b = in[1];
      switch (cmp.getPredicate()) {
      case IP::eq:
        return a == b;
      case IP::ne:
        return a != b;
      case IP::slt:
        return a < b;
      case IP::sle:
        return a <= b;
      case IP::sgt:
        return a > b;
      case IP::sge:
        return a >= b;
      default:
        break;
      }
      // Unsigned orders agree with the signed ones where neither side is
      // negative; a negative side would wrap: not evaluated.
      if (a < 0 || b < 0)
        return std::nullopt;
      switch (cmp.getPredicate()) {
      case IP::ult:
        return a < b;
      case IP::ule:
        return a <= b;
      case IP::ugt:
        return a > b;
      case IP::uge:
        return a >= b;
      default:
        return std::nullopt;
      }
    }
    if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
      double a = in[0], b = in[1];
      switch (cmp.getPredicate()) {
      case FP::OEQ:
      case FP::UEQ:
        return a == b;
      case FP::ONE:
      case FP::UNE:
        return a != b;
      case FP::OLT:
      case FP::ULT:
        return a < b;
      case FP::OLE:
      case FP::ULE:
        return a <= b;
      case FP::OGT:
      case FP::UGT:
        return a > b;
      case FP::OGE:
      case FP::UGE:
        return a >= b;
      default:
        return std::nullopt;
      }
    }
    if (isa<arith::SelectOp>(op))
      return in[0] != 0 ? in[1] : in[2];
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
            arith::ExtUIOp, arith::SIToFPOp, arith::UIToFPOp, arith::ExtFOp,
            arith::TruncFOp>(op))
      return in[0];
    if (isa<arith::AddIOp, arith::AddFOp>(op))
      return in[0] + in[1];
    if (isa<arith::SubIOp, arith::SubFOp>(op))
      return in[0] - in[1];
    if (isa<arith::MulIOp, arith::MulFOp>(op))
      return in[0] * in[1];
    if (isa<arith::NegFOp>(op))
      return -in[0];
    if (isa<arith::AndIOp>(op) && op->getResult(0).getType().isInteger(1))
      return double(in[0] != 0 && in[1] != 0);
    if (isa<arith::OrIOp>(op) && op->getResult(0).getType().isInteger(1))
      return double(in[0] != 0 || in[1] != 0);
    if (isa<arith::XOrIOp>(op) && op->getResult(0).getType().isInteger(1))
      return double((in[0] != 0) != (in[1] != 0));
    return std::nullopt;
  }
};

/// A static additive mask (MaskEvaluator) that is 0 where key j is
/// visible to query i and -inf elsewhere, with the visible keys those of
/// a causal mask at a constant offset (j <= offset + i), perhaps in a
/// sliding window (offset + i - j < W), the same for every batch and head.
FailureOr<CausalMask> evaluateCausalMask(Value mask, PatternRewriter &rewriter,
                                         Location loc) {
  std::optional<std::vector<double>> values = MaskEvaluator().evaluate(mask);
  if (!values)
    return failure();
  ArrayRef<int64_t> shape = cast<RankedTensorType>(mask.getType()).getShape();
  if (shape.size() < 2)
    return failure();
  int64_t q = shape[shape.size() - 2], kv = shape.back();
  // Hidden is -inf, or the lowest float (Hugging Face's finfo.min): either
  // gives the key no weight unless its whole row is hidden.
  auto visible = [&](int64_t n) { return (*values)[n] == 0.0; };
  for (double v : *values)
    if (v != 0.0 && !(v <= -double(std::numeric_limits<float>::max())))
      return failure();
  // Row 0's last visible key is the offset; a row whose first visible key
  // is past 0 gives the window.
  int64_t offset = -1;
  for (int64_t j = 0; j < kv; ++j)
    if (visible(j))
      offset = j;
  if (offset < 0)
    return failure();
  std::optional<int64_t> window;
  for (int64_t i = 0; i < q && !window; ++i)
    for (int64_t j = 0; j < kv; ++j)
      if (visible(i * kv + j)) {
        if (j > 0)
          window = offset + i - j + 1;
        break;
      }
  for (size_t n = 0; n < values->size(); ++n) {
    int64_t i = int64_t(n / kv) % q, j = int64_t(n % kv);
    bool want = j <= offset + i && (!window || offset + i - j < *window);
    if (visible(n) != want)
      return failure();
  }
  CausalMask causal;
  causal.window = window;
  if (offset != 0)
    causal.offset = arith::ConstantIndexOp::create(rewriter, loc, offset);
  return causal;
}

/// A broadcast of `v`'s heads written out as a `linalg.broadcast` adding
/// the repeat dimension right after the heads (`heads` the heads' axis, in
/// a rank-4 tensor) collapsed into them: Hugging Face's `repeat_kv` on
/// [b, kv, s, d] (heads 1), Meta's `repeat_kv` on [b, s, kv, d] (heads 2).
/// Strips it and returns the repeat count, or 1.
int64_t stripCollapsedRepeat(Value &v, int64_t heads) {
  auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || collapse.getSrcType().getRank() != 5)
    return 1;
  SmallVector<ReassociationIndices> groups;
  for (int64_t d = 0, src = 0; d < 4; ++d, ++src) {
    if (d == heads) {
      groups.push_back({src, src + 1});
      ++src;
    } else {
      groups.push_back({src});
    }
  }
  if (collapse.getReassociationIndices() != groups)
    return 1;
  // The repeat: a linalg.broadcast adding that dimension, or a generic
  // copying its input through a map without it (torch-mlir's aten.expand).
  Value input;
  if (auto broadcast = collapse.getSrc().getDefiningOp<linalg::BroadcastOp>()) {
    if (broadcast.getDimensions() != ArrayRef<int64_t>{heads + 1})
      return 1;
    input = broadcast.getInput();
  } else if (auto copied = copiedInput(collapse.getSrc())) {
    AffineMap map = copied->second;
    if (map.getNumDims() != 5 || map.getNumResults() != 4 ||
        map != AffineMap::getMultiDimIdentityMap(5, map.getContext())
                   .dropResult(heads + 1))
      return 1;
    input = copied->first;
  } else {
    return 1;
  }
  int64_t repeats = collapse.getSrcType().getDimSize(heads + 1);
  if (ShapedType::isDynamic(repeats))
    return 1;
  v = input;
  return repeats;
}

/// Strips a repeat of the heads of [b, h, s, d] (GQA or MQA written out);
/// returns the repeat count. Spellings: `loom.repeat_interleave` along
/// the heads; Hugging Face's `repeat_kv` (stripCollapsedRepeat); Meta's,
/// the repeat on [b, s, kv, d] before the transpose to [b, h, s, d] (the
/// transpose is made again on the shared heads); and one shared head
/// broadcast to every head (`linalg.broadcast` of [b, s, d] along the
/// heads: multi-query attention, the head restored as a dimension of 1).
int64_t stripHeadRepeat(Value &v, PatternRewriter &rewriter, Location loc) {
  if (auto r = v.getDefiningOp<RepeatInterleaveOp>()) {
    if (r.getAxis() == 1) {
      v = r.getInput();
      return r.getRepeats();
    }
    return 1;
  }
  if (int64_t repeats = stripCollapsedRepeat(v, 1); repeats != 1)
    return repeats;
  if (auto t = transposeOf(v);
      t && t->second == ArrayRef<int64_t>{0, 2, 1, 3}) {
    Value bshd = t->first;
    if (int64_t repeats = stripCollapsedRepeat(bshd, 2); repeats != 1) {
      v = TransposeOp::create(rewriter, loc, bshd,
                              ArrayRef<int64_t>{0, 2, 1, 3});
      return repeats;
    }
  }
  if (auto broadcast = v.getDefiningOp<linalg::BroadcastOp>()) {
    auto in = cast<RankedTensorType>(broadcast.getInput().getType());
    int64_t heads = cast<RankedTensorType>(v.getType()).getDimSize(1);
    if (broadcast.getDimensions() != ArrayRef<int64_t>{1} ||
        in.getRank() != 3 || ShapedType::isDynamic(heads))
      return 1;
    SmallVector<int64_t> shape = {in.getDimSize(0), 1, in.getDimSize(1),
                                  in.getDimSize(2)};
    v = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(shape, in.getElementType()),
        broadcast.getInput(),
        SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
    return heads;
  }
  return 1;
}

/// The additive mask `r` is, as a tensor loom.attention takes: read at the
/// scores' indices (rank `rank`), or a [q_len, kv_len] tensor broadcast
/// over batch and heads. Null otherwise.
Value maskTensor(Ref r, unsigned rank) {
  if (Value t = tensorOf(r))
    return t;
  auto type = dyn_cast<RankedTensorType>(r.value.getType());
  if (!r.map || !type)
    return Value();
  // A tensor of the scores' rank read with 0 along dimensions of 1 (a
  // [b, 1, q, kv] padding mask shared by the heads, Hugging Face's): the
  // fused op broadcasts it as it is.
  if (r.map.getNumResults() == rank && type.getRank() == rank &&
      llvm::all_of(llvm::seq<unsigned>(0, rank), [&](unsigned i) {
        AffineExpr e = r.map.getResult(i);
        if (auto d = dyn_cast<AffineDimExpr>(e))
          return d.getPosition() == i;
        auto c = dyn_cast<AffineConstantExpr>(e);
        return c && c.getValue() == 0 && type.getDimSize(i) == 1;
      }))
    return r.value;
  if (r.map.getNumResults() != 2)
    return Value();
  auto a = dyn_cast<AffineDimExpr>(r.map.getResult(0));
  auto b = dyn_cast<AffineDimExpr>(r.map.getResult(1));
  if (!a || !b || a.getPosition() != rank - 2 || b.getPosition() != rank - 1)
    return Value();
  return r.value;
}

/// A generated [batch, heads, q_len, kv_len] mask whose values do not
/// depend on the batch and head indices (a padding or sequence mask,
/// written at the scores' shape), made again as [q_len, kv_len]: the
/// fused op broadcasts it, and heads times fewer elements are computed and
/// read. `mask` itself otherwise.
Value narrowMask(PatternRewriter &rewriter, Value mask) {
  auto gen = mask.getDefiningOp<tensor::GenerateOp>();
  auto type = cast<RankedTensorType>(mask.getType());
  if (!gen || type.getRank() != 4)
    return mask;
  Block &body = gen.getBody().front();
  if (!body.getArgument(0).use_empty() || !body.getArgument(1).use_empty())
    return mask;
  SmallVector<Value> dynamic;
  for (int64_t d : {2, 3})
    if (type.isDynamicDim(d))
      dynamic.push_back(gen.getDynamicExtents()[type.getDynamicDimIndex(d)]);
  auto narrow = RankedTensorType::get(type.getShape().drop_front(2),
                                      type.getElementType());
  return tensor::GenerateOp::create(
      rewriter, gen.getLoc(), narrow, dynamic,
      [&](OpBuilder &b, Location, ValueRange idx) {
        IRMapping map;
        map.map(body.getArgument(2), idx[0]);
        map.map(body.getArgument(3), idx[1]);
        for (Operation &op : body)
          b.clone(op, map);
      });
}

/// Records the ops a pattern inserts into `block` (forwarding every
/// notification to the driver's listener) and, when it goes out of scope,
/// erases those left without uses: the helpers of a match that failed
/// after making them (a pattern that fails leaves the IR as it was), and
/// those a successful one made but did not use.
class CreatedOps : public RewriterBase::ForwardingListener {
public:
  CreatedOps(PatternRewriter &rewriter, Block *block)
      : ForwardingListener(rewriter.getListener()), rewriter(rewriter),
        saved(rewriter.getListener()), block(block) {
    rewriter.setListener(this);
  }
  ~CreatedOps() override {
    rewriter.setListener(saved);
    for (Operation *op : llvm::reverse(ops))
      if (op->use_empty())
        rewriter.eraseOp(op);
  }
  void notifyOperationInserted(Operation *op,
                               OpBuilder::InsertPoint previous) override {
    if (op->getBlock() == block)
      ops.push_back(op);
    ForwardingListener::notifyOperationInserted(op, previous);
  }

private:
  PatternRewriter &rewriter;
  OpBuilder::Listener *saved;
  Block *block;
  SmallVector<Operation *> ops;
};

/// Fuses attention ending at `pv`'s result, a P·V product however
/// spelled (matmulOf).
struct FuseAttention : RewritePattern {
  FuseAttention(MLIRContext *ctx)
      : RewritePattern(MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}

  LogicalResult matchAndRewrite(Operation *pv,
                                PatternRewriter &rewriter) const override {
    if (pv->getNumResults() != 1 ||
        !isa<MatmulOp, linalg::LinalgOp, tensor::ExpandShapeOp>(pv))
      return failure();
    Value out = pv->getResult(0);
    std::optional<Matmul> pvMatmul = matmulOf(out);
    if (!pvMatmul || pvMatmul->rhsT ||
        (pvMatmul->rank != 4 && pvMatmul->rank != 3))
      return rewriter.notifyMatchFailure(pv, "not a [b, h, s, d] P·V matmul");
    unsigned rank = pvMatmul->rank;
    std::optional<Ref> softmaxed = softmaxInput(pvMatmul->lhs, rank);
    if (!softmaxed)
      return rewriter.notifyMatchFailure(pv, "no softmax over the keys");

    // The scores, and a mask: additive (on either side of an addf), or a
    // select of -inf by a boolean tensor (`where(hidden, -inf, s)` or
    // `where(visible, s, -inf)`).
    Ref scored = resolve(*softmaxed);
    Value mask;
    Value condition;            // a boolean mask, true where the key is ...
    bool conditionHides = true; // ... hidden (false: visible)
    FailureOr<Scores> scores = matchScores(scored);
    if (failed(scores)) {
      Operation *op = elementwiseOp(scored);
      if (isa_and_nonnull<arith::AddFOp>(op)) {
        for (unsigned i : {0u, 1u}) {
          Ref other = operandRef(op, 1 - i);
          if (succeeded(scores = matchScores(operandRef(op, i)))) {
            mask = maskTensor(other, rank);
            break;
          }
        }
        if (succeeded(scores) && !mask)
          return rewriter.notifyMatchFailure(pv, "a mask that is no tensor");
      } else if (isa_and_nonnull<arith::SelectOp>(op)) {
        Ref t = operandRef(op, 1), f = operandRef(op, 2);
        if (isNegInf(t) && succeeded(scores = matchScores(f))) {
          condition = tensorOf(operandRef(op, 0));
        } else if (isNegInf(f) && succeeded(scores = matchScores(t))) {
          condition = tensorOf(operandRef(op, 0));
          conditionHides = false;
        }
        if (succeeded(scores) && !condition)
          return rewriter.notifyMatchFailure(pv, "a select by no mask tensor");
      }
      if (failed(scores))
        return rewriter.notifyMatchFailure(pv, "no Q·Kᵀ under the mask");
    }
    if (scores->rank != rank)
      return rewriter.notifyMatchFailure(pv, "Q·Kᵀ and P·V of other ranks");

    Location loc = pv->getLoc();
    // From here on the match makes helper ops; those it leaves unused (on
    // failure, all of them) go again.
    CreatedOps created(rewriter, pv->getBlock());
    Value writtenValue = pvMatmul->rhs;
    if (pvMatmul->rhsSplitHeads)
      writtenValue = tensor::CollapseShapeOp::create(
          rewriter, loc, writtenValue,
          SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
    Value key = scores->key, value = writtenValue, query = scores->query;
    if (scores->keyIsBSHD &&
        cast<RankedTensorType>(key.getType()).getRank() != 4)
      return rewriter.notifyMatchFailure(pv, "K is not rank 4");
    // K in [b, h, s, d], and its heads' repeat stripped (Meta's on [b, s,
    // kv, d] before the layout change, or any of stripHeadRepeat's).
    auto keyHeads = [&](bool strip, int64_t &repeats) {
      Value k = scores->key;
      repeats = 1;
      if (scores->keyIsBSHD) {
        if (strip)
          repeats = stripCollapsedRepeat(k, 2);
        k = TransposeOp::create(rewriter, loc, k,
                                ArrayRef<int64_t>{0, 2, 1, 3});
      }
      if (strip && rank == 4 && repeats == 1)
        repeats = stripHeadRepeat(k, rewriter, loc);
      return k;
    };
    int64_t keyRepeat, valueRepeat = 1;
    key = keyHeads(/*strip=*/true, keyRepeat);
    if (rank == 4)
      valueRepeat = stripHeadRepeat(value, rewriter, loc);
    if (keyRepeat != valueRepeat) {
      // Repeated differently (or only one of them): both as written.
      key = keyHeads(/*strip=*/false, keyRepeat);
      value = writtenValue;
    }
    auto qType = cast<RankedTensorType>(query.getType());
    auto kType = cast<RankedTensorType>(key.getType());
    auto vType = cast<RankedTensorType>(value.getType());
    if (qType.getRank() != rank || kType.getRank() != rank ||
        vType.getRank() != rank)
      return rewriter.notifyMatchFailure(pv, "operands of another rank");
    Type elt = qType.getElementType();
    if (kType.getElementType() != elt || vType.getElementType() != elt)
      return rewriter.notifyMatchFailure(pv, "operands of other types");

    bool causal = false;
    Value offset;
    std::optional<int64_t> window;
    if (mask) {
      FailureOr<CausalMask> c = matchCausalMask(mask);
      if (failed(c))
        c = evaluateCausalMask(mask, rewriter, loc);
      if (succeeded(c)) {
        causal = true;
        offset = c->offset;
        window = c->window;
        mask = Value();
      } else {
        mask = narrowMask(rewriter, mask);
      }
    }
    if (condition) {
      if (FailureOr<CausalMask> c =
              matchCausalCondition(condition, conditionHides);
          succeeded(c)) {
        causal = true;
        offset = c->offset;
        window = c->window;
      } else {
        // Any other boolean mask becomes the additive mask it stands for.
        auto cType = cast<RankedTensorType>(condition.getType());
        if (!cType.hasStaticShape())
          return rewriter.notifyMatchFailure(pv, "dynamic boolean mask");
        auto type = RankedTensorType::get(cType.getShape(), elt);
        Value ninf = arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(
                type, rewriter.getFloatAttr(
                          elt, -std::numeric_limits<double>::infinity())));
        Value zero = arith::ConstantOp::create(
            rewriter, loc,
            DenseElementsAttr::get(type, rewriter.getFloatAttr(elt, 0.0)));
        mask =
            conditionHides
                ? arith::SelectOp::create(rewriter, loc, condition, ninf, zero)
                : arith::SelectOp::create(rewriter, loc, condition, zero, ninf);
      }
    }
    if (mask && cast<RankedTensorType>(mask.getType()).getElementType() != elt)
      return rewriter.notifyMatchFailure(pv, "a mask of another type");
    // [batch * heads, seq, dim] (batch_matmul): one batch of heads.
    auto addBatch = [&](Value v) -> Value {
      auto type = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> shape = {1};
      llvm::append_range(shape, type.getShape());
      return tensor::ExpandShapeOp::create(
          rewriter, loc, RankedTensorType::get(shape, type.getElementType()), v,
          SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
    };
    if (rank == 3) {
      query = addBatch(query);
      key = addBatch(key);
      value = addBatch(value);
      if (mask && cast<RankedTensorType>(mask.getType()).getRank() == 3)
        mask = addBatch(mask);
    }
    auto attention = AttentionOp::create(
        rewriter, loc, query, key, value, mask, offset,
        rewriter.getFloatAttr(rewriter.getF32Type(), scores->scale), causal,
        window);
    Value result = attention.getResult();
    if (rank == 3)
      result = tensor::CollapseShapeOp::create(
          rewriter, loc, result,
          SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
    if (result.getType() != out.getType())
      result = tensor::CastOp::create(rewriter, loc, out.getType(), result);
    LDBG() << "fused attention at " << loc << ": scale " << scores->scale
           << (causal ? ", causal" : "") << (mask ? ", explicit mask" : "")
           << (window ? ", windowed" : "");
    rewriter.replaceOp(pv, result);
    return success();
  }
};

struct LoomFuseAttentionPass
    : loom::impl::LoomFuseAttentionPassBase<LoomFuseAttentionPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
