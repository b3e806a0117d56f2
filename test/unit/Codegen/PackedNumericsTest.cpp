//===- PackedNumericsTest.cpp - f32 linear layers on packed panels --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiles an f32 linear layer for this host with the real pipeline, runs
// it in-process on random inputs, and compares it with a float64
// reference. The cases cover the packed lowering's (PackedContraction.cpp):
// one token (not packed), fewer tokens than a block of 6, whole blocks,
// blocks and a remainder; k in one panel, in several, and in panels that
// are not 256 deep (k = 272: 16 panels of 17 x 16); n one panel and
// several. Each case runs with the host's vectors and on 256-bit ones
// (x86-64-v3: 8-lane kernel), which every x86-64 host that runs the test
// suite has. The code must use the packed form for a block of 6 tokens
// or more (checked on the lowered IR).
//
// The weights are f32, f16 or bf16 (16-bit ones widened as they are
// packed). With bf16 weights x is rounded to bf16 (the bf16-activations
// default) and widened a block of tokens at a time; those cases run on
// x86-64-v3, where no AVX512-BF16 takes them to vdpbf16ps instead.
//
// Tolerance: the rounding bound of a sum of k products in f32 with fused
// multiply-adds, |y - exact| <= k u / (1 - k u) . sum |x w| with u = 2^-24
// (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), the exact
// sum taken over the 16-bit values the kernel sees (their products are
// exact in f32); a term lost, repeated or misplaced exceeds it by orders
// of magnitude.
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"
#include "HalfFloats.h"

#include "loom/Runtime/Threads.h"

#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using llvm::formatv;

