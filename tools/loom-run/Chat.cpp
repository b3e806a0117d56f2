//===- Chat.cpp - loom-run --chat: conversations through the chat template ===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "Chat.h"

#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Sampler.h"
#include "loom/Runtime/Session.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <fmt/core.h>

#include <cstdio>
#include <iostream>

using namespace llvm;

namespace loomrun {

namespace {

/// The text a template sees for token `id` (special tokens as spelled).
std::string tokenText(const loom::Tokenizer &tokenizer, int id) {
  if (id < 0 || id >= tokenizer.vocabSize())
    return "";
  if (std::optional<StringRef> special = tokenizer.specialText(id))
    return special->str();
  return tokenizer.piece(id).str();
}

} // namespace

Expected<ChatFormat> chatFormat(const loom::Tokenizer &tokenizer,
                                const loom::TokenizerData &vocab,
                                StringRef model, StringRef templateFile) {
  ChatFormat format;
  if (!templateFile.empty()) {
    auto buffer = MemoryBuffer::getFile(templateFile);
    if (!buffer)
      return createStringError(buffer.getError(), "cannot read %s: %s",
                               templateFile.str().c_str(),
                               buffer.getError().message().c_str());
    format.source = (*buffer)->getBuffer().str();
  } else {
    format.source = vocab.chatTemplate;
  }
  if (format.source.empty())
    return missingChatTemplate(model);
  // Fail on a template that does not parse before anything runs.
  if (Expected<loom::jinja::Template> parsed =
          loom::jinja::Template::parse(format.source);
      !parsed)
    return createStringError("the chat template of %s: %s", model.str().c_str(),
                             toString(parsed.takeError()).c_str());
  format.bos = tokenText(tokenizer, tokenizer.bosId());
  format.eos = tokenText(tokenizer, tokenizer.eosId());
  format.stops.push_back(tokenizer.eosId());
  if (vocab.eotId)
    format.stops.push_back(int(*vocab.eotId));
  for (StringRef end : {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>",
                        "<|endoftext|>", "<|end_of_text|>"}) {
    std::optional<int> id = tokenizer.lookup(end);
    if (id && StringRef(format.source).contains(end))
      format.stops.push_back(*id);
  }
  // A template that writes {{ bos_token }} itself gets no second BOS.
  format.addBos =
      tokenizer.addsBos() && !StringRef(format.source).contains("bos_token");
  return format;
}

Error missingChatTemplate(StringRef model) {
  return createStringError("%s has no chat template (GGUF "
                           "tokenizer.chat_template); give one with "
                           "--chat-template FILE",
                           model.str().c_str());
}

Expected<std::vector<int32_t>>
encodeChat(const loom::Tokenizer &tokenizer, const ChatFormat &format,
           ArrayRef<loom::ChatMessage> messages) {
  Expected<std::string> text = loom::applyChatTemplate(
      format.source, messages, /*addGenerationPrompt=*/true, format.bos,
      format.eos);
  if (!text)
    return createStringError("the chat template: " +
                             toString(text.takeError()));
  auto ids = tokenizer.encode(*text, format.addBos, /*eos=*/false,
                              /*parseSpecial=*/true);
  if (!ids)
    return ids.takeError();
  return std::vector<int32_t>(ids->begin(), ids->end());
}

Error runChat(loom::Session &session, const loom::Tokenizer &tokenizer,
              loom::Sampler &sampler, const ChatFormat &format,
              const ChatOptions &options, std::optional<std::string> prompt) {
  std::vector<loom::ChatMessage> messages;
  if (!options.system.empty())
    messages.push_back({"system", options.system});
  std::vector<int32_t> cached; // the tokens the KV cache holds
  int64_t context = session.contextLength();
  bool interactive = !prompt;

  auto turn = [&](std::string user) -> Error {
    messages.push_back({"user", std::move(user)});
    Expected<std::vector<int32_t>> ids =
        encodeChat(tokenizer, format, messages);
    if (!ids)
      return ids.takeError();
    if (ids->empty())
      return createStringError("the chat template rendered no tokens");
    if (int64_t(ids->size()) >= context)
      return createStringError(
          "the conversation is %zu tokens long, but the model's context "
          "holds %lld positions",
          ids->size(), (long long)context);
    // Forward what the cache does not hold yet (at least the last token,
    // whose logits start the reply).
    size_t keep = 0;
    while (keep + 1 < ids->size() && keep < cached.size() &&
           cached[keep] == (*ids)[keep])
      ++keep;
    auto logits =
        session.prefill(ArrayRef<int32_t>(*ids).drop_front(keep), keep,
                        /*allLogits=*/false);
    if (!logits)
      return logits.takeError();
    cached = std::move(*ids);
    std::vector<float> last(logits->end() - session.vocab(), logits->end());

    loom::Detokenizer detok(tokenizer, cached.back(), /*rawBytes=*/true);
    std::string reply;
    for (int64_t generated = 0;
         options.maxReply <= 0 || generated < options.maxReply; ++generated) {
      int next = sampler.sample(last);
      if (llvm::is_contained(format.stops, next))
        break;
      Expected<StringRef> piece = detok.push(next);
      if (!piece)
        return piece.takeError();
      reply += *piece;
      std::fwrite(piece->data(), 1, piece->size(), stdout);
      std::fflush(stdout);
      if (int64_t(cached.size()) + 1 >= context) {
        fmt::print(stderr, "\nloom-run: the context ({} positions) is full\n",
                   context);
        break;
      }
      cached.push_back(next);
      auto step = session.decode(next, int64_t(cached.size()) - 1);
      if (!step)
        return step.takeError();
      last.assign(step->begin(), step->end());
    }
    std::fputs("\n", stdout);
    std::fflush(stdout);
    messages.push_back({"assistant", std::move(reply)});
    return Error::success();
  };

  if (!interactive)
    return turn(std::move(*prompt));
  std::string line;
  while (true) {
    fmt::print(stderr, "> ");
    std::fflush(stderr);
    if (!std::getline(std::cin, line))
      break;
    if (line.empty())
      continue;
    if (Error e = turn(line))
      return e;
  }
  fmt::print(stderr, "\n");
  return Error::success();
}

} // namespace loomrun
