//===- FusionNumericsTest.cpp - every fused spelling against unfused ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The lit files of loom-fuse-attention (test/Dialect/Loom/fuse-attention)
// check which spellings of attention fuse and into what. This test takes
// every function in them and compiles it twice with the real pipeline, with
// --fuse-attention and without, runs both on the same random inputs and
// compares the outputs: a spelling the pass recognises must mean what the
// fused op computes (a near miss compiles the same both ways, which it
// checks too). The lit files are the one list of cases: a new spelling
// added there is checked here without more code.
//
// Arguments are static f32 tensors (random in [-1, 1]), i1 tensors (masks,
// a quarter of them set) and index values (a cache position: 0); a case
// with others is listed in the output as not run, and every file must
// contribute at least one case (but kv-cache-causal-gqa.mlir, whose
// dynamic lengths AttentionNumericsTest covers). A query row that a random mask
// hides entirely is NaN both ways and skipped; at least half the outputs must
// be finite. Tolerance: 2e-5 absolute (inputs in [-1, 1]; outputs are averages
// of V's rows, the tiled softmax sums in another order).
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"

#include "loom/Dialect/Loom/IR/LoomDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

namespace {

std::string casesDir() {
  const char *root = std::getenv("LOOM_SOURCE_DIR");
  std::string dir = root ? root : LOOM_SOURCE_DIR_DEFAULT;
  return dir + "/test/Dialect/Loom/fuse-attention";
}

/// The chunks of a --split-input-file file.
std::vector<std::string> chunksOf(llvm::StringRef text) {
  std::vector<std::string> chunks;
  llvm::SmallVector<llvm::StringRef> parts;
  text.split(parts, "// -----");
  for (llvm::StringRef p : parts)
    chunks.push_back(p.str());
  return chunks;
}

struct Signature {
  std::string name;
  /// Each argument's shape; an index argument (a cache position) has none.
  std::vector<std::vector<int64_t>> args;
  std::vector<bool> isIndex;
  std::vector<bool> isBool; ///< an i1 tensor (a mask): one byte each
  std::vector<int64_t> result;
  std::string whyNot; ///< why the case is not run, if it is not
};

/// The one function of `chunk`, if its arguments and single result are
/// static f32 tensors.
Signature signatureOf(const std::string &chunk) {
  mlir::MLIRContext ctx;
  ctx.loadDialect<mlir::loom::LoomDialect, mlir::func::FuncDialect,
                  mlir::linalg::LinalgDialect, mlir::tensor::TensorDialect,
                  mlir::math::MathDialect, mlir::arith::ArithDialect>();
  Signature sig;
  auto module = mlir::parseSourceString<mlir::ModuleOp>(chunk, &ctx);
  if (!module) {
    sig.whyNot = "does not parse";
    return sig;
  }
  auto funcs = llvm::to_vector(module->getOps<mlir::func::FuncOp>());
  if (funcs.size() != 1) {
    sig.whyNot = "not one function";
    return sig;
  }
  mlir::func::FuncOp f = funcs[0];
  sig.name = f.getName().str();
  auto shapeOf = [&](mlir::Type t, std::vector<int64_t> &out,
                     bool boolean = false) {
    auto tensor = mlir::dyn_cast<mlir::RankedTensorType>(t);
    if (!tensor || !tensor.hasStaticShape() ||
        !(boolean ? tensor.getElementType().isInteger(1)
                  : tensor.getElementType().isF32()))
      return false;
    out.assign(tensor.getShape().begin(), tensor.getShape().end());
    return true;
  };
  for (mlir::Type t : f.getArgumentTypes()) {
    sig.args.emplace_back();
    sig.isIndex.push_back(t.isIndex());
    sig.isBool.push_back(shapeOf(t, sig.args.back(), /*boolean=*/true));
    if (!t.isIndex() && !sig.isBool.back() && !shapeOf(t, sig.args.back())) {
      sig.whyNot = "an argument is not a static f32 or i1 tensor or an index";
      return sig;
    }
  }
  if (f.getNumResults() != 1 || !shapeOf(f.getResultTypes()[0], sig.result))
    sig.whyNot = "not one static f32 tensor result";
  return sig;
}

int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<float> runCase(const std::string &ir, const Signature &sig,
                           bool fuse, std::vector<std::vector<float>> inputs) {
  ::loom::CompileOptions options;
  options.fuseAttention = fuse;
  auto kernel = ::loom::testing::CompiledFunction::compile(ir, options);
  if (!kernel) {
    ADD_FAILURE() << sig.name << (fuse ? " fused" : " unfused") << ": "
                  << llvm::toString(kernel.takeError());
    return {};
  }
  std::vector<float> out(count(sig.result), 0.0f);
  std::deque<::loom::testing::MemRefDescriptor> ds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ds.emplace_back(inputs[i].data(), sig.args[i]);
    // An index argument is passed by value: the slot the call reads holds
    // the position itself (0: the first query at the cache's start).
    if (sig.isIndex[i])
      ds.back().pointer = nullptr;
  }
  ds.emplace_back(out.data(), sig.result);
  if (llvm::Error e = (*kernel)->call(ds)) {
    ADD_FAILURE() << sig.name << ": " << llvm::toString(std::move(e));
    return {};
  }
  return out;
}

