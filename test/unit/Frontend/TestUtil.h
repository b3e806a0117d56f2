//===- TestUtil.h - helpers of the model-file reader tests ------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Where the real models are, a temporary folder, error capture, and small
// writers of GGUF, safetensors and llama2.c files, so tests can build every
// kind of good and bad input they need.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TEST_UNIT_FRONTEND_TESTUTIL_H
#define LOOM_TEST_UNIT_FRONTEND_TESTUTIL_H

#include "loom/Frontend/GGUF.h"
#include "loom/Frontend/ModelFile.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace loom::test {

/// The folder of the real models (`../shared/models` from the source root,
/// found through $LOOM_SOURCE_DIR or this file's path), or "" if absent.
std::string modelsDir();

/// Skips the test when the real models are absent; sets `dir` otherwise.
#define LOOM_REQUIRE_MODELS(dir)                                               \
  std::string dir = ::loom::test::modelsDir();                                 \
  if (dir.empty())                                                             \
  GTEST_SKIP() << "../shared/models (the real stories260K files) is absent "   \
                  "beside the source root; skipping"

/// A fresh temporary folder, removed with everything in it at the end.
class TempDir {
public:
  TempDir();
  ~TempDir();
  /// `<dir>/<name>`.
  std::string path(llvm::StringRef name) const;
  /// Writes `bytes` to `<dir>/<name>` and returns the path.
  std::string write(llvm::StringRef name, llvm::StringRef bytes) const;

private:
  llvm::SmallString<128> dir;
};

/// The message of `value`'s error, or "<no error>" when it holds a value.
template <typename T> std::string errorText(llvm::Expected<T> value) {
  if (value)
    return "<no error>";
  return llvm::toString(value.takeError());
}
inline std::string errorText(llvm::Error error) {
  if (!error)
    return "<no error>";
  return llvm::toString(std::move(error));
}

/// A memory buffer named `name` holding a copy of `bytes`.
std::unique_ptr<llvm::MemoryBuffer> bufferOf(llvm::StringRef bytes,
                                             llvm::StringRef name);

//===----------------------------------------------------------------------===//
// Little-endian encoding
//===----------------------------------------------------------------------===//

template <typename T> std::string le(T value) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &value, sizeof(T));
  return s;
}
/// A GGUF string: uint64 length, bytes.
std::string ggufString(llvm::StringRef s);
/// `count` floats 0, step, 2 step, ... as bytes.
std::string f32Ramp(size_t count, float start = 0, float step = 1);

//===----------------------------------------------------------------------===//
// GGUF writer
//===----------------------------------------------------------------------===//

/// Writes GGUF files: metadata in the order added, then tensor infos, then
/// the data, each tensor at the next multiple of the alignment.
class GGUFWriter {
public:
  explicit GGUFWriter(uint32_t version = 3) : version(version) {}

  /// A key with an already encoded value of `type`.
  GGUFWriter &raw(llvm::StringRef key, GGUFType type, llvm::StringRef value);
  template <typename T>
  GGUFWriter &scalar(llvm::StringRef key, GGUFType type, T value) {
    return raw(key, type, le(value));
  }
  GGUFWriter &u32(llvm::StringRef key, uint32_t v) {
    return scalar(key, GGUFType::UInt32, v);
  }
  GGUFWriter &f32(llvm::StringRef key, float v) {
    return scalar(key, GGUFType::Float32, v);
  }
  GGUFWriter &str(llvm::StringRef key, llvm::StringRef v) {
    return raw(key, GGUFType::String, ggufString(v));
  }
  /// An array of strings.
  GGUFWriter &strings(llvm::StringRef key,
                      const std::vector<std::string> &values);
  /// An array of scalars of `type`, already encoded.
  GGUFWriter &array(llvm::StringRef key, GGUFType type, uint64_t count,
                    llvm::StringRef elements);

  /// Drops every key named `key` added so far.
  GGUFWriter &erase(llvm::StringRef key);

  /// A tensor with dims innermost first; `offset` overrides the computed
  /// relative offset.
  GGUFWriter &tensor(llvm::StringRef name, std::vector<uint64_t> dims,
                     uint32_t ggmlType, llvm::StringRef data,
                     std::optional<uint64_t> offset = std::nullopt);

  /// The file, with tensor data aligned to `alignment` (the
  /// general.alignment key is not written for you).
  std::string build(uint64_t alignment = 32) const;

private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string data;
    std::optional<uint64_t> offset;
  };
  uint32_t version;
  std::vector<std::pair<std::string, std::string>> kvs; ///< key, encoded
  std::vector<Tensor> tensors;
};

/// The tiny llama every synthetic test starts from: dim 8, hidden 16,
/// 2 layers, 2 heads of 4, 1 KV head, vocab 6, context 32.
struct TinyLlama {
  static constexpr int64_t dim = 8, hidden = 16, layers = 2, heads = 2,
                           kvHeads = 1, headDim = 4, vocab = 6, context = 32;
  /// Every tensor, GGUF names, outermost-first shapes.
  static std::vector<std::pair<std::string, std::vector<int64_t>>> tensors();
  /// A GGUF file of it (F32, with tokenizer), optionally untied.
  static GGUFWriter gguf(bool tied = true, uint32_t version = 3);
};

//===----------------------------------------------------------------------===//
// safetensors writer
//===----------------------------------------------------------------------===//

/// Writes safetensors files with the tensors packed in the order added.
class SafetensorsWriter {
public:
  SafetensorsWriter &add(llvm::StringRef name, llvm::StringRef dtype,
                         std::vector<int64_t> shape, llvm::StringRef data);
  /// The file; `header` replaces the generated JSON header.
  std::string build(std::optional<std::string> header = std::nullopt) const;
  /// The JSON header it would write.
  std::string header() const;

private:
  struct Tensor {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::string data;
  };
  std::vector<Tensor> tensors;
};

/// A config.json for TinyLlama (as `LlamaForCausalLM`), with `extra`
/// appended inside the object (e.g. `, "tie_word_embeddings": true`).
std::string tinyConfigJSON(llvm::StringRef extra = "",
                           bool withArchitecture = true);

/// The tiny llama as a Hugging Face checkpoint, F32, untied.
SafetensorsWriter tinySafetensors(bool withLmHead = true);

} // namespace loom::test

#endif // LOOM_TEST_UNIT_FRONTEND_TESTUTIL_H
