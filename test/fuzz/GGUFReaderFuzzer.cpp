//===- GGUFReaderFuzzer.cpp - libFuzzer target of the GGUF reader ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Any input: readGGUFFromBuffer returns a model whose weights lie inside
// the input, or an error; it never crashes or reads out of bounds.
//
//===----------------------------------------------------------------------===//

#include "FuzzerSupport.h"

#include "loom/Frontend/GGUF.h"

using namespace loom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      fuzz::inputBuffer(data, size, "fuzz.gguf");
  // The container on its own: every array element must be reachable.
  if (llvm::Expected<GGUFFile> file = parseGGUF(buffer->getMemBufferRef())) {
    for (auto &[key, value] : file->metadata)
      for (uint64_t i = 0; i < value.count; ++i)
        (void)value.element(i).getInteger();
  } else {
    fuzz::drop(file.takeError());
  }
  fuzz::check(readGGUFFromBuffer(std::move(buffer)));
  return 0;
}
