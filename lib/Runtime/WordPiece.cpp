//===- WordPiece.cpp - BERT's WordPiece tokenizer -------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// WordPiece as Hugging Face's `tokenizers` runs it for BERT models: the
// BertNormalizer (text cleaning, CJK ideographs spaced apart, accents
// stripped, lowercasing), the BertPreTokenizer (white space and punctuation)
// and the WordPiece model (greedy longest match from the start of each
// word). The Unicode properties, decompositions and case mappings come from
// ICU. Every step works one code point at a time, as `tokenizers` does;
// `tokenizers` decomposes the whole text at once, which differs only in the
// order of combining marks that stripping keeps.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <limits>

using namespace llvm;

namespace loom {

namespace {

/// The code points of `text`; a byte that does not start valid UTF-8
/// becomes U+FFFD, which text cleaning drops.
std::vector<UChar32> codePoints(StringRef text) {
  std::vector<UChar32> out;
  out.reserve(text.size());
  const uint8_t *bytes = text.bytes_begin();
  int32_t length = int32_t(std::min<size_t>(
      text.size(), size_t(std::numeric_limits<int32_t>::max())));
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    out.push_back(c < 0 ? 0xFFFD : c);
  }
  return out;
}

void appendUTF8(std::string &out, UChar32 c) {
  uint8_t buffer[U8_MAX_LENGTH];
  int32_t length = 0;
  U8_APPEND_UNSAFE(buffer, length, c);
  out.append(reinterpret_cast<const char *>(buffer), size_t(length));
}

/// `char::is_whitespace` (Unicode's White_Space property).
bool isWhitespace(UChar32 c) { return u_isUWhiteSpace(c); }

/// The characters text cleaning drops: general categories Cc, Cf, Cn, Co
/// and Cs, but for tab, newline and carriage return (which become spaces).
bool isControl(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r')
    return false;
  switch (u_charType(c)) {
  case U_CONTROL_CHAR:
  case U_FORMAT_CHAR:
  case U_UNASSIGNED:
  case U_PRIVATE_USE_CHAR:
  case U_SURROGATE:
    return true;
  default:
    return false;
  }
}

/// The CJK Unified Ideographs blocks BERT's normalizer spaces apart (its
/// own list: Hiragana, Katakana and Hangul are not among them).
bool isChineseChar(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/// BertPreTokenizer's punctuation: ASCII punctuation (which includes
/// symbols such as `$`, `+` and `^`) and Unicode's P* categories (which
/// leave out other symbols such as `€`).
bool isPunctuation(UChar32 c) {
  return (c < 0x80 && isPunct(char(c))) || u_ispunct(c);
}

/// Appends `c`'s canonical decomposition without its nonspacing marks.
void appendWithoutAccents(UChar32 c, std::vector<UChar32> &out) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2 *nfd = unorm2_getNFDInstance(&status);
  UChar buffer[32];
  int32_t length = U_SUCCESS(status)
                       ? unorm2_getDecomposition(nfd, c, buffer, 32, &status)
                       : -1;
  if (length < 0 || U_FAILURE(status)) {
    if (u_charType(c) != U_NON_SPACING_MARK)
      out.push_back(c);
    return;
  }
  for (int32_t i = 0; i < length;) {
    UChar32 d;
    U16_NEXT(buffer, i, length, d);
    if (u_charType(d) != U_NON_SPACING_MARK)
      out.push_back(d);
  }
}

/// Appends `c`'s full lowercase mapping (one code point may become
/// several, as U+0130 does), without context, as Rust's
/// `char::to_lowercase`.
void appendLowercase(UChar32 c, std::vector<UChar32> &out) {
  UChar source[2];
  int32_t sourceLength = 0;
  U16_APPEND_UNSAFE(source, sourceLength, c);
  UChar lower[16];
  UErrorCode status = U_ZERO_ERROR;
  int32_t length =
      u_strToLower(lower, 16, source, sourceLength, /*locale=*/"", &status);
  if (U_FAILURE(status)) {
    out.push_back(u_tolower(c));
    return;
  }
  for (int32_t i = 0; i < length;) {
    UChar32 d;
    U16_NEXT(lower, i, length, d);
    out.push_back(d);
  }
}

} // namespace

