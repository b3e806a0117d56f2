//===- ReaderSupport.h - bounds-checked reading for model readers -*- C++ -*-//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// What every reader shares: errors that name the file, a cursor that never
// reads past the end of the bytes it was given, checked arithmetic for sizes
// a file claims, and the weight table's bookkeeping.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_FRONTEND_READERSUPPORT_H
#define LOOM_LIB_FRONTEND_READERSUPPORT_H

#include "loom/Frontend/ModelFile.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/Error.h"

#include <cstring>
#include <type_traits>

namespace loom::detail {

/// An error `"<file>: <message>"`.
inline llvm::Error fileError(llvm::StringRef file, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 file + ": " + message);
}

/// A little-endian cursor over a file's bytes that checks every read.
class ByteReader {
public:
  ByteReader(llvm::StringRef data, llvm::StringRef fileName)
      : data(data), fileName(fileName) {}

  uint64_t offset() const { return pos; }
  uint64_t size() const { return data.size(); }
  uint64_t remaining() const { return data.size() - pos; }
  llvm::StringRef file() const { return fileName; }

  /// Reads a little-endian integer or float.
  template <typename T> llvm::Error read(T &value, const llvm::Twine &what) {
    static_assert(std::is_arithmetic_v<T>, "read scalars only");
    if (remaining() < sizeof(T))
      return truncated(sizeof(T), what);
    std::memcpy(&value, data.data() + pos, sizeof(T));
    if constexpr (sizeof(T) > 1 && std::is_integral_v<T>)
      value =
          llvm::support::endian::byte_swap<T>(value, llvm::endianness::little);
    pos += sizeof(T);
    return llvm::Error::success();
  }

  /// Takes the next `n` bytes.
  llvm::Error readBytes(uint64_t n, llvm::StringRef &out,
                        const llvm::Twine &what) {
    if (remaining() < n)
      return truncated(n, what);
    out = data.substr(pos, n);
    pos += n;
    return llvm::Error::success();
  }

  /// Moves to `offset`, which may be the end but not past it.
  llvm::Error seek(uint64_t offset, const llvm::Twine &what) {
    if (offset > data.size())
      return fileError(fileName, what + " at offset " + llvm::Twine(offset) +
                                     " lies past the end of the file (" +
                                     llvm::Twine(data.size()) + " bytes)");
    pos = offset;
    return llvm::Error::success();
  }

  /// The error for `what`, `need` bytes at the current offset, running past
  /// the end.
  llvm::Error truncated(uint64_t need, const llvm::Twine &what) const {
    return fileError(fileName, "unexpected end of file reading " + what +
                                   " [offset " + llvm::Twine(pos) + ", " +
                                   llvm::Twine(need) +
                                   " bytes]: the file has " +
                                   llvm::Twine(data.size()) + " bytes");
  }

private:
  llvm::StringRef data;
  llvm::StringRef fileName;
  uint64_t pos = 0;
};

/// `a * b` and `a + b`, or nullopt on overflow.
std::optional<uint64_t> mulU64(uint64_t a, uint64_t b);
std::optional<uint64_t> addU64(uint64_t a, uint64_t b);

/// `[1, 2, 3]`.
std::string shapeString(llvm::ArrayRef<int64_t> shape);

/// The error for tensor `name`'s data running past the end of the file.
llvm::Error dataPastEnd(llvm::StringRef file, llvm::StringRef name,
                        uint64_t offset, uint64_t size, uint64_t fileSize);

/// Appends `weight` to `model`'s table; an error when the name is taken.
llvm::Error addWeight(ModelFile &model, WeightInfo weight);

/// Sets `tiedEmbeddings`: true when there is no `output.weight` or it is a
/// bit-identical copy of `token_embd.weight`.
void detectTiedEmbeddings(ModelFile &model);

/// Sets `attentionBias` and `blocks.projectionBias` from the tensors of
/// layer 0: a query (or fused QKV) bias, an attention output bias.
void detectBiases(ModelFile &model);

/// Whether Loom builds `arch`, and the architectures it builds as a list
/// for error messages (Families.cpp).
bool isKnownArchitecture(llvm::StringRef arch);
std::string knownArchitecturesList();

/// How the family's GGUF files pair RoPE features.
RopeStyle ggufRopeStyle(llvm::StringRef arch);

/// The family of a Hugging Face model class (`LlamaForCausalLM`), or "".
llvm::StringRef architectureOfHFClass(llvm::StringRef hfClass);

/// Opens `path` memory-mapped (read-only, never copied for large files).
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
openFile(llvm::StringRef path);

} // namespace loom::detail

#endif // LOOM_LIB_FRONTEND_READERSUPPORT_H
