//===- FuzzerSupport.h - what the reader fuzzers share ----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Checks a fuzzer applies to every ModelFile a reader accepts: each weight
// lies inside its buffer, and the accessors and validateModel run cleanly.
// A violation is a reader bug, so the fuzzer traps (library code never
// does).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TEST_FUZZ_FUZZERSUPPORT_H
#define LOOM_TEST_FUZZ_FUZZERSUPPORT_H

#include "loom/Frontend/ModelFile.h"

#include <cstdio>
#include <cstdlib>

namespace loom::fuzz {

/// A view of the fuzzer's input that MemoryBuffer does not copy, so that
/// AddressSanitizer sees any read past its end.
inline std::unique_ptr<llvm::MemoryBuffer>
inputBuffer(const uint8_t *data, size_t size, llvm::StringRef name) {
  return llvm::MemoryBuffer::getMemBuffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), name,
      /*RequiresNullTerminator=*/false);
}

[[noreturn]] inline void fail(const char *what, const std::string &name) {
  std::fprintf(stderr, "reader bug: %s (%s)\n", what, name.c_str());
  std::abort();
}

/// Whether to print each verdict ($LOOM_FUZZ_VERBOSE), to check seeds.
inline bool verbose() { return std::getenv("LOOM_FUZZ_VERBOSE"); }

/// Drops `error`, printing it when verbose.
inline void drop(llvm::Error error) {
  std::string message = llvm::toString(std::move(error));
  if (message.empty())
    fail("an error without a message", "");
  if (verbose())
    std::fprintf(stderr, "error: %s\n", message.c_str());
}

/// Checks `result` when it holds a model; drops its error otherwise.
inline void check(llvm::Expected<std::unique_ptr<ModelFile>> result) {
  if (!result)
    return drop(result.takeError());
  const ModelFile &model = **result;
  if (verbose())
    std::fprintf(stderr, "read %zu weights\n", model.weights.size());
  volatile uint8_t sink = 0;
  for (const WeightInfo &w : model.weights) {
    if (w.fileIndex >= model.buffers.size())
      fail("weight in a missing buffer", w.name);
    uint64_t size = model.buffers[w.fileIndex]->getBufferSize();
    if (w.offset > size || w.size > size - w.offset)
      fail("weight data outside its buffer", w.name);
    if (model.lookup(w.name) != &w)
      fail("weight index out of step", w.name);
    std::optional<uint64_t> expected = storageByteSize(w.storage, w.shape);
    if (!expected || *expected != w.size) {
      std::string shape;
      for (int64_t d : w.shape)
        shape += " " + std::to_string(d);
      fail("weight size does not match its shape",
           w.name + " (shape" + shape + ", " + std::to_string(w.size) +
               " bytes)");
    }
    llvm::ArrayRef<uint8_t> bytes = model.bytes(w);
    if (!bytes.empty())
      sink = sink ^ bytes.front() ^ bytes.back();
    if (w.storage == StorageType::Q8Groups) {
      llvm::ArrayRef<uint8_t> scales = model.scales(w);
      if (scales.empty() && w.numElements() > 0)
        fail("q8 scales outside the buffer", w.name);
      if (!scales.empty())
        sink = sink ^ scales.back();
    }
  }
  if (llvm::Error error = validateModel(model))
    drop(std::move(error));
  else if (verbose())
    std::fprintf(stderr, "valid\n");
}

} // namespace loom::fuzz

#endif // LOOM_TEST_FUZZ_FUZZERSUPPORT_H
