//===- AttentionNumericsTest.cpp - fused attention against unfused --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiles two functions with the real pipeline and runs them in-process:
// attention written out as a model author writes it (compiled without
// attention fusion: matmul, scale, mask, softmax, matmul, GQA repeated) and
// the same attention as one loom.attention lowered FlashAttention-style with
// 16-key blocks. On random inputs their outputs must agree to a relative
// error of 1e-5 (max |difference| / max |reference|), across sequence
// lengths that 16 does not divide, GQA ratios 1, 2, 4 and 8, causal,
// masked, sliding-window and decode (one query against a cache).
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Compiler.h"
#include "loom/Dialect/Loom/IR/LoomDialect.h"
#include "loom/Runtime/Threads.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <random>

using namespace mlir;

namespace {

struct Config {
  const char *name;
  int64_t queries, keys, qHeads, kvHeads, headDim;
  bool causal = false;
  int64_t window = 0;   // 0: none
  bool mask = false;    // an explicit additive mask
  int64_t offset = 0;   // position of the first query
};

std::string shape(std::initializer_list<int64_t> dims) {
  std::string s = "tensor<";
  for (int64_t d : dims)
    s += std::to_string(d) + "x";
  return s + "f32>";
}

/// The attention of `c` written out: what the frontend emits.
std::string unfusedIR(const Config &c) {
  int64_t g = c.qHeads / c.kvHeads;
  std::string q = shape({1, c.qHeads, c.queries, c.headDim});
  std::string kv = shape({1, c.kvHeads, c.keys, c.headDim});
  std::string kvr = shape({1, c.qHeads, c.keys, c.headDim});
  std::string s = shape({1, c.qHeads, c.queries, c.keys});
  std::string m = shape({1, c.qHeads, c.queries, c.keys});
  std::string ir = llvm::formatv(
      "func.func @attention(%q: {0}, %k: {1}, %v: {1}, %m: {2}, %pos: index) -> {0} {{\n",
      q, kv, m);
  std::string k = "%k", v = "%v";
  if (g > 1) {
    ir += llvm::formatv("  %kr = loom.repeat_interleave %k axis = 1 repeats = {0} : {1} -> {2}\n"
                        "  %vr = loom.repeat_interleave %v axis = 1 repeats = {0} : {1} -> {2}\n",
                        g, kv, kvr);
    k = "%kr";
    v = "%vr";
  }
  ir += llvm::formatv("  %s = loom.matmul %q, {0} transpose_rhs : ({1}, {2}) -> {3}\n"
                      "  %c = arith.constant dense<{4:e}> : {3}\n"
                      "  %scaled = arith.mulf %s, %c : {3}\n",
                      k, q, kvr, s, 1.0 / std::sqrt(double(c.headDim)));
  std::string last = "%scaled";
  if (c.mask) {
    ir += llvm::formatv("  %masked = arith.addf %scaled, %m : {0}\n", s);
    last = "%masked";
  } else if (c.causal) {
    std::string hidden = "%after";
    std::string window;
    if (c.window)
      window = llvm::formatv("    %w = arith.constant {0} : index\n"
                             "    %jw = arith.addi %j, %w : index\n"
                             "    %old = arith.cmpi ule, %jw, %qpos : index\n"
                             "    %hidden = arith.ori %after, %old : i1\n",
                             c.window);
    ir += llvm::formatv(
        "  %gen = tensor.generate {{\n"
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
  ir += llvm::formatv("  %p = loom.softmax {0} axis = 3 : {1}\n"
                      "  %o = loom.matmul %p, {2} : ({1}, {3}) -> {4}\n"
                      "  return %o : {4}\n}\n",
                      last, s, v, kvr, q);
  return ir;
}

/// The same attention as one op.
std::string fusedIR(const Config &c) {
  std::string q = shape({1, c.qHeads, c.queries, c.headDim});
  std::string kv = shape({1, c.kvHeads, c.keys, c.headDim});
  std::string m = shape({1, c.qHeads, c.queries, c.keys});
  std::string attrs;
  if (c.mask)
    attrs += llvm::formatv(" mask(%m : {0})", m).str();
  else if (c.causal)
    attrs += " offset(%pos) causal";
  if (c.window && !c.mask)
    attrs += llvm::formatv(" window = {0}", c.window).str();
  return llvm::formatv(
      "func.func @attention(%q: {0}, %k: {1}, %v: {1}, %m: {2}, %pos: index) -> {0} {{\n"
      "  %o = loom.attention %q, %k, %v{3} : {0}, {1}, {1} -> {0}\n"
      "  return %o : {0}\n}\n",
      q, kv, m, attrs);
}

/// A memref descriptor: {allocated, aligned, offset, sizes, strides}.
struct Descriptor {
  Descriptor(float *data, std::vector<int64_t> sizes) {
    auto p = reinterpret_cast<int64_t>(data);
    words = {p, p, 0};
    words.insert(words.end(), sizes.begin(), sizes.end());
    std::vector<int64_t> strides(sizes.size());
    int64_t stride = 1;
    for (size_t i = sizes.size(); i-- > 0;) {
      strides[i] = stride;
      stride *= sizes[i];
    }
    words.insert(words.end(), strides.begin(), strides.end());
    pointer = words.data();
  }
  std::vector<int64_t> words;
  void *pointer;
};

class AttentionNumerics : public ::testing::TestWithParam<Config> {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // The compiled code calls loom_parallel_for from the runtime library.
    ::loom::setThreadCount(2);
  }

  /// Compiles `ir` and runs it on the inputs; returns the output.
  std::vector<float> run(const std::string &ir, bool fuse,
                         std::vector<float> &q, std::vector<float> &k,
                         std::vector<float> &v, std::vector<float> &mask,
                         const Config &c) {
    MLIRContext context;
    context.loadDialect<mlir::loom::LoomDialect, func::FuncDialect,
                        arith::ArithDialect, tensor::TensorDialect>();
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &context);
    EXPECT_TRUE(module) << ir;
    if (!module)
      return {};
    ::loom::CompileOptions options;
    options.fuseAttention = fuse;
    options.attentionKeyBlock = 16;
    if (llvm::Error e = ::loom::lowerFunctionsToLLVM(*module, options)) {
      ADD_FAILURE() << llvm::toString(std::move(e));
      return {};
    }
    registerBuiltinDialectTranslation(context);
    registerLLVMDialectTranslation(context);
    ExecutionEngineOptions engineOptions;
    auto transformer = makeOptimizingTransformer(2, 0, nullptr);
    engineOptions.transformer = transformer;
    SmallVector<StringRef> libraries = {
        LOOM_LLVM_LIBRARY_DIR "/libmlir_c_runner_utils.so"};
    engineOptions.sharedLibPaths = libraries;
    auto engine = ExecutionEngine::create(*module, engineOptions);
    if (!engine) {
      ADD_FAILURE() << llvm::toString(engine.takeError());
      return {};
    }
    std::vector<float> out(c.qHeads * c.queries * c.headDim, 0.0f);
    std::deque<Descriptor> ds;
    ds.emplace_back(q.data(), std::vector<int64_t>{1, c.qHeads, c.queries, c.headDim});
    ds.emplace_back(k.data(), std::vector<int64_t>{1, c.kvHeads, c.keys, c.headDim});
    ds.emplace_back(v.data(), std::vector<int64_t>{1, c.kvHeads, c.keys, c.headDim});
    ds.emplace_back(mask.data(), std::vector<int64_t>{1, c.qHeads, c.queries, c.keys});
    int64_t pos = c.offset;
    Descriptor outDesc(out.data(), {1, c.qHeads, c.queries, c.headDim});
    SmallVector<void *> args = {&ds[0].pointer, &ds[1].pointer, &ds[2].pointer,
                                &ds[3].pointer, &pos, &outDesc.pointer};
    if (llvm::Error e = (*engine)->invokePacked("_mlir_ciface_attention", args))
      ADD_FAILURE() << llvm::toString(std::move(e));
    return out;
  }
};

TEST_P(AttentionNumerics, FusedMatchesUnfused) {
  const Config &c = GetParam();
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto random = [&](size_t n) {
    std::vector<float> x(n);
    for (float &f : x)
      f = dist(rng);
    return x;
  };
  auto q = random(c.qHeads * c.queries * c.headDim);
  auto k = random(c.kvHeads * c.keys * c.headDim);
  auto v = random(c.kvHeads * c.keys * c.headDim);
  auto mask = random(c.qHeads * c.queries * c.keys);
  for (float &m : mask) // an additive mask: some keys hidden, others biased
    m = m < -0.7f ? -INFINITY : m;

  std::vector<float> reference = run(unfusedIR(c), false, q, k, v, mask, c);
  std::vector<float> fused = run(fusedIR(c), true, q, k, v, mask, c);
  ASSERT_EQ(reference.size(), fused.size());
  float maxRef = 0, maxDiff = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    ASSERT_TRUE(std::isfinite(fused[i])) << "at " << i;
    maxRef = std::max(maxRef, std::abs(reference[i]));
    maxDiff = std::max(maxDiff, std::abs(reference[i] - fused[i]));
  }
  EXPECT_GT(maxRef, 0.0f);
  EXPECT_LE(maxDiff / maxRef, 1e-5f)
      << "max |difference| " << maxDiff << " against max |reference| " << maxRef;
}

INSTANTIATE_TEST_SUITE_P(
    Configs, AttentionNumerics,
    ::testing::Values(
        Config{"plain_seq20x29", 20, 29, 4, 4, 16},
        Config{"causal_gqa1_seq37", 37, 37, 8, 8, 16, true},
        Config{"causal_gqa2_seq50", 50, 50, 8, 4, 16, true},
        Config{"masked_gqa4_seq33", 33, 33, 8, 2, 32, false, 0, true},
        Config{"window9_gqa8_seq40", 40, 40, 8, 1, 16, true, 9},
        Config{"decode_gqa4_cache45", 1, 45, 8, 2, 32, true, 0, false, 44},
        Config{"prefill_after_cache_gqa2", 7, 39, 4, 2, 16, true, 0, false, 32}),
    [](const ::testing::TestParamInfo<Config> &info) {
      return std::string(info.param.name);
    });

} // namespace
