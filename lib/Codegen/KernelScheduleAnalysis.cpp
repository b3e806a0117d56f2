//===- KernelScheduleAnalysis.cpp - kernels and arena of an entry ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The analysis half of loom-schedule-kernels: for one bufferized entry
// point, the buffers its top level holds (its memref arguments, and the
// allocations that become slices of the arena, sized by bounding their
// index computations), the top-level ops with effects (anchors) and the
// buffers each reads and writes, the placement of the allocations in one
// activation arena (reusing memory only where the program already orders
// the users), and the grouping of the anchors into kernels with the
// dependencies between them. Rewrites nothing: ScheduleKernels.cpp
// materializes the result.
//
//===----------------------------------------------------------------------===//

#include "KernelScheduleAnalysis.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::detail;

namespace {

constexpr int64_t kArenaAlignment = 64;

int64_t alignTo(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

/// Bounds of the index computations of an entry point. The call-dependent
/// values are the token count (`memref.dim %tokens, 1`, at most
/// `maxTokens`) and the position (below the context length); every other
/// size is computed from them and constants. Intervals make the bound sound
/// for non-monotone arithmetic (`subi`, divisions).
class SizeBounds {
public:
  using Range = std::pair<int64_t, int64_t>;

  SizeBounds(Value tokens, Value sequenceLengths, Value position,
             Value logitsFrom, int64_t maxTokens, int64_t contextLength)
      : tokens(tokens), sequenceLengths(sequenceLengths), position(position),
        logitsFrom(logitsFrom), maxTokens(maxTokens),
        contextLength(contextLength) {}

  /// The largest value `v` takes, if the compiler can tell.
  std::optional<int64_t> upper(Value v) {
    std::optional<Range> r = (*this)(v);
    return r ? std::optional<int64_t>(r->second) : std::nullopt;
  }

  std::optional<Range> operator()(Value v) {
    if (auto it = cache.find(v); it != cache.end())
      return it->second;
    std::optional<Range> r = evaluate(v);
    cache[v] = r;
    return r;
  }

private:
  std::optional<Range> evaluate(Value v) {
    if (v == position && contextLength > 0)
      return Range{0, contextLength - 1};
    // The first row of logits is a row of the call.
    if (v == logitsFrom && maxTokens > 0)
      return Range{0, maxTokens - 1};
    Operation *def = v.getDefiningOp();
    if (!def)
      return std::nullopt;
    if (auto c = dyn_cast<arith::ConstantIndexOp>(def))
      return Range{c.value(), c.value()};
    if (auto dim = dyn_cast<memref::DimOp>(def)) {
      std::optional<Range> index = (*this)(dim.getIndex());
      auto type = dyn_cast<MemRefType>(dim.getSource().getType());
      if (!index || index->first != index->second || !type ||
          index->first < 0 || index->first >= type.getRank())
        return std::nullopt;
      return dimension(dim.getSource(), index->first);
    }
    if (def->getNumOperands() != 2)
      return std::nullopt;
    std::optional<Range> a = (*this)(def->getOperand(0));
    std::optional<Range> b = (*this)(def->getOperand(1));
    if (!a || !b)
      return std::nullopt;
    int64_t alo = a->first, ahi = a->second;
    int64_t blo = b->first, bhi = b->second;
    // For a positive divisor, division is monotone in each operand: the
    // extremes are at the corners.
    enum class Rounding { Truncate, Floor, Ceil };
    auto divide = [&](Rounding rounding,
                      bool isUnsigned) -> std::optional<Range> {
      if (blo <= 0 || (isUnsigned && alo < 0))
        return std::nullopt;
      auto div = [&](int64_t x, int64_t y) {
        switch (rounding) {
        case Rounding::Truncate:
          return x / y;
        case Rounding::Floor:
          return llvm::divideFloorSigned(x, y);
        case Rounding::Ceil:
          return llvm::divideCeilSigned(x, y);
        }
        llvm_unreachable("unknown rounding");
      };
      int64_t corners[] = {div(alo, blo), div(alo, bhi), div(ahi, blo),
                           div(ahi, bhi)};
      return Range{*llvm::min_element(corners), *llvm::max_element(corners)};
    };
    return llvm::TypeSwitch<Operation *, std::optional<Range>>(def)
        .Case([&](arith::AddIOp) { return Range{alo + blo, ahi + bhi}; })
        .Case([&](arith::SubIOp) { return Range{alo - bhi, ahi - blo}; })
        .Case([&](arith::MulIOp) -> std::optional<Range> {
          if (alo < 0 || blo < 0)
            return std::nullopt;
          return Range{alo * blo, ahi * bhi};
        })
        .Case([&](arith::DivUIOp) { return divide(Rounding::Truncate, true); })
        .Case([&](arith::DivSIOp) { return divide(Rounding::Truncate, false); })
        .Case(
            [&](arith::FloorDivSIOp) { return divide(Rounding::Floor, false); })
        .Case([&](arith::CeilDivUIOp) { return divide(Rounding::Ceil, true); })
        .Case([&](arith::CeilDivSIOp) { return divide(Rounding::Ceil, false); })
        .Case<arith::MinSIOp, arith::MinUIOp>([&](Operation *) {
          return Range{std::min(alo, blo), std::min(ahi, bhi)};
        })
        .Case<arith::MaxSIOp, arith::MaxUIOp>([&](Operation *) {
          return Range{std::max(alo, blo), std::max(ahi, bhi)};
        })
        .Default([](Operation *) { return std::nullopt; });
  }

  /// Size `index` of `memref`, through the ops that made it.
  std::optional<Range> dimension(Value memref, int64_t index) {
    auto type = cast<MemRefType>(memref.getType());
    if (!type.isDynamicDim(index))
      return Range{type.getDimSize(index), type.getDimSize(index)};
    // A call's tokens, and its packed sequences (at most one per token).
    if (memref == tokens || memref == sequenceLengths) {
      if (maxTokens <= 0)
        return std::nullopt;
      return Range{1, maxTokens};
    }
    Operation *def = memref.getDefiningOp();
    if (!def)
      return std::nullopt;
    auto mixed = [&](OpFoldResult r) -> std::optional<Range> {
      if (auto attr = dyn_cast<Attribute>(r)) {
        int64_t n = cast<IntegerAttr>(attr).getInt();
        return Range{n, n};
      }
      return (*this)(cast<Value>(r));
    };
    if (auto alloc = dyn_cast<memref::AllocOp>(def))
      return (*this)(alloc.getDynamicSizes()[type.getDynamicDimIndex(index)]);
    if (auto view = dyn_cast<memref::ViewOp>(def))
      return (*this)(view.getSizes()[type.getDynamicDimIndex(index)]);
    if (auto expand = dyn_cast<memref::ExpandShapeOp>(def))
      return mixed(expand.getMixedOutputShape()[index]);
    if (auto subview = dyn_cast<memref::SubViewOp>(def)) {
      if (subview.getSourceType().getRank() != type.getRank())
        return std::nullopt; // rank-reducing
      return mixed(subview.getMixedSizes()[index]);
    }
    if (auto cast = dyn_cast<memref::CastOp>(def))
      return dimension(cast.getSource(), index);
    if (auto collapse = dyn_cast<memref::CollapseShapeOp>(def)) {
      Range product{1, 1};
      // Held in a local: a range-for over an element of the returned
      // temporary would read it after it is destroyed (found by ASan).
      SmallVector<ReassociationIndices> groups =
          collapse.getReassociationIndices();
      for (int64_t d : groups[index]) {
        std::optional<Range> n = dimension(collapse.getSrc(), d);
        if (!n || n->first < 0)
          return std::nullopt;
        product = {product.first * n->first, product.second * n->second};
      }
      return product;
    }
    return std::nullopt;
  }

  Value tokens, sequenceLengths, position, logitsFrom;
  int64_t maxTokens, contextLength;
  DenseMap<Value, std::optional<Range>> cache;
};
/// Computes the kernels of one entry point, as groups of anchors, with the
/// dependencies between them.
class EntryScheduler {
public:
  EntryScheduler(func::FuncOp func, int64_t maxTokens, int64_t contextLength,
                 bool reuseMemory, bool merge)
      : func(func), maxTokens(maxTokens), contextLength(contextLength),
        reuseMemory(reuseMemory), merge(merge) {}

  /// Collects the buffers and anchors, plans the arena, groups the anchors
  /// into kernels; returns the result (once).
  FailureOr<KernelSchedule> run();

private:
  LogicalResult collect();
  void analyzeUse(OpOperand &use, unsigned buffer, Anchor &anchor);
  void planArena();
  bool conflict(const Anchor &a, const Anchor &b,
                bool sameBufferOnly = false) const;
  void buildGroups();

  func::FuncOp func;
  int64_t maxTokens, contextLength;
  bool reuseMemory, merge;

  SmallVector<Buffer> buffers;
  DenseMap<Value, unsigned> bufferOf; ///< top-level memref -> its buffer
  /// Top-level values computed from anchor results -> the earliest of those
  /// anchors (a kernel holding the range from it to a user holds them all).
  DenseMap<Value, int> producer;
  /// Memrefs an anchor returned -> the buffers they may alias.
  DenseMap<Value, SmallVector<unsigned>> carried;
  /// Anchor ranges that must be in one kernel (SSA values flow between
  /// their ends).
  SmallVector<std::pair<int, int>> sameKernel;
  SmallVector<Anchor> anchors;
  int64_t arenaBytes = 0;

  /// Kernels: anchors in program order, in a dependency order of kernels.
  SmallVector<SmallVector<unsigned>> groups;
  SmallVector<SmallVector<unsigned>> groupDeps;
};

/// A name for a function argument, for the schedule's reads and writes.
static std::string argumentName(func::FuncOp func, unsigned i) {
  if (auto w = func.getArgAttrOfType<StringAttr>(i, kWeightArgAttr))
    return w.str();
  if (auto n = func.getArgAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  if (std::optional<ParamRole> role = getArgRole(func, i))
    return stringifyParamRole(*role).str();
  return llvm::formatv("arg{0}", i).str();
}

LogicalResult EntryScheduler::collect() {
  Block &body = func.front();
  Value tokens, sequenceLengths, position, logitsFrom;
  for (BlockArgument arg : body.getArguments()) {
    std::optional<ParamRole> role = getArgRole(func, arg.getArgNumber());
    if (role == ParamRole::position)
      position = arg;
    if (role == ParamRole::logits_from)
      logitsFrom = arg;
    if (!isa<MemRefType>(arg.getType()))
      continue;
    if (role == ParamRole::tokens)
      tokens = arg;
    if (role == ParamRole::sequence_lengths)
      sequenceLengths = arg;
    bufferOf[arg] = buffers.size();
    buffers.push_back({arg, nullptr, argumentName(func, arg.getArgNumber())});
  }
  SizeBounds bounds(tokens, sequenceLengths, position, logitsFrom, maxTokens,
                    contextLength);

  for (Operation &op : body.without_terminator()) {
    if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      MemRefType type = alloc.getType();
      // Index is 64-bit on every target Loom generates code for.
      Type element = type.getElementType();
      unsigned bits = element.isIndex()        ? 64
                      : element.isIntOrFloat() ? element.getIntOrFloatBitWidth()
                                               : 0;
      // i1 (a boolean mask between ops) takes a byte per element, as LLVM
      // stores it and as the memref lowering addresses it.
      if (bits == 1)
        bits = 8;
      if (!type.getLayout().isIdentity() || bits == 0 || bits % 8 != 0)
        return alloc.emitOpError(
            "cannot be placed in the activation arena: it needs an identity "
            "layout and whole-byte elements");
      int64_t elements = 1;
      unsigned dynamic = 0;
      for (int64_t d : type.getShape()) {
        if (ShapedType::isDynamic(d)) {
          std::optional<int64_t> n =
              bounds.upper(alloc.getDynamicSizes()[dynamic++]);
          if (!n)
            return alloc.emitOpError(
                "has a size the compiler cannot bound: arena buffers may "
                "depend on the number of tokens (at most max-tokens) and the "
                "position (below the model's context length) only");
          d = *n;
        }
        elements *= d;
      }
      unsigned index = buffers.size();
      bufferOf[alloc.getResult()] = index;
      Buffer &b = buffers.emplace_back();
      b.root = alloc.getResult();
      b.alloc = alloc;
      b.name = llvm::formatv("buffer{0}", index).str();
      b.bytes = alignTo(elements * (bits / 8), kArenaAlignment);
      continue;
    }
    // The earliest anchor whose results `v` was computed from, or -1.
    auto producerOf = [&](Value v) {
      auto it = producer.find(v);
      return it == producer.end() ? -1 : it->second;
    };
    auto earliest = [](int a, int b) {
      return a < 0 ? b : b < 0 ? a : std::min(a, b);
    };
    if (auto view = dyn_cast<ViewLikeOpInterface>(op);
        view && op.getNumResults() == 1 && isMemoryEffectFree(&op)) {
      Value source = view.getViewSource();
      if (auto it = bufferOf.find(source); it != bufferOf.end()) {
        bufferOf[op.getResult(0)] = it->second;
        // A view at an offset an anchor computed (a group's first row,
        // loaded from memory) stays in that anchor's kernel.
        int from = -1;
        for (Value operand : op.getOperands())
          from = earliest(from, producerOf(operand));
        if (from >= 0)
          producer[op.getResult(0)] = from;
        continue;
      }
      if (auto it = carried.find(source); it != carried.end()) {
        SmallVector<unsigned> aliases = it->second;
        carried[op.getResult(0)] = std::move(aliases);
        producer[op.getResult(0)] = producerOf(source);
        continue;
      }
      return op.emitOpError("views a buffer the scheduler does not know");
    }
    if (isMemoryEffectFree(&op) && op.getNumRegions() == 0) {
      if (llvm::any_of(op.getResultTypes(), llvm::IsaPred<BaseMemRefType>))
        return op.emitOpError(
            "makes a memref the scheduler cannot trace to a buffer");
      // Index math and constants, recomputed by every kernel that needs
      // them; those computed from an anchor's results stay with it.
      int from = -1;
      for (Value operand : op.getOperands())
        from = earliest(from, producerOf(operand));
      if (from >= 0)
        for (Value result : op.getResults())
          producer[result] = from;
      continue;
    }
    if (isa<memref::DeallocOp>(op))
      return op.emitOpError("frees a buffer: schedule kernels before "
                            "inserting deallocations");
    int index = anchors.size();
    Anchor &anchor = anchors.emplace_back();
    anchor.op = &op;
    op.walk([&](Operation *nested) {
      for (OpOperand &use : nested->getOpOperands()) {
        if (auto it = bufferOf.find(use.get()); it != bufferOf.end())
          analyzeUse(use, it->second, anchor);
        else if (auto c = carried.find(use.get()); c != carried.end())
          for (unsigned buffer : c->second)
            anchor.access(buffer, /*write=*/true);
      }
    });
    // An anchor that uses another's results joins its kernel, with every
    // anchor in between (a contiguous range cannot close a cycle).
    llvm::SetVector<Value> used(op.operand_begin(), op.operand_end());
    getUsedValuesDefinedAbove(op.getRegions(), used);
    int from = -1;
    for (Value v : used)
      from = earliest(from, producerOf(v));
    if (from >= 0)
      sameKernel.push_back({from, index});

    for (Value result : op.getResults()) {
      producer[result] = index;
      // A memref made by an anchor (a loop's carried buffer) may be any of
      // the buffers it touched, or memory of its own.
      if (isa<BaseMemRefType>(result.getType())) {
        SmallVector<unsigned> aliases;
        for (auto [buffer, write] : anchor.accesses)
          aliases.push_back(buffer);
        carried[result] = std::move(aliases);
      }
    }
  }
  for (auto [i, anchor] : llvm::enumerate(anchors))
    for (auto [buffer, write] : anchor.accesses) {
      Buffer &b = buffers[buffer];
      b.first = std::min<int>(b.first, i);
      b.last = std::max<int>(b.last, i);
    }
  return success();
}

/// Records how `use` (inside an anchor) touches `buffer`. Views are followed;
/// an op whose effects are not known is taken to read and write it.
void EntryScheduler::analyzeUse(OpOperand &use, unsigned buffer,
                                Anchor &anchor) {
  Operation *user = use.getOwner();
  if (auto view = dyn_cast<ViewLikeOpInterface>(user);
      view && view.getViewSource() == use.get() && isMemoryEffectFree(user)) {
    for (Value result : user->getResults())
      for (OpOperand &u : result.getUses())
        analyzeUse(u, buffer, anchor);
    return;
  }
  if (auto effects = dyn_cast<MemoryEffectOpInterface>(user)) {
    SmallVector<MemoryEffects::EffectInstance> list;
    effects.getEffects(list);
    for (const MemoryEffects::EffectInstance &e : list) {
      if (e.getValue() && e.getValue() != use.get())
        continue;
      // An effect on no particular value touches every buffer.
      anchor.access(buffer, !isa<MemoryEffects::Read>(e.getEffect()));
    }
    return;
  }
  anchor.access(buffer, /*write=*/true);
}

void EntryScheduler::planArena() {
  SmallVector<unsigned> order;
  for (auto [i, b] : llvm::enumerate(buffers))
    if (b.isArena())
      order.push_back(i);
  // Largest first; the placement is first fit among the buffers live at the
  // same time.
  llvm::sort(order, [&](unsigned a, unsigned b) {
    return std::make_pair(-buffers[a].bytes, a) <
           std::make_pair(-buffers[b].bytes, b);
  });
  // Reuse must not order anchors the program leaves independent (the
  // expert shards of a MoE layer, the Q/K/V projections): a buffer takes
  // the memory of another only where every anchor touching the other
  // already happens before every anchor touching it, through the
  // dependencies of the program's own buffers. Fills do not count: one
  // runs with its consumer (merged into its kernel), which does count.
  unsigned n = anchors.size();
  SmallVector<llvm::BitVector> users(buffers.size(), llvm::BitVector(n));
  for (auto [a, anchor] : llvm::enumerate(anchors))
    if (!isa<linalg::FillOp>(anchor.op))
      for (auto [x, write] : anchor.accesses)
        users[x].set(a);
  SmallVector<llvm::BitVector> after(n, llvm::BitVector(n));
  if (reuseMemory)
    for (unsigned a = n; a-- > 0;)
      for (unsigned c = a + 1; c < n; ++c)
        if (!after[a].test(c) &&
            conflict(anchors[a], anchors[c], /*sameBufferOnly=*/true)) {
          after[a].set(c);
          after[a] |= after[c];
        }
  auto ordered = [&](unsigned earlier, unsigned later) {
    for (unsigned u : users[earlier].set_bits()) {
      llvm::BitVector notAfter = users[later];
      notAfter.reset(after[u]);
      if (notAfter.any())
        return false;
    }
    return true;
  };
  SmallVector<unsigned> placed;
  for (unsigned i : order) {
    Buffer &b = buffers[i];
    SmallVector<std::pair<int64_t, int64_t>> busy;
    for (unsigned j : placed) {
      const Buffer &o = buffers[j];
      bool overlapInTime = b.first <= o.last && o.first <= b.last;
      bool reusable = reuseMemory && !overlapInTime && b.last >= 0 &&
                      o.last >= 0 &&
                      (o.last < b.first ? ordered(j, i) : ordered(i, j));
      if (!reusable)
        busy.push_back({o.offset, o.offset + o.bytes});
    }
    llvm::sort(busy);
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + b.bytes <= lo)
        break;
      offset = std::max(offset, hi);
    }
    b.offset = offset;
    arenaBytes = std::max(arenaBytes, offset + b.bytes);
    placed.push_back(i);
  }
}

