//===- Tokenizer.cpp - SentencePiece-style BPE tokenizer ------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// run.c merges by rescanning every adjacent pair after each merge, which is
// quadratic in the text length. This file finds the same merges with a heap
// of candidate pairs ordered by (score, position): the best pair in the heap
// is the best adjacent pair run.c would find, since symbols never change
// order. Pairs made stale by an earlier merge are skipped when popped.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"

#include <limits>
#include <queue>

using namespace llvm;

namespace loom {

/// The byte of a byte piece `<0xNN>`, or nullopt.
static std::optional<uint8_t> parseBytePiece(StringRef piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece.back() != '>')
    return std::nullopt;
  unsigned hi = hexDigitValue(piece[3]), lo = hexDigitValue(piece[4]);
  if (hi == ~0U || lo == ~0U)
    return std::nullopt;
  return uint8_t(hi * 16 + lo);
}

/// Every byte as a one-byte string, for decode to point into.
static const std::array<char, 256> &byteStrings() {
  static const std::array<char, 256> table = [] {
    std::array<char, 256> t;
    for (unsigned b = 0; b < 256; ++b)
      t[b] = char(b);
    return t;
  }();
  return table;
}

/// `byte` as two upper-case hex digits.
static std::string formatByte(uint8_t byte) {
  return utohexstr(byte, /*LowerCase=*/false, /*Width=*/2);
}

//===----------------------------------------------------------------------===//
// Tokenizer
//===----------------------------------------------------------------------===//

Expected<Tokenizer> Tokenizer::create(TokenizerData data) {
  StringRef source = data.source;
  if (source.empty())
    source = "<tokenizer>";
  auto fail = [&](const Twine &message) {
    return createStringError(inconvertibleErrorCode(), source + ": " + message);
  };
  if (!data.model.empty() && data.model != "llama")
    return fail("tokenizer model '" + data.model +
                "' is not supported; Loom's tokenizer implements "
                "SentencePiece BPE ('llama')");
  if (data.pieces.empty())
    return fail("the vocabulary has no pieces");
  if (data.scores.size() != data.pieces.size())
    return fail("the vocabulary has " + Twine(data.pieces.size()) +
                " pieces but " + Twine(data.scores.size()) + " scores");
  int64_t size = int64_t(data.pieces.size());
  if (size > int64_t(std::numeric_limits<int>::max()))
    return fail("the vocabulary has " + Twine(size) + " pieces, too many");
  for (auto [name, id] :
       {std::pair<StringRef, int64_t>("BOS", data.bosId), {"EOS", data.eosId}})
    if (id < 0 || id >= size)
      return fail(name + " id " + Twine(id) + " is outside the vocabulary of " +
                  Twine(size) + " pieces");

  Tokenizer tok;
  tok.source = source.str();
  tok.bos = int(data.bosId);
  tok.eos = int(data.eosId);
  tok.scores = std::move(data.scores);
  tok.pieces = std::move(data.pieces);
  tok.byteTokens.fill(-1);
  for (int id = 0; id < int(size); ++id) {
    std::string &piece = tok.pieces[id];
    // SentencePiece's word-boundary mark always stands for a space.
    if (StringRef(piece).contains("\xE2\x96\x81"))
      piece = join(split(piece, "\xE2\x96\x81"), " ");
    tok.ids.try_emplace(piece, id);
    if (std::optional<uint8_t> byte = parseBytePiece(piece);
        byte && tok.byteTokens[*byte] < 0)
      tok.byteTokens[*byte] = id;
  }
  return std::move(tok);
}

std::optional<int> Tokenizer::lookup(StringRef piece) const {
  auto it = ids.find(piece);
  if (it == ids.end())
    return std::nullopt;
  return it->second;
}

std::optional<int> Tokenizer::byteToken(uint8_t byte) const {
  if (byteTokens[byte] < 0)
    return std::nullopt;
  return byteTokens[byte];
}

namespace {
/// A symbol of the text being merged: a token and its neighbours.
struct Symbol {
  int id;
  int prev, next; ///< indices in the symbol list, -1 at the ends
  bool alive = true;
};

/// Two adjacent symbols whose concatenation is piece `merged`.
struct Candidate {
  float score;
  int left, right;     ///< symbol indices
  int leftId, rightId; ///< their ids when the candidate was made
  int merged;
};

/// Orders a max-heap: higher score first, then the leftmost pair.
struct WorseCandidate {
  bool operator()(const Candidate &a, const Candidate &b) const {
    if (a.score != b.score)
      return a.score < b.score;
    return a.left > b.left;
  }
};
} // namespace

