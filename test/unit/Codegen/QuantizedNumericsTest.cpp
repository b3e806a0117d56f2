//===- QuantizedNumericsTest.cpp - q4_0 and q4_0x8 linear layers ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiles a linear layer with q4_0 (q8_0) weights, and the same layer with
// the weights interleaved 8 rows at a time (q4_0x8, q8_0x8: interleaved
// here by the test from the formats' definitions), with the real pipeline, runs
// both in-process on random blocks and inputs, and compares each with a float64
// reference computed here from the decoded blocks: for one token (the
// decode lowering), for 7 (register blocks of tokens and a remainder) and
// for 37 (with AMX-INT8: q8_0x8 on tiles for two tiles of 16 tokens, three
// blocks through the tiles' two-slot pipeline, and 5 rows on vectors),
// with 8-bit activations (the reference quantizes x as Loom and llama.cpp
// do: d = f16(max|x| / 127), q = round-half-even(x * 127 / max|x|)) and with
// f32 activations. Tolerance: 1e-5 x max |reference| (f32 sums of 96 terms).
// `loom.dequantize` of q4_0x8 / q8_0x8 used as a value (not by a linear
// layer) must give exactly the q4_0 / q8_0 values.
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"

#include "loom/Runtime/Threads.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <random>

using namespace mlir;
using llvm::formatv;
using ::loom::testing::halfToFloat;
using ::loom::testing::int8Blocks;

