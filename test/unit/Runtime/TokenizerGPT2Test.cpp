//===- TokenizerGPT2Test.cpp - tests of the byte-level BPE tokenizer ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The GPT-2-style byte-level BPE tokenizer (`tokenizer.ggml.model` `gpt2`)
// on a hand-made vocabulary: the 256 byte pieces in GPT-2's byte-to-unicode
// form, a few merges, and two control tokens. Expected ids are derived by
// hand in the comments.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/PreTokenizer.h"
#include "loom/Runtime/Tokenizer.h"

#include "loom/Frontend/ModelFile.h"

#include <gtest/gtest.h>

#include <random>

using namespace loom;
using llvm::StringRef;

namespace {

template <typename T> T check(llvm::Expected<T> value) {
  if (!value) {
    ADD_FAILURE() << llvm::toString(value.takeError());
    return T();
  }
  return std::move(*value);
}

template <typename T> std::string errorOf(llvm::Expected<T> value) {
  if (value)
    return "<no error>";
  return llvm::toString(value.takeError());
}

/// The UTF-8 spelling of code point `cp` (< 0x800 suffices here).
std::string utf8(unsigned cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

/// GPT-2's byte-to-unicode spelling of `byte`, written out independently of
/// the implementation: printable bytes are themselves, the rest count up
/// from U+0100.
std::string byteLevel(uint8_t byte) {
  unsigned next = 0x100;
  for (unsigned b = 0; b < 256; ++b) {
    bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                (b >= 0xAE && b <= 0xFF);
    unsigned cp = self ? b : next++;
    if (b == byte)
      return utf8(cp);
  }
  return "";
}

/// Ids of the synthetic vocabulary: byte b is id b, then the merges' pieces.
enum : int {
  Gt = 256,    // "Ġt"    merge rank 0: "Ġ t"
  He = 257,    // "he"    rank 1: "h e"
  GThe = 258,  // "Ġthe"  rank 2: "Ġt he"
  The = 259,   // "the"   rank 3: "t he"
  Ca = 260,    // "ca"    rank 4: "c a"
  Cat = 261,   // "cat"   rank 5: "ca t"
  GCat = 262,  // "Ġcat"  rank 6: "Ġ cat"
  AposS = 263, // "'s"    rank 7: "' s"
  D12 = 264,   // "12"    rank 8: "1 2"
  D123 = 265,  // "123"   rank 9: "12 3"
  D45 = 266,   // "45"    rank 10: "4 5"
  Bot = 267,   // "<|begin_of_text|>", control
  Eot = 268,   // "<|end_of_text|>", control
  User = 269,  // "<tool>", user-defined
};

TokenizerData gpt2Vocabulary() {
  TokenizerData data;
  data.model = "gpt2";
  data.source = "gpt2-test";
  for (unsigned b = 0; b < 256; ++b)
    data.pieces.push_back(byteLevel(uint8_t(b)));
  std::string G = byteLevel(' '); // "Ġ"
  EXPECT_EQ(G, "\xC4\xA0");
  data.pieces.insert(data.pieces.end(),
                     {G + "t", "he", G + "the", "the", "ca", "cat", G + "cat",
                      "'s", "12", "123", "45", "<|begin_of_text|>",
                      "<|end_of_text|>", "<tool>"});
  data.merges = {G + " t",   "h e", G + "t he", "t he", "c a", "ca t",
                 G + " cat", "' s", "1 2",      "12 3", "4 5"};
  data.tokenTypes.assign(data.pieces.size(), 1);
  for (unsigned b = 0; b < 256; ++b)
    data.tokenTypes[b] = 6;
  data.tokenTypes[Bot] = 3;
  data.tokenTypes[Eot] = 3;
  data.tokenTypes[User] = 4;
  data.bosId = Bot;
  data.eosId = Eot;
  data.pre = "llama-bpe";
  return data;
}

/// The tokenizer of `data`; a failure ends the test program.
Tokenizer created(TokenizerData data) {
  llvm::Expected<Tokenizer> tok = Tokenizer::create(std::move(data));
  if (!tok) {
    ADD_FAILURE() << llvm::toString(tok.takeError());
    std::abort();
  }
  return std::move(*tok);
}

Tokenizer gpt2Tokenizer() { return created(gpt2Vocabulary()); }

/// The concatenated decoding of `ids`, each after the one before it.
std::string decodeAll(const Tokenizer &tok, llvm::ArrayRef<int> ids) {
  std::string text;
  int prev = tok.bosId();
  for (int id : ids) {
    text += check(tok.decode(prev, id)).str();
    prev = id;
  }
  return text;
}

/// The chunks pre-tokenizer `name` cuts `text` into.
std::vector<std::string> split(StringRef name, StringRef text) {
  std::vector<std::string> out;
  PreTokenizer pre = check(PreTokenizer::forName(name));
  for (StringRef c : pre.split(text))
    out.push_back(c.str());
  return out;
}

/// Llama 3's chunks (digits in threes), or Qwen2's (single digits).
std::vector<std::string> chunks(StringRef text, unsigned digitGroup = 3) {
  return split(digitGroup == 1 ? "qwen2" : "llama-bpe", text);
}

using Strings = std::vector<std::string>;

//===----------------------------------------------------------------------===//
// Pre-tokenization
//===----------------------------------------------------------------------===//

TEST(TokenizerGPT2Test, PreTokenizeSplitsLikeLlama3) {
  EXPECT_EQ(chunks("the the cat's 12345"),
            (Strings{"the", " the", " cat", "'s", " ", "123", "45"}));
  EXPECT_EQ(chunks("Hello world"), (Strings{"Hello", " world"}));
  // Contractions, in any case.
  EXPECT_EQ(chunks("don't I'LL we've"),
            (Strings{"don", "'t", " I", "'LL", " we", "'ve"}));
  // White space leaves its last character to the next word.
  EXPECT_EQ(chunks("a   b"), (Strings{"a", "  ", " b"}));
  EXPECT_EQ(chunks("a  "), (Strings{"a", "  "}));
  // Newlines end white space; symbols take the newlines after them.
  EXPECT_EQ(chunks("x\n\ny"), (Strings{"x", "\n\n", "y"}));
  EXPECT_EQ(chunks("x \n y"), (Strings{"x", " \n", " y"}));
  EXPECT_EQ(chunks("hi!!\nyo"), (Strings{"hi", "!!\n", "yo"}));
  EXPECT_EQ(chunks("a ... b"), (Strings{"a", " ...", " b"}));
  // One leading non-letter joins a word.
  EXPECT_EQ(chunks("(hello)"), (Strings{"(hello", ")"}));
  // Non-ASCII letters are letters; symbols are not.
  EXPECT_EQ(chunks("naïve ☃"), (Strings{"naïve", " ☃"}));
  EXPECT_EQ(chunks("日本語です"), (Strings{"日本語です"}));
  EXPECT_EQ(chunks(""), Strings{});
}

TEST(TokenizerGPT2Test, DigitsSplitInGroupsOfThree) {
  EXPECT_EQ(chunks("1234567"), (Strings{"123", "456", "7"}));
  EXPECT_EQ(chunks(" 12345"), (Strings{" ", "123", "45"}));
  EXPECT_EQ(chunks("ab12"), (Strings{"ab", "12"}));
  EXPECT_EQ(chunks("1234", /*digitGroup=*/1), (Strings{"1", "2", "3", "4"}));
}

TEST(TokenizerGPT2Test, PreTokenizeCoversArbitraryBytes) {
  // Every pre-tokenizer, on valid and invalid UTF-8: non-empty chunks that
  // concatenate to the text.
  std::mt19937 rng(7);
  for (StringRef name : PreTokenizer::knownNames()) {
    PreTokenizer pre = check(PreTokenizer::forName(name));
    for (int round = 0; round < 100; ++round) {
      std::string text;
      int length = int(rng() % 40);
      for (int i = 0; i < length; ++i)
        text += round % 2 ? char(rng() % 256) : "a1 ½'s\n\t!Ä"[rng() % 12];
      std::string joined;
      for (StringRef c : pre.split(text)) {
        EXPECT_FALSE(c.empty()) << name.str();
        joined += c.str();
      }
      EXPECT_EQ(joined, text) << name.str();
    }
  }
}

TEST(TokenizerGPT2Test, PreTokenizersOfTheFamilies) {
  // GPT-2: a space joins the word or number after it; digits stay whole.
  EXPECT_EQ(split("gpt-2", "Hello  world 12345!!"),
            (Strings{"Hello", " ", " world", " 12345", "!!"}));
  // SmolLM: every digit alone first (so a space before one stays alone).
  EXPECT_EQ(split("smollm", "ied 4 ½ months"),
            (Strings{"ied", " ", "4", " ", "½", " months"}));
  // Falcon: punctuation runs first, then GPT-2's split, then digits in
  // threes.
  EXPECT_EQ(split("falcon", "a,b 1234567"),
            (Strings{"a", ",", "b", " ", "123", "456", "7"}));
  EXPECT_EQ(split("falcon", "1234567"), (Strings{"123", "456", "7"}));
  // An empty name is llama.cpp's default.
  EXPECT_EQ(check(PreTokenizer::forName("")).name(), "default");
  EXPECT_TRUE(check(PreTokenizer::forName("llama-bpe")).takesWholePieces());
  EXPECT_FALSE(check(PreTokenizer::forName("gpt-2")).takesWholePieces());
}

TEST(TokenizerGPT2Test, PreTokenizerErrors) {
  std::string unknown = errorOf(PreTokenizer::forName("klingon"));
  EXPECT_NE(unknown.find("pre-tokenizer 'klingon' is not supported (known: "),
            std::string::npos)
      << unknown;
  EXPECT_NE(unknown.find("smollm"), std::string::npos);
  std::string bad = errorOf(
      PreTokenizer::fromExpressions("test", {std::string("\\p{L}+"), "(a"}));
  EXPECT_NE(bad.find("pre-tokenizer 'test': expression 1 does not compile"),
            std::string::npos)
      << bad;
  // A tokenizer whose file names an unknown pre-tokenizer is refused.
  TokenizerData data = gpt2Vocabulary();
  data.pre = "klingon";
  EXPECT_NE(errorOf(Tokenizer::create(data))
                .find("gpt2-test: pre-tokenizer "
                      "'klingon'"),
            std::string::npos);
}

TEST(TokenizerGPT2Test, SpecialTokensInTheText) {
  Tokenizer tok = gpt2Tokenizer();
  // Control tokens are matched whole when asked to, user-defined always.
  EXPECT_EQ(check(tok.encode("<|end_of_text|>the", false)),
            (std::vector<int>{Eot, The}));
  std::vector<int> literal = check(
      tok.encode("<|end_of_text|>", false, false, /*parseSpecial=*/false));
  EXPECT_GT(literal.size(), 1u);
  EXPECT_EQ(decodeAll(tok, literal), "<|end_of_text|>");
  EXPECT_EQ(check(tok.encode("the<tool> the", false, false, false)),
            (std::vector<int>{The, User, GThe}));
}

//===----------------------------------------------------------------------===//
// Encoding and decoding
//===----------------------------------------------------------------------===//

TEST(TokenizerGPT2Test, EncodesByRank) {
  Tokenizer tok = gpt2Tokenizer();
  EXPECT_TRUE(tok.isByteLevel());
  // "the" -> t h e -> (h e, rank 1) t he -> (t he, rank 3) the.
  // " the" -> Ġ t h e -> (Ġ t, 0) Ġt h e -> (h e, 1) Ġt he -> (Ġt he, 2).
  // " cat" -> Ġ c a t -> (c a, 4) -> (ca t, 5) -> (Ġ cat, 6).
  // "'s" -> (' s, 7). " " -> the byte piece Ġ, id 32.
  // "123" -> (1 2, 8) -> (12 3, 9). "45" -> (4 5, 10).
  std::vector<int> expected = {The, GThe, GCat, AposS, ' ', D123, D45};
  EXPECT_EQ(check(tok.encode("the the cat's 12345", /*bos=*/false)), expected);
  expected.insert(expected.begin(), Bot);
  EXPECT_EQ(check(tok.encode("the the cat's 12345", /*bos=*/true)), expected);
  expected.push_back(Eot);
  EXPECT_EQ(check(tok.encode("the the cat's 12345", true, /*eos=*/true)),
            expected);
  // No dummy prefix: empty text is just BOS.
  EXPECT_EQ(check(tok.encode("", true)), std::vector<int>{Bot});
  // Digits in groups: "1234567" -> "123" "456" "7" -> 123, 45 6, 7.
  EXPECT_EQ(check(tok.encode("1234567", false)),
            (std::vector<int>{D123, D45, '6', '7'}));
}

TEST(TokenizerGPT2Test, LowerRankMergesFirst) {
  auto make = [](std::vector<std::string> merges) {
    TokenizerData data;
    data.model = "gpt2";
    for (unsigned b = 0; b < 256; ++b)
      data.pieces.push_back(byteLevel(uint8_t(b)));
    data.pieces.push_back("ab"); // 256
    data.pieces.push_back("bc"); // 257
    data.merges = std::move(merges);
    data.bosId = data.eosId = 0;
    return created(data);
  };
  // Both pairs of "abc" are merges; the lower rank wins.
  EXPECT_EQ(check(make({"a b", "b c"}).encode("abc", false)),
            (std::vector<int>{256, 'c'}));
  EXPECT_EQ(check(make({"b c", "a b"}).encode("abc", false)),
            (std::vector<int>{'a', 257}));
  // A merge's rank is its first listing.
  EXPECT_EQ(check(make({"b c", "a b", "b c"}).encode("abc", false)),
            (std::vector<int>{'a', 257}));
  // Merges naming unknown pieces are ignored; equal ranks go leftmost.
  EXPECT_EQ(check(make({"x yz", "a b"}).encode("ababab", false)),
            (std::vector<int>{256, 256, 256}));
}

TEST(TokenizerGPT2Test, DecodeRoundTrips) {
  Tokenizer tok = gpt2Tokenizer();
  for (StringRef text :
       {"the the cat's 12345", "naïve ☃", "  leading and trailing  ",
        "tabs\tand\nnewlines\r\n", "日本語 🙂 ok", "zzz qqq"}) {
    std::vector<int> ids = check(tok.encode(text, true));
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), Bot);
    EXPECT_EQ(decodeAll(tok, llvm::ArrayRef(ids).drop_front()), text.str())
        << text.str();
  }
  // Text no merge touches spells its bytes with byte pieces.
  EXPECT_EQ(check(tok.encode("zzz", false)), (std::vector<int>{'z', 'z', 'z'}));
  std::vector<int> snowman = check(tok.encode("☃", false));
  EXPECT_EQ(snowman, (std::vector<int>{0xE2, 0x98, 0x83}));
  EXPECT_EQ(decodeAll(tok, snowman), "☃");
}