Expected<std::vector<int>> Tokenizer::encode(StringRef text, bool bos,
                                             bool eos) const {
  std::vector<int> tokens;
  tokens.reserve(text.size() + 3);
  if (bos)
    tokens.push_back(this->bos);

  // Appends the piece of `chunk`, or its bytes' pieces.
  auto appendChunk = [&](StringRef chunk, size_t offset) -> Error {
    if (std::optional<int> id = lookup(chunk)) {
      tokens.push_back(*id);
      return Error::success();
    }
    for (auto [i, c] : llvm::enumerate(chunk)) {
      uint8_t byte = uint8_t(c);
      if (byteTokens[byte] < 0)
        return createStringError(
            inconvertibleErrorCode(),
            source + ": the vocabulary has no byte piece <0x" +
                formatByte(byte) + "> for byte 0x" + formatByte(byte) +
                " at offset " + Twine(offset + i) + " of the text");
      tokens.push_back(byteTokens[byte]);
    }
    return Error::success();
  };

  // The dummy prefix: run.c adds the piece " " before a non-empty text.
  if (!text.empty())
    if (Error e = appendChunk(" ", 0))
      return std::move(e);

  // One chunk per UTF-8 character: a byte and up to three continuation
  // bytes after it, whatever the byte (so invalid UTF-8 cuts as in run.c).
  auto isContinuation = [](char c) { return (uint8_t(c) & 0xC0) == 0x80; };
  for (size_t start = 0; start < text.size();) {
    size_t length = 1;
    while (length < 4 && start + length < text.size() &&
           isContinuation(text[start + length]))
      ++length;
    if (Error e = appendChunk(text.substr(start, length), start))
      return std::move(e);
    start += length;
  }

  // Merge the best pair until none is a piece.
  std::vector<Symbol> symbols;
  symbols.reserve(tokens.size());
  for (auto [i, id] : llvm::enumerate(tokens))
    symbols.push_back(
        {id, int(i) - 1, i + 1 < tokens.size() ? int(i) + 1 : -1});
  std::priority_queue<Candidate, std::vector<Candidate>, WorseCandidate> heap;
  std::string joined;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0)
      return;
    int leftId = symbols[left].id, rightId = symbols[right].id;
    joined.assign(pieces[leftId]);
    joined += pieces[rightId];
    std::optional<int> merged = lookup(joined);
    // run.c only takes a merge whose score beats its initial -1e10.
    if (!merged || !(scores[*merged] > -1e10f))
      return;
    heap.push({scores[*merged], left, right, leftId, rightId, *merged});
  };
  for (int i = 0; i + 1 < int(symbols.size()); ++i)
    consider(i, i + 1);
  while (!heap.empty()) {
    Candidate best = heap.top();
    heap.pop();
    Symbol &left = symbols[best.left];
    Symbol &right = symbols[best.right];
    if (!left.alive || !right.alive || left.next != best.right ||
        left.id != best.leftId || right.id != best.rightId)
      continue; // made stale by an earlier merge
    left.id = best.merged;
    left.next = right.next;
    if (right.next >= 0)
      symbols[right.next].prev = best.left;
    right.alive = false;
    consider(left.prev, best.left);
    consider(best.left, left.next);
  }

  std::vector<int> result;
  result.reserve(symbols.size() + 1);
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next)
    result.push_back(symbols[i].id);
  if (eos)
    result.push_back(this->eos);
  return std::move(result);
}

Expected<StringRef> Tokenizer::decode(int prevToken, int token) const {
  if (token < 0 || token >= vocabSize())
    return createStringError(inconvertibleErrorCode(),
                             source + ": token id " + Twine(token) +
                                 " is outside the vocabulary of " +
                                 Twine(vocabSize()) + " pieces");
  StringRef text = pieces[token];
  // SentencePiece drops the space that starts the first word.
  if (prevToken == bos)
    text.consume_front(" ");
  if (std::optional<uint8_t> byte = parseBytePiece(text))
    return StringRef(&byteStrings()[*byte], 1);
  return text;
}

StringRef Tokenizer::printable(StringRef piece) {
  // run.c prints with printf("%s"): nothing after a NUL byte.
  piece = piece.take_until([](char c) { return c == '\0'; });
  if (piece.size() != 1)
    return piece;
  // isprint / isspace in the C locale, which run.c runs in.
  uint8_t byte = uint8_t(piece.front());
  bool isPrint = byte >= 0x20 && byte < 0x7F;
  bool isSpace = byte == ' ' || (byte >= '\t' && byte <= '\r');
  return isPrint || isSpace ? piece : StringRef();
}

Expected<std::string> Tokenizer::detokenize(ArrayRef<int> sequence,
                                            bool rawBytes) const {
  std::string text;
  if (sequence.empty())
    return text + Detokenizer::finish().str();
  Detokenizer stream(*this, sequence.front(), rawBytes);
  for (int token : sequence.drop_front()) {
    Expected<StringRef> piece = stream.push(token);
    if (!piece)
      return piece.takeError();
    if (stream.stopped())
      break;
    text += *piece;
  }
  text += Detokenizer::finish();
  return std::move(text);
}

//===----------------------------------------------------------------------===//
// Detokenizer
//===----------------------------------------------------------------------===//

Expected<StringRef> Detokenizer::push(int token) {
  if (isStopped || token == tokenizer.bosId()) {
    isStopped = true;
    return StringRef();
  }
  Expected<StringRef> piece = tokenizer.decode(prev, token);
  if (!piece)
    return piece.takeError();
  prev = token;
  return rawBytes ? *piece : Tokenizer::printable(*piece);
}

} // namespace loom
