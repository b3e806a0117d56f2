//===- SamplerTest.cpp - tests of the token sampler -----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Greedy, top-k, top-p and temperature sampling on small hand-made
// distributions, the xorshift generator against values computed by hand
// (Python's integers) from run.c's definition, and statistical checks of the
// sampled distributions with stated tolerances. Seeds are fixed, so every
// check is deterministic.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Sampler.h"

#include "llvm/ADT/STLExtras.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace loom;

namespace {

Sampler makeSampler(float temperature, float topP, int topK,
                    uint64_t seed = 42) {
  return llvm::cantFail(Sampler::create({temperature, topP, topK, seed}));
}

/// Samples `draws` times from copies of `logits`, returning the frequency of
/// each token.
std::vector<double> frequencies(Sampler &sampler,
                                const std::vector<float> &logits, int draws) {
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;
    int token = sampler.sample(copy);
    EXPECT_GE(token, 0);
    EXPECT_LT(token, int(logits.size()));
    counts[token] += 1.0;
  }
  for (double &c : counts)
    c /= draws;
  return counts;
}

/// softmax(logits / temperature) in double precision.
std::vector<double> softmax(const std::vector<float> &logits,
                            double temperature) {
  double maxValue = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p;
  double sum = 0;
  for (float l : logits) {
    p.push_back(std::exp((l - maxValue) / temperature));
    sum += p.back();
  }
  for (double &v : p)
    v /= sum;
  return p;
}

/// Expects each frequency within 5 standard deviations of a binomial
/// proportion with probability `expected[i]` over `draws` draws (plus 1e-9
/// for probabilities 0): a false alarm has odds below 1e-6 per token.
void expectFrequencies(const std::vector<double> &observed,
                       const std::vector<double> &expected, int draws) {
  ASSERT_EQ(observed.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    double p = expected[i];
    double sigma = std::sqrt(p * (1 - p) / draws);
    EXPECT_NEAR(observed[i], p, 5 * sigma + 1e-9) << "token " << i;
  }
}

//===----------------------------------------------------------------------===//
// Options and the generator
//===----------------------------------------------------------------------===//

TEST(SamplerTest, RejectsBadOptions) {
  for (SamplerOptions bad :
       {SamplerOptions{-0.5f, 0.9f, 0, 1}, SamplerOptions{NAN, 0.9f, 0, 1},
        SamplerOptions{INFINITY, 0.9f, 0, 1}, SamplerOptions{1, NAN, 0, 1},
        SamplerOptions{1, 0.9f, -3, 1}}) {
    llvm::Expected<Sampler> sampler = Sampler::create(bad);
    ASSERT_FALSE(bool(sampler));
    EXPECT_NE(llvm::toString(sampler.takeError()).find("sampler"),
              std::string::npos);
  }
}

TEST(SamplerTest, SeedZeroTakesOneFromTheClock) {
  Sampler sampler = makeSampler(1, 0.9f, 0, /*seed=*/0);
  EXPECT_NE(sampler.seed(), 0u);
  EXPECT_EQ(makeSampler(1, 0.9f, 0, 7).seed(), 7u);
}

// The first outputs of run.c's random_u32 / random_f32 for seed 42, worked
// out with Python's arbitrary-precision integers from the same definition.
TEST(SamplerTest, XorshiftMatchesRunC) {
  uint64_t state = 42;
  const uint32_t expected[] = {1456360119u, 3359763283u, 3393612768u,
                               4054632243u, 3283045847u};
  for (uint32_t value : expected)
    EXPECT_EQ(Sampler::randomU32(state), value);
  state = 42;
  const float expectedF32[] = {0.3390852212905884f, 0.7822558283805847f,
                               0.790136992931366f, 0.9440426230430603f,
                               0.7643936276435852f};
  for (float value : expectedF32)
    EXPECT_EQ(Sampler::randomF32(state), value);
}

TEST(SamplerTest, RandomF32IsInUnitInterval) {
  uint64_t state = 123456789;
  for (int i = 0; i < 100000; ++i) {
    float f = Sampler::randomF32(state);
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
  }
}

//===----------------------------------------------------------------------===//
// Greedy
//===----------------------------------------------------------------------===//

