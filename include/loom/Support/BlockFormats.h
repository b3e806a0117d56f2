//===- BlockFormats.h - how weights are stored, in one place ----*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The storage types of weights (f32, f16, bf16, GGUF's block formats) and,
// for the block formats, everything the frontend, the dialect, the driver,
// the manifest and the runtime need to know of them: names, GGML type ids,
// bytes per block, the interleaved forms Loom repacks matrices into, and the
// repacking itself. MLIR-free: the runtime uses it without the compiler.
//
// Adding a block format (the K-quants, say): a row of kBlockFormats in
// BlockFormats.cpp, a case of the BlockFormat enum here and of
// Loom_BlockFormat in LoomBase.td (same name), and its lowering; the readers,
// the verifier, the manifest and the runtime then know its sizes.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_BLOCKFORMATS_H
#define LOOM_SUPPORT_BLOCKFORMATS_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>

namespace loom {

/// How a model file stores a tensor.
enum class StorageType {
  F32,
  F16,
  BF16,
  /// GGUF Q8_0: blocks of 32 int8 values with one f16 scale (34 bytes).
  Q8_0,
  /// GGUF Q4_0: blocks of 32 4-bit values with one f16 scale (18 bytes).
  Q4_0,
  /// GGUF Q4_1: blocks of 32 4-bit values with an f16 scale and an f16
  /// minimum (20 bytes): value = scale * q + min.
  Q4_1,
  /// GGUF Q5_0 / Q5_1: q4_0 / q4_1 with a fifth bit per value (22 / 24
  /// bytes per 32 values).
  Q5_0,
  Q5_1,
  /// GGUF's K-quants: super-blocks of 256 values in sub-blocks of 16 or 32
  /// with their own 4-, 6- or 8-bit scales (84, 110, 144, 176, 210 bytes).
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  /// GGUF IQ4_NL: q4_0's layout, the nibbles indexing a fixed non-linear
  /// table of 16 values (18 bytes per 32 values).
  IQ4_NL,
  /// llama2.c int8 export (version 2): int8 values for the whole tensor,
  /// then one f32 scale per group of `groupSize` values.
  Q8Groups,
};

/// The name of a storage type as users, the manifest and the IR see it
/// (`f32`, `q8_0`, ...).
llvm::StringRef storageTypeName(StorageType type);
/// The storage type of that name, if any.
std::optional<StorageType> storageTypeNamed(llvm::StringRef name);

namespace blocks {

/// The block formats: a file's (q8_0, q4_0, ..., the K-quants), and the
/// forms Loom reads their matrices in with the blocks of 8 rows interleaved
/// (q4_0x8, q8_0x8; see loom-interleave-weights). The names are those of the
/// dialect's `#loom<block_format ...>` cases.
enum class Format {
  Q8_0,
  Q4_0,
  Q4_0x8,
  Q8_0x8,
  Q4_1,
  Q5_0,
  Q5_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  IQ4_NL
};

struct FormatInfo {
  Format format;
  llvm::StringLiteral name;
  /// Values per block (per row): 32, or 256 for the K-quants.
  int64_t values;
  /// Bytes per block; for an interleaved form, per group of `rows` blocks.
  int64_t bytes;
  /// Rows whose blocks one block of this format holds: 1, or 8 for the
  /// interleaved forms.
  int64_t rows;
  /// The file's storage type of these blocks (q4_0x8: q4_0).
  StorageType storage;
  /// GGML's type id of the file's blocks (ggml.h's ggml_type).
  uint32_t ggmlType;
  /// Where a plain block keeps its f16 scale (the super-block scale d of a
  /// K-quant): the runtime checks these for NaN and infinity at load.
  int64_t scaleOffset;
};

/// Values per block of the formats that are not K-quants (GGUF's blocks of
/// 32); a K-quant's super-block of 256 holds 8 of them.
constexpr int64_t kValuesPerBlock = 32;
/// Values per super-block of the K-quants.
constexpr int64_t kValuesPerSuperBlock = 256;
/// Rows whose blocks the interleaved forms hold together.
constexpr int64_t kInterleavedRows = 8;

const FormatInfo &info(Format format);
/// The format of that name (`q8_0`, `q4_0x8`, ...).
std::optional<Format> named(llvm::StringRef name);
/// The block format of a storage type, for those stored in blocks.
std::optional<Format> ofStorage(StorageType type);
/// The format a GGML tensor type id stores (8: q8_0, 2: q4_0).
std::optional<Format> ofGGMLType(uint32_t type);
/// The plain (one row per block) format whose blocks take `bytes` bytes,
/// where only one does (18 bytes are q4_0 or iq4_nl: ambiguous).
std::optional<Format> plainWithBytes(int64_t bytes);
/// Values per block of the formats whose blocks take `bytes` bytes (per
/// group of rows for the interleaved forms: 256 for q4_0x8), where all such
/// formats agree; the parameter count of a weight read as raw blocks.
std::optional<int64_t> valuesWithBytes(int64_t bytes);
/// The interleaved form of a plain format (q4_0 -> q4_0x8), if it has one.
std::optional<Format> interleavedForm(Format format);
/// Whether `format` interleaves rows.
inline bool isInterleaved(Format format) { return info(format).rows > 1; }
/// The interleaved form of `storage` whose blocks of 8 rows take `bytes`
/// bytes: how the manifest tells a q4_0 weight read as q4_0x8.
std::optional<Format> interleavedWithBytes(StorageType storage, int64_t bytes);

/// The bytes of `values` values stored in `format` (a whole number of
/// blocks); std::nullopt when `values` is not a multiple of the block size
/// or the product overflows.
std::optional<uint64_t> storageBytes(Format format, uint64_t values);

/// Repacks groups [firstGroup, lastGroup) of a plain-format matrix `in`
/// ([groups * 8, blocks] blocks) into its interleaved form `out` ([groups,
/// blocks] blocks of 8 rows): per group and block, the 8 rows' f16 scales,
/// then chunks of 32 bytes, chunk c holding bytes 4c..4c+3 of each row's
/// values in turn (q8_0x8 stores each int8 q as q + 128). The runtime runs
/// it over ranges of groups in parallel.
void interleaveRows(Format plain, const uint8_t *in, uint8_t *out,
                    int64_t blocks, int64_t firstGroup, int64_t lastGroup);

} // namespace blocks
} // namespace loom

#endif // LOOM_SUPPORT_BLOCKFORMATS_H
