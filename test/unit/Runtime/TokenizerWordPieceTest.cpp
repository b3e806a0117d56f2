//===- TokenizerWordPieceTest.cpp - tests of the WordPiece tokenizer ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// BERT's WordPiece (`tokenizer.ggml.model` `bert`) on a hand-made
// vocabulary. Expected ids follow Hugging Face tokenizers' BertNormalizer,
// BertPreTokenizer and WordPiece rules, derived by hand in the comments;
// the real vocabularies are checked against tokenizers' own ids in
// test/e2e/tokenizer-vectors.test and test/e2e/minilm.test.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Tokenizer.h"

#include "loom/Frontend/ModelFile.h"

#include <gtest/gtest.h>

using namespace loom;

namespace {

template <typename T> T check(llvm::Expected<T> value) {
  if (!value) {
    ADD_FAILURE() << llvm::toString(value.takeError());
    return T();
  }
  return std::move(*value);
}

// Ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 [MASK] 5 hello 6 world 7 , 8 !
// 9 un 10 ##aff 11 ##able 12 cafe 13 東 14 京 15 $ 16 3 17 ##€ 18 € 19 Hello
// 20 i̇ (i + combining dot: İ lowercased) 21 i
const char *const kPieces[] = {"[PAD]",
                               "[UNK]",
                               "[CLS]",
                               "[SEP]",
                               "[MASK]",
                               "hello",
                               "world",
                               ",",
                               "!",
                               "un",
                               "##aff",
                               "##able",
                               "cafe",
                               "\xE6\x9D\xB1",
                               "\xE4\xBA\xAC",
                               "$",
                               "3",
                               "##\xE2\x82\xAC",
                               "\xE2\x82\xAC",
                               "Hello",
                               "i\xCC\x87",
                               "i"};

TokenizerData vocabulary() {
  TokenizerData data;
  data.model = "bert";
  for (const char *piece : kPieces)
    data.pieces.push_back(piece);
  data.tokenTypes.assign(data.pieces.size(), 1);
  for (int id = 0; id <= 4; ++id)
    data.tokenTypes[id] = 3;
  data.bosId = 2;
  data.eosId = 3;
  data.unkId = 1;
  return data;
}

/// The vocabulary's tokenizer (a bad test vocabulary stops the test run).
Tokenizer make(TokenizerData data) {
  return llvm::cantFail(Tokenizer::create(std::move(data)));
}

std::vector<int> encode(const Tokenizer &tok, llvm::StringRef text,
                        bool special = false, bool parseSpecial = true) {
  return check(tok.encode(text, special, special, parseSpecial));
}

using Ids = std::vector<int>;

TEST(WordPieceTest, WordsAndPunctuationWithTheTemplate) {
  Tokenizer tok = make(vocabulary());
  EXPECT_TRUE(tok.isWordPiece());
  EXPECT_TRUE(tok.addsBos());
  EXPECT_TRUE(tok.addsEos());
  // Lowercased; ',' and '!' are words of their own: [CLS] hello , world ! [SEP]
  EXPECT_EQ(encode(tok, "Hello, World!", /*special=*/true),
            (Ids{2, 5, 7, 6, 8, 3}));
  EXPECT_EQ(encode(tok, "  hello\tworld\n"), (Ids{5, 6}));
  EXPECT_EQ(encode(tok, ""), Ids{});
}

TEST(WordPieceTest, LongestPiecesFromTheStartOrUnknown) {
  Tokenizer tok = make(vocabulary());
  // un ##aff ##able
  EXPECT_EQ(encode(tok, "unaffable"), (Ids{9, 10, 11}));
  // "unaffx": un ##aff, then no piece spells "x": the whole word is [UNK].
  EXPECT_EQ(encode(tok, "unaffx hello"), (Ids{1, 5}));
  // "able" alone is no word piece (only "##able" is).
  EXPECT_EQ(encode(tok, "able"), (Ids{1}));
}

TEST(WordPieceTest, AccentsCaseAndCJK) {
  Tokenizer tok = make(vocabulary());
  // NFD, nonspacing marks dropped: "Café" -> "cafe".
  EXPECT_EQ(encode(tok, "Caf\xC3\xA9"), (Ids{12}));
  // The combining acute written out is dropped too.
  EXPECT_EQ(encode(tok, "cafe\xCC\x81"), (Ids{12}));
  // CJK ideographs are words of their own, spaces or not.
  EXPECT_EQ(encode(tok, "\xE6\x9D\xB1\xE4\xBA\xAC"), (Ids{13, 14}));
  EXPECT_EQ(encode(tok, "hello\xE6\x9D\xB1"), (Ids{5, 13}));
  // U+0130 decomposes to "I" + U+0307, the dot is dropped, "I" lowercased.
  EXPECT_EQ(encode(tok, "\xC4\xB0"), (Ids{21}));
}

TEST(WordPieceTest, PunctuationIsASCIIOrUnicodeP) {
  Tokenizer tok = make(vocabulary());
  // '$' is ASCII punctuation (a Unicode symbol): a word of its own; '€' is
  // a symbol, not punctuation: "€3" is one word, € then no "##3" -> [UNK].
  EXPECT_EQ(encode(tok, "$3"), (Ids{15, 16}));
  EXPECT_EQ(encode(tok, "3\xE2\x82\xAC"), (Ids{16, 17}));
  EXPECT_EQ(encode(tok, "\xE2\x82\xAC"
                        "3"),
            (Ids{1}));
}

TEST(WordPieceTest, CleaningDropsControlsAndInvalidBytes) {
  Tokenizer tok = make(vocabulary());
  // U+0001, a zero-width joiner (Cf) and a lone invalid byte vanish.
  EXPECT_EQ(encode(tok, "hel\x01lo wor\xE2\x80\x8Dld"), (Ids{5, 6}));
  EXPECT_EQ(encode(tok, "hel\xFFlo"), (Ids{5}));
  EXPECT_EQ(encode(tok, std::string("a\0a", 3)), (Ids{1}));
}

TEST(WordPieceTest, SpecialTokensBeforeNormalization) {
  Tokenizer tok = make(vocabulary());
  EXPECT_EQ(encode(tok, "hello [MASK] world"), (Ids{5, 4, 6}));
  EXPECT_EQ(encode(tok, "hello[MASK]"), (Ids{5, 4}));
  // Not parsed: "[", "mask", "]" are words no piece spells.
  EXPECT_EQ(encode(tok, "[MASK]", false, /*parseSpecial=*/false),
            (Ids{1, 1, 1}));
}

TEST(WordPieceTest, SettingsFromTheFile) {
  TokenizerData cased = vocabulary();
  cased.wordPiece.lowercase = false;
  Tokenizer tok = make(std::move(cased));
  // No lowercasing and (unset) no accent stripping: "Hello" is its own
  // piece, "Café" none.
  EXPECT_EQ(encode(tok, "Hello hello Caf\xC3\xA9"), (Ids{19, 5, 1}));

  TokenizerData shortWords = vocabulary();
  shortWords.wordPiece.maxCharsPerWord = 4;
  tok = make(std::move(shortWords));
  // "hello" has 5 characters: [UNK] without looking up pieces.
  EXPECT_EQ(encode(tok, "hello cafe"), (Ids{1, 12}));

  TokenizerData noChinese = vocabulary();
  noChinese.wordPiece.chineseChars = false;
  tok = make(std::move(noChinese));
  // One word: 東 then no "##京": the whole word is [UNK].
  EXPECT_EQ(encode(tok, "\xE6\x9D\xB1\xE4\xBA\xAC"), (Ids{1}));

  TokenizerData keepAccents = vocabulary();
  keepAccents.wordPiece.stripAccents = false;
  tok = make(std::move(keepAccents));
  // Lowercasing alone maps U+0130 to "i" + U+0307 (Rust's
  // char::to_lowercase), and "Café" keeps its accent.
  EXPECT_EQ(encode(tok, "\xC4\xB0 Caf\xC3\xA9"), (Ids{20, 1}));
}

TEST(WordPieceTest, GGUFPhantomSpaceForm) {
  // llama.cpp's converter: word-initial pieces get U+2581, "##x" loses its
  // "##"; specials stay. The tokenizer reads them back.
  TokenizerData data = vocabulary();
  for (size_t id = 5; id < data.pieces.size(); ++id) {
    std::string &piece = data.pieces[id];
    piece = llvm::StringRef(piece).starts_with("##") ? piece.substr(2)
                                                     : "\xE2\x96\x81" + piece;
  }
  Tokenizer tok = make(std::move(data));
  EXPECT_EQ(encode(tok, "Hello, unaffable world!", true),
            (Ids{2, 5, 7, 9, 10, 11, 6, 8, 3}));
  EXPECT_EQ(tok.piece(10), "##aff");
}

TEST(WordPieceTest, DecodeJoinsContinuations) {
  Tokenizer tok = make(vocabulary());
  EXPECT_EQ(check(tok.decode(2, 9)), "un");      // first word after [CLS]
  EXPECT_EQ(check(tok.decode(9, 10)), "aff");    // a continuation
  EXPECT_EQ(check(tok.decode(11, 6)), " world"); // a new word
  EXPECT_EQ(check(tok.decode(6, 3)), "");        // [SEP] prints nothing
}

TEST(WordPieceTest, BadVocabularies) {
  TokenizerData data = vocabulary();
  data.unkId = 99;
  EXPECT_NE(llvm::toString(Tokenizer::create(std::move(data)).takeError())
                .find("[UNK] id 99 is outside the vocabulary"),
            std::string::npos);
  data = vocabulary();
  data.wordPiece.continuation.clear();
  EXPECT_NE(llvm::toString(Tokenizer::create(std::move(data)).takeError())
                .find("continuation prefix is empty"),
            std::string::npos);
}

} // namespace
