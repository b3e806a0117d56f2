//===- Generation.h - a prompt forced, then tokens sampled -------*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The generation loop of llama2.c's run.c, once, for every front end that
// generates (loom-run, the Python package): the prompt is forwarded in one
// prefill call, then its tokens are forced and the rest sampled, one decode
// call per token, until the step limit or a stop token. A `Generation` is
// pulled one token at a time, so a caller can stream text, write logits or
// stop early.
//
//   auto gen = Generation::start(session, sampler, prompt, options);
//   if (!gen) return gen.takeError();
//   while (true) {
//     llvm::Expected<std::optional<int>> next = gen->next();
//     if (!next) return next.takeError();
//     if (!*next) break;
//     ... print the token ...
//   }
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_GENERATION_H
#define LOOM_RUNTIME_GENERATION_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace loom {

class Sampler;
class Session;
class Tokenizer;

struct GenerationOptions {
  /// Positions to forward, prompt included, as run.c's `-n`; 0, a negative
  /// number or more than the context: the context length.
  int64_t steps = 256;
  /// The token that ends generation before it is emitted (run.c stops at
  /// BOS), if any.
  std::optional<int> stopBefore;
  /// The token that ends generation after it is emitted (a byte-level
  /// vocabulary's end of sequence), if any; only past the prompt.
  std::optional<int> stopAfter;
  /// Whether prefill returns the logits of every prompt position (to write
  /// them out), not only the last one's.
  bool allPromptLogits = false;
};

/// The stop tokens of a model whose text `tokenizer` makes (none with
/// `ignoreEos`): byte-level vocabularies end their text with EOS; llama2.c's
/// run.c stops at BOS, which its goldens follow. Without a tokenizer (ids
/// only) BOS is token 1, as in llama2.c.
void setStopTokens(GenerationOptions &options, const Tokenizer *tokenizer,
                   bool ignoreEos);

class Generation {
public:
  /// Forwards `prompt` (at least one token, position 0 first) as far as
  /// the step limit reaches, in one prefill call. Fails where the prompt
  /// is longer than the context, and with the session's errors.
  static llvm::Expected<Generation> start(Session &session, Sampler &sampler,
                                          llvm::ArrayRef<int32_t> prompt,
                                          const GenerationOptions &options);

  /// The next token of the sequence after position 0: the prompt's own
  /// tokens first, then sampled ones; nullopt once generation has ended.
  /// Before it picks a sampled token it runs the decode call of the token
  /// before it (`stepped()` then says so).
  llvm::Expected<std::optional<int>> next();

  /// What prefill returned: the logits of every prompt position forwarded
  /// (with `allPromptLogits`) or of the last one.
  llvm::ArrayRef<float> promptLogits() const { return promptRows; }
  /// Whether the last `next()` ran a decode call, whose logits `logits()`
  /// holds.
  bool stepped() const { return didStep; }
  /// The logits the next sampled token is drawn from (the last position
  /// forwarded). The sampler may overwrite them with probabilities.
  llvm::ArrayRef<float> logits() const { return last; }
  /// Prompt tokens forwarded by prefill, and decode calls run so far.
  int64_t promptTokens() const { return prefillCount; }
  int64_t decodeCalls() const { return decodes; }

private:
  Generation(Session &session, Sampler &sampler)
      : session(&session), sampler(&sampler) {}

  Session *session;
  Sampler *sampler;
  std::vector<int32_t> prompt;
  std::vector<float> promptRows, last;
  GenerationOptions options;
  int64_t limit = 0;        ///< positions to forward in all
  int64_t prefillCount = 0; ///< prompt tokens prefill forwarded
  int64_t emitted = 0;      ///< prompt tokens handed out so far
  int64_t pos = 0;          ///< the position `last` belongs to
  int64_t decodes = 0;
  std::optional<int> pending; ///< a token to run before the next pick
  bool didStep = false;
  bool done = false;
};

} // namespace loom

#endif // LOOM_RUNTIME_GENERATION_H
