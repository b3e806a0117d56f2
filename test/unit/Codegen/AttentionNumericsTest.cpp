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
// masked, sliding-window and decode (one query against a cache, lowered by
// splitting the keys into chunks whose partial results are merged; with
// fewer keys than chunks and at the very first position too).
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"

#include "loom/Runtime/Threads.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using loom::testing::AttentionConfig;
using loom::testing::AttentionKernel;

namespace {

class AttentionNumerics : public ::testing::TestWithParam<AttentionConfig> {
protected:
  static void SetUpTestSuite() {
    // The compiled code calls loom_parallel_for from the runtime library.
    ::loom::setThreadCount(2);
  }

  std::vector<float> run(const std::string &ir, bool fuse,
                         const AttentionConfig &c, std::vector<float> &q,
                         std::vector<float> &k, std::vector<float> &v,
                         std::vector<float> &mask) {
    std::vector<float> out;
    auto kernel = AttentionKernel::compile(ir, fuse, /*keyBlock=*/16);
    if (!kernel) {
      ADD_FAILURE() << llvm::toString(kernel.takeError());
      return out;
    }
    if (llvm::Error e = (*kernel)->run(c, q, k, v, mask, out))
      ADD_FAILURE() << llvm::toString(std::move(e));
    return out;
  }
};

TEST_P(AttentionNumerics, FusedMatchesUnfused) {
  const AttentionConfig &c = GetParam();
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

  std::vector<float> reference =
      run(loom::testing::unfusedAttentionIR(c), false, c, q, k, v, mask);
  std::vector<float> fused =
      run(loom::testing::fusedAttentionIR(c), true, c, q, k, v, mask);
  ASSERT_EQ(reference.size(), fused.size());
  float maxRef = 0, maxDiff = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    ASSERT_TRUE(std::isfinite(fused[i])) << "at " << i;
    maxRef = std::max(maxRef, std::abs(reference[i]));
    maxDiff = std::max(maxDiff, std::abs(reference[i] - fused[i]));
  }
  EXPECT_GT(maxRef, 0.0f);
  EXPECT_LE(maxDiff / maxRef, 1e-5f) << "max |difference| " << maxDiff
                                     << " against max |reference| " << maxRef;
}

INSTANTIATE_TEST_SUITE_P(
    Configs, AttentionNumerics,
    ::testing::Values(
        AttentionConfig{"plain_seq20x29", 20, 29, 4, 4, 16},
        AttentionConfig{"causal_gqa1_seq37", 37, 37, 8, 8, 16, true},
        AttentionConfig{"causal_gqa2_seq50", 50, 50, 8, 4, 16, true},
        AttentionConfig{"masked_gqa4_seq33", 33, 33, 8, 2, 32, false, 0, true},
        AttentionConfig{"window9_gqa8_seq40", 40, 40, 8, 1, 16, true, 9},
        AttentionConfig{"decode_gqa4_cache45", 1, 45, 8, 2, 32, true, 0, false,
                        44},
        AttentionConfig{"decode_window7_gqa8_cache61", 1, 61, 8, 1, 16, true, 7,
                        false, 60},
        AttentionConfig{"decode_three_keys", 1, 3, 4, 4, 16, true, 0, false, 2},
        AttentionConfig{"decode_first_position", 1, 9, 4, 2, 16, true, 0, false,
                        0},
        AttentionConfig{"decode_not_causal_gqa2", 1, 23, 4, 2, 16},
        AttentionConfig{"prefill_after_cache_gqa2", 7, 39, 4, 2, 16, true, 0,
                        false, 32}),
    [](const ::testing::TestParamInfo<AttentionConfig> &info) {
      return std::string(info.param.name);
    });

} // namespace
