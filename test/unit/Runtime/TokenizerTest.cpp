//===- TokenizerTest.cpp - tests of the BPE tokenizer ---------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Encoding and decoding against run.c's golden outputs for stories260K (both
// vocabulary sources: tok512.bin and the GGUF), against a plain quadratic
// reference of run.c's merge loop on random text, and on hand-made
// vocabularies for the merge rules and the errors. Tests of the real files
// skip when ../shared/models is absent.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Tokenizer.h"

#include "loom/Frontend/ModelFile.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>

using namespace loom;
using llvm::StringRef;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The folder of the real models (`../shared/models` from the source root,
/// found through $LOOM_SOURCE_DIR or this file's path), or "" if absent.
std::string modelsDir() {
  std::vector<std::string> roots;
  if (const char *env = std::getenv("LOOM_SOURCE_DIR"))
    roots.push_back(env);
  // This file is <root>/test/unit/Runtime/TokenizerTest.cpp.
  llvm::SmallString<256> fromFile(__FILE__);
  for (int i = 0; i < 4; ++i)
    llvm::sys::path::remove_filename(fromFile);
  roots.push_back(std::string(fromFile));
  for (const std::string &root : roots) {
    llvm::SmallString<256> dir(root);
    llvm::sys::path::append(dir, "..", "shared", "models");
    llvm::SmallString<256> probe(dir);
    llvm::sys::path::append(probe, "tok512.bin");
    if (llvm::sys::fs::exists(probe))
      return std::string(dir);
  }
  return "";
}

std::string inModels(StringRef name) {
  llvm::SmallString<256> path(modelsDir());
  llvm::sys::path::append(path, name);
  return std::string(path);
}

/// The whole file, byte for byte.
std::string readFile(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  EXPECT_TRUE(bool(buffer)) << "cannot read " << path.str();
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

template <typename T> T check(llvm::Expected<T> value) {
  if (!value) {
    ADD_FAILURE() << llvm::toString(value.takeError());
    return T();
  }
  return std::move(*value);
}

template <typename T> std::string errorOf(llvm::Expected<T> value) {
  return value ? "<no error>" : llvm::toString(value.takeError());
}

/// The ids of a `tokens_*.txt` file: the prompt's (from its comment line)
/// and the whole sequence (its first line that is no comment).
struct GoldenTokens {
  std::vector<int> prompt, sequence;
};

std::vector<int> parseIds(StringRef text) {
  std::vector<int> ids;
  llvm::SmallVector<StringRef> words;
  text.split(words, ' ', -1, /*KeepEmpty=*/false);
  for (StringRef word : words) {
    int id;
    EXPECT_FALSE(word.trim().getAsInteger(10, id)) << "bad id '" << word.str();
    ids.push_back(id);
  }
  return ids;
}

GoldenTokens readGoldenTokens(StringRef name) {
  GoldenTokens golden;
  std::string text = readFile(inModels(name));
  llvm::SmallVector<StringRef> lines;
  StringRef(text).split(lines, '\n');
  for (StringRef line : lines) {
    if (line.starts_with("#")) {
      if (line.contains("prompt token ids"))
        golden.prompt = parseIds(line.split("): ").second);
      continue;
    }
    if (!line.trim().empty() && golden.sequence.empty())
      golden.sequence = parseIds(line);
  }
  EXPECT_FALSE(golden.prompt.empty()) << name.str();
  EXPECT_FALSE(golden.sequence.empty()) << name.str();
  return golden;
}

/// run.c's encode written plainly: rescan every pair after each merge.
std::vector<int> referenceEncode(const Tokenizer &tok, StringRef text) {
  std::vector<int> ids = {tok.bosId()};
  auto add = [&](StringRef chunk) {
    if (std::optional<int> id = tok.lookup(chunk)) {
      ids.push_back(*id);
      return;
    }
    for (char c : chunk)
      ids.push_back(*tok.byteToken(uint8_t(c)));
  };
  if (!text.empty())
    add(" ");
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    while (n < 4 && i + n < text.size() && (uint8_t(text[i + n]) >> 6) == 2)
      ++n;
    add(text.substr(i, n));
    i += n;
  }
  while (true) {
    float bestScore = -1e10f;
    int bestId = -1, bestAt = -1;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      std::string joined = (tok.piece(ids[i]) + tok.piece(ids[i + 1])).str();
      std::optional<int> id = tok.lookup(joined);
      if (id && tok.score(*id) > bestScore) {
        bestScore = tok.score(*id);
        bestId = *id;
        bestAt = int(i);
      }
    }
    if (bestAt < 0)
      return ids;
    ids[bestAt] = bestId;
    ids.erase(ids.begin() + bestAt + 1);
  }
}

