//===- ScheduleKernels.cpp - entry points as a graph of kernels -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Splits each bufferized entry point into kernels, places its intermediate
// buffers in one activation arena, and records the dependency graph between
// the kernels as data (see the pass description in Passes.td). What goes
// where is decided in KernelScheduleAnalysis.cpp; this file rewrites the
// entry point accordingly.
//
//===----------------------------------------------------------------------===//

#include "KernelScheduleAnalysis.h"
#include "OpLabel.h"

#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMSCHEDULEKERNELSPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;
using namespace mlir::loom::detail;

namespace {

/// Rewrites entry point `func` into the kernels of `schedule` (which
/// analyzeKernelSchedule computed for it, for calls of at most `maxTokens`
/// tokens): its allocations become views of an arena parameter, each kernel
/// a function, the entry point the calls of them in order, with the
/// schedule as its `loom.schedule` attribute.
void materialize(func::FuncOp func, KernelSchedule &schedule,
                 int64_t maxTokens) {
  MLIRContext *ctx = func.getContext();
  Block &body = func.front();
  Location loc = func.getLoc();

  // The arena is the entry point's last parameter; every allocation of its
  // top level becomes a view of it at the planned offset.
  auto arenaType =
      MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8));
  unsigned arenaIndex = func.getNumArguments();
  NamedAttribute arenaRole(StringAttr::get(ctx, kRoleAttr),
                           ParamRoleAttr::get(ctx, ParamRole::arena));
  (void)func.insertArgument(arenaIndex, arenaType,
                            DictionaryAttr::get(ctx, {arenaRole}), loc);
  Value arena = func.getArgument(arenaIndex);
  OpBuilder b(ctx);
  for (Buffer &buffer : schedule.buffers) {
    if (!buffer.isArena())
      continue;
    auto alloc = cast<memref::AllocOp>(buffer.alloc);
    b.setInsertionPoint(alloc);
    Value offset =
        arith::ConstantIndexOp::create(b, alloc.getLoc(), buffer.offset);
    auto view = memref::ViewOp::create(b, alloc.getLoc(), alloc.getType(),
                                       arena, offset, alloc.getDynamicSizes());
    alloc.replaceAllUsesWith(view.getResult());
    alloc.erase();
    buffer.alloc = view;
    buffer.root = view;
  }

  // One function per kernel, with the entry point's signature: the
  // index math and views it needs, then its anchors in program order.
  OpBuilder mb(ctx);
  mb.setInsertionPointAfter(func);
  SmallVector<func::FuncOp> kernels;
  SmallVector<Attribute> kernelInfo;
  SmallVector<SmallVector<Value>> kernelArgs;
  llvm::DenseSet<Operation *> isAnchor;
  for (Anchor &anchor : schedule.anchors)
    isAnchor.insert(anchor.op);
  for (auto [k, group] : llvm::enumerate(schedule.groups)) {
    std::string name = llvm::formatv("{0}__k{1}", func.getName(), k).str();
    llvm::SetVector<Operation *> prelude;
    std::function<void(Value)> need = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (!def || def->getBlock() != &body || prelude.contains(def) ||
          isAnchor.contains(def))
        return; // anchors' results come from the same kernel
      for (Value operand : def->getOperands())
        need(operand);
      prelude.insert(def);
    };
    llvm::MapVector<unsigned, bool> accesses;
    llvm::SetVector<Value> used; // values from outside each anchor
    for (unsigned a : group) {
      Operation *op = schedule.anchors[a].op;
      used.insert(op->operand_begin(), op->operand_end());
      getUsedValuesDefinedAbove(op->getRegions(), used);
      for (auto [buffer, write] : schedule.anchors[a].accesses)
        accesses[buffer] |= write;
    }
    for (Value v : used)
      need(v);
    SmallVector<Operation *> ordered(prelude.begin(), prelude.end());
    llvm::sort(ordered, [](Operation *x, Operation *y) {
      return x->isBeforeInBlock(y);
    });
    // The kernel takes the entry point's parameters it uses, in order.
    llvm::SetVector<Value> argSet;
    for (Operation *op : ordered)
      for (Value operand : op->getOperands())
        if (isa<BlockArgument>(operand))
          argSet.insert(operand);
    for (Value v : used)
      if (auto arg = dyn_cast<BlockArgument>(v); arg && arg.getOwner() == &body)
        argSet.insert(v);
    SmallVector<Value> args(argSet.begin(), argSet.end());
    llvm::sort(args, [](Value x, Value y) {
      return cast<BlockArgument>(x).getArgNumber() <
             cast<BlockArgument>(y).getArgNumber();
    });
    SmallVector<Type> argTypes;
    SmallVector<int64_t> params;
    for (Value v : args) {
      argTypes.push_back(v.getType());
      params.push_back(cast<BlockArgument>(v).getArgNumber());
    }
    auto kernel =
        func::FuncOp::create(mb, loc, name, mb.getFunctionType(argTypes, {}));
    kernel->setAttr(kKernelOfAttr, func.getSymNameAttr());
    kernel->setAttr(kKernelParamsAttr, mb.getDenseI64ArrayAttr(params));
    Block *entry = kernel.addEntryBlock();
    IRMapping map;
    map.map(args, entry->getArguments());
    for (unsigned a : group)
      ordered.push_back(schedule.anchors[a].op);
    llvm::sort(ordered, [](Operation *x, Operation *y) {
      return x->isBeforeInBlock(y);
    });
    OpBuilder eb = OpBuilder::atBlockEnd(entry);
    for (Operation *op : ordered)
      eb.clone(*op, map);
    func::ReturnOp::create(eb, loc);
    kernels.push_back(kernel);
    kernelArgs.push_back(std::move(args));
    mb.setInsertionPointAfter(kernel);

    SmallVector<Attribute> reads, writes;
    for (auto [buffer, write] : accesses) {
      const Buffer &buf = schedule.buffers[buffer];
      std::string label = buf.isArena()
                              ? llvm::formatv("arena[{0}, {1})", buf.offset,
                                              buf.offset + buf.bytes)
                                    .str()
                              : buf.name;
      (write ? writes : reads).push_back(StringAttr::get(ctx, label));
    }
    SmallVector<int64_t> deps(schedule.groupDeps[k].begin(),
                              schedule.groupDeps[k].end());
    // What it computes: the names of its anchors (the prelude's index math
    // and views say nothing).
    SmallVector<Operation *> anchorOps;
    for (unsigned a : group)
      anchorOps.push_back(schedule.anchors[a].op);
    std::string label = opLabel(anchorOps);
    kernelInfo.push_back(KernelAttr::get(
        ctx, StringAttr::get(ctx, name), DenseI64ArrayAttr::get(ctx, deps),
        DenseI64ArrayAttr::get(ctx, params), ArrayAttr::get(ctx, reads),
        ArrayAttr::get(ctx, writes), /*code=*/StringAttr(),
        label.empty() ? StringAttr() : StringAttr::get(ctx, label)));
  }

  // The entry point itself becomes the sequential schedule: the kernels
  // called one after the other.
  // Every op of the top level now lives in the kernels (anchors, and the
  // index math and views they need, some computed from anchors' results):
  // erased users first.
  SmallVector<Operation *> topLevel;
  for (Operation &op : body.without_terminator())
    topLevel.push_back(&op);
  for (Operation *op : llvm::reverse(topLevel))
    if (op->use_empty())
      op->erase();
  b.setInsertionPoint(body.getTerminator());
  for (auto [kernel, args] : llvm::zip(kernels, kernelArgs))
    func::CallOp::create(b, loc, kernel, args);

  func->setAttr(kScheduleAttr,
                ScheduleAttr::get(ctx, schedule.arenaBytes, maxTokens,
                                  ArrayAttr::get(ctx, kernelInfo)));
}

struct LoomScheduleKernelsPass
    : loom::impl::LoomScheduleKernelsPassBase<LoomScheduleKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    int64_t context = 0;
    if (auto config = module->getAttrOfType<DictionaryAttr>(kModelAttr))
      if (auto c = config.getAs<IntegerAttr>("context_length"))
        context = c.getInt();
    // A call never holds more tokens than the context.
    int64_t tokens = maxTokens > 0 && context > 0
                         ? std::min<int64_t>(maxTokens, context)
                     : maxTokens > 0 ? maxTokens
                                     : context;
    SmallVector<func::FuncOp> entries;
    for (auto f : module.getOps<func::FuncOp>())
      if (f.isPublic() && !f.isExternal() && !f->hasAttr(kKernelOfAttr) &&
          !f->hasAttr(kScheduleAttr) && !f->hasAttr(kRuntimeHelperAttr))
        entries.push_back(f);
    for (func::FuncOp f : entries) {
      FailureOr<KernelSchedule> schedule =
          analyzeKernelSchedule(f, tokens, context, reuseMemory, mergeKernels);
      if (failed(schedule))
        return signalPassFailure();
      materialize(f, *schedule, tokens);
    }
  }
};

} // namespace
