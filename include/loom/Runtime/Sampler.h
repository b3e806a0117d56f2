//===- Sampler.h - choose the next token from logits ------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The sampler of llama2.c's run.c, plus top-k. With `topK` 0 it makes the
// same choices as run.c's `sample` for the same logits and seed: the same
// xorshift generator, one random number per sampled token, the same float
// arithmetic. The order of operations is:
//
//   1. temperature 0 (or top-k 1): the argmax of the logits, the first on
//      ties; no random number is drawn;
//   2. otherwise logits /= temperature, then softmax;
//   3. one random number in [0, 1) is drawn;
//   4. top-k (k > 0): only the k most probable tokens stay, renormalised;
//   5. top-p (0 < p < 1): of those, the most probable tokens whose
//      probabilities first sum past p stay (the nucleus), renormalised;
//   6. the random number picks a token from what stays, by its cumulative
//      distribution.
//
// Without top-k, step 5 is run.c's `sample_topp`, including its filter
// dropping tokens below (1 - p) / (n - 1) before sorting.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_SAMPLER_H
#define LOOM_RUNTIME_SAMPLER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace loom {

/// How the sampler chooses. The defaults are run.c's.
struct SamplerOptions {
  /// 0 picks the most likely token; higher values flatten the distribution.
  float temperature = 1.0f;
  /// Nucleus sampling threshold; values <= 0 or >= 1 turn it off.
  float topP = 0.9f;
  /// Keep only the k most likely tokens; 0 turns it off.
  int topK = 0;
  /// The xorshift generator's seed; 0 takes one from the clock, as run.c
  /// does (`Sampler::seed()` tells which).
  uint64_t seed = 0;
};

/// Chooses tokens from logits. Holds the random state, so one sampler serves
/// one sequence; not thread-safe.
class Sampler {
public:
  /// A sampler with `options`; fails when the temperature is negative or
  /// not finite, `topP` is NaN, or `topK` is negative.
  static llvm::Expected<Sampler> create(const SamplerOptions &options);

  /// The next token from `logits` (one per vocabulary entry, not empty).
  /// Unless the choice is greedy, `logits` is overwritten with the
  /// probabilities of step 2 (as run.c does).
  int sample(llvm::MutableArrayRef<float> logits);

  const SamplerOptions &options() const { return opts; }
  /// The seed in use (the clock's, when the options said 0).
  uint64_t seed() const { return effectiveSeed; }

  /// run.c's `random_u32`: the next 32 bits of the xorshift* generator at
  /// `state`, advancing it.
  static uint32_t randomU32(uint64_t &state);
  /// run.c's `random_f32`: a float in [0, 1) from the top 24 of 32 bits.
  static float randomF32(uint64_t &state);

private:
  explicit Sampler(const SamplerOptions &options);

  int sampleTopK(llvm::ArrayRef<float> probs, float coin);
  int sampleTopP(llvm::ArrayRef<float> probs, float coin);

  SamplerOptions opts;
  uint64_t effectiveSeed;
  uint64_t state;
  /// Scratch: (probability, token) pairs, reused between calls.
  std::vector<std::pair<float, int>> candidates;
};

} // namespace loom

#endif // LOOM_RUNTIME_SAMPLER_H