TEST(SamplerTest, GreedyPicksArgmax) {
  Sampler sampler = makeSampler(0, 0.9f, 0);
  std::vector<float> logits = {0.5f, -1, 3.25f, 3, 2};
  EXPECT_EQ(sampler.sample(logits), 2);
  // Greedy leaves the logits alone.
  EXPECT_EQ(logits, (std::vector<float>{0.5f, -1, 3.25f, 3, 2}));
  std::vector<float> negative = {-9, -3, -4, -7};
  EXPECT_EQ(sampler.sample(negative), 1);
  std::vector<float> single = {-100};
  EXPECT_EQ(sampler.sample(single), 0);
}

// A temperature so small that logit / temperature overflows f32 samples
// greedily (its limit), at every top-p and top-k setting, instead of
// drawing from the NaNs an overflowed softmax gives.
TEST(SamplerTest, TinyTemperatureIsGreedy) {
  for (float temperature : {1e-38f, 1e-45f, 1e-30f})
    for (auto [topP, topK] :
         {std::pair<float, int>{0.9f, 0}, {1.0f, 0}, {0.9f, 3}}) {
      Sampler sampler = makeSampler(temperature, topP, topK, /*seed=*/7);
      for (int draw = 0; draw < 16; ++draw) {
        std::vector<float> logits = {0.5f, -10, 9.75f, 9.5f, 2};
        EXPECT_EQ(sampler.sample(logits), 2)
            << "temperature " << temperature << " top-p " << topP << " top-k "
            << topK;
      }
    }
}

TEST(SamplerTest, GreedyTakesTheFirstMaximum) {
  Sampler sampler = makeSampler(0, 0.9f, 0);
  std::vector<float> logits = {1, 4, 2, 4, 4};
  EXPECT_EQ(sampler.sample(logits), 1);
}

// A vocabulary-sized row with a runner-up 0.01 below the maximum.
TEST(SamplerTest, GreedyOnAWideVocabulary) {
  std::vector<float> logits(512, -2.0f);
  logits[383] = 11.5f;
  logits[17] = 11.49f;
  Sampler sampler = makeSampler(0, 0.9f, 0);
  EXPECT_EQ(sampler.sample(logits), 383);
}

// Greedy finds the maximum in 8 running maxima, then its first position:
// ties in different lanes, the maximum in the tail past the last whole 8,
// NaNs and signed zeros give what one pass of strict comparisons gives.
TEST(SamplerTest, GreedyMatchesOnePassOfComparisons) {
  auto reference = [](const std::vector<float> &v) {
    int best = 0;
    for (int i = 1; i < int(v.size()); ++i)
      if (v[i] > v[best])
        best = i;
    return best;
  };
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> cases = {
      {1, 2, 3, 9, 5, 6, 7, 8, 9, 1, 9},        // ties in lanes 3, 0 and 2
      {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 10}, // the maximum in the tail
      {nan, 1, 2, 3, 4, 5, 6, 7, 8},            // a NaN first value
      {1, nan, 2, nan, 3, 0, 0, 0, 0, nan},     // NaNs never win
      {-0.0f, 0.0f, -1, -2, -3, -4, -5, -6, 0.0f},
      {-5, -4, -3, -2, -1, -7, -8, -9},
      {2},
  };
  // A wide random row with a few repeated maxima.
  std::vector<float> wide(32003);
  uint64_t state = 7;
  for (float &x : wide)
    x = float(Sampler::randomU32(state) % 1000);
  cases.push_back(wide);
  Sampler sampler = makeSampler(0, 0.9f, 0);
  for (auto [i, c] : llvm::enumerate(cases)) {
    std::vector<float> copy = c;
    EXPECT_EQ(sampler.sample(copy), reference(c)) << "case " << i;
  }
}

//===----------------------------------------------------------------------===//
// Seeds and run.c's choices
//===----------------------------------------------------------------------===//