/// A tokenizer over hand-made pieces: ids 0..2 are <unk>, <s>, </s>, then
/// every byte piece <0x00>..<0xFF> (ids 3..258) unless `withBytes` is false,
/// then `pieces` with their scores.
Tokenizer makeTokenizer(std::vector<std::pair<std::string, float>> pieces,
                        bool withBytes = true) {
  TokenizerData data;
  data.model = "llama";
  data.source = "test-vocab";
  for (StringRef special : {"<unk>", "<s>", "</s>"}) {
    data.pieces.push_back(special.str());
    data.scores.push_back(0);
  }
  if (withBytes)
    for (unsigned b = 0; b < 256; ++b) {
      data.pieces.push_back("<0x" + llvm::utohexstr(b, false, 2) + ">");
      data.scores.push_back(0);
    }
  for (auto &[piece, score] : pieces) {
    data.pieces.push_back(piece);
    data.scores.push_back(score);
  }
  return llvm::cantFail(Tokenizer::create(std::move(data)));
}

//===----------------------------------------------------------------------===//
// The real stories260K vocabulary
//===----------------------------------------------------------------------===//

class Stories260KTokenizer : public ::testing::Test {
protected:
  void SetUp() override {
    if (modelsDir().empty())
      GTEST_SKIP() << "../shared/models (the real stories260K files) is "
                      "absent beside the source root; skipping";
    llvm::Expected<TokenizerData> bin =
        readLlama2CTokenizer(inModels("tok512.bin"), 512);
    ASSERT_TRUE(bool(bin)) << llvm::toString(bin.takeError());
    llvm::Expected<Tokenizer> fromBin = Tokenizer::create(std::move(*bin));
    ASSERT_TRUE(bool(fromBin)) << llvm::toString(fromBin.takeError());
    binTok.emplace(std::move(*fromBin));

    llvm::Expected<std::unique_ptr<ModelFile>> gguf =
        readGGUF(inModels("stories260K.gguf"));
    ASSERT_TRUE(bool(gguf)) << llvm::toString(gguf.takeError());
    llvm::Expected<Tokenizer> fromGGUF =
        Tokenizer::create(std::move((*gguf)->tokenizer));
    ASSERT_TRUE(bool(fromGGUF)) << llvm::toString(fromGGUF.takeError());
    ggufTok.emplace(std::move(*fromGGUF));
  }

  /// Both sources, named.
  std::vector<std::pair<const char *, const Tokenizer *>> both() const {
    return {{"tok512.bin", &*binTok}, {"stories260K.gguf", &*ggufTok}};
  }

  std::optional<Tokenizer> binTok, ggufTok;
};

TEST_F(Stories260KTokenizer, OnceUponATime) {
  for (auto [name, tok] : both())
    EXPECT_EQ(check(tok->encode("Once upon a time", true)),
              (std::vector<int>{1, 403, 407, 261, 378}))
        << name;
}

TEST_F(Stories260KTokenizer, PromptIdsOfTheGoldenRuns) {
  for (auto [file, prompt] :
       {std::pair<const char *, const char *>(
            "tokens_once_upon_a_time_t0_n64.txt", "Once upon a time"),
        {"tokens_once_upon_a_time_t0_n256.txt", "Once upon a time"},
        {"tokens_noprompt_t0_n256.txt", ""}}) {
    GoldenTokens golden = readGoldenTokens(file);
    for (auto [name, tok] : both()) {
      EXPECT_EQ(check(tok->encode(prompt, true)), golden.prompt)
          << file << " with " << name;
      // The run starts with the prompt.
      ASSERT_GE(golden.sequence.size(), golden.prompt.size());
      EXPECT_TRUE(std::equal(golden.prompt.begin(), golden.prompt.end(),
                             golden.sequence.begin()))
          << file;
    }
  }
}

