//===- AttentionKernels.cpp - attention test kernels, compiled and run ----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"
#include "MemRefDescriptor.h"
#include "loom/Support/CpuState.h"
#include "llvm/TargetParser/Host.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Driver/Compiler.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <deque>

using namespace mlir;
using llvm::formatv;

namespace loom::testing {

//===----------------------------------------------------------------------===//
// IR
//===----------------------------------------------------------------------===//

static std::string shape(std::initializer_list<int64_t> dims) {
  std::string s = "tensor<";
  for (int64_t d : dims)
    s += std::to_string(d) + "x";
  return s + "f32>";
}

std::string unfusedAttentionIR(const AttentionConfig &c) {
  int64_t g = c.qHeads / c.kvHeads;
  std::string q = shape({1, c.qHeads, c.queries, c.headDim});
  std::string kv = shape({1, c.kvHeads, c.keys, c.headDim});
  std::string kvr = shape({1, c.qHeads, c.keys, c.headDim});
  std::string s = shape({1, c.qHeads, c.queries, c.keys});
  std::string ir = formatv("func.func @attention(%q: {0}, %k: {1}, %v: {1}, "
                           "%m: {2}, %pos: index) -> {0} {{\n",
                           q, kv, s);
  std::string k = "%k", v = "%v";
  if (g > 1) {
    ir += formatv("  %kr = loom.repeat_interleave %k axis = 1 repeats = {0} : "
                  "{1} -> {2}\n"
                  "  %vr = loom.repeat_interleave %v axis = 1 repeats = {0} : "
                  "{1} -> {2}\n",
                  g, kv, kvr);
    k = "%kr";
    v = "%vr";
  }
  ir += formatv("  %s = loom.matmul %q, {0} transpose_rhs : ({1}, {2}) -> {3}\n"
                "  %c = arith.constant dense<{4:e}> : {3}\n"
                "  %scaled = arith.mulf %s, %c : {3}\n",
                k, q, kvr, s, 1.0 / std::sqrt(double(c.headDim)));
  std::string last = "%scaled";
  if (c.mask) {
    ir += formatv("  %masked = arith.addf %scaled, %m : {0}\n", s);
    last = "%masked";
  } else if (c.causal) {
    std::string window;
    if (c.window)
      window = formatv("    %w = arith.constant {0} : index\n"
                       "    %jw = arith.addi %j, %w : index\n"
                       "    %old = arith.cmpi ule, %jw, %qpos : index\n"
                       "    %hidden = arith.ori %after, %old : i1\n",
                       c.window);
    ir += formatv("  %gen = tensor.generate {{\n"
                  "  ^bb0(%b: index, %h: index, %i: index, %j: index):\n"
                  "    %qpos = arith.addi %pos, %i : index\n"
                  "    %after = arith.cmpi ugt, %j, %qpos : index\n{1}"
                  "    %ninf = arith.constant 0xFF800000 : f32\n"
                  "    %zero = arith.constant 0.0 : f32\n"
                  "    %x = arith.select {2}, %ninf, %zero : f32\n"
                  "    tensor.yield %x : f32\n"
                  "  } : {0}\n"
                  "  %masked = arith.addf %scaled, %gen : {0}\n",
                  s, window, c.window ? "%hidden" : "%after");
    last = "%masked";
  }
  ir += formatv("  %p = loom.softmax {0} axis = 3 : {1}\n"
                "  %o = loom.matmul %p, {2} : ({1}, {3}) -> {4}\n"
                "  return %o : {4}\n}\n",
                last, s, v, kvr, q);
  return ir;
}

std::string fusedAttentionIR(const AttentionConfig &c) {
  std::string q = shape({1, c.qHeads, c.queries, c.headDim});
  std::string kv = shape({1, c.kvHeads, c.keys, c.headDim});
  std::string m = shape({1, c.qHeads, c.queries, c.keys});
  std::string attrs;
  if (c.mask)
    attrs += formatv(" mask(%m : {0})", m).str();
  else if (c.causal)
    attrs += " offset(%pos) causal";
  if (c.window && !c.mask)
    attrs += formatv(" window = {0}", c.window).str();
  return formatv("func.func @attention(%q: {0}, %k: {1}, %v: {1}, %m: {2}, "
                 "%pos: index) -> {0} {{\n"
                 "  %o = loom.attention %q, %k, %v{3} : {0}, {1}, {1} -> {0}\n"
                 "  return %o : {0}\n}\n",
                 q, kv, m, attrs);
}

//===----------------------------------------------------------------------===//
// Counting allocations
//===----------------------------------------------------------------------===//

static std::atomic<int64_t> currentBytes{0}, peakBytes{0};
static constexpr size_t kHeader = 64; // keeps 64-byte alignment

static void *track(void *block, size_t size) {
  if (!block)
    return nullptr;
  *static_cast<size_t *>(block) = size;
  int64_t now = currentBytes.fetch_add(size) + size;
  int64_t peak = peakBytes.load();
  while (now > peak && !peakBytes.compare_exchange_weak(peak, now)) {
  }
  return static_cast<char *>(block) + kHeader;
}
static void *countingMalloc(size_t size) {
  return track(
      std::aligned_alloc(kHeader, (size + 2 * kHeader - 1) / kHeader * kHeader),
      size);
}
static void *countingAlignedAlloc(size_t alignment, size_t size) {
  (void)alignment; // every block is 64-byte aligned
  return countingMalloc(size);
}
static void countingFree(void *p) {
  if (!p)
    return;
  char *block = static_cast<char *>(p) - kHeader;
  currentBytes.fetch_sub(*reinterpret_cast<size_t *>(block));
  std::free(block);
}

int64_t currentKernelBytes() { return currentBytes.load(); }
int64_t peakKernelBytes() { return peakBytes.load(); }
void resetPeakKernelBytes() { peakBytes.store(currentBytes.load()); }

//===----------------------------------------------------------------------===//
// Compiling and running
//===----------------------------------------------------------------------===//

using Descriptor = MemRefDescriptor;

llvm::Expected<std::unique_ptr<ExecutionEngine>> createEngine(ModuleOp module) {
  // Code compiled for this host may use AMX tiles (bf16 linear layers).
  if (llvm::sys::getHostCPUFeatures().lookup("amx-tile"))
    if (llvm::Error e = ::loom::enableAMXTiles())
      return std::move(e);
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  MLIRContext &ctx = *module.getContext();
  registerBuiltinDialectTranslation(ctx);
  registerLLVMDialectTranslation(ctx);
  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(2, 0, nullptr);
  engineOptions.transformer = transformer;
  llvm::SmallVector<llvm::StringRef> libraries = {LOOM_LLVM_LIBRARY_DIR
                                                  "/libmlir_c_runner_utils.so"};
  engineOptions.sharedLibPaths = libraries;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine)
    return engine.takeError();
  (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    auto add = [&](const char *name, void *fn) {
      map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(fn),
                             llvm::JITSymbolFlags::Exported};
    };
    add("malloc", reinterpret_cast<void *>(&countingMalloc));
    add("aligned_alloc", reinterpret_cast<void *>(&countingAlignedAlloc));
    add("free", reinterpret_cast<void *>(&countingFree));
    return map;
  });
  return std::move(*engine);
}

