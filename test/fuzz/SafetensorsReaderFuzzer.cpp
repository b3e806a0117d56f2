//===- SafetensorsReaderFuzzer.cpp - libFuzzer target of safetensors ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Any input, read as a safetensors file (header and weight table), and as
// the text of a config.json and a tokenizer.json: a result or an error;
// never a crash or a read out of bounds.
//
//===----------------------------------------------------------------------===//

#include "FuzzerSupport.h"
#include "HuggingFace.h"

using namespace loom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<ModelConfig> config = parseHFConfig(text, "config.json");
  if (!config)
    fuzz::drop(config.takeError());
  TokenizerData tok;
  if (llvm::Error e = detail::readHFTokenizer(text, "tokenizer.json", tok))
    fuzz::drop(std::move(e));
  else if (tok.scores.size() != tok.pieces.size() && !tok.pieces.empty())
    fuzz::fail("pieces and scores out of step", "tokenizer.json");
  fuzz::check(readSafetensorsFromBuffer(
      fuzz::inputBuffer(data, size, "fuzz.safetensors")));
  return 0;
}
