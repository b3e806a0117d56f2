//===- MemRefDescriptor.h - memref arguments for JIT-compiled code -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TEST_LIB_MEMREFDESCRIPTOR_H
#define LOOM_TEST_LIB_MEMREFDESCRIPTOR_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::testing {

/// A memref descriptor over row-major `data` of `sizes`: {allocated,
/// aligned, offset, sizes, strides}, as `_mlir_ciface_` functions take it
/// (by pointer: pass `&pointer` to ExecutionEngine::invokePacked).
struct MemRefDescriptor {
  MemRefDescriptor(void *data, std::vector<int64_t> sizes) {
    auto p = reinterpret_cast<int64_t>(data);
    words = {p, p, 0};
    words.insert(words.end(), sizes.begin(), sizes.end());
    std::vector<int64_t> strides(sizes.size());
    int64_t stride = 1;
    for (std::size_t i = sizes.size(); i-- > 0;) {
      strides[i] = stride;
      stride *= sizes[i];
    }
    words.insert(words.end(), strides.begin(), strides.end());
    pointer = words.data();
  }
  std::vector<int64_t> words;
  void *pointer;
};

} // namespace loom::testing

#endif // LOOM_TEST_LIB_MEMREFDESCRIPTOR_H
