//===- PreTokenizer.h - byte-level BPE pre-tokenizers -----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Before byte-level BPE merges anything, the text is cut into chunks that
// merges never cross. Each vocabulary family cuts differently; a GGUF file
// names its way in `tokenizer.ggml.pre` (`gpt-2`, `llama-bpe`, `smollm`,
// `falcon`, `qwen2`, ...). A pre-tokenizer here is the sequence of regular
// expressions that family's Hugging Face tokenizer applies (as llama.cpp
// lists them per name), matched with PCRE2 in Unicode mode: each expression
// splits every chunk the previous ones left into its matches and the text
// between them, and a match sees only its own chunk (a lookahead stops at
// the chunk's end).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_PRETOKENIZER_H
#define LOOM_RUNTIME_PRETOKENIZER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace loom {

class PreTokenizer {
public:
  /// The pre-tokenizer GGUF's `tokenizer.ggml.pre` calls `name`; an empty
  /// name is llama.cpp's `default`. Fails, listing the known names, for
  /// one Loom does not know.
  static llvm::Expected<PreTokenizer> forName(llvm::StringRef name);

  /// A pre-tokenizer of the given expressions (PCRE2 syntax, Unicode
  /// classes), applied in order; `<gpt-2>` stands for gpt2Expression().
  /// `name` is for messages. Fails, naming the expression and the offset,
  /// when one does not compile.
  static llvm::Expected<PreTokenizer>
  fromExpressions(llvm::StringRef name, llvm::ArrayRef<std::string> expressions,
                  bool wholePieces = false);

  /// The expressions of GPT-2's own pre-tokenizer (Hugging Face's
  /// `ByteLevel` with `use_regex`).
  static llvm::StringRef gpt2Expression();

  /// Every name forName knows.
  static std::vector<llvm::StringRef> knownNames();

  /// `text` cut into chunks: non-empty, in order, concatenating to `text`.
  /// Bytes that are not valid UTF-8 never match an expression and end up
  /// in the chunks between matches.
  std::vector<llvm::StringRef> split(llvm::StringRef text) const;

  llvm::StringRef name() const { return preName; }

  /// Whether a chunk that is a piece of the vocabulary is taken whole,
  /// without merges (llama.cpp's `ignore_merges`, set for Llama 3).
  bool takesWholePieces() const { return wholePieces; }

private:
  struct Pattern;
  std::string preName;
  bool wholePieces = false;
  /// Compiled expressions, shared between copies (immutable once made).
  std::vector<std::shared_ptr<const Pattern>> patterns;
};

} // namespace loom

#endif // LOOM_RUNTIME_PRETOKENIZER_H
