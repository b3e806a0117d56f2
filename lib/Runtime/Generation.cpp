//===- Generation.cpp - a prompt forced, then tokens sampled --------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Generation.h"

#include "loom/Runtime/Sampler.h"
#include "loom/Runtime/Session.h"
#include "loom/Runtime/Tokenizer.h"

#include <algorithm>

using namespace llvm;

namespace loom {

void setStopTokens(GenerationOptions &options, const Tokenizer *tokenizer,
                   bool ignoreEos) {
  options.stopBefore.reset();
  options.stopAfter.reset();
  if (ignoreEos)
    return;
  if (tokenizer && tokenizer->isByteLevel())
    options.stopAfter = tokenizer->eosId();
  else
    options.stopBefore = tokenizer ? tokenizer->bosId() : 1;
}

Expected<Generation> Generation::start(Session &session, Sampler &sampler,
                                       ArrayRef<int32_t> prompt,
                                       const GenerationOptions &options) {
  int64_t context = session.contextLength();
  if (prompt.empty())
    return createStringError("the prompt holds no tokens (not even BOS)");
  if (int64_t(prompt.size()) > context)
    return createStringError("the prompt is %zu tokens long, but the model's "
                             "context holds %lld positions",
                             prompt.size(), (long long)context);
  Generation gen(session, sampler);
  gen.prompt.assign(prompt.begin(), prompt.end());
  gen.options = options;
  gen.limit =
      options.steps <= 0 || options.steps > context ? context : options.steps;
  gen.prefillCount = std::min<int64_t>(prompt.size(), gen.limit);
  auto rows = session.prefill(prompt.take_front(gen.prefillCount), 0,
                              options.allPromptLogits);
  if (!rows)
    return rows.takeError();
  gen.promptRows.assign(rows->begin(), rows->end());
  gen.last.assign(rows->end() - session.vocab(), rows->end());
  gen.pos = gen.prefillCount - 1;
  return gen;
}

Expected<std::optional<int>> Generation::next() {
  didStep = false;
  if (done)
    return std::nullopt;
  // The prompt tokens prefill forwarded, as they were given.
  if (emitted + 1 < prefillCount)
    return prompt[++emitted];
  // As run.c: the token after every forwarded position is emitted, the one
  // after the last position too; only tokens before the limit are run.
  if (pending) {
    ++pos;
    auto logits = session->decode(*pending, pos);
    if (!logits)
      return logits.takeError();
    last.assign(logits->begin(), logits->end());
    pending.reset();
    ++decodes;
    didStep = true;
  }
  bool inPrompt = pos + 1 < int64_t(prompt.size());
  int token = inPrompt ? prompt[pos + 1] : sampler->sample(last);
  if (options.stopBefore && token == *options.stopBefore) {
    done = true;
    return std::nullopt;
  }
  if (pos + 1 >= limit ||
      (options.stopAfter && token == *options.stopAfter && !inPrompt))
    done = true;
  else
    pending = token;
  return token;
}

} // namespace loom