TEST_F(Stories260KTokenizer, DetokenizeReproducesGoldenOutput) {
  for (StringRef run : {"once_upon_a_time_t0_n64", "once_upon_a_time_t0_n256",
                        "noprompt_t0_n256"}) {
    GoldenTokens golden = readGoldenTokens(("tokens_" + run + ".txt").str());
    std::string expected = readFile(inModels(("golden_" + run + ".txt").str()));
    ASSERT_FALSE(expected.empty());
    for (auto [name, tok] : both()) {
      EXPECT_EQ(check(tok->detokenize(golden.sequence)), expected)
          << run.str() << " with " << name;

      // Streaming token by token prints the same bytes.
      Detokenizer stream(*tok, golden.sequence.front());
      std::string streamed;
      for (int token : llvm::ArrayRef(golden.sequence).drop_front()) {
        streamed += check(stream.push(token)).str();
        ASSERT_FALSE(stream.stopped());
      }
      streamed += Detokenizer::finish();
      EXPECT_EQ(streamed, expected) << run.str() << " with " << name;
    }
  }
}

TEST_F(Stories260KTokenizer, BothSourcesAgree) {
  // The GGUF spells spaces as U+2581 and BOS/EOS as <s> and </s>; after the
  // reader's normalisation every other piece and every score is the same.
  ASSERT_EQ(binTok->vocabSize(), ggufTok->vocabSize());
  for (int id = 0; id < binTok->vocabSize(); ++id) {
    EXPECT_EQ(binTok->score(id), ggufTok->score(id)) << "id " << id;
    if (id != binTok->bosId() && id != binTok->eosId())
      EXPECT_EQ(binTok->piece(id), ggufTok->piece(id)) << "id " << id;
  }
  const char *prompts[] = {
      "Once upon a time",
      "",
      " ",
      "  two leading spaces",
      "Lily and Ben went to the park.\nThey saw a big, red ball!",
      "héllo wörld — 😀 日本語",
      "<s> </s> <unk> <0x41> \n<s>\n",
      "tab\there, cr\r\n, nul-free control \x01\x7f",
      "\xff\xfe invalid \x80\x80\x80\x80\x80 utf-8 \xe2\x82",
      "The end."};
  // As text (run.c's tokenizer.bin knows no special tokens).
  for (const char *prompt : prompts)
    for (bool bos : {true, false})
      EXPECT_EQ(check(binTok->encode(prompt, bos, false, false)),
                check(ggufTok->encode(prompt, bos, false, false)))
          << "prompt '" << prompt << "'";
  // The GGUF's token types make <s> and </s> control tokens, which text
  // spells when special tokens are parsed (llama.cpp's default); <unk> is
  // of type "unknown", text. Each part of the text gets the dummy prefix.
  std::vector<int> special =
      check(ggufTok->encode("<s>a</s> <unk>", false, false, true));
  std::vector<int> a = check(ggufTok->encode("a", false, false, false));
  std::vector<int> unk = check(ggufTok->encode(" <unk>", false, false, false));
  std::vector<int> expected = {ggufTok->bosId()};
  expected.insert(expected.end(), a.begin(), a.end());
  expected.push_back(ggufTok->eosId());
  expected.insert(expected.end(), unk.begin(), unk.end());
  EXPECT_EQ(special, expected);
}

TEST_F(Stories260KTokenizer, MatchesPlainRunCLoopOnRandomText) {
  std::mt19937 rng(20240601);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz   .,!?'\nTLOS";
  const char *extras[] = {"é", "😀", "\xff", "\x80", "日", "\t"};
  std::string golden =
      readFile(inModels("golden_once_upon_a_time_t0_n256.txt"));
  for (int round = 0; round < 300; ++round) {
    std::string text;
    int length = std::uniform_int_distribution<int>(0, 120)(rng);
    if (round % 3 == 0) {
      // A slice of real text.
      size_t at = std::uniform_int_distribution<size_t>(0, golden.size())(rng);
      text = golden.substr(at, length);
    } else {
      for (int i = 0; i < length; ++i) {
        unsigned pick = rng() % 50;
        if (pick < alphabet.size())
          text += alphabet[pick];
        else
          text += extras[pick % std::size(extras)];
      }
    }
    EXPECT_EQ(check(binTok->encode(text, true)), referenceEncode(*binTok, text))
        << "text '" << text << "'";
  }
}