Expected<Tokenizer> Tokenizer::createWordPiece(TokenizerData data,
                                               StringRef source) {
  if (Error e = checkVocabulary(data, source,
                                {{"[CLS] (BOS)", data.bosId},
                                 {"[SEP] (EOS)", data.eosId},
                                 {"[UNK]", data.unkId}}))
    return std::move(e);
  if (data.wordPiece.continuation.empty())
    return createStringError(
        inconvertibleErrorCode(),
        source + ": the WordPiece continuation prefix is empty");
  int64_t size = int64_t(data.pieces.size());
  if (data.tokenTypes.empty())
    data.tokenTypes.assign(data.pieces.size(), 1);

  // llama.cpp's GGUF stores a word's first piece as "\u2581x" and a
  // continuation "##x" as "x" (special tokens and [unusedN] as they are);
  // the pieces are read back into the form tokenizer.json has.
  const StringRef phantom = "\xE2\x96\x81";
  bool phantomForm = llvm::any_of(data.pieces, [&](const std::string &piece) {
    return StringRef(piece).starts_with(phantom);
  });
  if (phantomForm)
    for (auto [piece, type] : llvm::zip(data.pieces, data.tokenTypes)) {
      StringRef text = piece;
      if (text.consume_front(phantom))
        piece = text.str();
      else if (type == 1 && !text.empty() &&
               !(text.starts_with("[") && text.ends_with("]")))
        piece = data.wordPiece.continuation + piece;
    }

  Tokenizer tok;
  tok.source = source.str();
  tok.addBos = true;
  tok.bos = int(data.bosId);
  tok.eos = int(data.eosId);
  tok.unk = int(data.unkId);
  tok.byteTokens.fill(-1);
  tok.wordPiece = data.wordPiece;
  tok.pieces = std::move(data.pieces);
  tok.scores.assign(tok.pieces.size(), 0.0f);
  tok.decoded.reserve(tok.pieces.size());
  for (int id = 0; id < int(size); ++id) {
    const std::string &piece = tok.pieces[id];
    tok.ids.try_emplace(piece, id);
    int32_t type = data.tokenTypes[id];
    if ((type == 3 || type == 4) && !piece.empty())
      tok.specials.push_back({piece, id, type == 3});
    // Decoding: continuations join the piece before, words get a space.
    StringRef text = piece;
    if (type == 3)
      tok.decoded.emplace_back();
    else if (text.consume_front(tok.wordPiece->continuation))
      tok.decoded.push_back(text.str());
    else
      tok.decoded.push_back(" " + piece);
  }
  llvm::sort(tok.specials, [](const Special &a, const Special &b) {
    return a.text.size() != b.text.size() ? a.text.size() > b.text.size()
                                          : a.id < b.id;
  });
  return std::move(tok);
}

void Tokenizer::encodeWordPiece(StringRef text, std::vector<int> &out) const {
  const TokenizerData::WordPieceOptions &options = *wordPiece;
  bool stripAccents = options.stripAccents.value_or(options.lowercase);

  // BertNormalizer, one code point at a time.
  std::vector<UChar32> normalized, pending;
  for (UChar32 c : codePoints(text)) {
    if (options.cleanText) {
      if (c == 0 || c == 0xFFFD || isControl(c))
        continue;
      if (c == '\t' || c == '\n' || c == '\r' || isWhitespace(c))
        c = ' ';
    }
    bool chinese = options.chineseChars && isChineseChar(c);
    pending.clear();
    if (stripAccents)
      appendWithoutAccents(c, pending);
    else
      pending.push_back(c);
    if (chinese)
      normalized.push_back(' ');
    for (UChar32 p : pending) {
      if (options.lowercase)
        appendLowercase(p, normalized);
      else
        normalized.push_back(p);
    }
    if (chinese)
      normalized.push_back(' ');
  }

  // BertPreTokenizer: words end at white space (dropped) and punctuation
  // (a word of its own); then WordPiece on each word.
  std::string word;
  std::vector<size_t> offsets; // the byte where each code point starts
  auto flush = [&] {
    if (offsets.empty())
      return;
    size_t count = offsets.size();
    offsets.push_back(word.size());
    size_t mark = out.size();
    bool unknown = int64_t(count) > options.maxCharsPerWord;
    std::string candidate;
    for (size_t start = 0; start < count && !unknown;) {
      std::optional<int> found;
      size_t end = count;
      for (; end > start; --end) {
        candidate.clear();
        if (start > 0)
          candidate = options.continuation;
        candidate.append(word, offsets[start], offsets[end] - offsets[start]);
        if (auto it = ids.find(candidate); it != ids.end()) {
          found = it->second;
          break;
        }
      }
      if (!found) {
        unknown = true;
        break;
      }
      out.push_back(*found);
      start = end;
    }
    if (unknown) {
      out.resize(mark);
      out.push_back(unk);
    }
    word.clear();
    offsets.clear();
  };
  for (UChar32 c : normalized) {
    if (isWhitespace(c)) {
      flush();
      continue;
    }
    bool punctuation = isPunctuation(c);
    if (punctuation)
      flush();
    offsets.push_back(word.size());
    appendUTF8(word, c);
    if (punctuation)
      flush();
  }
  flush();
}

} // namespace loom
