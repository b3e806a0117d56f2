//===- OutlineParallelLoops.cpp - parallel loops as runtime tasks ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Two passes that together lower an `scf.parallel` loop to one call of the
// runtime's `loom_parallel_for`: outlining (on scf/memref, where captured
// values are easy to find) and dispatch lowering (on the LLVM dialect, where
// the captures' run-time representation is known and can be packed).
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMOUTLINEPARALLELLOOPSPASS
#define GEN_PASS_DEF_LOOMLOWERPARALLELDISPATCHPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

static constexpr llvm::StringLiteral kBodyPrefix = "__loom_parallel_body_";
static constexpr llvm::StringLiteral kDispatchPrefix =
    "__loom_parallel_dispatch_";
static constexpr llvm::StringLiteral kPackedPrefix = "__loom_parallel_packed_";

namespace {

/// The dimension the runtime splits: the first whose trip count is not a
/// constant 1 (a batch of one would give nothing to split), or none.
std::optional<unsigned> splitDimension(scf::ParallelOp op) {
  for (unsigned d = 0; d < op.getNumLoops(); ++d) {
    auto l = getConstantIntValue(op.getLowerBound()[d]);
    auto u = getConstantIntValue(op.getUpperBound()[d]);
    if (!l || !u || *u - *l > 1)
      return d;
  }
  return std::nullopt;
}

/// The product of the static trip counts of the loops nested in `op` and of
/// its dimensions other than `split`: the work of one iteration of `split`.
int64_t innerWork(scf::ParallelOp op, unsigned split) {
  auto tripCount = [](Value lb, Value ub, Value step) -> int64_t {
    std::optional<int64_t> n = loom::detail::staticTripCount(lb, ub, step);
    return n ? std::max<int64_t>(1, *n) : 64; // unknown: a guess
  };
  // Saturating: a body with many loops side by side (one per row of a
  // register block) multiplies past 2^63, which wrapped to 0 and made the
  // loop run on one thread.
  uint64_t work = 1;
  auto times = [&](int64_t n) {
    work = std::min<uint64_t>(
        llvm::SaturatingMultiply(work, static_cast<uint64_t>(n)),
        std::numeric_limits<int64_t>::max());
  };
  for (unsigned d = 0; d < op.getNumLoops(); ++d)
    if (d != split)
      times(tripCount(op.getLowerBound()[d], op.getUpperBound()[d],
                      op.getStep()[d]));
  op.getBody()->walk([&](scf::ForOp f) {
    times(tripCount(f.getLowerBound(), f.getUpperBound(), f.getStep()));
  });
  // Work a loop's body does beyond its loops (register-blocked FMAs).
  if (auto extra = op->getAttrOfType<IntegerAttr>(loom::kTileWorkAttr))
    times(std::max<int64_t>(extra.getInt(), 1));
  return std::max<int64_t>(static_cast<int64_t>(work), 1);
}

struct LoomOutlineParallelLoopsPass
    : loom::impl::LoomOutlineParallelLoopsPassBase<
          LoomOutlineParallelLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ParallelOp> loops;
    module.walk([&](scf::ParallelOp op) {
      if (op->getParentOfType<scf::ParallelOp>() || op.getNumReductions() != 0)
        return;
      std::optional<unsigned> split = splitDimension(op);
      if (!split)
        return;
      auto step = getConstantIntValue(op.getStep()[*split]);
      if (step && *step == 1)
        loops.push_back(op);
    });
    SymbolTable symbols(module);
    OpBuilder b(&getContext());
    unsigned counter = 0;
    for (scf::ParallelOp op : loops) {
      Location loc = op.getLoc();
      unsigned split = *splitDimension(op);
      llvm::SetVector<Value> used, captured, constants;
      getUsedValuesDefinedAbove(op.getRegion(), used);
      for (unsigned d = 0; d < op.getNumLoops(); ++d)
        if (d != split)
          for (Value v :
               {op.getLowerBound()[d], op.getUpperBound()[d], op.getStep()[d]})
            used.insert(v);
      // Constants are cloned into the body: loop bounds stay static there.
      for (Value v : used) {
        if (matchPattern(v, m_Constant()))
          constants.insert(v);
        else
          captured.insert(v);
      }
      Type index = b.getIndexType();
      SmallVector<Type> bodyArgs = {index, index};
      for (Value v : captured)
        bodyArgs.push_back(v.getType());

      // The body: the loop over [lo, hi) of its first dimension.
      std::string n = std::to_string(counter++);
      b.setInsertionPointToEnd(module.getBody());
      auto body = func::FuncOp::create(b, loc, (kBodyPrefix + n).str(),
                                       b.getFunctionType(bodyArgs, {}));
      body.setPrivate();
      Block *entry = body.addEntryBlock();
      b.setInsertionPointToStart(entry);
      IRMapping map;
      for (auto [v, arg] :
           llvm::zip(captured, entry->getArguments().drop_front(2)))
        map.map(v, arg);
      for (Value v : constants)
        map.map(v, b.clone(*v.getDefiningOp())->getResult(0));
      SmallVector<Value> lbs, ubs, steps;
      for (unsigned d = 0; d < op.getNumLoops(); ++d) {
        if (d == split) {
          lbs.push_back(entry->getArgument(0));
          ubs.push_back(entry->getArgument(1));
          steps.push_back(arith::ConstantIndexOp::create(b, loc, 1));
          continue;
        }
        lbs.push_back(map.lookupOrDefault(op.getLowerBound()[d]));
        ubs.push_back(map.lookupOrDefault(op.getUpperBound()[d]));
        steps.push_back(map.lookupOrDefault(op.getStep()[d]));
      }
      auto clone = scf::ParallelOp::create(b, loc, lbs, ubs, steps);
      clone.getRegion().getBlocks().clear();
      op.getRegion().cloneInto(&clone.getRegion(), map);
      func::ReturnOp::create(b, loc);

      // The dispatch: a declaration the LLVM-level pass recognises.
      SmallVector<Type> dispatchArgs = {index, index, index};
      for (Value v : captured)
        dispatchArgs.push_back(v.getType());
      b.setInsertionPointToEnd(module.getBody());
      auto dispatch = func::FuncOp::create(b, loc, (kDispatchPrefix + n).str(),
                                           b.getFunctionType(dispatchArgs, {}));
      dispatch.setPrivate();

      b.setInsertionPoint(op);
      int64_t grain = std::max<int64_t>(1, minWork / innerWork(op, split));
      SmallVector<Value> operands = {
          op.getLowerBound()[split], op.getUpperBound()[split],
          arith::ConstantIndexOp::create(b, loc, grain)};
      operands.append(captured.begin(), captured.end());
      func::CallOp::create(b, loc, dispatch, operands);
      op.erase();
    }
  }
};