bool EntryScheduler::conflict(const Anchor &a, const Anchor &b,
                              bool sameBufferOnly) const {
  for (auto [x, xWrites] : a.accesses)
    for (auto [y, yWrites] : b.accesses) {
      if (!xWrites && !yWrites)
        continue;
      const Buffer &bx = buffers[x], &by = buffers[y];
      if (x == y)
        return true;
      if (!sameBufferOnly && bx.isArena() && by.isArena() &&
          bx.offset < by.offset + by.bytes && by.offset < bx.offset + bx.bytes)
        return true;
    }
  return false;
}

/// Removes the edges that other paths imply. `succ` is indexed by node;
/// nodes are numbered in a topological order. `reachOut`, if given,
/// receives the nodes each node reaches.
static void
transitiveReduction(SmallVectorImpl<llvm::BitVector> &succ,
                    SmallVectorImpl<llvm::BitVector> *reachOut = nullptr) {
  unsigned n = succ.size();
  SmallVector<llvm::BitVector> reach(n, llvm::BitVector(n));
  for (unsigned i = n; i-- > 0;) {
    llvm::BitVector implied(n);
    for (unsigned s : succ[i].set_bits())
      implied |= reach[s];
    succ[i].reset(implied);
    reach[i] = succ[i];
    reach[i] |= implied;
  }
  if (reachOut)
    *reachOut = std::move(reach);
}