TEST_F(Stories260KTokenizer, ByteFallback) {
  // '\n' is no piece: it becomes <0x0A>, id 10 + 3.
  std::vector<int> ids = check(binTok->encode("a\nb", false));
  EXPECT_NE(std::find(ids.begin(), ids.end(), 13), ids.end());
  for (auto [name, tok] : both()) {
    for (unsigned b = 0; b < 256; ++b)
      EXPECT_EQ(tok->byteToken(uint8_t(b)), std::optional<int>(int(b) + 3))
          << name;
    // An emoji is no piece: its four bytes become byte pieces.
    std::vector<int> emoji = check(tok->encode("😀", false));
    EXPECT_EQ(emoji, (std::vector<int>{*tok->lookup(" "), 0xF0 + 3, 0x9F + 3,
                                       0x98 + 3, 0x80 + 3}))
        << name;
  }
}

TEST_F(Stories260KTokenizer, Utf8RoundTrip) {
  const char *texts[] = {"héllo wörld — 😀 日本語", "Once upon a time",
                         " leading space", "a\n\nb\tc"};
  for (const char *text : texts) {
    std::vector<int> ids = check(binTok->encode(text, true));
    // Raw bytes give the text back (decode drops the dummy prefix after BOS).
    EXPECT_EQ(check(binTok->detokenize(ids, /*rawBytes=*/true)),
              std::string(text) + "\n");
  }
  // run.c prints a lone byte only when printable or white space: bytes of a
  // multi-byte character spelled with byte pieces are dropped.
  std::vector<int> ids = check(binTok->encode("a 😀 b", true));
  EXPECT_EQ(check(binTok->detokenize(ids)), "a  b\n");
}

TEST_F(Stories260KTokenizer, ArbitraryBytesNeverCrash) {
  std::mt19937 rng(7);
  std::vector<std::string> texts = {"\xff",
                                    "\x80",
                                    "\xc0\x80",
                                    "\xe2\x82",
                                    "\xf0\x9f\x98",
                                    "\xed\xa0\x80",
                                    std::string(1, '\0'),
                                    std::string("a\0b", 3),
                                    "\xc3\x80\x80\x80\x80",
                                    std::string(1000, '\x80')};
  for (int round = 0; round < 2000; ++round) {
    std::string text(rng() % 64, '\0');
    for (char &c : text)
      c = char(rng());
    texts.push_back(text);
  }
  for (const std::string &text : texts) {
    std::vector<int> ids = check(binTok->encode(text, true));
    EXPECT_EQ(ids, referenceEncode(*binTok, text));
    EXPECT_EQ(check(binTok->detokenize(ids, /*rawBytes=*/true)), text + "\n");
    // What run.c would print never crashes either.
    EXPECT_TRUE(bool(binTok->detokenize(ids))) << "on " << text;
  }
}

TEST_F(Stories260KTokenizer, LongTextIsFast) {
  std::string story = readFile(inModels("golden_once_upon_a_time_t0_n256.txt"));
  std::string text;
  while (text.size() < 1000000)
    text += story;
  auto start = std::chrono::steady_clock::now();
  std::vector<int> ids = check(binTok->encode(text, true));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 10.0) << "encoding 1 MB took " << seconds << " s";
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(check(binTok->detokenize(ids)), text + "\n");
}

TEST_F(Stories260KTokenizer, DecodeRules) {
  const Tokenizer &tok = *binTok;
  // After BOS the leading space goes; elsewhere it stays.
  EXPECT_EQ(check(tok.decode(1, 403)), "Once");
  EXPECT_EQ(check(tok.decode(403, 407)), " upon");
  EXPECT_EQ(check(tok.decode(2, 403)), " Once");
  // Byte pieces are their byte.
  EXPECT_EQ(check(tok.decode(403, 13)), "\n");
  EXPECT_EQ(check(tok.decode(403, 3)), StringRef("\0", 1));
  EXPECT_EQ(check(tok.decode(403, 258)), "\xff");
  // Control pieces print as they are spelled.
  EXPECT_EQ(check(tok.decode(403, 2)), "\n</s>\n");
  EXPECT_EQ(check(ggufTok->decode(403, 2)), "</s>");
  // Ids outside the vocabulary are errors.
  EXPECT_NE(errorOf(tok.decode(1, 512))
                .find("token id 512 is outside the "
                      "vocabulary of 512 pieces"),
            std::string::npos);
  EXPECT_NE(errorOf(tok.decode(1, -1)).find("token id -1"), std::string::npos);
  Detokenizer stream(tok, 1);
  EXPECT_FALSE(bool(stream.push(600)));
}