struct LoomLowerParallelDispatchPass
    : loom::impl::LoomLowerParallelDispatchPassBase<
          LoomLowerParallelDispatchPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<LLVM::LLVMFuncOp> dispatches;
    for (auto f : module.getOps<LLVM::LLVMFuncOp>())
      if (f.getName().starts_with(kDispatchPrefix) && f.isExternal())
        dispatches.push_back(f);
    if (dispatches.empty())
      return;
    OpBuilder b(ctx);
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);
    auto voidTy = LLVM::LLVMVoidType::get(ctx);
    b.setInsertionPointToEnd(module.getBody());
    auto runtimeFn = LLVM::LLVMFuncOp::create(
        b, module.getLoc(), "loom_parallel_for",
        LLVM::LLVMFunctionType::get(voidTy, {ptr, ptr, i64, i64, i64}));

    // One walk and one symbol table for all dispatches: entry points split
    // into kernels have hundreds of them.
    SymbolTable symbols(module);
    llvm::StringMap<SmallVector<LLVM::CallOp>> callsOf;
    module.walk([&](LLVM::CallOp call) {
      if (std::optional<StringRef> callee = call.getCallee();
          callee && callee->starts_with(kDispatchPrefix))
        callsOf[*callee].push_back(call);
    });
    for (LLVM::LLVMFuncOp dispatch : dispatches) {
      StringRef n = dispatch.getName().drop_front(kDispatchPrefix.size());
      auto body = symbols.lookup<LLVM::LLVMFuncOp>((kBodyPrefix + n).str());
      if (!body) {
        dispatch.emitError("no parallel body for this dispatch");
        return signalPassFailure();
      }
      ArrayRef<Type> params = body.getFunctionType().getParams();
      // params: lo, hi, captures (as expanded by the LLVM conversion).
      ArrayRef<Type> captures = params.drop_front(2);

      // void packed(ptr args, i64 lo, i64 hi): load each capture, call.
      b.setInsertionPointToEnd(module.getBody());
      Location loc = body.getLoc();
      auto packed = LLVM::LLVMFuncOp::create(
          b, loc, (kPackedPrefix + n).str(),
          LLVM::LLVMFunctionType::get(voidTy, {ptr, i64, i64}));
      packed.setLinkage(LLVM::Linkage::Internal);
      body.setLinkage(LLVM::Linkage::Internal);
      Block *entry = packed.addEntryBlock(b);
      b.setInsertionPointToStart(entry);
      SmallVector<Value> args = {entry->getArgument(1), entry->getArgument(2)};
      for (auto [i, type] : llvm::enumerate(captures)) {
        Value slot =
            LLVM::GEPOp::create(b, loc, ptr, ptr, entry->getArgument(0),
                                ArrayRef<LLVM::GEPArg>{int32_t(i)});
        Value address = LLVM::LoadOp::create(b, loc, ptr, slot);
        args.push_back(LLVM::LoadOp::create(b, loc, type, address));
      }
      LLVM::CallOp::create(b, loc, body, args);
      LLVM::ReturnOp::create(b, loc, ValueRange{});

      // Each call site: store the captures, pass pointers to them.
      for (LLVM::CallOp call : callsOf[dispatch.getName()]) {
        Location cl = call.getLoc();
        auto func = call->getParentOfType<LLVM::LLVMFuncOp>();
        OpBuilder entryBuilder(&func.getBody().front(),
                               func.getBody().front().begin());
        Value one = LLVM::ConstantOp::create(entryBuilder, cl, i64,
                                             entryBuilder.getI64IntegerAttr(1));
        Value count =
            LLVM::ConstantOp::create(entryBuilder, cl, i64,
                                     entryBuilder.getI64IntegerAttr(
                                         std::max<size_t>(1, captures.size())));
        Value array = LLVM::AllocaOp::create(entryBuilder, cl, ptr, ptr, count);
        SmallVector<Value> slots;
        for (Type type : captures)
          slots.push_back(
              LLVM::AllocaOp::create(entryBuilder, cl, ptr, type, one));
        b.setInsertionPoint(call);
        ValueRange operands = call.getArgOperands();
        for (auto [i, slot] : llvm::enumerate(slots)) {
          LLVM::StoreOp::create(b, cl, operands[3 + i], slot);
          Value entrySlot = LLVM::GEPOp::create(
              b, cl, ptr, ptr, array, ArrayRef<LLVM::GEPArg>{int32_t(i)});
          LLVM::StoreOp::create(b, cl, slot, entrySlot);
        }
        Value fn = LLVM::AddressOfOp::create(b, cl, packed);
        LLVM::CallOp::create(
            b, cl, runtimeFn,
            ValueRange{fn, array, operands[0], operands[1], operands[2]});
        call.erase();
      }
      dispatch.erase();
    }
  }
};

} // namespace
