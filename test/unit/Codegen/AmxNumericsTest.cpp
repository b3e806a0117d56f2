//===- AmxNumericsTest.cpp - bf16 linear layers on AMX tiles --------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiles a linear layer with bf16 weights (bf16 activations, the default)
// for this host with the real pipeline, runs it in-process on random
// inputs, and compares it with a float64 reference of the same bf16 values
// (x rounded to bf16 as reference_forward.py's bf16_round does). The token
// counts cover the AMX lowering's cases (AmxContraction.cpp): one token
// (not tiled), fewer than a block of 32 (all in the vector remainder), one
// whole block, blocks and a remainder, several blocks; the k lengths a
// chunk of 4 tile steps and of 3 (one step per chunk). Where the host has
// AMX-BF16 the code must use tile multiplies for 32 tokens or more (checked
// on the lowered IR); elsewhere the same numbers come from the vector path
// and that check is skipped with a message. Tolerance: 1e-5 x max
// |reference| (f32 sums of at most 128 exact bf16 products).
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"
#include "HalfFloats.h"

#include "loom/Runtime/Threads.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using llvm::formatv;
using loom::testing::bf16Round;
using loom::testing::halfBits;

namespace {

struct Case {
  int64_t tokens, k, n;
};

class AmxNumerics : public ::testing::TestWithParam<Case> {
protected:
  static void SetUpTestSuite() { ::loom::setThreadCount(2); }
};

std::string linearIR(const Case &c) {
  return formatv("func.func @f(%x: tensor<1x{0}x{1}xf32>, %w: "
                 "tensor<{2}x{1}xbf16>) -> tensor<1x{0}x{2}xf32> {{\n"
                 "  %wf = arith.extf %w : tensor<{2}x{1}xbf16> to "
                 "tensor<{2}x{1}xf32>\n"
                 "  %y = loom.linear %x, %wf : (tensor<1x{0}x{1}xf32>, "
                 "tensor<{2}x{1}xf32>) -> tensor<1x{0}x{2}xf32>\n"
                 "  return %y : tensor<1x{0}x{2}xf32>\n}\n",
                 c.tokens, c.k, c.n)
      .str();
}

bool hostHasAmxBf16() {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  return features.lookup("amx-bf16") && features.lookup("amx-tile");
}

TEST_P(AmxNumerics, MatchesReference) {
  const Case &c = GetParam();
  std::mt19937 rng(7 + c.tokens);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(c.tokens * c.k), w(c.n * c.k);
  for (float &v : x)
    v = dist(rng);
  std::vector<uint16_t> wBits;
  for (float &v : w) {
    v = bf16Round(dist(rng));
    wBits.push_back(halfBits(v, llvm::APFloat::BFloat()));
  }
  std::vector<double> reference(c.tokens * c.n);
  double maxRef = 0;
  for (int64_t s = 0; s < c.tokens; ++s)
    for (int64_t n = 0; n < c.n; ++n) {
      double sum = 0;
      for (int64_t k = 0; k < c.k; ++k)
        sum += double(bf16Round(x[s * c.k + k])) * double(w[n * c.k + k]);
      reference[s * c.n + n] = sum;
      maxRef = std::max(maxRef, std::abs(sum));
    }

  auto kernel = ::loom::testing::CompiledFunction::compile(linearIR(c), {});
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
  std::vector<float> y(c.tokens * c.n, 0.0f);
  std::deque<::loom::testing::MemRefDescriptor> ds;
  ds.emplace_back(x.data(), std::vector<int64_t>{1, c.tokens, c.k});
  ds.emplace_back(wBits.data(), std::vector<int64_t>{c.n, c.k});
  ds.emplace_back(y.data(), std::vector<int64_t>{1, c.tokens, c.n});
  llvm::Error e = (*kernel)->call(ds);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  double maxDiff = 0;
  size_t worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    double diff = std::abs(double(y[i]) - reference[i]);
    if (diff > maxDiff) {
      maxDiff = diff;
      worst = i;
    }
  }
  EXPECT_LE(maxDiff, 1e-5 * maxRef)
      << "max |difference| " << maxDiff << " at token " << worst / c.n
      << ", feature " << worst % c.n << " (" << y[worst] << " vs "
      << reference[worst] << "), max |reference| " << maxRef;
}

TEST_P(AmxNumerics, UsesTilesWhereTheHostHasThem) {
  const Case &c = GetParam();
  if (!hostHasAmxBf16())
    GTEST_SKIP() << "this host lacks AMX-BF16: its code is the vector path "
                    "(checked by MatchesReference), no tiles to look for";
  auto kernel = ::loom::testing::CompiledFunction::compile(linearIR(c), {});
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
  bool tiles = (*kernel)->lowered().find("llvm.x86.tdpbf16ps.internal") !=
               std::string::npos;
  EXPECT_EQ(tiles, c.tokens >= 32)
      << c.tokens << " tokens: tile multiplies expected for 32 or more";
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (int64_t tokens : {1, 31, 32, 45, 96})
    all.push_back({tokens, 128, 64});
  all.push_back({45, 96, 32});
  return all;
}

INSTANTIATE_TEST_SUITE_P(Linear, AmxNumerics, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return formatv("s{0}_k{1}_n{2}", info.param.tokens,
                                          info.param.k, info.param.n)
                               .str();
                         });

} // namespace