TEST_F(Stories260KTokenizer, DetokenizerStopsAtBos) {
  EXPECT_EQ(check(binTok->detokenize({1, 403, 407, 1, 261, 378})),
            "Once upon\n");
  Detokenizer stream(*binTok, 1);
  EXPECT_EQ(check(stream.push(403)), "Once");
  EXPECT_FALSE(stream.stopped());
  EXPECT_EQ(check(stream.push(1)), "");
  EXPECT_TRUE(stream.stopped());
  EXPECT_EQ(check(stream.push(407)), "");
  EXPECT_EQ(check(binTok->detokenize({})), "\n");
  EXPECT_EQ(check(binTok->detokenize({1})), "\n");
}

TEST_F(Stories260KTokenizer, BosAndEos) {
  EXPECT_EQ(check(binTok->encode("", true)), std::vector<int>{1});
  EXPECT_EQ(check(binTok->encode("", false)), std::vector<int>{});
  EXPECT_EQ(check(binTok->encode("", true, true)), (std::vector<int>{1, 2}));
  EXPECT_EQ(check(binTok->encode("Once upon a time", false, true)),
            (std::vector<int>{403, 407, 261, 378, 2}));
}

//===----------------------------------------------------------------------===//
// Hand-made vocabularies
//===----------------------------------------------------------------------===//

TEST(TokenizerTest, MergesTheBestScoreFirst) {
  // ids: 259 " ", 260 "a", 261 "b", 262 " a", 263 "ab".
  Tokenizer higherAB =
      makeTokenizer({{" ", 0}, {"a", 0}, {"b", 0}, {" a", -2}, {"ab", -1}});
  EXPECT_EQ(check(higherAB.encode("ab", false)), (std::vector<int>{259, 263}));
  Tokenizer higherSpaceA =
      makeTokenizer({{" ", 0}, {"a", 0}, {"b", 0}, {" a", -1}, {"ab", -2}});
  EXPECT_EQ(check(higherSpaceA.encode("ab", false)),
            (std::vector<int>{262, 261}));
  // Merges go on while a pair is a piece: " a" + "b" = " ab" (id 264).
  Tokenizer chained = makeTokenizer(
      {{" ", 0}, {"a", 0}, {"b", 0}, {" a", -1}, {"ab", -2}, {" ab", -3}});
  EXPECT_EQ(check(chained.encode("ab", false)), std::vector<int>{264});
}

TEST(TokenizerTest, TiesMergeTheLeftmostPair) {
  // ids: 259 " ", 260 "x", 261 "y", 262 "z", 263 "xy", 264 "yz".
  Tokenizer tok = makeTokenizer(
      {{" ", 0}, {"x", 0}, {"y", 0}, {"z", 0}, {"xy", -1}, {"yz", -1}});
  EXPECT_EQ(check(tok.encode("xyz", false)), (std::vector<int>{259, 263, 262}));
  EXPECT_EQ(check(tok.encode("xyzxyz", false)),
            (std::vector<int>{259, 263, 262, 263, 262}));
}

TEST(TokenizerTest, ScoresMustBeatMinusTenBillion) {
  // run.c starts its search for the best merge at -1e10.
  Tokenizer low = makeTokenizer({{" ", 0}, {"a", 0}, {" a", -1e10f}});
  EXPECT_EQ(check(low.encode("a", false)), (std::vector<int>{259, 260}));
  Tokenizer high = makeTokenizer({{" ", 0}, {"a", 0}, {" a", -9e9f}});
  EXPECT_EQ(check(high.encode("a", false)), std::vector<int>{261});
}

TEST(TokenizerTest, MissingBytePieceIsAnError) {
  Tokenizer tok = makeTokenizer({{" ", 0}, {"a", 0}, {"b", 0}}, false);
  EXPECT_EQ(check(tok.encode("ab", true)), (std::vector<int>{1, 3, 4, 5}));
  std::string error = errorOf(tok.encode("ab\x01", true));
  EXPECT_NE(error.find("test-vocab: the vocabulary has no byte piece <0x01> "
                       "for byte 0x01 at offset 2 of the text"),
            std::string::npos)
      << error;
  error = errorOf(tok.encode("a\xC3\xA9", false));
  EXPECT_NE(error.find("<0xC3> for byte 0xC3 at offset 1"), std::string::npos)
      << error;
  // A vocabulary without " " spells the dummy prefix as byte 0x20.
  Tokenizer noSpace = makeTokenizer({{"a", 0}});
  EXPECT_EQ(check(noSpace.encode("a", false)),
            (std::vector<int>{0x20 + 3, 259}));
  Tokenizer nothing = makeTokenizer({{"a", 0}}, false);
  EXPECT_NE(errorOf(nothing.encode("a", false)).find("<0x20>"),
            std::string::npos);
}

