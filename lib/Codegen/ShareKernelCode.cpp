//===- ShareKernelCode.cpp - one function for equivalent kernels ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Kernels that differ only in their arguments (each layer's weights and
// caches) and in the arena offsets of their buffers run one shared,
// noinline function: the code generator then compiles each distinct kernel
// once, however deep the model (see the pass description in Passes.td).
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Debug.h"
#include "llvm/Support/DebugLog.h"

#define DEBUG_TYPE "loom-share-kernel-code"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMSHAREKERNELCODEPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

/// An index constant used only as the byte offset of views: where a buffer
/// sits in the arena, the one thing the kernels of different layers may
/// differ in and still share code.
bool isArenaOffset(Operation *op) {
  auto constant = dyn_cast<arith::ConstantIndexOp>(op);
  if (!constant || constant->use_empty())
    return false;
  return llvm::all_of(constant->getUses(), [](OpOperand &use) {
    auto view = dyn_cast<memref::ViewOp>(use.getOwner());
    return view && use.get() == view.getByteShift() &&
           use.getOperandNumber() ==
               view.getByteShiftMutable().getOperandNumber();
  });
}

int64_t constantValue(Operation *op) {
  return cast<arith::ConstantIndexOp>(op).value();
}

/// A hash that equivalent kernels share: the signature and the sequence of
/// op names (constants' values left out). Only kernels of one bucket are
/// compared op by op.
llvm::hash_code fingerprint(func::FuncOp kernel) {
  llvm::hash_code h = hash_value(kernel.getFunctionType());
  kernel.walk([&](Operation *op) {
    h = llvm::hash_combine(h, op->getName().getAsOpaquePointer(),
                           op->getNumOperands(), op->getNumRegions());
  });
  return h;
}

/// Whether `other` computes what `rep` computes, op by op, when each is
/// given its own arguments; the positions (in the top-level ops of the
/// body) of arena offsets whose values differ are added to `holes`.
bool isEquivalent(func::FuncOp rep, func::FuncOp other,
                  SmallVectorImpl<unsigned> &holes) {
  if (rep.getFunctionType() != other.getFunctionType() ||
      !rep.getBody().hasOneBlock() || !other.getBody().hasOneBlock())
    return false;
  Block &a = rep.front(), &b = other.front();
  if (a.getOperations().size() != b.getOperations().size())
    return false;
  DenseMap<Value, Value> map;
  for (auto [x, y] : llvm::zip(a.getArguments(), b.getArguments()))
    map[x] = y;
  auto check = [&](Value x, Value y) { return success(map.lookup(x) == y); };
  auto mark = [&](Value x, Value y) { map[x] = y; };
  SmallVector<unsigned> differing;
  for (auto [i, ops] : llvm::enumerate(llvm::zip(a, b))) {
    auto &[x, y] = ops;
    if (isArenaOffset(&x) && isArenaOffset(&y)) {
      if (constantValue(&x) != constantValue(&y))
        differing.push_back(i);
      mark(x.getResult(0), y.getResult(0));
      continue;
    }
    if (!OperationEquivalence::isEquivalentTo(
            &x, &y, check, mark, OperationEquivalence::IgnoreLocations))
      return false;
  }
  llvm::append_range(holes, differing);
  return true;
}

/// Kernels that run one function: the first is the representative, whose
/// body becomes the shared code.
struct CodeClass {
  SmallVector<func::FuncOp> members;
  /// Top-level op positions of the arena offsets that become parameters.
  llvm::SmallSetVector<unsigned, 4> holes;
};

