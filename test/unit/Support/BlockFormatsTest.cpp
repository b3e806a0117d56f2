//===- BlockFormatsTest.cpp - the block formats' one description ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The sizes against GGML's definitions (ggml-common.h: block_q8_0 is an
// f16 scale and 32 int8, block_q4_0 an f16 scale and 16 bytes of nibbles),
// the dialect's formats against this library's, and the repacking into
// q8_0x8 / q4_0x8 against the layout written out here byte by byte.
//
//===----------------------------------------------------------------------===//

#include "loom/Support/BlockFormats.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace blocks = loom::blocks;

namespace {

TEST(BlockFormats, SizesAreGGMLs) {
  EXPECT_EQ(blocks::info(blocks::Format::Q8_0).bytes, 34);
  EXPECT_EQ(blocks::info(blocks::Format::Q4_0).bytes, 18);
  EXPECT_EQ(blocks::info(blocks::Format::Q8_0x8).bytes, 8 * 34);
  EXPECT_EQ(blocks::info(blocks::Format::Q4_0x8).bytes, 8 * 18);
  EXPECT_EQ(blocks::ofGGMLType(8), blocks::Format::Q8_0);
  EXPECT_EQ(blocks::ofGGMLType(2), blocks::Format::Q4_0);
  EXPECT_EQ(blocks::ofGGMLType(0), std::nullopt); // f32
  EXPECT_EQ(blocks::ofGGMLType(9), std::nullopt); // q8_1: not a file's
  // ggml-common.h: block_q5_0 = d + 4 bytes qh + 16 bytes qs; block_q5_1
  // adds m; block_q2_K = 16 + 64 + 2 f16; block_q3_K = 32 + 64 + 12 + f16;
  // block_q4_K = 2 f16 + 12 + 128; block_q5_K adds 32 bytes qh; block_q6_K
  // = 128 + 64 + 16 + f16; block_iq4_nl = d + 16 bytes.
  struct {
    uint32_t ggml;
    blocks::Format format;
    int64_t values, bytes, scaleOffset;
  } expected[] = {
      {6, blocks::Format::Q5_0, 32, 22, 0},
      {7, blocks::Format::Q5_1, 32, 24, 0},
      {10, blocks::Format::Q2_K, 256, 84, 80},
      {11, blocks::Format::Q3_K, 256, 110, 108},
      {12, blocks::Format::Q4_K, 256, 144, 0},
      {13, blocks::Format::Q5_K, 256, 176, 0},
      {14, blocks::Format::Q6_K, 256, 210, 208},
      {20, blocks::Format::IQ4_NL, 32, 18, 0},
  };
  for (const auto &e : expected) {
    EXPECT_EQ(blocks::ofGGMLType(e.ggml), e.format) << e.ggml;
    const blocks::FormatInfo &f = blocks::info(e.format);
    EXPECT_EQ(f.values, e.values) << f.name.str();
    EXPECT_EQ(f.bytes, e.bytes) << f.name.str();
    EXPECT_EQ(f.scaleOffset, e.scaleOffset) << f.name.str();
    EXPECT_EQ(blocks::ofStorage(f.storage), e.format) << f.name.str();
  }
}

TEST(BlockFormats, StorageBytes) {
  EXPECT_EQ(blocks::storageBytes(blocks::Format::Q8_0, 64), 68u);
  EXPECT_EQ(blocks::storageBytes(blocks::Format::Q4_0, 64), 36u);
  // Interleaved: the same bytes per row block, in groups of 8.
  EXPECT_EQ(blocks::storageBytes(blocks::Format::Q4_0x8, 8 * 64), 8 * 36u);
  EXPECT_EQ(blocks::storageBytes(blocks::Format::Q8_0, 33), std::nullopt);
  EXPECT_EQ(blocks::storageBytes(blocks::Format::Q8_0, UINT64_MAX / 32 * 32),
            std::nullopt);
}

TEST(BlockFormats, Lookups) {
  EXPECT_EQ(blocks::interleavedForm(blocks::Format::Q4_0),
            blocks::Format::Q4_0x8);
  EXPECT_EQ(blocks::interleavedForm(blocks::Format::Q8_0),
            blocks::Format::Q8_0x8);
  EXPECT_EQ(blocks::interleavedForm(blocks::Format::Q8_0x8), std::nullopt);
  EXPECT_EQ(blocks::plainWithBytes(34), blocks::Format::Q8_0);
  // q4_k: 144 bytes per super-block, as q4_0x8 per group of 8 blocks
  // (both 256 values); q4_0 and iq4_nl: 18 bytes, so the size alone is
  // ambiguous.
  EXPECT_EQ(blocks::plainWithBytes(144), blocks::Format::Q4_K);
  EXPECT_EQ(blocks::plainWithBytes(18), std::nullopt);
  EXPECT_EQ(blocks::valuesWithBytes(144), 256);
  EXPECT_EQ(blocks::valuesWithBytes(18), 32);
  EXPECT_EQ(blocks::valuesWithBytes(210), 256);
  EXPECT_EQ(blocks::valuesWithBytes(7), std::nullopt);
  EXPECT_EQ(blocks::interleavedWithBytes(loom::StorageType::Q4_0, 144),
            blocks::Format::Q4_0x8);
  EXPECT_EQ(blocks::interleavedWithBytes(loom::StorageType::Q8_0, 144),
            std::nullopt);
  for (loom::StorageType t :
       {loom::StorageType::F32, loom::StorageType::F16, loom::StorageType::BF16,
        loom::StorageType::Q8_0, loom::StorageType::Q4_0,
        loom::StorageType::Q4_K, loom::StorageType::IQ4_NL,
        loom::StorageType::Q8Groups})
    EXPECT_EQ(loom::storageTypeNamed(loom::storageTypeName(t)), t);
  EXPECT_EQ(loom::storageTypeNamed("q4_k"), loom::StorageType::Q4_K);
  EXPECT_EQ(loom::storageTypeNamed("q4_0x8"), std::nullopt);
  EXPECT_EQ(loom::storageTypeNamed("q4_K"), std::nullopt);
}

// Every #loom<block_format> case is a format of this library, with its
// sizes.
TEST(BlockFormats, DialectFormatsAreTheLibrarys) {
  using mlir::loom::BlockFormat;
  using mlir::loom::DequantizeOp;
  for (uint32_t i = 0; i <= mlir::loom::getMaxEnumValForBlockFormat(); ++i) {
    std::optional<BlockFormat> format = mlir::loom::symbolizeBlockFormat(i);
    ASSERT_TRUE(format);
    llvm::StringRef name = mlir::loom::stringifyBlockFormat(*format);
    std::optional<blocks::Format> f = blocks::named(name);
    ASSERT_TRUE(f) << name.str();
    EXPECT_EQ(DequantizeOp::blockBytes(*format), blocks::info(*f).bytes);
    EXPECT_EQ(DequantizeOp::blockRows(*format), blocks::info(*f).rows);
  }
}

// 16 rows x 2 blocks of q8_0 / q4_0 with distinct bytes, repacked, against
// the layout: per group of 8 rows and block, the 8 scales, then chunk c =
// bytes 4c..4c+3 of each row's values, row after row (q8_0: q + 128).
void checkInterleave(blocks::Format plain) {
  const int64_t bytes = blocks::info(plain).bytes, valueBytes = bytes - 2;
  const int64_t rows = 16, blockCount = 2, groups = rows / 8;
  std::vector<uint8_t> in(rows * blockCount * bytes);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = uint8_t(i * 7 + 3);
  std::vector<uint8_t> out(in.size(), 0xee);
  // In two ranges of groups, as the runtime's threads would.
  blocks::interleaveRows(plain, in.data(), out.data(), blockCount, 0, 1);
  blocks::interleaveRows(plain, in.data(), out.data(), blockCount, 1, groups);
  uint8_t bias = plain == blocks::Format::Q8_0 ? 0x80 : 0;
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t b = 0; b < blockCount; ++b) {
      const uint8_t *o = out.data() + (g * blockCount + b) * 8 * bytes;
      for (int64_t r = 0; r < 8; ++r) {
        const uint8_t *block =
            in.data() + ((g * 8 + r) * blockCount + b) * bytes;
        EXPECT_EQ(o[2 * r], block[0]);
        EXPECT_EQ(o[2 * r + 1], block[1]);
        for (int64_t v = 0; v < valueBytes; ++v)
          EXPECT_EQ(o[16 + 32 * (v / 4) + 4 * r + v % 4],
                    uint8_t(block[2 + v] ^ bias))
              << "group " << g << " block " << b << " row " << r << " byte "
              << v;
      }
    }
}

TEST(BlockFormats, InterleaveQ8) { checkInterleave(blocks::Format::Q8_0); }
TEST(BlockFormats, InterleaveQ4) { checkInterleave(blocks::Format::Q4_0); }

} // namespace
