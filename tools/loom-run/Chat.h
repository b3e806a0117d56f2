//===- Chat.h - loom-run --chat: conversations through the chat template --===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A conversation is rendered with the model's Jinja2 chat template (GGUF
// `tokenizer.chat_template`, or --chat-template FILE) as transformers'
// `apply_chat_template` renders it, tokenized with special tokens parsed,
// and the assistant's turn generated until an end-of-turn token. Each turn
// renders the whole conversation again and forwards only the tokens after
// the part already in the KV cache.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TOOLS_LOOM_RUN_CHAT_H
#define LOOM_TOOLS_LOOM_RUN_CHAT_H

#include "loom/Runtime/ChatTemplate.h"
#include "loom/Runtime/Tokenizer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loom {
class Sampler;
class Session;
struct TokenizerData;
} // namespace loom

namespace loomrun {

/// What rendering and stopping need, found once per model.
struct ChatFormat {
  std::string source; ///< the Jinja2 template
  std::string bos,
      eos; ///< `bos_token` and `eos_token` as the template sees them
  /// Tokens that end the assistant's turn: EOS, the file's EOT token, and
  /// the usual end-of-turn specials (<|im_end|>, <|eot_id|>, <|end|>,
  /// <end_of_turn>, <|endoftext|>) that the template writes.
  std::vector<int> stops;
  /// Whether the rendered text gets BOS from the tokenizer (as the
  /// vocabulary says, unless the template already writes it).
  bool addBos = false;
};

/// The chat format of a model: its vocabulary's template
/// (`vocab.chatTemplate`, with `vocab.eotId`), or the one in `templateFile`
/// when that is not empty. Fails, naming `model`, where there is none.
llvm::Expected<ChatFormat> chatFormat(const loom::Tokenizer &tokenizer,
                                      const loom::TokenizerData &vocab,
                                      llvm::StringRef model,
                                      llvm::StringRef templateFile);

/// The error for a model whose file has no chat template.
llvm::Error missingChatTemplate(llvm::StringRef model);

/// The token ids of `messages` rendered with the assistant's turn opened.
llvm::Expected<std::vector<int32_t>>
encodeChat(const loom::Tokenizer &tokenizer, const ChatFormat &format,
           llvm::ArrayRef<loom::ChatMessage> messages);

struct ChatOptions {
  std::string system;   ///< a system message first, where not empty
  int64_t maxReply = 0; ///< tokens per reply at most (0: up to the context)
};

/// Runs the conversation: `prompt` as the one user turn when given, else
/// turns read line by line from stdin (until end of input). Replies go to
/// stdout as they are generated, each ended by a newline.
llvm::Error runChat(loom::Session &session, const loom::Tokenizer &tokenizer,
                    loom::Sampler &sampler, const ChatFormat &format,
                    const ChatOptions &options,
                    std::optional<std::string> prompt);

} // namespace loomrun

#endif // LOOM_TOOLS_LOOM_RUN_CHAT_H