TEST(SamplerTest, FixedSeedIsReproducible) {
  std::vector<float> logits = {0.1f, 1.5f, -0.3f, 2.0f, 0.7f, 1.1f};
  for (auto [topP, topK] :
       {std::pair<float, int>(0.0f, 0), {0.9f, 0}, {0.0f, 3}, {0.8f, 4}}) {
    Sampler a = makeSampler(0.8f, topP, topK, 1234);
    Sampler b = makeSampler(0.8f, topP, topK, 1234);
    Sampler c = makeSampler(0.8f, topP, topK, 4321);
    std::vector<int> seqA, seqB, seqC;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> la = logits, lb = logits, lc = logits;
      seqA.push_back(a.sample(la));
      seqB.push_back(b.sample(lb));
      seqC.push_back(c.sample(lc));
    }
    EXPECT_EQ(seqA, seqB) << "top-p " << topP << " top-k " << topK;
    EXPECT_NE(seqA, seqC) << "top-p " << topP << " top-k " << topK;
  }
}

// The draws of seed 42 (0.339, 0.782, 0.790, 0.944, 0.764) over softmax of
// {1, 2, 3, 4} = {0.032, 0.087, 0.237, 0.644}, worked out by hand as run.c's
// sample_mult and sample_topp do.
TEST(SamplerTest, ChoicesMatchRunCByHand) {
  const std::vector<float> logits = {1, 2, 3, 4};
  Sampler multinomial = makeSampler(1, 0, 0, 42);
  std::vector<int> picks;
  for (int i = 0; i < 5; ++i) {
    std::vector<float> l = logits;
    picks.push_back(multinomial.sample(l));
  }
  // CDF 0.032, 0.119, 0.356, 1: 0.339 -> 2, the rest -> 3.
  EXPECT_EQ(picks, (std::vector<int>{2, 3, 3, 3, 3}));

  // top-p 0.9: the cutoff 0.1/3 drops token 0; the nucleus is 3, 2, 1
  // (cumulative 0.644, 0.881, 0.968); r = coin * 0.968.
  Sampler nucleus = makeSampler(1, 0.9f, 0, 42);
  picks.clear();
  for (int i = 0; i < 5; ++i) {
    std::vector<float> l = logits;
    picks.push_back(nucleus.sample(l));
  }
  EXPECT_EQ(picks, (std::vector<int>{3, 2, 2, 1, 2}));
}

TEST(SamplerTest, SamplingWritesProbabilitiesIntoLogits) {
  Sampler sampler = makeSampler(2, 0, 0);
  std::vector<float> logits = {0, 2, 4};
  (void)sampler.sample(logits);
  std::vector<double> expected = softmax({0, 2, 4}, 2);
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(logits[i], expected[i], 1e-6);
}

//===----------------------------------------------------------------------===//
// Top-k
//===----------------------------------------------------------------------===//

TEST(SamplerTest, TopKOneEqualsGreedy) {
  Sampler topK = makeSampler(1.5f, 0.95f, 1, 99);
  Sampler greedy = makeSampler(0, 0.95f, 0);
  uint64_t state = 7;
  for (int round = 0; round < 500; ++round) {
    std::vector<float> logits(37);
    for (float &l : logits)
      l = Sampler::randomF32(state) * 10 - 5;
    if (round % 10 == 0)
      logits[round % 37] = logits[(round + 5) % 37] = 6; // a tie
    std::vector<float> a = logits, b = logits;
    EXPECT_EQ(topK.sample(a), greedy.sample(b)) << "round " << round;
  }
}

// Top-k 2 over {0.5, 0.3, 0.15, 0.05} keeps tokens 0 and 1 with 5/8 and 3/8.
TEST(SamplerTest, TopKKeepsTheKMostLikely) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                               std::log(0.05f)};
  const int draws = 100000;
  Sampler sampler = makeSampler(1, 0, 2, 2024);
  expectFrequencies(frequencies(sampler, logits, draws), {0.625, 0.375, 0, 0},
                    draws);
  // A k at least the vocabulary size changes nothing.
  Sampler all = makeSampler(1, 0, 4, 2024);
  expectFrequencies(frequencies(all, logits, draws), {0.5, 0.3, 0.15, 0.05},
                    draws);
}

// Top-k 3 then top-p 0.8: {0.5, 0.3, 0.15} renormalised is {0.526, 0.316,
// 0.158}, whose nucleus past 0.8 is tokens 0 and 1.
TEST(SamplerTest, TopKThenTopP) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                               std::log(0.05f)};
  const int draws = 100000;
  Sampler sampler = makeSampler(1, 0.8f, 3, 77);
  expectFrequencies(frequencies(sampler, logits, draws), {0.625, 0.375, 0, 0},
                    draws);
}

