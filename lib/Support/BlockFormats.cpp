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
  case StorageType::Q5_0:
    return "q5_0";
  case StorageType::Q5_1:
    return "q5_1";
  case StorageType::Q2_K:
    return "q2_k";
  case StorageType::Q3_K:
    return "q3_k";
  case StorageType::Q4_K:
    return "q4_k";
  case StorageType::Q5_K:
    return "q5_k";
  case StorageType::Q6_K:
    return "q6_k";
  case StorageType::IQ4_NL:
    return "iq4_nl";
  case StorageType::Q8Groups:
    return "q8_groups";
  }
  return "unknown";
}

std::optional<StorageType> storageTypeNamed(StringRef name) {
  for (StorageType t : {StorageType::F32, StorageType::F16, StorageType::BF16,
                        StorageType::Q8Groups})
    if (storageTypeName(t) == name)
      return t;
  // The block formats' (their names are the storage types').
  if (std::optional<blocks::Format> f = blocks::named(name))
    if (!blocks::isInterleaved(*f))
      return blocks::info(*f).storage;
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
// q5_0 / q5_1: q4_0 / q4_1's scale (and minimum), 4 bytes of fifth bits,
// the nibbles.
constexpr int64_t kQ5_0Bytes = kScaleBytes + 4 + kValuesPerBlock / 2;
constexpr int64_t kQ5_1Bytes = 2 * kScaleBytes + 4 + kValuesPerBlock / 2;
// The K-quants, per super-block of 256 (ggml-common.h's block_q*_K):
// q2_K: 16 bytes of 4-bit scale/min pairs, 64 of 2-bit values, d, dmin.
constexpr int64_t kQ2_KBytes = 16 + 64 + 2 * kScaleBytes;
// q3_K: 32 bytes of high bits, 64 of 2-bit values, 12 of 6-bit scales, d.
constexpr int64_t kQ3_KBytes = 32 + 64 + 12 + kScaleBytes;
// q4_K: d, dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles.
constexpr int64_t kQ4_KBytes = 2 * kScaleBytes + 12 + 128;
// q5_K: q4_K's with 32 bytes of fifth bits before the nibbles.
constexpr int64_t kQ5_KBytes = 2 * kScaleBytes + 12 + 32 + 128;
// q6_K: 128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 scales, d.
constexpr int64_t kQ6_KBytes = 128 + 64 + 16 + kScaleBytes;
constexpr int64_t kSB = kValuesPerSuperBlock;

constexpr FormatInfo kFormats[] = {
    {Format::Q8_0, "q8_0", kValuesPerBlock, kQ8Bytes, 1, StorageType::Q8_0, 8,
     0},
    {Format::Q4_0, "q4_0", kValuesPerBlock, kQ4Bytes, 1, StorageType::Q4_0, 2,
     0},
    {Format::Q4_0x8, "q4_0x8", kValuesPerBlock, kInterleavedRows * kQ4Bytes,
     kInterleavedRows, StorageType::Q4_0, 2, 0},
    {Format::Q8_0x8, "q8_0x8", kValuesPerBlock, kInterleavedRows * kQ8Bytes,
     kInterleavedRows, StorageType::Q8_0, 8, 0},
    {Format::Q4_1, "q4_1", kValuesPerBlock, kQ4_1Bytes, 1, StorageType::Q4_1, 3,
     0},
    {Format::Q5_0, "q5_0", kValuesPerBlock, kQ5_0Bytes, 1, StorageType::Q5_0, 6,
     0},
    {Format::Q5_1, "q5_1", kValuesPerBlock, kQ5_1Bytes, 1, StorageType::Q5_1, 7,
     0},
    {Format::Q2_K, "q2_k", kSB, kQ2_KBytes, 1, StorageType::Q2_K, 10, 80},
    {Format::Q3_K, "q3_k", kSB, kQ3_KBytes, 1, StorageType::Q3_K, 11, 108},
    {Format::Q4_K, "q4_k", kSB, kQ4_KBytes, 1, StorageType::Q4_K, 12, 0},
    {Format::Q5_K, "q5_k", kSB, kQ5_KBytes, 1, StorageType::Q5_K, 13, 0},
    {Format::Q6_K, "q6_k", kSB, kQ6_KBytes, 1, StorageType::Q6_K, 14, 208},
    {Format::IQ4_NL, "iq4_nl", kValuesPerBlock, kQ4Bytes, 1,
     StorageType::IQ4_NL, 20, 0},
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
  for (const FormatInfo &f : kFormats)
    if (f.rows == 1 && f.ggmlType == type)
      return f.format;
  return std::nullopt;
}

std::optional<Format> plainWithBytes(int64_t bytes) {
  std::optional<Format> found;
  for (const FormatInfo &f : kFormats) {
    if (f.rows != 1 || f.bytes != bytes)
      continue;
    if (found)
      return std::nullopt;
    found = f.format;
  }
  return found;
}

std::optional<int64_t> valuesWithBytes(int64_t bytes) {
  std::optional<int64_t> values;
  for (const FormatInfo &f : kFormats) {
    if (f.bytes != bytes)
      continue;
    if (values && *values != f.values * f.rows)
      return std::nullopt;
    values = f.values * f.rows;
  }
  return values;
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
