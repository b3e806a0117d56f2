//===- DecodedNumericsTest.cpp - linear layers over GGML block formats ----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiles a linear layer whose weight is stored in one of the block formats
// decoded inside the contraction (q4_1, q5_0, q5_1, q2_k .. q6_k, iq4_nl),
// with the real pipeline, runs it in-process on random blocks and inputs,
// and compares it with a float64 reference computed here from the blocks by
// the formats' definitions (ggml's ggml-common.h layouts, written out below
// independently of Loom's decoder): for one token (the decode lowering),
// for 7 (register blocks of tokens and a remainder) and 37 (on a host with
// AMX-INT8, two tiles of 16 tokens for the K-quants and 5 more on the
// vector path; with AVX512-VNNI, the K-quants' rows-in-lanes kernel: 4
// blocks of 8 tokens and 5 one at a time), with 8-bit activations
// (the reference quantizes x exactly as Loom does: blocks of 32, for the
// K-quants super-blocks of 256 sharing one scale as llama.cpp's q8_K, so
// the only difference is f32 summation) and with f32 activations. Tolerance:
// 2e-5 x max |reference| (f32 sums of 512 terms).
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"

#include "loom/Runtime/Threads.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>

using llvm::formatv;
using ::loom::testing::halfToFloat;
using ::loom::testing::int8Blocks;