TEST(FusionNumerics, EveryLitCaseFusedEqualsUnfused) {
  std::error_code ec;
  std::vector<std::string> files;
  for (llvm::sys::fs::directory_iterator it(casesDir(), ec), end;
       it != end && !ec; it.increment(ec))
    if (llvm::StringRef(it->path()).ends_with(".mlir"))
      files.push_back(it->path());
  ASSERT_FALSE(ec) << casesDir() << ": " << ec.message();
  ASSERT_GE(files.size(), 8u) << "the lit files of " << casesDir();
  std::sort(files.begin(), files.end());
  int compared = 0;
  for (const std::string &file : files) {
    auto buffer = llvm::MemoryBuffer::getFile(file);
    ASSERT_TRUE(bool(buffer)) << file;
    int inFile = 0;
    for (const std::string &chunk : chunksOf((*buffer)->getBuffer())) {
      if (chunk.find("func.func") == std::string::npos)
        continue;
      Signature sig = signatureOf(chunk);
      if (!sig.whyNot.empty()) {
        std::printf("not run: %s %s: %s\n",
                    llvm::sys::path::filename(file).str().c_str(),
                    sig.name.c_str(), sig.whyNot.c_str());
        continue;
      }
      // The pipeline calls the function it compiles @f.
      std::string ir = chunk;
      std::string from = "@" + sig.name + "(";
      size_t at = ir.find(from);
      ASSERT_NE(at, std::string::npos);
      ir.replace(at, from.size(), "@f(");
      std::mt19937 rng(std::hash<std::string>()(sig.name));
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      std::vector<std::vector<float>> inputs;
      for (size_t a = 0; a < sig.args.size(); ++a) {
        inputs.emplace_back(std::max<int64_t>(count(sig.args[a]), 1));
        if (sig.isBool[a]) {
          // Bytes of 0 and 1 (a quarter set), four to a float's storage.
          auto *bytes = reinterpret_cast<uint8_t *>(inputs.back().data());
          for (int64_t i = 0; i < count(sig.args[a]); ++i)
            bytes[i] = dist(rng) > 0.5f;
          continue;
        }
        for (float &v : inputs.back())
          v = dist(rng);
      }
      std::vector<float> unfused = runCase(ir, sig, false, inputs);
      std::vector<float> fused = runCase(ir, sig, true, inputs);
      ASSERT_EQ(unfused.size(), fused.size()) << sig.name;
      // A row whose keys a random mask hides entirely is NaN both ways
      // (0 / 0); anything else must be finite and agree.
      double maxDiff = 0;
      int64_t finite = 0;
      for (size_t i = 0; i < fused.size(); ++i) {
        if (std::isnan(fused[i]) && std::isnan(unfused[i]))
          continue;
        ASSERT_TRUE(std::isfinite(fused[i]) && std::isfinite(unfused[i]))
            << sig.name << " at " << i << ": " << fused[i] << " fused, "
            << unfused[i] << " unfused";
        ++finite;
        maxDiff = std::max(maxDiff, double(std::abs(fused[i] - unfused[i])));
      }
      EXPECT_GE(finite, int64_t(fused.size() / 2)) << sig.name;
      EXPECT_LE(maxDiff, 2e-5)
          << llvm::sys::path::filename(file).str() << " " << sig.name;
      ++inFile;
      ++compared;
    }
    // The frontend's own spelling (dynamic sequence lengths and a cache
    // position) is what AttentionNumericsTest compiles fused and unfused
    // at many lengths, GQA ratios and positions.
    bool coveredElsewhere =
        llvm::sys::path::filename(file) == "kv-cache-causal-gqa.mlir";
    if (!coveredElsewhere)
      EXPECT_GE(inFile, 1) << file << ": no case could be run";
  }
  std::printf("%d cases compared fused against unfused\n", compared);
}

} // namespace
