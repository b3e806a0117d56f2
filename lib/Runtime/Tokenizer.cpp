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

Expected<Tokenizer> Tokenizer::create(TokenizerData data, int64_t modelVocab) {
  std::string source = data.source.empty() ? "<tokenizer>" : data.source;
  Expected<Tokenizer> tokenizer = create(std::move(data));
  if (tokenizer && tokenizer->vocabSize() != modelVocab)
    return createStringError(
        inconvertibleErrorCode(),
        source + ": the vocabulary has " + Twine(tokenizer->vocabSize()) +
            " pieces, the model " + Twine(modelVocab) + " tokens");
  return tokenizer;
}

Expected<Tokenizer> Tokenizer::create(TokenizerData data) {
  StringRef source = data.source;
  if (source.empty())
    source = "<tokenizer>";
  auto fail = [&](const Twine &message) {
    return createStringError(inconvertibleErrorCode(), source + ": " + message);
  };
  if (!data.model.empty() && data.model != "llama" && data.model != "gpt2" &&
      data.model != "bert")
    return fail("tokenizer model '" + data.model +
                "' is not supported; Loom's tokenizer implements "
                "SentencePiece BPE ('llama'), byte-level BPE ('gpt2') and "
                "WordPiece ('bert')");
  if (data.pieces.empty())
    return fail("the vocabulary has no pieces");
  if (data.model == "gpt2" || data.model == "bert") {
    // `source` may point into `data`, which moves.
    std::string sourceName = source.str();
    return data.model == "gpt2" ? createByteLevel(std::move(data), sourceName)
                                : createWordPiece(std::move(data), sourceName);
  }
  if (Error e = checkVocabulary(data, source,
                                {{"BOS", data.bosId}, {"EOS", data.eosId}},
                                /*needScores=*/true))
    return std::move(e);
  int64_t size = int64_t(data.pieces.size());

  Tokenizer tok;
  tok.source = source.str();
  tok.addBos = data.addBos.value_or(true);
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
    int32_t type = data.tokenTypes.empty() ? 1 : data.tokenTypes[id];
    if ((type == 3 || type == 4) && !piece.empty()) {
      bool rstrip = data.stripAfterSpecials &&
                    !is_contained({"<unk>", "<s>", "<|endoftext|>"}, piece);
      tok.specials.push_back({piece, id, type == 3, rstrip});
    }
  }
  llvm::sort(tok.specials, [](const Special &a, const Special &b) {
    return a.text.size() != b.text.size() ? a.text.size() > b.text.size()
                                          : a.id < b.id;
  });
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
  double priority;     ///< the merge with the highest priority goes first
  int left, right;     ///< symbol indices
  int leftId, rightId; ///< their ids when the candidate was made
  int merged;
};

/// Orders a max-heap: highest priority first, then the leftmost pair.
struct WorseCandidate {
  bool operator()(const Candidate &a, const Candidate &b) const {
    if (a.priority != b.priority)
      return a.priority < b.priority;
    return a.left > b.left;
  }
};

/// The key of the pair (leftId, rightId) in Tokenizer::merges.
uint64_t mergeKey(int leftId, int rightId) {
  return (uint64_t(uint32_t(leftId)) << 32) | uint32_t(rightId);
}

/// A merge of two adjacent ids: its priority and the merged id.
struct Merge {
  double priority;
  int merged;
};

/// Merges adjacent symbols, best first, until no adjacent pair merges, then
/// appends the surviving ids to `result`. `findMerge(leftId, rightId)` returns
/// the merge of a pair, or nothing where the pair does not merge.
template <typename FindMerge>
void mergeSymbols(std::vector<Symbol> &symbols, FindMerge findMerge,
                  std::vector<int> &result) {
  std::priority_queue<Candidate, std::vector<Candidate>, WorseCandidate> heap;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0)
      return;
    int leftId = symbols[left].id, rightId = symbols[right].id;
    if (std::optional<Merge> merge = findMerge(leftId, rightId))
      heap.push({merge->priority, left, right, leftId, rightId, merge->merged});
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
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next)
    result.push_back(symbols[i].id);
}
} // namespace