namespace {

// Rows a multiple of 16 (AMX takes the K-quants' rows 16 at a time).
constexpr int64_t kRows = 32, kK = 512;

/// One format: its IR name, bytes and values per block, the offsets of its
/// f16 fields (scales and minimums), and its decoder.
struct Format {
  const char *name;
  int64_t bytes, values;
  std::vector<int> halves;
  /// The block's `values` weights.
  void (*decode)(const uint8_t *block, double *out);
};

double f16At(const uint8_t *p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return halfToFloat(bits);
}

uint32_t u32At(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// block_q4_1 {d, m, qs[16]}: value j (< 16) low nibble of qs[j], j + 16 the
// high one; w = d * q + m.
void decodeQ4_1(const uint8_t *b, double *out) {
  double d = f16At(b), m = f16At(b + 2);
  for (int j = 0; j < 16; ++j) {
    out[j] = d * (b[4 + j] & 15) + m;
    out[j + 16] = d * (b[4 + j] >> 4) + m;
  }
}

// block_q5_0 {d, qh[4], qs[16]} and block_q5_1 {d, m, qh[4], qs[16]}: the
// fifth bit of value j is bit j of qh; q5_0 subtracts 16.
template <bool kMin> void decodeQ5(const uint8_t *b, double *out) {
  double d = f16At(b), m = kMin ? f16At(b + 2) : 0.0;
  const uint8_t *p = b + (kMin ? 4 : 2);
  uint32_t qh = u32At(p);
  const uint8_t *qs = p + 4;
  for (int j = 0; j < 16; ++j) {
    int lo = (qs[j] & 15) | ((qh >> j) & 1) << 4;
    int hi = (qs[j] >> 4) | ((qh >> (j + 16)) & 1) << 4;
    if (!kMin) {
      lo -= 16;
      hi -= 16;
    }
    out[j] = d * lo + m;
    out[j + 16] = d * hi + m;
  }
}

// block_iq4_nl {d, qs[16]}: nibbles index a fixed non-linear table.
void decodeIQ4NL(const uint8_t *b, double *out) {
  static constexpr int kTable[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};
  double d = f16At(b);
  for (int j = 0; j < 16; ++j) {
    out[j] = d * kTable[b[2 + j] & 15];
    out[j + 16] = d * kTable[b[2 + j] >> 4];
  }
}

// block_q2_K {scales[16], qs[64], d, dmin}: 16 groups of 16; scale byte:
// low nibble scale, high nibble minimum; w = d * sc * q - dmin * m; 2-bit
// values, 4 planes of shifts 0, 2, 4, 6 over 32 bytes per 128 values.
void decodeQ2_K(const uint8_t *b, double *out) {
  const uint8_t *scales = b, *qs = b + 16;
  double d = f16At(b + 80), dmin = f16At(b + 82);
  for (int i = 0; i < 256; ++i) {
    int half = i / 128, plane = (i % 128) / 32, l = i % 32;
    int q = (qs[32 * half + l] >> (2 * plane)) & 3;
    uint8_t sc = scales[i / 16];
    out[i] = d * (sc & 15) * q - dmin * (sc >> 4);
  }
}

// block_q3_K {hmask[32], qs[64], scales[12], d}: 2 low bits as q2_K, the
// third bit in hmask (bit i / 32 of hmask[i % 32]; clear means minus 4);
// 16 six-bit scales (minus 32) packed in 12 bytes.
void decodeQ3_K(const uint8_t *b, double *out) {
  const uint8_t *hmask = b, *qs = b + 32, *packed = b + 96;
  double d = f16At(b + 108);
  int scales[16];
  for (int j = 0; j < 16; ++j) {
    int low = j < 8 ? packed[j] & 15 : packed[j - 8] >> 4;
    int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = (low | high << 4) - 32;
  }
  for (int i = 0; i < 256; ++i) {
    int half = i / 128, plane = (i % 128) / 32, l = i % 32;
    int q = (qs[32 * half + l] >> (2 * plane)) & 3;
    if (!((hmask[l] >> (i / 32)) & 1))
      q -= 4;
    out[i] = d * scales[i / 16] * q;
  }
}

// The 6-bit scale and minimum of group j (of 8) of q4_K / q5_K.
std::pair<int, int> scaleMinK4(const uint8_t *q, int j) {
  if (j < 4)
    return {q[j] & 63, q[j + 4] & 63};
  return {(q[j + 4] & 15) | (q[j - 4] >> 6) << 4, (q[j + 4] >> 4) | (q[j] >> 6)
                                                                        << 4};
}

// block_q4_K {d, dmin, scales[12], qs[128]} and block_q5_K {d, dmin,
// scales[12], qh[32], qs[128]}: 8 groups of 32; per 64 values 32 bytes,
// low nibbles the first group, high the second; q5_K's fifth bit of value i
// is bit i / 32 of qh[i % 32].
template <bool kFifth> void decodeQ45_K(const uint8_t *b, double *out) {
  double d = f16At(b), dmin = f16At(b + 2);
  const uint8_t *scales = b + 4, *qh = b + 16;
  const uint8_t *qs = b + (kFifth ? 48 : 16);
  for (int i = 0; i < 256; ++i) {
    int group = i / 32, l = i % 32;
    uint8_t byte = qs[32 * (group / 2) + l];
    int q = group % 2 ? byte >> 4 : byte & 15;
    if (kFifth && ((qh[l] >> group) & 1))
      q += 16;
    auto [sc, m] = scaleMinK4(scales, group);
    out[i] = d * sc * q - dmin * m;
  }
}

// block_q6_K {ql[128], qh[64], scales[16] (int8), d}: per 128 values, 64
// bytes of low nibbles (values l and l + 64 share ql[l], l + 32 and l + 96
// ql[l + 32]) and 32 of high 2-bit pairs; minus 32; 16 groups of 16.
void decodeQ6_K(const uint8_t *b, double *out) {
  const uint8_t *ql = b, *qh = b + 128;
  const auto *scales = reinterpret_cast<const int8_t *>(b + 192);
  double d = f16At(b + 208);
  for (int i = 0; i < 256; ++i) {
    int half = i / 128, quarter = (i % 128) / 32, l = i % 32;
    uint8_t low = ql[64 * half + l + 32 * (quarter % 2)];
    int q = (quarter < 2 ? low & 15 : low >> 4) |
            ((qh[32 * half + l] >> (2 * quarter)) & 3) << 4;
    out[i] = d * scales[i / 16] * (q - 32);
  }
}

const std::vector<Format> &formats() {
  static const std::vector<Format> all = {
      {"q4_1", 20, 32, {0, 2}, decodeQ4_1},
      {"q5_0", 22, 32, {0}, decodeQ5<false>},
      {"q5_1", 24, 32, {0, 2}, decodeQ5<true>},
      {"iq4_nl", 18, 32, {0}, decodeIQ4NL},
      {"q2_k", 84, 256, {80, 82}, decodeQ2_K},
      {"q3_k", 110, 256, {108}, decodeQ3_K},
      {"q4_k", 144, 256, {0, 2}, decodeQ45_K<false>},
      {"q5_k", 176, 256, {0, 2}, decodeQ45_K<true>},
      {"q6_k", 210, 256, {208}, decodeQ6_K},
  };
  return all;
}

struct Case {
  std::string format;
  int64_t tokens;
  bool int8;
  /// The CPU to compile for (empty: the host): x86-64-v3 (AVX2, no VNNI)
  /// runs the 256-bit code on an AVX-512 host too; alderlake (AVX-VNNI:
  /// 256-bit vpdpbusd without AVX-512) where the host has AVX-VNNI.
  std::string cpu = "";
};

class DecodedNumerics : public ::testing::TestWithParam<Case> {
protected:
  static void SetUpTestSuite() { ::loom::setThreadCount(2); }
};

TEST_P(DecodedNumerics, MatchesReference) {
  const Case &c = GetParam();
  const Format &f = *llvm::find_if(
      formats(), [&](const Format &f) { return f.name == c.format; });
  int64_t blocks = kK / f.values;

  // Random blocks, their f16 fields set to scales between 2^-8 and 2^-4
  // (either sign: minimums and q5_0/q6_K-style scales can be negative).
  std::mt19937 rng(11 + c.tokens);
  std::uniform_int_distribution<int> byte(0, 255), exponent(7, 11);
  std::vector<uint8_t> raw(kRows * blocks * f.bytes);
  for (uint8_t &v : raw)
    v = uint8_t(byte(rng));
  for (int64_t i = 0; i < kRows * blocks; ++i) {
    for (int offset : f.halves) {
      uint16_t bits = uint16_t(exponent(rng) << 10 | byte(rng) << 2);
      if (byte(rng) & 1)
        bits |= 0x8000;
      std::memcpy(raw.data() + i * f.bytes + offset, &bits, 2);
    }
  }
  std::vector<double> w(kRows * kK);
  for (int64_t i = 0; i < kRows * blocks; ++i)
    f.decode(raw.data() + i * f.bytes, w.data() + i * f.values);

  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(c.tokens * kK);
  for (float &v : x)
    v = dist(rng);
  std::vector<double> xs(x.begin(), x.end());
  if (c.int8)
    xs = int8Blocks(x, f.values == 256 ? 256 : 32); // K-quants: q8_K
  std::vector<double> reference(c.tokens * kRows);
  double maxRef = 0;
  for (int64_t s = 0; s < c.tokens; ++s) {
    for (int64_t n = 0; n < kRows; ++n) {
      double sum = 0;
      for (int64_t k = 0; k < kK; ++k)
        sum += xs[s * kK + k] * w[n * kK + k];
      reference[s * kRows + n] = sum;
      maxRef = std::max(maxRef, std::abs(sum));
    }
  }

  std::string rawType =
      formatv("tensor<{0}x{1}x{2}xi8>", kRows, blocks, f.bytes).str();
  std::string ir =
      formatv("func.func @f(%x: tensor<1x{0}x{1}xf32>, %raw: {2}) -> "
              "tensor<1x{0}x{3}xf32> {{\n"
              "  %w = loom.dequantize %raw format = {4} : {2} -> "
              "tensor<{3}x{1}xf32>\n"
              "  %y = loom.linear %x, %w : (tensor<1x{0}x{1}xf32>, "
              "tensor<{3}x{1}xf32>) -> tensor<1x{0}x{3}xf32>\n"
              "  return %y : tensor<1x{0}x{3}xf32>\n}\n",
              c.tokens, kK, rawType, kRows, f.name);
  ::loom::CompileOptions options;
  options.int8Activations = c.int8;
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  if (!c.cpu.empty()) {
    if (!::loom::testing::hostRunsCodeFor(c.cpu))
      GTEST_SKIP() << "the host cannot run code for " << c.cpu;
    options.cpu = c.cpu;
  }
  auto kernel = ::loom::testing::CompiledFunction::compile(ir, options);
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
  // On a host with AMX-INT8, K-quant prefill of 16 tokens or more takes
  // tiles (the numbers below then check them); elsewhere the vector path.
  if (!c.cpu.empty())
    host = {{"avx2", true}}; // what the code is compiled for
  if (c.int8 && c.tokens >= 16 && f.values == 256 && host.lookup("amx-int8"))
    EXPECT_NE((*kernel)->lowered().find("llvm.x86.tdpbsud.internal"),
              std::string::npos)
        << "no AMX tile multiply for " << c.tokens << " tokens";
  // Elsewhere with AVX512-VNNI, 32 tokens or more take the rows-in-lanes
  // kernel (512-bit vpdpbusd of weight rows by a token's broadcast bytes).
  else if (c.int8 && c.tokens >= 32 && f.values == 256 &&
           host.lookup("avx512vnni"))
    EXPECT_NE((*kernel)->lowered().find("llvm.x86.avx512.vpdpbusd.512"),
              std::string::npos)
        << "no rows-in-lanes kernel for " << c.tokens << " tokens";
  // With AVX2 alone, 8 rows in the lanes of 256-bit vectors: vpmaddubsw
  // pairs scaled by vpmaddwd, and no vpdpbusd.
  else if (c.int8 && c.tokens >= 32 && f.values == 256 &&
           c.cpu == "x86-64-v3") {
    EXPECT_NE((*kernel)->lowered().find("llvm.x86.avx2.pmadd.ub.sw"),
              std::string::npos);
    EXPECT_EQ((*kernel)->lowered().find("vpdpbusd"), std::string::npos);
  }
  // With AVX-VNNI, its 256-bit dot products: vpdpbusd, or (K-quant decode,
  // vpmaddubsw pairs summed per super-block) vpdpwssd.
  if (c.int8 && c.cpu == "alderlake") {
    const std::string &lowered = (*kernel)->lowered();
    EXPECT_TRUE(
        lowered.find("llvm.x86.avx512.vpdpbusd.256") != std::string::npos ||
        lowered.find("llvm.x86.avx512.vpdpwssd.256") != std::string::npos)
        << "no AVX-VNNI dot product for alderlake";
  }
  std::vector<float> y(c.tokens * kRows, 0.0f);
  std::deque<::loom::testing::MemRefDescriptor> ds;
  ds.emplace_back(x.data(), std::vector<int64_t>{1, c.tokens, kK});
  ds.emplace_back(raw.data(), std::vector<int64_t>{kRows, blocks, f.bytes});
  ds.emplace_back(y.data(), std::vector<int64_t>{1, c.tokens, kRows});
  llvm::Error e = (*kernel)->call(ds);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  double maxDiff = 0;
  int64_t worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    double diff = std::abs(double(y[i]) - reference[i]);
    if (diff > maxDiff) {
      maxDiff = diff;
      worst = int64_t(i);
    }
  }
  EXPECT_LE(maxDiff, 2e-5 * maxRef)
      << "max |difference| " << maxDiff << " at token " << worst / kRows
      << ", row " << worst % kRows << " (" << y[worst] << " vs "
      << reference[worst] << "), max |reference| " << maxRef;
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const Format &f : formats())
    for (int64_t tokens : {1, 7, 37})
      for (bool int8 : {true, false})
        all.push_back({f.name, tokens, int8});
  // AVX2 without VNNI (vpmaddubsw pairs where the unsigned side fits 7
  // bits; the K-quants' 256-bit prefill kernels: rows in the lanes from 32
  // tokens, register blocks below).
  for (const Format &f : formats())
    for (int64_t tokens : {1, 7, 37})
      all.push_back({f.name, tokens, true, "x86-64-v3"});
  // AVX-VNNI on 256-bit vectors (Alder Lake and later cores without
  // AVX-512): vpdpbusd where AVX2 takes vpmaddubsw pairs.
  for (const Format &f : formats())
    for (int64_t tokens : {1, 7, 37})
      all.push_back({f.name, tokens, true, "alderlake"});
  return all;
}

INSTANTIATE_TEST_SUITE_P(
    Linear, DecodedNumerics, ::testing::ValuesIn(cases()),
    [](const ::testing::TestParamInfo<Case> &info) {
      return formatv("{0}_{1}{2}_{3}{4}", info.param.format,
                     info.param.tokens == 1 ? "decode" : "prefill",
                     info.param.tokens == 1 ? ""
                                            : std::to_string(info.param.tokens),
                     info.param.int8 ? "int8" : "f32",
                     info.param.cpu.empty()          ? ""
                     : info.param.cpu == "alderlake" ? "_avxvnni"
                                                     : "_avx2")
          .str();
    });

} // namespace