llvm::Expected<std::unique_ptr<AttentionKernel>>
AttentionKernel::compile(const std::string &ir, bool fuse, int64_t keyBlock) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::unique_ptr<AttentionKernel> kernel(new AttentionKernel());
  MLIRContext &ctx = kernel->context;
  ctx.loadDialect<mlir::loom::LoomDialect, func::FuncDialect,
                  arith::ArithDialect, tensor::TensorDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &ctx);
  if (!module)
    return llvm::createStringError("cannot parse the kernel:\n" + ir);
  // As in a model: the position indexes a cache of `keys` entries, which
  // bounds the sizes that depend on it (the decode split's chunks).
  auto func = (*module).lookupSymbol<func::FuncOp>("attention");
  if (!func || func.getNumArguments() != 5)
    return llvm::createStringError("the kernel is not @attention(q, k, v, m, "
                                   "pos):\n" +
                                   ir);
  int64_t keys = cast<ShapedType>(func.getArgument(1).getType()).getDimSize(2);
  Builder b(&ctx);
  func.setArgAttr(
      4, mlir::loom::kRoleAttr,
      mlir::loom::ParamRoleAttr::get(&ctx, mlir::loom::ParamRole::position));
  (*module)->setAttr(mlir::loom::kModelAttr,
                     b.getDictionaryAttr(b.getNamedAttr(
                         "context_length", b.getI64IntegerAttr(keys))));
  ::loom::CompileOptions options;
  options.fuseAttention = fuse;
  options.attentionKeyBlock = keyBlock;
  if (llvm::Error e = ::loom::lowerFunctionsToLLVM(*module, options))
    return std::move(e);
  // The compiler planned the kernel's intermediate buffers into an arena
  // the caller passes (loom-schedule-kernels): remember its size.
  module->walk([&](LLVM::LLVMFuncOp f) {
    if (f.getName() != "attention")
      return;
    if (auto schedule = f->getAttrOfType<mlir::loom::ScheduleAttr>(
            mlir::loom::kScheduleAttr))
      kernel->arenaBytes = schedule.getArenaBytes();
  });
  auto engine = createEngine(*module);
  if (!engine)
    return engine.takeError();
  kernel->engine = std::move(*engine);
  return kernel;
}

llvm::Error AttentionKernel::run(const AttentionConfig &c,
                                 std::vector<float> &q, std::vector<float> &k,
                                 std::vector<float> &v,
                                 std::vector<float> &mask,
                                 std::vector<float> &out) {
  out.assign(c.qHeads * c.queries * c.headDim, 0.0f);
  std::deque<Descriptor> ds;
  ds.emplace_back(q.data(),
                  std::vector<int64_t>{1, c.qHeads, c.queries, c.headDim});
  ds.emplace_back(k.data(),
                  std::vector<int64_t>{1, c.kvHeads, c.keys, c.headDim});
  ds.emplace_back(v.data(),
                  std::vector<int64_t>{1, c.kvHeads, c.keys, c.headDim});
  ds.emplace_back(mask.data(),
                  std::vector<int64_t>{1, c.qHeads, c.queries, c.keys});
  ds.emplace_back(out.data(),
                  std::vector<int64_t>{1, c.qHeads, c.queries, c.headDim});
  // The arena counts as memory the kernel holds, like its heap buffers.
  int64_t arenaSize = std::max<int64_t>(arenaBytes, 64);
  void *arena = countingAlignedAlloc(64, arenaSize);
  ds.emplace_back(arena, std::vector<int64_t>{arenaSize});
  int64_t pos = c.offset;
  llvm::SmallVector<void *> args = {
      &ds[0].pointer, &ds[1].pointer, &ds[2].pointer, &ds[3].pointer,
      &pos,           &ds[4].pointer, &ds[5].pointer};
  llvm::Error result = engine->invokePacked("_mlir_ciface_attention", args);
  countingFree(arena);
  return result;
}

} // namespace loom::testing
