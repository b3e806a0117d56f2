//===- PreTokenizer.cpp - byte-level BPE pre-tokenizers -------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/PreTokenizer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/Twine.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

using namespace llvm;

namespace loom {

struct PreTokenizer::Pattern {
  pcre2_code *code = nullptr;
  ~Pattern() { pcre2_code_free(code); }
};

namespace {

// The expressions of the Hugging Face pre-tokenizers, as llama.cpp lists
// them per `tokenizer.ggml.pre` name (facts about those vocabularies).

/// GPT-2's split: contractions, words and numbers with an optional leading
/// space, other symbols likewise, white space not followed by a non-space.
constexpr const char *kGPT2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

/// Llama 3's: contractions in any case, a word with one leading
/// non-letter, numbers of up to three digits, symbols with the newlines
/// after them, newlines with the white space before them.
constexpr const char *kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

/// Qwen2's: Llama 3's with single digits.
constexpr const char *kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Family {
  std::vector<const char *> names;
  std::vector<const char *> expressions;
  bool wholePieces = false;
};

const std::vector<Family> &families() {
  static const std::vector<Family> table = {
      {{"default"},
       {R"([\p{P}\$\+<=>\^~\|]+)", kGPT2, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "mpt", "olmo", "jais"}, {kGPT2}},
      {{"llama3", "llama-v3", "llama-bpe"}, {kLlama3}, /*wholePieces=*/true},
      {{"dbrx", "smaug", "chatglm-bpe"}, {kLlama3}},
      {{"qwen2", "stablelm2"}, {kQwen2}},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGPT2, "[0-9][0-9][0-9]"}},
      {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone"},
       {R"(\p{N})", kGPT2}},
  };
  return table;
}

/// The length of the UTF-8 sequence `byte` starts (1 for a stray byte).
size_t sequenceLength(uint8_t byte) {
  return byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
}

} // namespace

std::vector<StringRef> PreTokenizer::knownNames() {
  std::vector<StringRef> names;
  for (const Family &f : families())
    for (const char *n : f.names)
      names.push_back(n);
  return names;
}

Expected<PreTokenizer> PreTokenizer::forName(StringRef name) {
  StringRef lookup = name.empty() ? StringRef("default") : name;
  const Family *family = nullptr;
  for (const Family &f : families())
    if (llvm::is_contained(f.names, lookup))
      family = &f;
  if (!family)
    return createStringError(
        inconvertibleErrorCode(),
        "pre-tokenizer '" + name +
            "' is not supported (known: " + join(knownNames(), ", ") + ")");
  std::vector<std::string> expressions(family->expressions.begin(),
                                       family->expressions.end());
  return fromExpressions(lookup, expressions, family->wholePieces);
}

StringRef PreTokenizer::gpt2Expression() { return kGPT2; }

Expected<PreTokenizer>
PreTokenizer::fromExpressions(StringRef name, ArrayRef<std::string> expressions,
                              bool wholePieces) {
  PreTokenizer pre;
  pre.preName = name.str();
  pre.wholePieces = wholePieces;
  for (StringRef expression : expressions) {
    if (expression == "<gpt-2>")
      expression = kGPT2;
    int error = 0;
    PCRE2_SIZE offset = 0;
    auto pattern = std::make_shared<Pattern>();
    pattern->code = pcre2_compile(
        reinterpret_cast<PCRE2_SPTR>(expression.data()), expression.size(),
        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset,
        nullptr);
    if (!pattern->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return createStringError(
          inconvertibleErrorCode(),
          "pre-tokenizer '" + pre.preName + "': expression " +
              Twine(pre.patterns.size()) + " does not compile at offset " +
              Twine(uint64_t(offset)) + ": " +
              reinterpret_cast<const char *>(message));
    }
    // The JIT where PCRE2 has one; the interpreter otherwise.
    (void)pcre2_jit_compile(pattern->code, PCRE2_JIT_COMPLETE);
    pre.patterns.push_back(std::move(pattern));
  }
  return std::move(pre);
}

std::vector<StringRef> PreTokenizer::split(StringRef text) const {
  std::vector<StringRef> chunks;
  if (!text.empty())
    chunks.push_back(text);
  for (const std::shared_ptr<const Pattern> &pattern : patterns) {
    std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data *)> match(
        pcre2_match_data_create_from_pattern(pattern->code, nullptr),
        pcre2_match_data_free);
    std::vector<StringRef> next;
    for (StringRef chunk : chunks) {
      auto subject = reinterpret_cast<PCRE2_SPTR>(chunk.data());
      size_t gap = 0, from = 0;
      while (from < chunk.size()) {
        int rc = pcre2_match(pattern->code, subject, chunk.size(), from, 0,
                             match.get(), nullptr);
        if (rc < 0) // no match (or a matching limit): the rest is a gap
          break;
        PCRE2_SIZE *range = pcre2_get_ovector_pointer(match.get());
        size_t start = range[0], end = range[1];
        if (start >= chunk.size())
          break;
        if (end == start) { // an empty match: look again one character on
          from = start + sequenceLength(uint8_t(chunk[start]));
          continue;
        }
        if (start > gap)
          next.push_back(chunk.slice(gap, start));
        next.push_back(chunk.slice(start, end));
        gap = from = end;
      }
      if (gap < chunk.size())
        next.push_back(chunk.drop_front(gap));
    }
    chunks = std::move(next);
  }
  return chunks;
}

} // namespace loom
