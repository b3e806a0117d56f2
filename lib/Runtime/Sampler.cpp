//===- Sampler.cpp - choose the next token from logits --------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Each step keeps run.c's float arithmetic and loop order, so that the same
// logits and seed give the same token.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Sampler.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <ctime>

using namespace llvm;

namespace loom {

/// The index of the largest value, the first on ties.
/// The first index of the largest value (NaNs never win; a NaN first value
/// gives 0). Greedy decoding calls this once per token on the whole
/// vocabulary: the maximum is found first in 8 independent running maxima
/// (no chain of compare-and-select through one index: vectorizable), then
/// its first position.
static int argmax(ArrayRef<float> values) {
  constexpr int kLanes = 8;
  int n = int(values.size());
  float lane[kLanes];
  for (float &m : lane)
    m = values[0];
  int whole = n / kLanes * kLanes;
  for (int i = 0; i < whole; i += kLanes)
    for (int j = 0; j < kLanes; ++j)
      lane[j] = values[i + j] > lane[j] ? values[i + j] : lane[j];
  float maxValue = lane[0];
  for (int j = 1; j < kLanes; ++j)
    if (lane[j] > maxValue)
      maxValue = lane[j];
  for (int i = whole; i < n; ++i)
    if (values[i] > maxValue)
      maxValue = values[i];
  for (int i = 0; i < n; ++i)
    if (values[i] == maxValue)
      return i;
  return 0; // values[0] is NaN
}

/// Softmax in place: exp(x - max), then divided by the sum.
static void softmax(MutableArrayRef<float> x) {
  float maxValue = x[0];
  for (float v : x.drop_front())
    if (v > maxValue)
      maxValue = v;
  float sum = 0.0f;
  for (float &v : x) {
    v = std::exp(v - maxValue);
    sum += v;
  }
  for (float &v : x)
    v /= sum;
}

/// The token whose cumulative probability first exceeds `coin`, or the last.
static int sampleMultinomial(ArrayRef<float> probs, float coin) {
  float cdf = 0.0f;
  for (int i = 0, e = int(probs.size()); i < e; ++i) {
    cdf += probs[i];
    if (coin < cdf)
      return i;
  }
  return int(probs.size()) - 1;
}

/// Orders by probability, highest first, then by token: a total order, so
/// equal probabilities keep index order (as glibc's merge-sort qsort leaves
/// them in run.c).
static bool moreProbable(const std::pair<float, int> &a,
                         const std::pair<float, int> &b) {
  if (a.first != b.first)
    return a.first > b.first;
  return a.second < b.second;
}

Expected<Sampler> Sampler::create(const SamplerOptions &options) {
  if (!std::isfinite(options.temperature) || options.temperature < 0.0f)
    return createStringError(inconvertibleErrorCode(),
                             "sampler temperature " +
                                 formatv("{0}", options.temperature) +
                                 " is not a finite value >= 0");
  if (std::isnan(options.topP))
    return createStringError(inconvertibleErrorCode(), "sampler top-p is NaN");
  if (options.topK < 0)
    return createStringError(inconvertibleErrorCode(), "sampler top-k " +
                                                           Twine(options.topK) +
                                                           " is negative");
  return Sampler(options);
}

Sampler::Sampler(const SamplerOptions &options) : opts(options) {
  effectiveSeed =
      options.seed ? options.seed : uint64_t(unsigned(std::time(nullptr)));
  state = effectiveSeed;
}

uint32_t Sampler::randomU32(uint64_t &state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return uint32_t((state * 0x2545F4914F6CDD1Dull) >> 32);
}

float Sampler::randomF32(uint64_t &state) {
  return float(randomU32(state) >> 8) / 16777216.0f;
}

int Sampler::sample(MutableArrayRef<float> logits) {
  assert(!logits.empty() && "sampling from no logits");
  if (opts.temperature == 0.0f || opts.topK == 1)
    return argmax(logits);
  // A temperature so small that logit / temperature overflows (below ~1e-37
  // for logits near 10) is the limit temperature -> 0: greedy. Dividing
  // anyway would make inf - inf = NaN in the softmax.
  float largest = 0.0f;
  for (float logit : logits)
    largest = std::max(largest, std::fabs(logit));
  if (!std::isfinite(largest / opts.temperature))
    return argmax(logits);
  for (float &logit : logits)
    logit /= opts.temperature;
  softmax(logits);
  float coin = randomF32(state);
  if (opts.topK > 0 && size_t(opts.topK) < logits.size())
    return sampleTopK(logits, coin);
  if (opts.topP <= 0.0f || opts.topP >= 1.0f)
    return sampleMultinomial(logits, coin);
  return sampleTopP(logits, coin);
}

/// run.c's `sample_topp`.
int Sampler::sampleTopP(ArrayRef<float> probs, float coin) {
  int n = int(probs.size());
  // Tokens below the cutoff cannot be in the nucleus: dropping them first
  // makes the sort short.
  candidates.clear();
  if (n > 1) {
    const float cutoff = (1.0f - opts.topP) / float(n - 1);
    for (int i = 0; i < n; ++i)
      if (probs[i] >= cutoff)
        candidates.push_back({probs[i], i});
  }
  // Nothing passes only for one token, or a near-uniform distribution with
  // top-p below 1/n (run.c then reads out of bounds): take the likeliest.
  if (candidates.empty())
    return argmax(probs);
  std::sort(candidates.begin(), candidates.end(), moreProbable);

  float cumulative = 0.0f;
  int last = int(candidates.size()) - 1;
  for (int i = 0, e = int(candidates.size()); i < e; ++i) {
    cumulative += candidates[i].first;
    if (cumulative > opts.topP) {
      last = i;
      break;
    }
  }
  float r = coin * cumulative;
  float cdf = 0.0f;
  for (int i = 0; i <= last; ++i) {
    cdf += candidates[i].first;
    if (r < cdf)
      return candidates[i].second;
  }
  return candidates[last].second;
}

int Sampler::sampleTopK(ArrayRef<float> probs, float coin) {
  candidates.clear();
  for (int i = 0, e = int(probs.size()); i < e; ++i)
    if (!std::isnan(probs[i]))
      candidates.push_back({probs[i], i});
  if (candidates.empty())
    return argmax(probs);
  size_t k = std::min<size_t>(size_t(opts.topK), candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + k,
                    candidates.end(), moreProbable);
  candidates.resize(k);

  // Renormalise the k kept, then keep their nucleus.
  float sum = 0.0f;
  for (const auto &c : candidates)
    sum += c.first;
  if (!(sum > 0.0f))
    return candidates.front().second;
  for (auto &c : candidates)
    c.first /= sum;
  int last = int(k) - 1;
  if (opts.topP > 0.0f && opts.topP < 1.0f) {
    float cumulative = 0.0f;
    for (int i = 0; i < int(k); ++i) {
      cumulative += candidates[i].first;
      if (cumulative > opts.topP) {
        last = i;
        break;
      }
    }
  }
  float cumulative = 0.0f;
  for (int i = 0; i <= last; ++i)
    cumulative += candidates[i].first;
  float r = coin * cumulative;
  float cdf = 0.0f;
  for (int i = 0; i <= last; ++i) {
    cdf += candidates[i].first;
    if (r < cdf)
      return candidates[i].second;
  }
  return candidates[last].second;
}

} // namespace loom