namespace {

constexpr int64_t kRows = 32, kBlocks = 3, kK = kBlocks * 32;

/// Bytes of a block's values: 16 of nibbles (q4_0), 32 (q8_0).
int64_t valueBytes(bool q8) { return q8 ? 32 : 16; }

/// Random q4_0 or q8_0 blocks [kRows, kBlocks, 2 + values] with scales
/// between 2^-8 and 2^-4.
std::vector<uint8_t> randomBlocks(std::mt19937 &rng, bool q8) {
  int64_t bytes = 2 + valueBytes(q8);
  std::vector<uint8_t> raw(kRows * kBlocks * bytes);
  std::uniform_int_distribution<int> byte(0, 255), exponent(7, 11);
  for (int64_t i = 0; i < kRows * kBlocks; ++i) {
    uint8_t *block = raw.data() + i * bytes;
    uint16_t bits = uint16_t(exponent(rng) << 10 | byte(rng) << 2);
    if (byte(rng) & 1)
      bits |= 0x8000;
    std::memcpy(block, &bits, 2);
    for (int j = 0; j < valueBytes(q8); ++j)
      block[2 + j] = uint8_t(byte(rng));
  }
  return raw;
}

/// q4_0x8 / q8_0x8 as LoomBase.td defines them: per group of 8 rows and
/// block, the rows' scales, then chunk c (32 bytes) holding bytes 4c..4c+3
/// of each row's values in turn; q8_0x8 stores q + 128.
std::vector<uint8_t> interleave(const std::vector<uint8_t> &raw, bool q8) {
  int64_t bytes = 2 + valueBytes(q8);
  std::vector<uint8_t> out(raw.size());
  for (int64_t n = 0; n < kRows; ++n) {
    for (int64_t b = 0; b < kBlocks; ++b) {
      const uint8_t *block = raw.data() + (n * kBlocks + b) * bytes;
      uint8_t *group = out.data() + ((n / 8) * kBlocks + b) * 8 * bytes;
      int64_t r = n % 8;
      group[2 * r] = block[0];
      group[2 * r + 1] = block[1];
      for (int64_t i = 0; i < valueBytes(q8); ++i)
        group[16 + 32 * (i / 4) + 4 * r + i % 4] =
            q8 ? uint8_t(int8_t(block[2 + i]) + 128) : block[2 + i];
    }
  }
  return out;
}

/// Value k of row n: q4_0: d * (nibble - 8), values 0-15 in the low
/// nibbles; q8_0: d * q.
double weight(const std::vector<uint8_t> &raw, bool q8, int64_t n, int64_t k) {
  const uint8_t *block =
      raw.data() + (n * kBlocks + k / 32) * (2 + valueBytes(q8));
  uint16_t bits;
  std::memcpy(&bits, block, 2);
  int64_t j = k % 32;
  int q = q8 ? int(int8_t(block[2 + j]))
             : (j < 16 ? block[2 + j] & 15 : block[2 + j - 16] >> 4) - 8;
  return double(halfToFloat(bits)) * q;
}

/// `ir` compiled with 8-bit or f32 activations, for `cpu` (empty: the
/// host).
llvm::Expected<std::unique_ptr<::loom::testing::CompiledFunction>>
compile(const std::string &ir, bool int8, const std::string &cpu = "") {
  ::loom::CompileOptions options;
  options.int8Activations = int8;
  if (!cpu.empty())
    options.cpu = cpu;
  return ::loom::testing::CompiledFunction::compile(ir, options);
}

/// The weight's type and format in IR.
std::pair<std::string, std::string> weightType(bool q8, bool interleaved) {
  int64_t bytes = 2 + valueBytes(q8);
  std::string format = q8 ? "q8_0" : "q4_0";
  if (interleaved)
    return {formatv("tensor<{0}x{1}x{2}xi8>", kRows / 8, kBlocks, 8 * bytes),
            format + "x8"};
  return {formatv("tensor<{0}x{1}x{2}xi8>", kRows, kBlocks, bytes), format};
}

std::vector<int64_t> weightShape(bool q8, bool interleaved) {
  int64_t bytes = 2 + valueBytes(q8);
  if (interleaved)
    return {kRows / 8, kBlocks, 8 * bytes};
  return {kRows, kBlocks, bytes};
}

std::string linearIR(int64_t tokens, bool q8, bool interleaved) {
  auto [raw, format] = weightType(q8, interleaved);
  return formatv("func.func @f(%x: tensor<1x{0}x{1}xf32>, %raw: {2}) -> "
                 "tensor<1x{0}x{3}xf32> {{\n"
                 "  %w = loom.dequantize %raw format = {4} : {2} -> "
                 "tensor<{3}x{1}xf32>\n"
                 "  %y = loom.linear %x, %w : (tensor<1x{0}x{1}xf32>, "
                 "tensor<{3}x{1}xf32>) -> tensor<1x{0}x{3}xf32>\n"
                 "  return %y : tensor<1x{0}x{3}xf32>\n}\n",
                 tokens, kK, raw, kRows, format);
}

struct Case {
  const char *name;
  int64_t tokens;
  bool int8;
  bool q8 = false;
  /// x86-64-v3 (AVX2, no VNNI: vpmaddubsw pairs for q4_0; for q8_0 the
  /// signs form interleaved, the nibble split in the file's layout) runs
  /// on an AVX-512 host too; alderlake (AVX-VNNI: 256-bit vpdpbusd, no
  /// AVX-512) where the host has AVX-VNNI; empty: the host.
  const char *cpu = "";
};

class QuantizedNumerics : public ::testing::TestWithParam<Case> {
protected:
  static void SetUpTestSuite() { ::loom::setThreadCount(2); }
};

TEST_P(QuantizedNumerics, InterleavedMatchesReference) {
  const Case &c = GetParam();
  if (*c.cpu && !::loom::testing::hostRunsCodeFor(c.cpu))
    GTEST_SKIP() << "the host cannot run code for " << c.cpu;
  std::mt19937 rng(7 + c.tokens);
  std::vector<uint8_t> raw = randomBlocks(rng, c.q8),
                       packed = interleave(raw, c.q8);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(c.tokens * kK);
  for (float &v : x)
    v = dist(rng);

  // The reference, in float64.
  std::vector<double> xs(x.begin(), x.end());
  if (c.int8)
    xs = int8Blocks(x);
  std::vector<double> reference(c.tokens * kRows);
  double maxRef = 0;
  for (int64_t s = 0; s < c.tokens; ++s) {
    for (int64_t n = 0; n < kRows; ++n) {
      double sum = 0;
      for (int64_t k = 0; k < kK; ++k)
        sum += xs[s * kK + k] * weight(raw, c.q8, n, k);
      reference[s * kRows + n] = sum;
      maxRef = std::max(maxRef, std::abs(sum));
    }
  }

  for (bool interleaved : {false, true}) {
    SCOPED_TRACE(weightType(c.q8, interleaved).second);
    auto kernel = compile(linearIR(c.tokens, c.q8, interleaved), c.int8, c.cpu);
    ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
    std::vector<float> y(c.tokens * kRows, 0.0f);
    std::vector<uint8_t> &bytes = interleaved ? packed : raw;
    std::deque<::loom::testing::MemRefDescriptor> ds;
    ds.emplace_back(x.data(), std::vector<int64_t>{1, c.tokens, kK});
    ds.emplace_back(bytes.data(), weightShape(c.q8, interleaved));
    ds.emplace_back(y.data(), std::vector<int64_t>{1, c.tokens, kRows});
    // With AMX-INT8 on the host, q8_0x8 prefill of 16 tokens or more
    // takes tiles; the numbers below then check them.
    if (interleaved && c.q8 && c.int8 && c.tokens >= 16 && !*c.cpu &&
        llvm::sys::getHostCPUFeatures().lookup("amx-int8"))
      EXPECT_NE((*kernel)->lowered().find("llvm.x86.tdpbssd.internal"),
                std::string::npos)
          << "no AMX tile multiply for " << c.tokens << " tokens";
    // AVX-VNNI: the 256-bit vpdpbusd.
    if (llvm::StringRef(c.cpu) == "alderlake")
      EXPECT_NE((*kernel)->lowered().find("llvm.x86.avx512.vpdpbusd.256"),
                std::string::npos)
          << "no 256-bit vpdpbusd for alderlake";
    llvm::Error e = (*kernel)->call(ds);
    ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
    double maxDiff = 0;
    for (size_t i = 0; i < y.size(); ++i)
      maxDiff = std::max(maxDiff, std::abs(double(y[i]) - reference[i]));
    EXPECT_LE(maxDiff, 1e-5 * maxRef)
        << "max |difference| " << maxDiff << ", max |reference| " << maxRef;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Linear, QuantizedNumerics,
    ::testing::Values(
        Case{"q4_decode_int8", 1, true}, Case{"q4_prefill_int8", 7, true},
        Case{"q4_decode_f32", 1, false}, Case{"q4_prefill_f32", 7, false},
        Case{"q8_decode_int8", 1, true, true},
        Case{"q8_prefill_int8", 7, true, true},
        Case{"q8_prefill_int8_tiles", 37, true, true},
        Case{"q8_decode_f32", 1, false, true},
        Case{"q8_prefill_f32", 7, false, true},
        Case{"q4_decode_int8_avx2", 1, true, false, "x86-64-v3"},
        Case{"q4_prefill_int8_avx2", 7, true, false, "x86-64-v3"},
        Case{"q8_decode_int8_avx2", 1, true, true, "x86-64-v3"},
        Case{"q8_prefill_int8_avx2", 7, true, true, "x86-64-v3"},
        Case{"q4_decode_int8_avxvnni", 1, true, false, "alderlake"},
        Case{"q4_prefill_int8_avxvnni", 7, true, false, "alderlake"},
        Case{"q8_decode_int8_avxvnni", 1, true, true, "alderlake"},
        Case{"q8_prefill_int8_avxvnni", 7, true, true, "alderlake"}),
    [](const ::testing::TestParamInfo<Case> &info) {
      return std::string(info.param.name);
    });

/// loom.dequantize of q4_0x8 / q8_0x8 as a value: the q4_0 / q8_0 values,
/// exactly.
TEST(QuantizedNumericsDecode, InterleavedValuesAreExact) {
  ::loom::setThreadCount(2);
  for (bool q8 : {false, true}) {
    auto [type, format] = weightType(q8, true);
    SCOPED_TRACE(format);
    std::mt19937 rng(99);
    std::vector<uint8_t> raw = randomBlocks(rng, q8),
                         packed = interleave(raw, q8);
    std::string ir = formatv("func.func @f(%raw: {0}) -> tensor<{2}x{3}xf32> "
                             "{{\n"
                             "  %w = loom.dequantize %raw format = {1} : {0} "
                             "-> tensor<{2}x{3}xf32>\n"
                             "  return %w : tensor<{2}x{3}xf32>\n}\n",
                             type, format, kRows, kK);
    auto kernel = compile(ir, true);
    ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
    std::vector<float> w(kRows * kK, 0.0f);
    std::deque<::loom::testing::MemRefDescriptor> ds;
    ds.emplace_back(packed.data(), weightShape(q8, true));
    ds.emplace_back(w.data(), std::vector<int64_t>{kRows, kK});
    llvm::Error e = (*kernel)->call(ds);
    ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
    for (int64_t n = 0; n < kRows; ++n)
      for (int64_t k = 0; k < kK; ++k)
        ASSERT_EQ(w[n * kK + k], float(weight(raw, q8, n, k)))
            << "row " << n << ", value " << k;
  }
}

} // namespace
