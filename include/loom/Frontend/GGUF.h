//===- GGUF.h - the GGUF container: metadata and tensor infos ---*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A bounds-checked parser of the GGUF container (versions 2 and 3, little
// endian): the metadata key/value pairs, every value type including nested
// arrays, and the tensor infos with their absolute data offsets. readGGUF
// builds a ModelFile on top of it; tools that want the raw metadata (names,
// licences, tokenizer extras) use it directly.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_FRONTEND_GGUF_H
#define LOOM_FRONTEND_GGUF_H

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBufferRef.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace loom {

/// The metadata value types of the GGUF specification.
enum class GGUFType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

/// The spelling of a metadata type (`uint32`, `string`, ...), or "" when
/// `type` is not one.
llvm::StringRef ggufTypeName(uint32_t type);

/// The name of a ggml tensor type id (`F32`, `Q8_0`, `Q6_K`, ...), or ""
/// when the id is unknown.
llvm::StringRef ggmlTypeName(uint32_t type);

/// One metadata value. Strings and arrays of scalars point into the file's
/// bytes, which must outlive the value.
struct GGUFValue {
  GGUFType type = GGUFType::UInt8;
  /// The scalar, whichever member `type` selects: `u` for unsigned types and
  /// bool, `i` for signed types, `f` for floats.
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  llvm::StringRef str; ///< String
  /// Arrays: the element type and count; scalar elements stay in `raw`
  /// (count * element size bytes), strings and arrays are in `elements`.
  GGUFType elementType = GGUFType::UInt8;
  uint64_t count = 0;
  llvm::StringRef raw;
  std::vector<GGUFValue> elements;

  bool isArray() const { return type == GGUFType::Array; }
  /// The value of any integer type (and bool) as int64, or nullopt for other
  /// types and for uint64 values above INT64_MAX.
  std::optional<int64_t> getInteger() const;
  /// The value of a float type, or nullopt.
  std::optional<double> getFloat() const;
  /// The text of a string, or nullopt.
  std::optional<llvm::StringRef> getString() const;
  /// Element `index` (< count) of an array.
  GGUFValue element(uint64_t index) const;
};

/// One tensor info of a GGUF file.
struct GGUFTensorInfo {
  llvm::StringRef name;
  /// Dimensions as the file lists them: innermost first (ne0, ne1, ...).
  llvm::SmallVector<uint64_t, 4> dims;
  uint32_t ggmlType = 0;
  uint64_t relativeOffset = 0; ///< offset within the data section
  uint64_t offset = 0;         ///< absolute offset in the file
  /// Byte size, for the types Loom reads (F32, F16, BF16, Q8_0, Q4_0);
  /// nullopt for other types (whose bounds the parser cannot check).
  std::optional<uint64_t> size;
  uint64_t infoOffset = 0; ///< where the tensor info starts in the file
};

/// The container of a GGUF file. Names and keys point into the file's bytes.
struct GGUFFile {
  uint32_t version = 0;
  uint64_t alignment = 32; ///< `general.alignment`, default 32
  uint64_t dataOffset = 0; ///< start of the (aligned) tensor data section
  llvm::MapVector<llvm::StringRef, GGUFValue> metadata;
  std::vector<GGUFTensorInfo> tensors;

  /// The value of metadata key `key`, or null.
  const GGUFValue *lookup(llvm::StringRef key) const;
};

/// Parses the container in `buffer` (named by its identifier in errors).
/// Every length, count and offset is checked against the file's size before
/// use; the data of each tensor of a known type must lie inside the file.
llvm::Expected<GGUFFile> parseGGUF(llvm::MemoryBufferRef buffer);

} // namespace loom

#endif // LOOM_FRONTEND_GGUF_H