void EntryScheduler::buildGroups() {
  unsigned n = anchors.size();
  // Anchor dependencies: a later anchor waits for an earlier one when they
  // touch the same memory and one of them writes it.
  SmallVector<llvm::BitVector> succ(n, llvm::BitVector(n));
  for (unsigned i = 0; i < n; ++i)
    for (unsigned j = i + 1; j < n; ++j)
      if (conflict(anchors[i], anchors[j]))
        succ[i].set(j);

  // Groups start as single anchors, or as the ranges that exchange SSA
  // values, in the slot of their last anchor; `members[g]` stays sorted.
  SmallVector<int> rangeEnd(n);
  for (unsigned i = 0; i < n; ++i)
    rangeEnd[i] = i;
  for (auto [from, to] : sameKernel)
    rangeEnd[from] = std::max(rangeEnd[from], to);
  SmallVector<SmallVector<unsigned>> members(n);
  llvm::BitVector alive(n);
  for (unsigned start = 0; start < n;) {
    int end = rangeEnd[start];
    for (int i = start; i <= end; ++i)
      end = std::max(end, rangeEnd[i]);
    for (int i = start; i <= end; ++i)
      members[end].push_back(i);
    alive.set(end);
    for (int i = start; i < end; ++i) {
      succ[end] |= succ[i];
      succ[i].reset();
    }
    for (unsigned p = 0; p < start; ++p)
      for (int i = start; i < end; ++i)
        if (succ[p].test(i)) {
          succ[p].reset(i);
          succ[p].set(end);
        }
    succ[end].reset(start, end + 1);
    start = end + 1;
  }
  auto isCheap = [&](unsigned g) {
    return llvm::all_of(members[g], [&](unsigned a) {
      return isa<linalg::FillOp>(anchors[a].op);
    });
  };
  // A group lives in the slot of its last-merged anchor chain. Merging a
  // node into its (only) successor's slot keeps every edge pointing to a
  // higher slot: the node's predecessors come before it, and whatever else
  // it reached is reachable from the successor, so comes after that.
  //
  // The reduced graph (the edges no other path implies), what each group
  // reaches and how many reduced edges enter each group are kept up to date
  // through the merges: recomputing the reduction for every merge made this
  // loop cubic in the number of anchors (2.7 s of a 22-layer model's
  // compile).
  SmallVector<llvm::BitVector> reduced = succ, reach;
  transitiveReduction(reduced, &reach);
  SmallVector<unsigned> predCount(n, 0);
  for (unsigned g : alive.set_bits())
    for (unsigned s : reduced[g].set_bits())
      ++predCount[s];
  while (merge) {
    std::optional<std::pair<unsigned, unsigned>> pick;
    for (unsigned g : alive.set_bits()) {
      if (reduced[g].count() != 1)
        continue;
      unsigned s = reduced[g].find_first();
      // A chain link (nothing else waits on g, nothing else feeds s), or a
      // fill whose only consumer is s: running them back to back loses no
      // concurrency.
      if (predCount[s] == 1 || isCheap(g)) {
        pick = {g, s};
        break;
      }
    }
    if (!pick)
      break;
    auto [g, s] = *pick;
    members[s].append(members[g]);
    llvm::sort(members[s]);
    members[g].clear();
    alive.reset(g);
    succ[s] |= succ[g];
    succ[s].reset(s);
    succ[g].reset();
    for (unsigned p : alive.set_bits())
      if (succ[p].test(g)) {
        succ[p].reset(g);
        succ[p].set(s);
      }
    // s now stands for g too. Whatever reached g reached s through it, so
    // reachability is unchanged but for g; an edge that entered g enters s,
    // and only edges entering s can have become implied (by a predecessor
    // of g that also reached s another way). g's only reduced edge went to
    // s, so s's own reduced edges stay as they were.
    reduced[g].reset();
    reach[g].reset();
    for (unsigned p : alive.set_bits()) {
      reach[p].reset(g);
      if (reduced[p].test(g)) {
        reduced[p].reset(g);
        reduced[p].set(s);
      }
    }
    predCount[g] = 0;
    predCount[s] = 0;
    for (unsigned p : alive.set_bits()) {
      if (!reduced[p].test(s))
        continue;
      bool implied = llvm::any_of(succ[p].set_bits(), [&, s = s](unsigned r) {
        return r != s && reach[r].test(s);
      });
      if (implied)
        reduced[p].reset(s);
      else
        ++predCount[s];
    }
  }

  // Number the surviving groups in slot order, a topological order.
  SmallVector<unsigned> live(alive.set_bits_begin(), alive.set_bits_end());
  unsigned m = live.size();
  DenseMap<unsigned, unsigned> position;
  for (auto [k, g] : llvm::enumerate(live))
    position[g] = k;
  SmallVector<llvm::BitVector> ordered(m, llvm::BitVector(m));
  for (auto [k, g] : llvm::enumerate(live))
    for (unsigned s : succ[g].set_bits()) {
      assert(position[s] > k && "group edges point forward");
      ordered[k].set(position[s]);
    }
  transitiveReduction(ordered);
  groups.clear();
  groupDeps.assign(m, {});
  for (unsigned g : live)
    groups.push_back(members[g]);
  for (unsigned k = 0; k < m; ++k)
    for (unsigned s : ordered[k].set_bits())
      groupDeps[s].push_back(k);
}
FailureOr<KernelSchedule> EntryScheduler::run() {
  if (!func.getBody().hasOneBlock())
    return func.emitOpError("has more than one block; the kernel scheduler "
                            "needs straight-line entry points");
  if (failed(collect()))
    return failure();
  planArena();
  buildGroups();
  return KernelSchedule{std::move(buffers), std::move(anchors), arenaBytes,
                        std::move(groups), std::move(groupDeps)};
}

} // namespace

FailureOr<KernelSchedule>
mlir::loom::detail::analyzeKernelSchedule(func::FuncOp func, int64_t maxTokens,
                                          int64_t contextLength,
                                          bool reuseMemory, bool merge) {
  return EntryScheduler(func, maxTokens, contextLength, reuseMemory, merge)
      .run();
}