//===----------------------------------------------------------------------===//
// Top-p
//===----------------------------------------------------------------------===//

// {0.5, 0.3, 0.15, 0.05}: top-p 0.7 keeps {0, 1} (cumulative 0.8 > 0.7),
// top-p 0.9 keeps {0, 1, 2} (0.95 > 0.9), each renormalised.
TEST(SamplerTest, TopPKeepsTheNucleus) {
  std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                               std::log(0.3f)};
  const int draws = 100000;
  Sampler p07 = makeSampler(1, 0.7f, 0, 5);
  expectFrequencies(frequencies(p07, logits, draws),
                    {0, 0.5 / 0.8, 0, 0.3 / 0.8}, draws);
  Sampler p09 = makeSampler(1, 0.9f, 0, 6);
  expectFrequencies(frequencies(p09, logits, draws),
                    {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95}, draws);
}

TEST(SamplerTest, TopPSmallKeepsOnlyTheMostLikely) {
  std::vector<float> logits = {0, 3, 1, 2.9f};
  Sampler sampler = makeSampler(1, 0.01f, 0, 11);
  for (int i = 0; i < 1000; ++i) {
    std::vector<float> l = logits;
    ASSERT_EQ(sampler.sample(l), 1);
  }
}

// run.c's cutoff (1 - p) / (n - 1) can drop every token of a near-uniform
// distribution when p < 1/n (run.c then reads out of bounds); Loom takes the
// most likely token.
TEST(SamplerTest, TopPWithNothingAboveTheCutoff) {
  Sampler sampler = makeSampler(1, 0.1f, 0, 3);
  std::vector<float> uniform = {1, 1};
  EXPECT_EQ(sampler.sample(uniform), 0);
  std::vector<float> single = {5};
  EXPECT_EQ(sampler.sample(single), 0);
}

TEST(SamplerTest, TopPOutsideTheOpenIntervalIsOff) {
  std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  const int draws = 100000;
  for (float topP : {0.0f, 1.0f, -2.0f, 1.5f}) {
    Sampler sampler = makeSampler(1, topP, 0, 8);
    expectFrequencies(frequencies(sampler, logits, draws), {0.6, 0.3, 0.1},
                      draws);
  }
}

//===----------------------------------------------------------------------===//
// Temperature
//===----------------------------------------------------------------------===//

// With top-p and top-k off, the draws follow softmax(logits / T): checked per
// token at 5 sigma over 200000 draws, and by a chi-square statistic below
// 30 (5 degrees of freedom: p < 2e-5 for a correct sampler).
TEST(SamplerTest, TemperatureSamplesSoftmaxOfScaledLogits) {
  std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, -1.0f, 2.5f};
  const int draws = 200000;
  for (float temperature : {0.5f, 1.0f, 2.0f}) {
    Sampler sampler = makeSampler(temperature, 0, 0, 31337);
    std::vector<double> observed = frequencies(sampler, logits, draws);
    std::vector<double> expected = softmax(logits, temperature);
    expectFrequencies(observed, expected, draws);
    double chiSquare = 0;
    for (size_t i = 0; i < expected.size(); ++i)
      chiSquare += draws * std::pow(observed[i] - expected[i], 2) / expected[i];
    EXPECT_LT(chiSquare, 30.0) << "temperature " << temperature;
  }
}

TEST(SamplerTest, NonFiniteLogitsDoNotCrash) {
  for (auto [topP, topK] :
       {std::pair<float, int>(0.0f, 0), {0.9f, 0}, {0.9f, 2}}) {
    Sampler sampler = makeSampler(1, topP, topK, 5);
    std::vector<float> nan = {NAN, 1, NAN, 2};
    int token = sampler.sample(nan);
    EXPECT_GE(token, 0);
    EXPECT_LT(token, 4);
    std::vector<float> inf = {INFINITY, 1, -INFINITY, 2};
    token = sampler.sample(inf);
    EXPECT_GE(token, 0);
    EXPECT_LT(token, 4);
  }
}

} // namespace