TEST(TokenizerTest, WordBoundaryMarkIsASpace) {
  const std::string mark = "\xE2\x96\x81"; // U+2581
  Tokenizer marks = makeTokenizer(
      {{mark, 0}, {"a", 0}, {mark + "a", -1}, {"b" + mark + "c", -2}});
  Tokenizer spaces =
      makeTokenizer({{" ", 0}, {"a", 0}, {" a", -1}, {"b c", -2}});
  for (int id = 0; id < spaces.vocabSize(); ++id)
    EXPECT_EQ(marks.piece(id), spaces.piece(id));
  EXPECT_EQ(check(marks.encode("a", true)), check(spaces.encode("a", true)));
  EXPECT_EQ(check(marks.encode("a", true)), (std::vector<int>{1, 261}));
  EXPECT_EQ(marks.lookup("b c"), std::optional<int>(262));
}

TEST(TokenizerTest, DuplicatePiecesFindTheLowestId) {
  Tokenizer tok = makeTokenizer({{" ", 0}, {"a", 0}, {"a", 5}});
  EXPECT_EQ(tok.lookup("a"), std::optional<int>(260));
}

TEST(TokenizerTest, CreateRejectsBadVocabularies) {
  TokenizerData unigram;
  unigram.model = "t5";
  unigram.pieces = {"a"};
  unigram.scores = {0};
  EXPECT_NE(errorOf(Tokenizer::create(unigram))
                .find("tokenizer model 't5' is not supported; Loom's "
                      "tokenizer implements SentencePiece BPE ('llama'), "
                      "byte-level BPE ('gpt2') and WordPiece ('bert')"),
            std::string::npos);

  TokenizerData empty;
  empty.source = "empty.bin";
  EXPECT_NE(errorOf(Tokenizer::create(empty))
                .find("empty.bin: the vocabulary has no pieces"),
            std::string::npos);

  TokenizerData noScores;
  noScores.pieces = {"<unk>", "<s>", "</s>", "a"};
  EXPECT_NE(errorOf(Tokenizer::create(noScores))
                .find("the vocabulary has 4 pieces but 0 scores"),
            std::string::npos);

  TokenizerData badBos = noScores;
  badBos.scores = {0, 0, 0, 0};
  badBos.bosId = 9;
  EXPECT_NE(errorOf(Tokenizer::create(badBos))
                .find("BOS id 9 is outside the vocabulary of 4 pieces"),
            std::string::npos);
  badBos.bosId = 1;
  badBos.eosId = -1;
  EXPECT_NE(errorOf(Tokenizer::create(badBos)).find("EOS id -1"),
            std::string::npos);
}

TEST(TokenizerTest, PrintableMirrorsSafePrintf) {
  EXPECT_EQ(Tokenizer::printable(""), "");
  EXPECT_EQ(Tokenizer::printable("\x01"), "");
  EXPECT_EQ(Tokenizer::printable("\x7f"), "");
  EXPECT_EQ(Tokenizer::printable("\xE2"), "");
  EXPECT_EQ(Tokenizer::printable(StringRef("\0", 1)), "");
  EXPECT_EQ(Tokenizer::printable("\n"), "\n");
  EXPECT_EQ(Tokenizer::printable("\t"), "\t");
  EXPECT_EQ(Tokenizer::printable("\r"), "\r");
  EXPECT_EQ(Tokenizer::printable("~"), "~");
  EXPECT_EQ(Tokenizer::printable(" "), " ");
  EXPECT_EQ(Tokenizer::printable("ab"), "ab");
  EXPECT_EQ(Tokenizer::printable("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(Tokenizer::printable(StringRef("a\0b", 3)), "a");
  // run.c sees C strings: one unprintable byte before a NUL is dropped too.
  EXPECT_EQ(Tokenizer::printable(StringRef("\x01\0b", 3)), "");
}

} // namespace