TEST(TokenizerGPT2Test, ArbitraryBytesRoundTrip) {
  Tokenizer tok = gpt2Tokenizer();
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::string text;
    int length = int(rng() % 50);
    for (int i = 0; i < length; ++i)
      text += char(round % 2 ? rng() % 256 : " the cat's 12345"[rng() % 16]);
    std::vector<int> ids = check(tok.encode(text, false));
    EXPECT_EQ(decodeAll(tok, ids), text);
  }
}

TEST(TokenizerGPT2Test, DecodeRules) {
  Tokenizer tok = gpt2Tokenizer();
  // Byte-level pieces map back to bytes; no space is dropped after BOS.
  EXPECT_EQ(check(tok.decode(Bot, GThe)), " the");
  EXPECT_EQ(check(tok.decode(Bot, ' ')), " ");
  EXPECT_EQ(check(tok.decode(GThe, '\n')), "\n");
  EXPECT_EQ(check(tok.decode(GThe, 0xC3)), "\xC3");
  // Control tokens print nothing; user-defined ones print their text.
  EXPECT_EQ(check(tok.decode(GThe, Bot)), "");
  EXPECT_EQ(check(tok.decode(GThe, Eot)), "");
  EXPECT_EQ(check(tok.decode(GThe, User)), "<tool>");
  EXPECT_NE(errorOf(tok.decode(GThe, 9999)).find("outside the vocabulary"),
            std::string::npos);
  // Without token types, special pieces print as text.
  TokenizerData data = gpt2Vocabulary();
  data.tokenTypes.clear();
  Tokenizer untyped = created(data);
  EXPECT_EQ(check(untyped.decode(GThe, Eot)), "<|end_of_text|>");
  // Lookups use the byte-level spelling.
  EXPECT_EQ(tok.lookup("\xC4\xA0the"), std::optional<int>(GThe));
  EXPECT_EQ(tok.byteToken(' '), std::optional<int>(' '));
  EXPECT_EQ(tok.byteToken(0x00), std::optional<int>(0));
}