Expected<std::vector<int>> Tokenizer::encode(StringRef text, bool bos, bool eos,
                                             bool parseSpecial) const {
  if (byteLevel)
    return encodeByteLevel(text, bos, eos, parseSpecial);
  std::vector<int> result;
  result.reserve(text.size() + 3);
  if (bos)
    result.push_back(this->bos);
  if (wordPiece) {
    for (auto [part, special] : splitAtSpecials(text, parseSpecial)) {
      encodeWordPiece(part, result);
      if (special >= 0)
        result.push_back(special);
    }
  } else if (!parseSpecial || specials.empty()) {
    if (Error e = encodeSentencePiece(text, /*prefix=*/true, result))
      return std::move(e);
  } else {
    // Every part of the text after a special token (or at the start) gets
    // the dummy prefix, as llama.cpp's add_space_prefix does.
    bool strip = false; // the special token before drops whitespace
    for (auto [part, special] : splitAtSpecials(text, parseSpecial)) {
      StringRef rest = strip ? part.ltrim(" \t\n\v\f\r") : part;
      if (Error e = encodeSentencePiece(rest, /*prefix=*/true, result))
        return std::move(e);
      if (special < 0)
        break;
      result.push_back(special);
      int id = special;
      strip = llvm::any_of(
          specials, [&](const Special &s) { return s.id == id && s.rstrip; });
    }
  }
  if (eos)
    result.push_back(this->eos);
  return std::move(result);
}

std::vector<std::pair<StringRef, int>>
Tokenizer::splitAtSpecials(StringRef text, bool parseSpecial) const {
  std::vector<std::pair<StringRef, int>> parts;
  size_t begin = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Special *found = nullptr;
    for (const Special &special : specials)
      if ((parseSpecial || !special.control) &&
          text.substr(pos).starts_with(special.text)) {
        found = &special;
        break;
      }
    if (!found) {
      ++pos;
      continue;
    }
    parts.push_back({text.slice(begin, pos), found->id});
    pos += found->text.size();
    begin = pos;
  }
  parts.push_back({text.drop_front(begin), -1});
  return parts;
}

Error Tokenizer::encodeSentencePiece(StringRef text, bool prefix,
                                     std::vector<int> &out) const {
  std::vector<int> tokens;
  tokens.reserve(text.size() + 1);

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
  if (prefix && !text.empty())
    if (Error e = appendChunk(" ", 0))
      return e;

  // One chunk per UTF-8 character: a byte and up to three continuation
  // bytes after it, whatever the byte (so invalid UTF-8 cuts as in run.c).
  auto isContinuation = [](char c) { return (uint8_t(c) & 0xC0) == 0x80; };
  for (size_t start = 0; start < text.size();) {
    size_t length = 1;
    while (length < 4 && start + length < text.size() &&
           isContinuation(text[start + length]))
      ++length;
    if (Error e = appendChunk(text.substr(start, length), start))
      return e;
    start += length;
  }

  // Merge the best pair until none is a piece.
  std::vector<Symbol> symbols;
  symbols.reserve(tokens.size());
  for (auto [i, id] : llvm::enumerate(tokens))
    symbols.push_back(
        {id, int(i) - 1, i + 1 < tokens.size() ? int(i) + 1 : -1});
  // Sentencepiece-style: the merge whose piece scores highest goes first.
  std::string joined;
  auto findMerge = [&](int leftId, int rightId) -> std::optional<Merge> {
    joined.assign(pieces[leftId]);
    joined += pieces[rightId];
    std::optional<int> merged = lookup(joined);
    // run.c only takes a merge whose score beats its initial -1e10.
    if (!merged || !(scores[*merged] > -1e10f))
      return std::nullopt;
    return Merge{scores[*merged], *merged};
  };
  mergeSymbols(symbols, findMerge, out);
  return Error::success();
}

Expected<StringRef> Tokenizer::decode(int prevToken, int token) const {
  if (token < 0 || token >= vocabSize())
    return createStringError(inconvertibleErrorCode(),
                             source + ": token id " + Twine(token) +
                                 " is outside the vocabulary of " +
                                 Twine(vocabSize()) + " pieces");
  if (byteLevel)
    return StringRef(decoded[token]);
  if (wordPiece) {
    // Words are spaced apart, but for the first.
    StringRef text = decoded[token];
    if (prevToken == bos)
      text.consume_front(" ");
    return text;
  }
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

Expected<std::string> Tokenizer::decodeText(ArrayRef<int> ids) const {
  std::string text;
  int prev = bosId();
  for (auto [i, id] : llvm::enumerate(ids)) {
    if (i == 0 && id == bosId() && addsBos())
      continue;
    Expected<StringRef> piece = decode(prev, id);
    if (!piece)
      return piece.takeError();
    // Special tokens show as what they spell (generation prints none).
    std::optional<StringRef> special = specialText(id);
    text += special ? *special : *piece;
    prev = id;
  }
  return std::move(text);
}

//===----------------------------------------------------------------------===//
// Byte-level BPE (gpt2)
//===----------------------------------------------------------------------===//

/// GPT-2's byte-to-unicode alphabet: the code point that spells each byte.
static const std::array<uint32_t, 256> &byteAlphabet() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t;
    uint32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                  (b >= 174 && b <= 255);
      t[b] = self ? b : next++;
    }
    return t;
  }();
  return table;
}

