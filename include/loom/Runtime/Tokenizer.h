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
// It also implements GPT-2-style byte-level BPE (GGUF `tokenizer.ggml.model`
// `gpt2`: GPT-2, Llama 3, Qwen2, SmolLM, Falcon): special tokens matched
// whole, pre-tokenization by the vocabulary's own expressions
// (PreTokenizer.h), bytes spelled in GPT-2's byte-to-unicode alphabet, and
// merges applied by rank (their index in `TokenizerData::merges`).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_TOKENIZER_H
#define LOOM_RUNTIME_TOKENIZER_H

#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/PreTokenizer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
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
  /// `llama` or empty), a byte-level one (`gpt2`) or a WordPiece one
  /// (`bert`; GGUF's phantom-space pieces are read back), lacks a score
  /// per piece (SentencePiece only; `gpt2` scores are optional), or names
  /// BOS/EOS ids outside it.
  ///
  /// For `gpt2`, pieces are kept in GPT-2's byte-to-unicode form (as GGUF
  /// stores them: bytes 33..126, 161..172 and 174..255 are themselves, the
  /// other 68 bytes are U+0100.. in order) and `merges` ("left right", in
  /// that form) rank the merges by their index. Merges naming pieces
  /// outside the vocabulary are ignored.
  static llvm::Expected<Tokenizer> create(TokenizerData data);

  /// As create, for a model of `modelVocab` tokens: fails, naming the
  /// vocabulary's source and both sizes, unless its pieces are exactly the
  /// model's tokens.
  static llvm::Expected<Tokenizer> create(TokenizerData data,
                                          int64_t modelVocab);

  /// The token ids of `text`, as run.c's `encode(text, bos, eos)`: BOS if
  /// `bos`; the id of " " (the dummy prefix) if `text` is non-empty; each
  /// UTF-8 character's piece, or its bytes' `<0xNN>` pieces when the
  /// character is no piece; then, repeatedly, the adjacent pair whose
  /// concatenation is the piece of highest score (the leftmost on ties;
  /// scores must exceed -1e10) is merged; finally EOS if `eos`. Invalid
  /// UTF-8 is cut into characters as run.c does (a byte and up to three
  /// continuation bytes) and falls back to bytes. Fails, naming the byte,
  /// when a needed byte piece is missing from the vocabulary.
  ///
  /// With `parseSpecial`, a SentencePiece vocabulary's control and
  /// user-defined tokens (token types 3 and 4) spelled in the text become
  /// their ids, as llama.cpp tokenizes them: the text between them is
  /// encoded as above, each part with the dummy prefix (llama.cpp's
  /// add_space_prefix after a special token), and Phi-3's special tokens
  /// drop the whitespace after them.
  ///
  /// For a byte-level (`gpt2`) tokenizer: BOS if `bos`; the text cut at
  /// special tokens spelled in it (user-defined ones always, control ones
  /// such as `<|im_start|>` with `parseSpecial`: the longest at the
  /// leftmost place), each becoming its id; the text between them split
  /// into chunks by the vocabulary's pre-tokenizer, each chunk's bytes as
  /// byte-level pieces, merged by lowest merge rank (the leftmost pair on
  /// ties); EOS if `eos`. No dummy prefix.
  ///
  /// For a WordPiece (`bert`) tokenizer, as Hugging Face's `tokenizers`
  /// encodes with BertNormalizer, BertPreTokenizer and WordPiece: [CLS] if
  /// `bos`; the special tokens spelled in the text (with `parseSpecial`) as
  /// their ids; the text between them cleaned of control characters, CJK
  /// ideographs spaced apart, accents stripped and lowercased as the
  /// vocabulary says, split at white space and punctuation, each word the
  /// longest vocabulary pieces from its start (`##` pieces after the first),
  /// or [UNK] where a word cannot be spelled so; [SEP] if `eos`.
  llvm::Expected<std::vector<int>> encode(llvm::StringRef text, bool bos,
                                          bool eos = false,
                                          bool parseSpecial = true) const;

  /// The text of a special token (control or user-defined), which
  /// `decode` prints as nothing or as itself:
  /// for showing ids as text, e.g. `<|im_end|>`.
  std::optional<llvm::StringRef> specialText(int id) const {
    for (const Special &s : specials)
      if (s.id == id)
        return llvm::StringRef(s.text);
    return std::nullopt;
  }

  /// Whether a prompt starts with BOS: what the file says
  /// (`tokenizer.ggml.add_bos_token`), else yes for SentencePiece and no for
  /// byte-level BPE (as GPT-2's own tokenizer).
  bool addsBos() const { return addBos; }

  /// The bytes of `token` when it follows `prevToken`, as run.c's `decode`:
  /// the piece, without its leading space after BOS, and a byte piece
  /// `<0xNN>` as the raw byte. Fails when `token` is outside the vocabulary.
  /// For a byte-level tokenizer: the piece's bytes through the inverse byte
  /// alphabet (characters outside it stay as they are), nothing for a
  /// control token (token type 3), a user-defined token's (type 4) text
  /// verbatim; no space is stripped after BOS.
  llvm::Expected<llvm::StringRef> decode(int prevToken, int token) const;

  /// A byte-level tokenizer's pre-tokenizer (null for SentencePiece).
  const PreTokenizer *preTokenizer() const { return pre ? &*pre : nullptr; }

  /// Whether this is a byte-level BPE (`gpt2`) tokenizer.
  bool isByteLevel() const { return byteLevel; }
  /// Whether this is a WordPiece (`bert`) tokenizer.
  bool isWordPiece() const { return wordPiece.has_value(); }
  /// Whether a sequence ends with EOS (a WordPiece template's [SEP]).
  bool addsEos() const { return isWordPiece(); }

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

  /// The text of `ids` as `loom-run --detokenize` prints it: a leading BOS
  /// prints nothing where prompts start with one, special tokens print as
  /// they are spelled (`<|im_end|>`), byte pieces as their bytes. Fails on
  /// an id outside the vocabulary.
  llvm::Expected<std::string> decodeText(llvm::ArrayRef<int> ids) const;

  /// The number of pieces.
  int vocabSize() const { return int(pieces.size()); }
  /// The text of piece `id` (spaces as ' '; byte-level pieces in GPT-2's
  /// byte-to-unicode form); `id` must be in range.
  llvm::StringRef piece(int id) const { return pieces[id]; }
  /// The merge score of piece `id`; `id` must be in range.
  float score(int id) const { return scores[id]; }
  /// The id of `piece` (the lowest one when several share it), if any.
  std::optional<int> lookup(llvm::StringRef piece) const;
  /// The id of the byte piece `<0xNN>` for `byte` (for a byte-level
  /// tokenizer, the one-character piece spelling `byte`), if any.
  std::optional<int> byteToken(uint8_t byte) const;
  int bosId() const { return bos; }
  int eosId() const { return eos; }