TEST(TokenizerGPT2Test, DetokenizerStreamsRawBytes) {
  Tokenizer tok = gpt2Tokenizer();
  std::vector<int> ids = check(tok.encode("the cat ☃", true));
  // Byte pieces of a multi-byte character survive (no run.c filtering),
  // and the space after BOS stays.
  EXPECT_EQ(check(tok.detokenize(ids)), "the cat ☃\n");
  std::vector<int> withSpace = {Bot, GThe, GCat};
  EXPECT_EQ(check(tok.detokenize(withSpace)), " the cat\n");
  // BOS is a control token printing nothing; it does not stop the stream
  // (run.c's rule is for SentencePiece vocabularies).
  Detokenizer out(tok, Bot);
  EXPECT_EQ(check(out.push(GThe)), " the");
  EXPECT_EQ(check(out.push(Bot)), "");
  EXPECT_FALSE(out.stopped());
  EXPECT_EQ(check(out.push(GCat)), " cat");
}

//===----------------------------------------------------------------------===//
// Creation and errors
//===----------------------------------------------------------------------===//

TEST(TokenizerGPT2Test, CreateChecks) {
  // Scores are optional for gpt2.
  TokenizerData data = gpt2Vocabulary();
  EXPECT_TRUE(data.scores.empty());
  Tokenizer tok = created(data);
  EXPECT_EQ(tok.vocabSize(), int(data.pieces.size()));
  EXPECT_EQ(tok.bosId(), Bot);
  EXPECT_EQ(tok.eosId(), Eot);

  TokenizerData badScores = data;
  badScores.scores = {0, 1};
  EXPECT_NE(errorOf(Tokenizer::create(badScores)).find("but 2 scores"),
            std::string::npos);
  TokenizerData badTypes = data;
  badTypes.tokenTypes = {1};
  EXPECT_NE(errorOf(Tokenizer::create(badTypes)).find("but 1 token types"),
            std::string::npos);
  TokenizerData badBos = data;
  badBos.bosId = 100000;
  EXPECT_NE(errorOf(Tokenizer::create(badBos)).find("BOS id 100000"),
            std::string::npos);
}

TEST(TokenizerGPT2Test, MissingBytePieceIsAnError) {
  TokenizerData data = gpt2Vocabulary();
  data.pieces['z'] = "<not-z>";
  Tokenizer tok = created(data);
  std::string error = errorOf(tok.encode("az", false));
  EXPECT_NE(error.find("gpt2-test: the vocabulary has no byte-level piece for "
                       "byte 0x7A at offset 1"),
            std::string::npos)
      << error;
}

} // namespace