/// Moves the body of `cls`'s representative into a new private function
/// and makes every member a call of it; returns the new function's name.
StringAttr share(CodeClass &cls, SymbolTable &symbols) {
  func::FuncOp rep = cls.members.front();
  MLIRContext *ctx = rep.getContext();
  SmallVector<unsigned> holes(cls.holes.begin(), cls.holes.end());
  llvm::sort(holes);

  // Each member's values of the holes, read before any body changes.
  SmallVector<SmallVector<int64_t>> offsets;
  for (func::FuncOp member : cls.members) {
    SmallVector<Operation *> ops;
    for (Operation &op : member.front())
      ops.push_back(&op);
    SmallVector<int64_t> &values = offsets.emplace_back();
    for (unsigned h : holes)
      values.push_back(constantValue(ops[h]));
  }

  auto code = cast<func::FuncOp>(rep->clone());
  code.setName((rep.getName() + "__code").str());
  code.setPrivate();
  code->setDiscardableAttrs(ArrayRef<NamedAttribute>{});
  // Inlined back into each caller, the code would be compiled once per
  // kernel again.
  code->setAttr("passthrough",
                ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
  symbols.insert(code, std::next(Block::iterator(rep)));
  {
    SmallVector<Operation *> ops;
    for (Operation &op : code.front())
      ops.push_back(&op);
    Type index = IndexType::get(ctx);
    for (unsigned h : holes) {
      unsigned n = code.getNumArguments();
      (void)code.insertArgument(n, index, DictionaryAttr(), ops[h]->getLoc());
      ops[h]->getResult(0).replaceAllUsesWith(code.getArgument(n));
      ops[h]->erase();
    }
  }

  for (auto [member, values] : llvm::zip(cls.members, offsets)) {
    Block &body = member.front();
    while (!body.empty()) {
      body.back().dropAllUses();
      body.back().erase();
    }
    OpBuilder b = OpBuilder::atBlockEnd(&body);
    SmallVector<Value> args(body.getArguments());
    for (int64_t v : values)
      args.push_back(arith::ConstantIndexOp::create(b, member.getLoc(), v));
    func::CallOp::create(b, member.getLoc(), code, args);
    func::ReturnOp::create(b, member.getLoc());
  }
  return code.getSymNameAttr();
}

struct LoomShareKernelCodePass
    : loom::impl::LoomShareKernelCodePassBase<LoomShareKernelCodePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);

    // The kernels of every schedule, in schedule order.
    SmallVector<func::FuncOp> entries;
    SmallVector<func::FuncOp> kernels;
    for (auto f : module.getOps<func::FuncOp>())
      if (auto schedule = f->getAttrOfType<ScheduleAttr>(kScheduleAttr)) {
        entries.push_back(f);
        for (KernelAttr k : schedule.getKernelList())
          if (auto kernel = symbols.lookup<func::FuncOp>(k.getName()))
            if (!k.getCode() && !kernel.isExternal())
              kernels.push_back(kernel);
      }

    // Classes of equivalent kernels; kernels are compared only with the
    // representatives of their fingerprint's bucket.
    std::vector<CodeClass> classes;
    DenseMap<llvm::hash_code, SmallVector<unsigned>> buckets;
    for (func::FuncOp kernel : kernels) {
      SmallVector<unsigned> &bucket = buckets[fingerprint(kernel)];
      bool placed = false;
      for (unsigned c : bucket) {
        SmallVector<unsigned> holes;
        if (!isEquivalent(classes[c].members.front(), kernel, holes))
          continue;
        classes[c].members.push_back(kernel);
        classes[c].holes.insert(holes.begin(), holes.end());
        placed = true;
        break;
      }
      if (!placed) {
        bucket.push_back(classes.size());
        classes.emplace_back().members.push_back(kernel);
      }
    }

    llvm::StringMap<StringAttr> codeOf;
    unsigned shared = 0;
    for (CodeClass &cls : classes) {
      if (cls.members.size() < 2)
        continue;
      StringAttr code = share(cls, symbols);
      for (func::FuncOp member : cls.members)
        codeOf[member.getName()] = code;
      LDBG() << code.getValue() << ": " << cls.members.size() << " kernels, "
             << cls.holes.size() << " arena offsets as parameters";
      shared += cls.members.size();
    }
    LDBG() << kernels.size() << " kernels, " << shared << " of them in "
           << llvm::count_if(
                  classes,
                  [](const CodeClass &c) { return c.members.size() > 1; })
           << " shared functions";

    // The schedules say which code each kernel runs.
    for (func::FuncOp entry : entries) {
      auto schedule = entry->getAttrOfType<ScheduleAttr>(kScheduleAttr);
      SmallVector<Attribute> list;
      for (KernelAttr k : schedule.getKernelList()) {
        auto it = codeOf.find(k.getName().getValue());
        list.push_back(it == codeOf.end()
                           ? k
                           : KernelAttr::get(k.getContext(), k.getName(),
                                             k.getDeps(), k.getParams(),
                                             k.getReads(), k.getWrites(),
                                             it->second, k.getOp()));
      }
      entry->setAttr(
          kScheduleAttr,
          ScheduleAttr::get(entry.getContext(), schedule.getArenaBytes(),
                            schedule.getMaxTokens(),
                            ArrayAttr::get(entry.getContext(), list)));
    }
  }
};

} // namespace