private:
  Tokenizer() = default;
  static llvm::Expected<Tokenizer> createByteLevel(TokenizerData data,
                                                   llvm::StringRef source);
  llvm::Expected<std::vector<int>> encodeByteLevel(llvm::StringRef text,
                                                   bool bos, bool eos,
                                                   bool parseSpecial) const;
  static llvm::Expected<Tokenizer> createWordPiece(TokenizerData data,
                                                   llvm::StringRef source);
  /// Whether the vocabulary's size fits an int, its scores (where given,
  /// or `needScores`) and token types (where given) are one per piece, and
  /// each of `ids` (named) lies in it; else an error naming `source`.
  static llvm::Error
  checkVocabulary(const TokenizerData &data, llvm::StringRef source,
                  llvm::ArrayRef<std::pair<llvm::StringRef, int64_t>> ids,
                  bool needScores = false);
  /// Hugging Face's BertNormalizer, BertPreTokenizer and WordPiece on
  /// `text` (no special tokens in it), appended to `out`.
  void encodeWordPiece(llvm::StringRef text, std::vector<int> &out) const;

  std::vector<std::string> pieces;
  std::vector<float> scores;
  llvm::StringMap<int> ids;
  /// The id of `<0xNN>` per byte, or -1.
  std::array<int, 256> byteTokens;
  int bos = 1, eos = 2;
  bool addBos = true;
  std::string source;
  /// Byte-level (`gpt2`) state: whether this is one, each piece's decoded
  /// bytes, and the merges keyed by (left id << 32 | right id) with their
  /// rank and merged id.
  bool byteLevel = false;
  std::optional<PreTokenizer> pre;
  /// Special tokens (text, id, whether control), longest first.
  struct Special {
    std::string text;
    int id;
    bool control;
    /// Whitespace after it is dropped (llama.cpp's RSTRIP attribute, which
    /// it gives Phi-3's special tokens).
    bool rstrip = false;
  };
  /// The text cut at the special tokens spelled in it (user-defined ones
  /// always, control ones with `parseSpecial`: the longest at the leftmost
  /// place): the text before each special token and its id, then the rest
  /// and -1.
  std::vector<std::pair<llvm::StringRef, int>>
  splitAtSpecials(llvm::StringRef text, bool parseSpecial) const;
  /// run.c's encoding of `text` (no BOS or EOS), the dummy prefix first
  /// when `prefix`, appended to `out`.
  llvm::Error encodeSentencePiece(llvm::StringRef text, bool prefix,
                                  std::vector<int> &out) const;
  std::vector<Special> specials;
  /// WordPiece (`bert`) state: its settings, and the id of [UNK].
  std::optional<TokenizerData::WordPieceOptions> wordPiece;
  int unk = 0;
  std::vector<std::string> decoded;
  llvm::DenseMap<uint64_t, std::pair<int, int>> merges;
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
  /// pieces survives) instead of what run.c prints. A byte-level tokenizer's
  /// pieces are always returned unfiltered.
  Detokenizer(const Tokenizer &tokenizer, int firstToken, bool rawBytes = false)
      : tokenizer(tokenizer), prev(firstToken), rawBytes(rawBytes) {}

  /// The text to print for the next token. BOS stops the stream (as in
  /// run.c; not for a byte-level tokenizer, whose BOS is a control token
  /// printing nothing): it and every later token print nothing. Fails on
  /// an id outside the vocabulary.
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