namespace {

struct Case {
  int64_t tokens, k, n;
  const char *cpu;     ///< "" for the host
  const char *weights; ///< f32, f16 or bf16
};

/// The APFloat semantics of a 16-bit weight type.
const llvm::fltSemantics &semanticsOf(llvm::StringRef type) {
  return type == "bf16" ? llvm::APFloat::BFloat() : llvm::APFloat::IEEEhalf();
}

class PackedNumerics : public ::testing::TestWithParam<Case> {
protected:
  static void SetUpTestSuite() { ::loom::setThreadCount(2); }
};

std::string linearIR(const Case &c) {
  // A 16-bit weight reaches the layer widened, as the frontend writes it.
  bool f32 = llvm::StringRef(c.weights) == "f32";
  std::string widen = f32 ? ""
                          : "  %wf = arith.extf %w : tensor<{2}x{1}x{3}> to "
                            "tensor<{2}x{1}xf32>\n";
  return formatv(("func.func @f(%x: tensor<1x{0}x{1}xf32>, %w: "
                  "tensor<{2}x{1}x{3}>) -> tensor<1x{0}x{2}xf32> {{\n" +
                  widen +
                  "  %y = loom.linear %x, {4} : (tensor<1x{0}x{1}xf32>, "
                  "tensor<{2}x{1}xf32>) -> tensor<1x{0}x{2}xf32>\n"
                  "  return %y : tensor<1x{0}x{2}xf32>\n}\n")
                     .c_str(),
                 c.tokens, c.k, c.n, c.weights, f32 ? "%w" : "%wf")
      .str();
}

/// Compiles the case's layer for its CPU.
llvm::Expected<std::unique_ptr<::loom::testing::CompiledFunction>>
compileCase(const Case &c) {
  ::loom::CompileOptions options;
  options.cpu = c.cpu;
  return ::loom::testing::CompiledFunction::compile(linearIR(c), options);
}

TEST_P(PackedNumerics, MatchesReference) {
  const Case &c = GetParam();
  std::mt19937 rng(11 + c.tokens + c.k);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(c.tokens * c.k), w(c.n * c.k);
  for (float &v : x)
    v = dist(rng);
  for (float &v : w)
    v = dist(rng);
  // The values the kernel sees: 16-bit weights as stored, and x rounded to
  // bf16 against bf16 weights.
  bool f32 = llvm::StringRef(c.weights) == "f32",
       bf16 = llvm::StringRef(c.weights) == "bf16";
  std::vector<uint16_t> wBits;
  if (!f32)
    for (float &v : w) {
      wBits.push_back(::loom::testing::halfBits(v, semanticsOf(c.weights)));
      v = ::loom::testing::roundToHalf(v, semanticsOf(c.weights));
    }
  std::vector<float> xSeen = x;
  if (bf16)
    for (float &v : xSeen)
      v = ::loom::testing::bf16Round(v);
  auto kernel = compileCase(c);
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
  // Not zero: a kernel that ignored y's initial value (the fill) would
  // still be caught, as would one that added to what y held.
  std::vector<float> y(c.tokens * c.n, 1e4f);
  std::deque<::loom::testing::MemRefDescriptor> ds;
  ds.emplace_back(x.data(), std::vector<int64_t>{1, c.tokens, c.k});
  ds.emplace_back(f32 ? static_cast<void *>(w.data()) : wBits.data(),
                  std::vector<int64_t>{c.n, c.k});
  ds.emplace_back(y.data(), std::vector<int64_t>{1, c.tokens, c.n});
  llvm::Error e = (*kernel)->call(ds);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  double ku = double(c.k) * std::ldexp(1.0, -24);
  double gamma = ku / (1 - ku);
  for (int64_t s = 0; s < c.tokens; ++s)
    for (int64_t n = 0; n < c.n; ++n) {
      double sum = 0, magnitude = 0;
      for (int64_t k = 0; k < c.k; ++k) {
        double p = double(xSeen[s * c.k + k]) * double(w[n * c.k + k]);
        sum += p;
        magnitude += std::abs(p);
      }
      double got = y[s * c.n + n];
      ASSERT_LE(std::abs(got - sum), gamma * magnitude)
          << "token " << s << ", feature " << n << ": " << got << " vs " << sum;
    }
}

TEST_P(PackedNumerics, PacksForABlockOfTokensOrMore) {
  const Case &c = GetParam();
  auto kernel = compileCase(c);
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
  // The packed kernel's accumulators are y itself; the dot form's (fewer
  // tokens than a block of 6, one token included) are summed across lanes.
  std::string ir = (*kernel)->lowered();
  bool vectorFma = ir.find("llvm.intr.fmuladd") != std::string::npos;
  bool laneSums = ir.find("llvm.intr.vector.reduce.fadd") != std::string::npos;
  EXPECT_EQ(vectorFma && !laneSums, c.tokens >= 6)
      << c.tokens << " tokens: packed outer products expected for a block "
      << "of 6 or more";
  EXPECT_EQ(laneSums, c.tokens < 6)
      << c.tokens << " tokens of " << c.weights
      << " weights: dot products expected for 1 to 5";
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char *cpu : {"", "x86-64-v3"}) {
    for (int64_t tokens : {1, 5, 6, 13, 37})
      all.push_back({tokens, 512, 128, cpu, "f32"});
    all.push_back({9, 272, 64, cpu, "f32"});
    all.push_back({7, 48, 192, cpu, "f32"});
    for (int64_t tokens : {5, 13})
      all.push_back({tokens, 272, 64, cpu, "f16"});
  }
  for (int64_t tokens : {1, 5, 6, 13, 37})
    all.push_back({tokens, 272, 64, "x86-64-v3", "bf16"});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Linear, PackedNumerics, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           std::string cpu =
                               *info.param.cpu ? info.param.cpu : "host";
                           for (char &ch : cpu)
                             if (ch == '-')
                               ch = '_';
                           return formatv("s{0}_k{1}_n{2}_{3}_{4}",
                                          info.param.tokens, info.param.k,
                                          info.param.n, cpu, info.param.weights)
                               .str();
                         });

} // namespace
