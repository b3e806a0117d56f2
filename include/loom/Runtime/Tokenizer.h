//===- Tokenizer.h - SentencePiece-style BPE tokenizer ----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The tokenizer of Llama-family models: byte-pair merges driven by piece
// scores, with byte fallback (SentencePiece `BPE` with `byte_fallback`), as
// llama2.c's run.c implements it. `encode` and `decode` reproduce run.c's
// `encode` and `decode` token for token and byte for byte; `Detokenizer`
// reproduces what run.c prints during generation (its `safe_printf` and the
// final newline), so Loom's output can be compared with run.c's.
//
// Where run.c has undefined or surprising behaviour, this implementation
// chooses the following (see also each function's comment):
//   - a NUL byte in the text is an ordinary byte (run.c stops at it);
//   - a vocabulary without a " " piece spells the dummy prefix with the byte
//     piece <0x20> (run.c would emit the invalid id -1);
//   - a byte piece is exactly `<0xNN>` (run.c's sscanf also takes `<0xA`);
//   - when several ids share a piece, lookups find the lowest id (run.c's
//     bsearch finds any of them).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_TOKENIZER_H
#define LOOM_RUNTIME_TOKENIZER_H

#include "loom/Frontend/ModelFile.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace loom {

/// A SentencePiece-style BPE tokenizer with byte fallback, compatible with
/// llama2.c's run.c. Immutable once built; safe to share between threads.
class Tokenizer {
public:
  /// Builds a tokenizer from a vocabulary: GGUF's (`ModelFile::tokenizer`)
  /// or a llama2.c `tokenizer.bin` (`readLlama2CTokenizer`). Pieces may
  /// spell spaces as ' ' or as SentencePiece's U+2581; both become ' '.
  /// Fails when the vocabulary is empty, is not a SentencePiece one (`model`
  /// neither `llama` nor empty), lacks a score per piece, or names BOS/EOS
  /// ids outside it.
  static llvm::Expected<Tokenizer> create(TokenizerData data);

  /// The token ids of `text`, as run.c's `encode(text, bos, eos)`: BOS if
  /// `bos`; the id of " " (the dummy prefix) if `text` is non-empty; each
  /// UTF-8 character's piece, or its bytes' `<0xNN>` pieces when the
  /// character is no piece; then, repeatedly, the adjacent pair whose
  /// concatenation is the piece of highest score (the leftmost on ties;
  /// scores must exceed -1e10) is merged; finally EOS if `eos`. Invalid
  /// UTF-8 is cut into characters as run.c does (a byte and up to three
  /// continuation bytes) and falls back to bytes. Fails, naming the byte,
  /// when a needed byte piece is missing from the vocabulary.
  llvm::Expected<std::vector<int>> encode(llvm::StringRef text, bool bos,
                                          bool eos = false) const;

  /// The bytes of `token` when it follows `prevToken`, as run.c's `decode`:
  /// the piece, without its leading space after BOS, and a byte piece
  /// `<0xNN>` as the raw byte. Fails when `token` is outside the vocabulary.
  llvm::Expected<llvm::StringRef> decode(int prevToken, int token) const;

  /// What run.c's `safe_printf` prints of a decoded piece: the piece up to
  /// its first NUL byte, or nothing when that is one byte that is neither
  /// printable nor white space in the C locale (a lone control byte, or a
  /// byte of a multi-byte UTF-8 character spelled with byte pieces).
  static llvm::StringRef printable(llvm::StringRef piece);

  /// run.c's whole output for a sequence of ids whose first is the token at
  /// position 0 (normally BOS): what a `Detokenizer` streams for
  /// `sequence[1..]`, then `Detokenizer::finish()`.
  llvm::Expected<std::string> detokenize(llvm::ArrayRef<int> sequence,
                                         bool rawBytes = false) const;

  /// The number of pieces.
  int vocabSize() const { return int(pieces.size()); }
  /// The text of piece `id` (spaces as ' '); `id` must be in range.
  llvm::StringRef piece(int id) const { return pieces[id]; }
  /// The merge score of piece `id`; `id` must be in range.
  float score(int id) const { return scores[id]; }
  /// The id of `piece` (the lowest one when several share it), if any.
  std::optional<int> lookup(llvm::StringRef piece) const;
  /// The id of the byte piece `<0xNN>` for `byte`, if the vocabulary has it.
  std::optional<int> byteToken(uint8_t byte) const;
  int bosId() const { return bos; }
  int eosId() const { return eos; }

private:
  Tokenizer() = default;

  std::vector<std::string> pieces;
  std::vector<float> scores;
  llvm::StringMap<int> ids;
  /// The id of `<0xNN>` per byte, or -1.
  std::array<int, 256> byteTokens;
  int bos = 1, eos = 2;
  std::string source;
};

/// Turns generated tokens into the text to print, one token at a time, the
/// way run.c's generation loop prints: `decode(prev, next)` through
/// `Tokenizer::printable`, nothing from BOS on (run.c stops there), and a
/// newline at the end. It refers to the tokenizer, which must outlive it.
///
/// \code
///   Detokenizer out(tokenizer, tokenizer.bosId());
///   while (...) {
///     llvm::Expected<llvm::StringRef> text = out.push(next);
///     if (!text) return text.takeError();
///     if (out.stopped()) break;
///     llvm::outs() << *text;
///   }
///   llvm::outs() << Detokenizer::finish();
/// \endcode
class Detokenizer {
public:
  /// Starts after `firstToken`, the token at position 0. With `rawBytes`,
  /// `push` returns decoded pieces unfiltered (so UTF-8 spelled with byte
  /// pieces survives) instead of what run.c prints.
  Detokenizer(const Tokenizer &tokenizer, int firstToken, bool rawBytes = false)
      : tokenizer(tokenizer), prev(firstToken), rawBytes(rawBytes) {}

  /// The text to print for the next token. BOS stops the stream: it and
  /// every later token print nothing. Fails on an id outside the vocabulary.
  llvm::Expected<llvm::StringRef> push(int token);

  /// Whether BOS has been pushed (run.c's generation loop ends there).
  bool stopped() const { return isStopped; }

  /// What run.c prints once generation ends: a newline.
  static llvm::StringRef finish() { return "\n"; }

private:
  const Tokenizer &tokenizer;
  int prev;
  bool rawBytes;
  bool isStopped = false;
};

} // namespace loom

#endif // LOOM_RUNTIME_TOKENIZER_H