/// The code point starting at `text[pos]` and its length in bytes. An
/// invalid, truncated or overlong sequence is one byte, with code point
/// ~0U.
static std::pair<uint32_t, size_t> nextCodePoint(StringRef text, size_t pos) {
  uint8_t b0 = uint8_t(text[pos]);
  if (b0 < 0x80)
    return {b0, 1};
  size_t length;
  uint32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {~0U, 1};
  }
  if (pos + length > text.size())
    return {~0U, 1};
  for (size_t i = 1; i < length; ++i) {
    uint8_t b = uint8_t(text[pos + i]);
    if ((b & 0xC0) != 0x80)
      return {~0U, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return {~0U, 1};
  return {cp, length};
}

/// Appends the UTF-8 spelling of code point `cp`.
static void appendCodePoint(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

Error Tokenizer::checkVocabulary(const TokenizerData &data, StringRef source,
                                 ArrayRef<std::pair<StringRef, int64_t>> ids,
                                 bool needScores) {
  auto fail = [&](const Twine &message) {
    return createStringError(inconvertibleErrorCode(), source + ": " + message);
  };
  int64_t size = int64_t(data.pieces.size());
  if (size > int64_t(std::numeric_limits<int>::max()))
    return fail("the vocabulary has " + Twine(size) + " pieces, too many");
  if ((needScores || !data.scores.empty()) &&
      data.scores.size() != data.pieces.size())
    return fail("the vocabulary has " + Twine(data.pieces.size()) +
                " pieces but " + Twine(data.scores.size()) + " scores");
  if (!data.tokenTypes.empty() && data.tokenTypes.size() != data.pieces.size())
    return fail("the vocabulary has " + Twine(data.pieces.size()) +
                " pieces but " + Twine(data.tokenTypes.size()) +
                " token types");
  for (auto [name, id] : ids)
    if (id < 0 || id >= size)
      return fail(name + " id " + Twine(id) + " is outside the vocabulary of " +
                  Twine(size) + " pieces");
  return Error::success();
}

Expected<Tokenizer> Tokenizer::createByteLevel(TokenizerData data,
                                               StringRef source) {
  if (Error e = checkVocabulary(data, source,
                                {{"BOS", data.bosId}, {"EOS", data.eosId}}))
    return std::move(e);
  int64_t size = int64_t(data.pieces.size());

  // The inverse alphabet: code point -> byte.
  DenseMap<uint32_t, uint8_t> byteOf;
  for (unsigned b = 0; b < 256; ++b)
    byteOf[byteAlphabet()[b]] = uint8_t(b);

  Expected<PreTokenizer> pre = data.preExpressions.empty()
                                   ? PreTokenizer::forName(data.pre)
                                   : PreTokenizer::fromExpressions(
                                         "tokenizer.json", data.preExpressions);
  if (!pre)
    return createStringError(inconvertibleErrorCode(),
                             source + ": " + toString(pre.takeError()));

  Tokenizer tok;
  tok.source = source.str();
  tok.byteLevel = true;
  tok.pre = std::move(*pre);
  // Byte-level vocabularies (GPT-2's) start no prompt with BOS unless the
  // file says so (Llama 3's does).
  tok.addBos = data.addBos.value_or(false);
  tok.bos = int(data.bosId);
  tok.eos = int(data.eosId);
  tok.scores = std::move(data.scores);
  if (tok.scores.empty())
    tok.scores.assign(size, 0.0f);
  tok.pieces = std::move(data.pieces);
  tok.byteTokens.fill(-1);
  tok.decoded.resize(size);
  for (int id = 0; id < int(size); ++id) {
    StringRef piece = tok.pieces[id];
    tok.ids.try_emplace(piece, id);
    int32_t type = data.tokenTypes.empty() ? 1 : data.tokenTypes[id];
    if (type == 3 || type == 4)
      if (!piece.empty())
        tok.specials.push_back({piece.str(), id, type == 3});
    if (type == 3) // control: prints nothing
      continue;
    if (type == 4) { // user-defined: its text as it is
      tok.decoded[id] = piece.str();
      continue;
    }
    std::string &out = tok.decoded[id];
    for (size_t pos = 0; pos < piece.size();) {
      auto [cp, length] = nextCodePoint(piece, pos);
      auto it = cp == ~0U ? byteOf.end() : byteOf.find(cp);
      if (it != byteOf.end())
        out += char(it->second);
      else
        out += piece.substr(pos, length);
      pos += length;
    }
    // A one-character piece in the alphabet spells a byte.
    auto [cp, length] = piece.empty() ? std::pair<uint32_t, size_t>(~0U, 0)
                                      : nextCodePoint(piece, 0);
    if (length == piece.size() && cp != ~0U)
      if (auto it = byteOf.find(cp);
          it != byteOf.end() && tok.byteTokens[it->second] < 0)
        tok.byteTokens[it->second] = id;
  }

  llvm::sort(tok.specials, [](const Special &a, const Special &b) {
    return a.text.size() != b.text.size() ? a.text.size() > b.text.size()
                                          : a.id < b.id;
  });

  for (auto [rank, merge] : llvm::enumerate(data.merges)) {
    auto [left, right] = StringRef(merge).split(' ');
    if (left.empty() || right.empty() || rank > size_t(INT32_MAX))
      continue;
    std::optional<int> leftId = tok.lookup(left), rightId = tok.lookup(right);
    std::optional<int> mergedId = tok.lookup((left + right).str());
    if (!leftId || !rightId || !mergedId)
      continue;
    tok.merges.try_emplace(mergeKey(*leftId, *rightId), int(rank), *mergedId);
  }
  return std::move(tok);
}

Expected<std::vector<int>> Tokenizer::encodeByteLevel(StringRef text, bool bos,
                                                      bool eos,
                                                      bool parseSpecial) const {
  std::vector<int> result;
  result.reserve(text.size() + 2);
  if (bos)
    result.push_back(this->bos);

  // BPE-style: the pair with the lowest merge rank goes first.
  auto findMerge = [&](int leftId, int rightId) -> std::optional<Merge> {
    auto it = merges.find(mergeKey(leftId, rightId));
    if (it == merges.end())
      return std::nullopt;
    return Merge{-double(it->second.first), it->second.second};
  };

  // The text between special tokens, in order, with the special token
  // after it (-1 after the last).
  std::vector<std::pair<StringRef, int>> segments =
      splitAtSpecials(text, parseSpecial);

  std::vector<Symbol> symbols;
  size_t chunkOffset = 0;
  std::string spelled;
  for (auto [segment, special] : segments) {
    for (StringRef chunk : pre->split(segment)) {
      // Llama 3 takes a chunk that is a piece whole.
      if (pre->takesWholePieces()) {
        spelled.clear();
        for (char c : chunk)
          appendCodePoint(spelled, byteAlphabet()[uint8_t(c)]);
        if (std::optional<int> id = lookup(spelled)) {
          result.push_back(*id);
          chunkOffset += chunk.size();
          continue;
        }
      }
      symbols.clear();
      for (auto [i, c] : llvm::enumerate(chunk)) {
        uint8_t byte = uint8_t(c);
        if (byteTokens[byte] < 0)
          return createStringError(
              inconvertibleErrorCode(),
              source + ": the vocabulary has no byte-level piece for byte 0x" +
                  formatByte(byte) + " at offset " + Twine(chunkOffset + i) +
                  " of the text");
        symbols.push_back({byteTokens[byte], int(i) - 1,
                           i + 1 < chunk.size() ? int(i) + 1 : -1});
      }
      chunkOffset += chunk.size();

      mergeSymbols(symbols, findMerge, result);
    }
    if (special >= 0) {
      result.push_back(special);
      chunkOffset += pieces[special].size();
    }
  }
  if (eos)
    result.push_back(this->eos);
  return std::move(result);
}

//===----------------------------------------------------------------------===//
// Detokenizer
//===----------------------------------------------------------------------===//

Expected<StringRef> Detokenizer::push(int token) {
  // run.c stops at BOS; a byte-level vocabulary's BOS is one control
  // token among others (SmolLM's <|im_start|> starts every chat turn).
  if (isStopped || (token == tokenizer.bosId() && !tokenizer.isByteLevel())) {
    isStopped = true;
    return StringRef();
  }
  Expected<StringRef> piece = tokenizer.decode(prev, token);
  if (!piece)
    return piece.takeError();
  prev = token;
  return rawBytes || tokenizer.isByteLevel() ? *piece
                                             : Tokenizer::printable(*piece);
}

} // namespace loom
