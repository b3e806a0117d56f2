//===- GGUFParser.cpp - the GGUF container, bounds-checked ----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// GGUF (versions 2 and 3, little endian):
//
//   magic "GGUF", uint32 version, uint64 tensor_count, uint64 kv_count,
//   kv_count x { string key, uint32 type, value },
//   tensor_count x { string name, uint32 n_dims, uint64 dims[n_dims],
//                    uint32 ggml_type, uint64 offset },
//   padding to general.alignment, then the tensor data.
//
// A string is a uint64 length and that many bytes; an array is a uint32
// element type, a uint64 count and the elements. Every count is checked
// against the bytes left before anything is allocated, so a hostile length
// costs nothing.
//
//===----------------------------------------------------------------------===//

#include "loom/Frontend/GGUF.h"

#include "ReaderSupport.h"

#include "llvm/ADT/bit.h"
#include "llvm/Support/MathExtras.h"

using namespace llvm;
using loom::detail::ByteReader;
using loom::detail::fileError;

namespace loom {

StringRef ggufTypeName(uint32_t type) {
  static constexpr StringLiteral names[] = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64"};
  return type < std::size(names) ? StringRef(names[type]) : StringRef();
}

StringRef ggmlTypeName(uint32_t type) {
  // Ids 4, 5 and 31..33, 36..38 were removed from ggml and stay unnamed.
  static constexpr StringLiteral names[] = {
      "F32",   "F16",   "Q4_0",    "Q4_1",   "",        "",      "Q5_0",
      "Q5_1",  "Q8_0",  "Q8_1",    "Q2_K",   "Q3_K",    "Q4_K",  "Q5_K",
      "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
      "IQ3_S", "IQ2_S", "IQ4_XS",  "I8",     "I16",     "I32",   "I64",
      "F64",   "IQ1_M", "BF16",    "",       "",        "",      "TQ1_0",
      "TQ2_0", "",      "",        "",       "MXFP4"};
  return type < std::size(names) ? StringRef(names[type]) : StringRef();
}

/// The byte size of one scalar of `type`, or 0 for strings and arrays.
static uint64_t scalarSize(GGUFType type) {
  switch (type) {
  case GGUFType::UInt8:
  case GGUFType::Int8:
  case GGUFType::Bool:
    return 1;
  case GGUFType::UInt16:
  case GGUFType::Int16:
    return 2;
  case GGUFType::UInt32:
  case GGUFType::Int32:
  case GGUFType::Float32:
    return 4;
  case GGUFType::UInt64:
  case GGUFType::Int64:
  case GGUFType::Float64:
    return 8;
  case GGUFType::String:
  case GGUFType::Array:
    return 0;
  }
  return 0;
}

/// Decodes one scalar of `type` from the start of `bytes` (which holds at
/// least scalarSize(type) bytes).
static GGUFValue decodeScalar(GGUFType type, const char *bytes) {
  GGUFValue v;
  v.type = type;
  const auto *p = reinterpret_cast<const uint8_t *>(bytes);
  switch (type) {
  case GGUFType::UInt8:
    v.u = p[0];
    break;
  case GGUFType::Bool:
    v.u = p[0] != 0;
    break;
  case GGUFType::Int8:
    v.i = int8_t(p[0]);
    break;
  case GGUFType::UInt16:
    v.u = support::endian::read16le(p);
    break;
  case GGUFType::Int16:
    v.i = int16_t(support::endian::read16le(p));
    break;
  case GGUFType::UInt32:
    v.u = support::endian::read32le(p);
    break;
  case GGUFType::Int32:
    v.i = int32_t(support::endian::read32le(p));
    break;
  case GGUFType::UInt64:
    v.u = support::endian::read64le(p);
    break;
  case GGUFType::Int64:
    v.i = int64_t(support::endian::read64le(p));
    break;
  case GGUFType::Float32:
    v.f = bit_cast<float>(support::endian::read32le(p));
    break;
  case GGUFType::Float64:
    v.f = bit_cast<double>(support::endian::read64le(p));
    break;
  case GGUFType::String:
  case GGUFType::Array:
    break;
  }
  return v;
}

std::optional<int64_t> GGUFValue::getInteger() const {
  switch (type) {
  case GGUFType::UInt8:
  case GGUFType::UInt16:
  case GGUFType::UInt32:
  case GGUFType::UInt64:
  case GGUFType::Bool:
    if (u > uint64_t(INT64_MAX))
      return std::nullopt;
    return int64_t(u);
  case GGUFType::Int8:
  case GGUFType::Int16:
  case GGUFType::Int32:
  case GGUFType::Int64:
    return i;
  default:
    return std::nullopt;
  }
}

std::optional<double> GGUFValue::getFloat() const {
  if (type == GGUFType::Float32 || type == GGUFType::Float64)
    return f;
  return std::nullopt;
}

std::optional<StringRef> GGUFValue::getString() const {
  if (type == GGUFType::String)
    return str;
  return std::nullopt;
}

GGUFValue GGUFValue::element(uint64_t index) const {
  if (!isArray() || index >= count)
    return GGUFValue();
  if (uint64_t size = scalarSize(elementType))
    return decodeScalar(elementType, raw.data() + index * size);
  return elements[index];
}

const GGUFValue *GGUFFile::lookup(StringRef key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

namespace {

/// Arrays nest at most this deep (real files use one level).
constexpr unsigned kMaxArrayDepth = 16;
/// GGML_MAX_DIMS.
constexpr uint32_t kMaxDims = 4;

class Parser {
public:
  explicit Parser(MemoryBufferRef buffer)
      : r(buffer.getBuffer(), buffer.getBufferIdentifier()) {}

  Expected<GGUFFile> parse();

private:
  Error readString(StringRef &out, const Twine &what);
  Error readValue(GGUFType type, GGUFValue &out, const Twine &what,
                  unsigned depth);
  Error readTensorInfo(GGUFTensorInfo &info, uint64_t index);

  ByteReader r;
  GGUFFile file;
};

} // namespace

Error Parser::readString(StringRef &out, const Twine &what) {
  uint64_t start = r.offset();
  uint64_t length;
  if (Error e = r.read(length, what + " length"))
    return e;
  if (length > r.remaining())
    return fileError(r.file(), what + " at offset " + Twine(start) +
                                   " has length " + Twine(length) +
                                   ", past the end of the file (" +
                                   Twine(r.size()) + " bytes)");
  return r.readBytes(length, out, what);
}

Error Parser::readValue(GGUFType type, GGUFValue &out, const Twine &what,
                        unsigned depth) {
  out.type = type;
  if (uint64_t size = scalarSize(type)) {
    StringRef bytes;
    if (Error e = r.readBytes(size, bytes, what))
      return e;
    out = decodeScalar(type, bytes.data());
    return Error::success();
  }
  if (type == GGUFType::String)
    return readString(out.str, what);

  // An array.
  uint64_t start = r.offset();
  if (depth >= kMaxArrayDepth)
    return fileError(r.file(), what + " at offset " + Twine(start) +
                                   " nests arrays deeper than " +
                                   Twine(kMaxArrayDepth));
  uint32_t elementType;
  if (Error e = r.read(elementType, what + " element type"))
    return e;
  if (ggufTypeName(elementType).empty())
    return fileError(r.file(), what + " at offset " + Twine(start) +
                                   " has unknown element type " +
                                   Twine(elementType));
  out.elementType = GGUFType(elementType);
  if (Error e = r.read(out.count, what + " element count"))
    return e;
  // Every element takes at least one byte (a string 8, an array 12).
  uint64_t minSize = scalarSize(out.elementType);
  if (!minSize)
    minSize = out.elementType == GGUFType::String ? 8 : 12;
  std::optional<uint64_t> need = detail::mulU64(out.count, minSize);
  if (!need || *need > r.remaining())
    return fileError(r.file(),
                     what + " at offset " + Twine(start) + " claims " +
                         Twine(out.count) + " " + ggufTypeName(elementType) +
                         " elements, more than the " + Twine(r.remaining()) +
                         " bytes left in the file");
  if (scalarSize(out.elementType))
    return r.readBytes(*need, out.raw, what);
  out.elements.resize(out.count);
  for (uint64_t i = 0; i < out.count; ++i)
    if (Error e = readValue(out.elementType, out.elements[i],
                            what + "[" + Twine(i) + "]", depth + 1))
      return e;
  return Error::success();
}

/// The size of a tensor of a type Loom reads, or nullopt (unknown type, or
/// a size that does not fit 64 bits, or blocks that do not divide ne0).
static std::optional<uint64_t> ggmlTensorSize(uint32_t type,
                                              ArrayRef<uint64_t> dims) {
  uint64_t n = 1;
  for (uint64_t d : dims) {
    std::optional<uint64_t> m = detail::mulU64(n, d);
    if (!m || *m > uint64_t(INT64_MAX))
      return std::nullopt;
    n = *m;
  }
  uint64_t ne0 = dims.empty() ? 1 : dims.front();
  switch (type) {
  case 0: // F32
    return detail::mulU64(n, 4);
  case 1:  // F16
  case 30: // BF16
    return detail::mulU64(n, 2);
  default:
    // Block formats: whole blocks along the innermost dimension.
    if (std::optional<blocks::Format> f = blocks::ofGGMLType(type))
      return ne0 % uint64_t(blocks::info(*f).values)
                 ? std::nullopt
                 : blocks::storageBytes(*f, n);
    return std::nullopt;
  }
}

Error Parser::readTensorInfo(GGUFTensorInfo &info, uint64_t index) {
  info.infoOffset = r.offset();
  if (Error e = readString(info.name, "tensor info #" + Twine(index) + " name"))
    return e;
  std::string where = ("tensor '" + info.name + "'").str();
  uint32_t numDims;
  if (Error e = r.read(numDims, where + " dimension count"))
    return e;
  if (numDims > kMaxDims)
    return fileError(r.file(), where + " at offset " + Twine(info.infoOffset) +
                                   " has " + Twine(numDims) +
                                   " dimensions (at most " + Twine(kMaxDims) +
                                   ")");
  for (uint32_t d = 0; d < numDims; ++d) {
    uint64_t dim;
    if (Error e = r.read(dim, where + " dimension " + Twine(d)))
      return e;
    if (dim > uint64_t(INT64_MAX))
      return fileError(r.file(), where + " has dimension " + Twine(d) +
                                     " of absurd size " + Twine(dim));
    info.dims.push_back(dim);
  }
  if (Error e = r.read(info.ggmlType, where + " type"))
    return e;
  if (Error e = r.read(info.relativeOffset, where + " offset"))
    return e;
  if (ggmlTypeName(info.ggmlType).empty())
    return fileError(r.file(),
                     where + " has unknown ggml type " + Twine(info.ggmlType));
  return Error::success();
}

Expected<GGUFFile> Parser::parse() {
  StringRef magic;
  if (Error e = r.readBytes(4, magic, "the GGUF magic"))
    return std::move(e);
  if (magic != "GGUF")
    return fileError(r.file(), "not a GGUF file (the magic is not \"GGUF\")");
  if (Error e = r.read(file.version, "the GGUF version"))
    return std::move(e);
  if (file.version != 2 && file.version != 3) {
    if (byteswap(file.version) == 2 || byteswap(file.version) == 3)
      return fileError(r.file(), "big-endian GGUF files are not supported");
    return fileError(r.file(), "unsupported GGUF version " +
                                   Twine(file.version) +
                                   " (Loom reads 2 and 3)");
  }
  uint64_t tensorCount, kvCount;
  if (Error e = r.read(tensorCount, "the tensor count"))
    return std::move(e);
  if (Error e = r.read(kvCount, "the metadata count"))
    return std::move(e);
  // A key/value takes at least 13 bytes, a tensor info at least 24.
  if (kvCount > r.remaining() / 13)
    return fileError(r.file(), "metadata count " + Twine(kvCount) +
                                   " is more than the file can hold");
  if (tensorCount > r.remaining() / 24)
    return fileError(r.file(), "tensor count " + Twine(tensorCount) +
                                   " is more than the file can hold");

  for (uint64_t i = 0; i < kvCount; ++i) {
    uint64_t start = r.offset();
    StringRef key;
    if (Error e = readString(key, "metadata key #" + Twine(i)))
      return std::move(e);
    uint32_t type;
    if (Error e = r.read(type, "the type of metadata key '" + key + "'"))
      return std::move(e);
    if (ggufTypeName(type).empty())
      return fileError(r.file(), "metadata key '" + key + "' at offset " +
                                     Twine(start) + " has unknown type " +
                                     Twine(type));
    GGUFValue value;
    if (Error e =
            readValue(GGUFType(type), value, "metadata key '" + key + "'", 0))
      return std::move(e);
    if (!file.metadata.insert({key, std::move(value)}).second)
      return fileError(r.file(), "metadata key '" + key + "' at offset " +
                                     Twine(start) + " appears twice");
  }

  if (const GGUFValue *alignment = file.lookup("general.alignment")) {
    std::optional<int64_t> value = alignment->getInteger();
    if (!value || *value <= 0 || !isPowerOf2_64(uint64_t(*value))) {
      std::string found =
          value ? std::to_string(*value)
                : ("a " + ggufTypeName(uint32_t(alignment->type))).str();
      return fileError(
          r.file(), "general.alignment must be a power of two, not " + found);
    }
    file.alignment = uint64_t(*value);
  }

  file.tensors.resize(tensorCount);
  for (uint64_t i = 0; i < tensorCount; ++i)
    if (Error e = readTensorInfo(file.tensors[i], i))
      return std::move(e);

  std::optional<uint64_t> dataOffset =
      detail::addU64(r.offset(), file.alignment - 1);
  if (!dataOffset)
    return fileError(r.file(), "the data section offset overflows");
  file.dataOffset = *dataOffset / file.alignment * file.alignment;

  uint64_t fileSize = r.size();
  for (GGUFTensorInfo &info : file.tensors) {
    if (info.relativeOffset % file.alignment)
      return fileError(r.file(), "tensor '" + info.name + "' offset " +
                                     Twine(info.relativeOffset) +
                                     " is not a multiple of the alignment " +
                                     Twine(file.alignment));
    std::optional<uint64_t> offset =
        detail::addU64(file.dataOffset, info.relativeOffset);
    if (!offset)
      return fileError(r.file(), "tensor '" + info.name + "' offset " +
                                     Twine(info.relativeOffset) + " overflows");
    info.offset = *offset;
    info.size = ggmlTensorSize(info.ggmlType, info.dims);
    // Every type whose layout is known (the float types and the block
    // formats of BlockFormats.h) has a size, or the tensor is malformed.
    std::optional<blocks::Format> block = blocks::ofGGMLType(info.ggmlType);
    bool known = info.ggmlType == 0 || info.ggmlType == 1 ||
                 info.ggmlType == 30 || block;
    if (known && !info.size)
      return fileError(
          r.file(), "tensor '" + info.name + "' of type " +
                        ggmlTypeName(info.ggmlType) +
                        " has dimensions whose size overflows or whose "
                        "innermost dimension is not a multiple of its "
                        "block size (" +
                        Twine(block ? blocks::info(*block).values : 1) + ")");
    if (info.size &&
        (info.offset > fileSize || *info.size > fileSize - info.offset))
      return detail::dataPastEnd(r.file(), info.name, info.offset, *info.size,
                                 fileSize);
  }
  return std::move(file);
}

Expected<GGUFFile> parseGGUF(MemoryBufferRef buffer) {
  return Parser(buffer).parse();
}

} // namespace loom
