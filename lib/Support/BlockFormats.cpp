//===- BlockFormats.cpp - how weights are stored, in one place ------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Support/BlockFormats.h"

#include "llvm/ADT/STLExtras.h"

#include <cstring>
#include <limits>

using namespace llvm;

namespace loom {

StringRef storageTypeName(StorageType type) {
  switch (type) {
  case StorageType::F32:
    return "f32";
  case StorageType::F16:
    return "f16";
  case StorageType::BF16:
    return "bf16";
  case StorageType::Q8_0:
    return "q8_0";
  case StorageType::Q4_0:
    return "q4_0";
  case StorageType::Q4_1:
    return "q4_1";
  case StorageType::Q8Groups:
    return "q8_groups";
  }
  return "unknown";
}

std::optional<StorageType> storageTypeNamed(StringRef name) {
  for (StorageType t : {StorageType::F32, StorageType::F16, StorageType::BF16,
                        StorageType::Q8_0, StorageType::Q4_0, StorageType::Q4_1,
                        StorageType::Q8Groups})
    if (storageTypeName(t) == name)
      return t;
  return std::nullopt;
}

namespace blocks {
namespace {

// An f16 scale, then the values: 32 int8, or 32 nibbles in 16 bytes.
constexpr int64_t kScaleBytes = 2;
constexpr int64_t kQ8Bytes = kScaleBytes + kValuesPerBlock;
constexpr int64_t kQ4Bytes = kScaleBytes + kValuesPerBlock / 2;
// q4_1: the scale, an f16 minimum, the nibbles.
constexpr int64_t kQ4_1Bytes = 2 * kScaleBytes + kValuesPerBlock / 2;

constexpr FormatInfo kFormats[] = {
    {Format::Q8_0, "q8_0", kValuesPerBlock, kQ8Bytes, 1, StorageType::Q8_0},
    {Format::Q4_0, "q4_0", kValuesPerBlock, kQ4Bytes, 1, StorageType::Q4_0},
    {Format::Q4_0x8, "q4_0x8", kValuesPerBlock, kInterleavedRows * kQ4Bytes,
     kInterleavedRows, StorageType::Q4_0},
    {Format::Q8_0x8, "q8_0x8", kValuesPerBlock, kInterleavedRows * kQ8Bytes,
     kInterleavedRows, StorageType::Q8_0},
    {Format::Q4_1, "q4_1", kValuesPerBlock, kQ4_1Bytes, 1, StorageType::Q4_1},
};

} // namespace

const FormatInfo &info(Format format) {
  for (const FormatInfo &f : kFormats)
    if (f.format == format)
      return f;
  llvm_unreachable("a block format without a row in kFormats");
}

std::optional<Format> named(StringRef name) {
  for (const FormatInfo &f : kFormats)
    if (f.name == name)
      return f.format;
  return std::nullopt;
}

std::optional<Format> ofStorage(StorageType type) {
  for (const FormatInfo &f : kFormats)
    if (f.rows == 1 && f.storage == type)
      return f.format;
  return std::nullopt;
}

std::optional<Format> ofGGMLType(uint32_t type) {
  // GGML's ggml_type ids (ggml.h).
  switch (type) {
  case 8:
    return Format::Q8_0;
  case 2:
    return Format::Q4_0;
  case 3:
    return Format::Q4_1;
  default:
    return std::nullopt;
  }
}

std::optional<Format> plainWithBytes(int64_t bytes) {
  for (const FormatInfo &f : kFormats)
    if (f.rows == 1 && f.bytes == bytes)
      return f.format;
  return std::nullopt;
}

std::optional<Format> interleavedForm(Format format) {
  const FormatInfo &plain = info(format);
  if (plain.rows != 1)
    return std::nullopt;
  for (const FormatInfo &f : kFormats)
    if (f.rows > 1 && f.storage == plain.storage)
      return f.format;
  return std::nullopt;
}

std::optional<Format> interleavedWithBytes(StorageType storage, int64_t bytes) {
  for (const FormatInfo &f : kFormats)
    if (f.rows > 1 && f.storage == storage && f.bytes == bytes)
      return f.format;
  return std::nullopt;
}

std::optional<uint64_t> storageBytes(Format format, uint64_t values) {
  const FormatInfo &f = info(format);
  uint64_t perBlock = uint64_t(f.bytes / f.rows);
  if (values % uint64_t(f.values) != 0)
    return std::nullopt;
  uint64_t count = values / uint64_t(f.values);
  if (count > std::numeric_limits<uint64_t>::max() / perBlock)
    return std::nullopt;
  return count * perBlock;
}

void interleaveRows(Format plain, const uint8_t *in, uint8_t *out,
                    int64_t blocks, int64_t firstGroup, int64_t lastGroup) {
  const FormatInfo &f = info(plain);
  assert(f.rows == 1 && interleavedForm(plain) && "not a plain format");
  const int64_t inBytes = f.bytes, outBytes = kInterleavedRows * inBytes;
  const int64_t valueBytes = inBytes - kScaleBytes;
  // q8_0x8 keeps q + 128 (unsigned), the operand vpdpbusd takes.
  const uint32_t bias = plain == Format::Q8_0 ? 0x80808080u : 0;
  for (int64_t g = firstGroup; g < lastGroup; ++g) {
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t *o = out + (g * blocks + b) * outBytes;
      for (int64_t r = 0; r < kInterleavedRows; ++r) {
        const uint8_t *block =
            in + ((g * kInterleavedRows + r) * blocks + b) * inBytes;
        std::memcpy(o + kScaleBytes * r, block, kScaleBytes);
        for (int64_t c = 0; c < valueBytes / 4; ++c) {
          uint32_t word;
          std::memcpy(&word, block + kScaleBytes + 4 * c, 4);
          word ^= bias;
          std::memcpy(o + kScaleBytes * kInterleavedRows +
                          kInterleavedRows * 4 * c + 4 * r,
                      &word, 4);
        }
      }
    }
  }
}

} // namespace blocks
} // namespace loom
