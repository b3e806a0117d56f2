//===- Llama2CReaderFuzzer.cpp - libFuzzer target of the llama2.c reader --===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Any input, read as a llama2.c checkpoint (versions 0, 1 and 2) and as a
// tokenizer.bin: a model or tokenizer, or an error; never a crash or a read
// out of bounds.
//
//===----------------------------------------------------------------------===//

#include "FuzzerSupport.h"

using namespace loom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      fuzz::inputBuffer(data, size, "fuzz.bin");
  for (int64_t vocab : {int64_t(0), int64_t(size ? data[0] : 1)}) {
    llvm::Expected<TokenizerData> tok =
        readLlama2CTokenizer(buffer->getMemBufferRef(), vocab);
    if (!tok)
      fuzz::drop(tok.takeError());
    else if (tok->pieces.size() != tok->scores.size())
      fuzz::fail("pieces and scores out of step", "tokenizer");
  }
  fuzz::check(readLlama2CFromBuffer(std::move(buffer)));
  return 0;
}
