//===- TokenizerFuzzer.cpp - libFuzzer target of the tokenizers -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A prompt is input: any bytes, tokenized by each kind of tokenizer
// (SentencePiece BPE with byte fallback, and WordPiece with BERT's
// normalizer, also from llama.cpp's phantom-space form), give ids inside
// the vocabulary (or an error); the same bytes read as a vocab.txt give a
// vocabulary or an error. Never a crash, a read out of bounds or a leak.
//
//===----------------------------------------------------------------------===//

#include "FuzzerSupport.h"
#include "HuggingFace.h"

#include "loom/Runtime/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"

using namespace loom;

namespace {

Tokenizer sentencePiece() {
  TokenizerData data;
  data.model = "llama";
  for (const char *piece : {"<unk>", "<s>", "</s>", " ", "a", "b", " a"}) {
    data.pieces.push_back(piece);
    data.scores.push_back(-float(data.pieces.size()));
  }
  for (unsigned b = 0; b < 256; ++b) {
    data.pieces.push_back("<0x" + llvm::utohexstr(b, false, 2) + ">");
    data.scores.push_back(0);
  }
  data.tokenTypes.assign(data.pieces.size(), 1);
  data.tokenTypes[1] = data.tokenTypes[2] = 3;
  return llvm::cantFail(Tokenizer::create(std::move(data)));
}

Tokenizer wordPiece(bool phantom) {
  TokenizerData data;
  data.model = "bert";
  for (const char *piece :
       {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##s", ",",
        "cafe", "\xE6\x9D\xB1", "##\xE2\x82\xAC", "a", "##a", "##b"})
    data.pieces.push_back(phantom && piece[0] != '['
                              ? (llvm::StringRef(piece).starts_with("##")
                                     ? std::string(piece + 2)
                                     : "\xE2\x96\x81" + std::string(piece))
                              : piece);
  data.tokenTypes.assign(data.pieces.size(), 1);
  for (int id = 0; id < 5; ++id)
    data.tokenTypes[id] = 3;
  data.bosId = 2;
  data.eosId = 3;
  data.unkId = 1;
  data.wordPiece.maxCharsPerWord = 16;
  return llvm::cantFail(Tokenizer::create(std::move(data)));
}

void tokenize(const Tokenizer &tok, llvm::StringRef text) {
  for (bool parseSpecial : {false, true}) {
    llvm::Expected<std::vector<int>> ids =
        tok.encode(text, /*bos=*/true, /*eos=*/true, parseSpecial);
    if (!ids) {
      fuzz::drop(ids.takeError());
      continue;
    }
    for (int id : *ids)
      if (id < 0 || id >= tok.vocabSize())
        fuzz::fail("an id outside the vocabulary", "tokenize");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const Tokenizer kSentencePiece = sentencePiece();
  static const Tokenizer kWordPiece = wordPiece(false);
  static const Tokenizer kPhantom = wordPiece(true);
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  tokenize(kSentencePiece, text);
  tokenize(kWordPiece, text);
  tokenize(kPhantom, text);
  TokenizerData vocab;
  if (llvm::Error e = detail::readVocabTxt(text, "vocab.txt", true, vocab)) {
    fuzz::drop(std::move(e));
  } else {
    llvm::Expected<Tokenizer> tok = Tokenizer::create(std::move(vocab));
    if (!tok)
      fuzz::drop(tok.takeError());
    else
      tokenize(*tok, "Hello, [CLS] world");
  }
  return 0;
}
