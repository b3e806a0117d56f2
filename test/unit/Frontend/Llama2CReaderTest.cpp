//===- Llama2CReaderTest.cpp - llama2.c checkpoints and tokenizer ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The real stories260K.bin (version 0), stories260K_q80.bin (version 2) and
// tok512.bin, checked against the GGUF of the same weights; synthetic files
// of every version, tied and untied; and the bad inputs with their messages.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include <gmock/gmock.h>

#include <cmath>

using namespace llvm;
using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

Expected<std::unique_ptr<ModelFile>> readBytes(StringRef bytes,
                                               StringRef name = "tiny.bin") {
  return readLlama2CFromBuffer(bufferOf(bytes, name));
}

float f32At(ArrayRef<uint8_t> bytes, size_t index) {
  float v;
  std::memcpy(&v, bytes.data() + 4 * index, 4);
  return v;
}

//===----------------------------------------------------------------------===//
// Synthetic checkpoints
//===----------------------------------------------------------------------===//

/// The 7 config ints of the tiny llama (vocab negated when untied).
std::string tinyHeader(bool tied, int32_t seqLen = 4) {
  std::string s;
  for (int32_t v : {8, 16, 2, 2, 1, tied ? 6 : -6, seqLen})
    s += le<int32_t>(v);
  return s;
}

/// A version 0 file: every array a ramp starting at its index in the file.
std::string legacyFile(bool tied, int32_t seqLen = 4) {
  constexpr int64_t L = 2, dim = 8, kv = 4, hidden = 16, vocab = 6;
  std::string s = tinyHeader(tied, seqLen);
  float start = 0;
  for (int64_t n : {vocab * dim, L * dim, L * dim * dim, L * kv * dim,
                    L * kv * dim, L * dim * dim, L * dim, L * hidden * dim,
                    L * dim * hidden, L * hidden * dim, dim})
    s += f32Ramp(n, start++, 0.001f);
  s += std::string(2 * seqLen * 2 * 4, '\x7f'); // the RoPE tables
  if (!tied)
    s += f32Ramp(vocab * dim, 100, 0.001f);
  return s;
}

/// The 256-byte header of versions 1 and 2.
std::string versionedHeader(int32_t version, bool tied, int32_t groupSize) {
  std::string s = le<uint32_t>(0x616b3432) + le<int32_t>(version) +
                  tinyHeader(true) + std::string(1, tied ? 1 : 0);
  if (version == 2)
    s += le<int32_t>(groupSize);
  s.resize(256, '\0');
  return s;
}

/// The matrices of the tiny llama in the file order of versions 1 and 2.
std::vector<int64_t> versionedMatrixSizes(bool tied) {
  std::vector<int64_t> sizes = {6 * 8};
  for (int64_t n : {8 * 8, 4 * 8, 4 * 8, 8 * 8, 16 * 8, 8 * 16, 16 * 8})
    for (int l = 0; l < 2; ++l)
      sizes.push_back(n);
  if (!tied)
    sizes.push_back(6 * 8);
  return sizes;
}

std::string version2File(bool tied, int32_t groupSize = 4) {
  std::string s = versionedHeader(2, tied, groupSize);
  s += f32Ramp(2 * 8 + 2 * 8 + 8, 1, 0.5f); // the norms
  for (int64_t n : versionedMatrixSizes(tied)) {
    for (int64_t i = 0; i < n; ++i)
      s += char(int8_t(i % 255 - 127));
    s += f32Ramp(n / groupSize, 0.25f, 0.25f);
  }
  return s;
}

std::string version1File(bool tied) {
  std::string s = versionedHeader(1, tied, 0);
  s += f32Ramp(2 * 8 + 2 * 8 + 8, 1, 0.5f);
  for (int64_t n : versionedMatrixSizes(tied))
    s += f32Ramp(n, 2, 0.5f);
  return s;
}

//===----------------------------------------------------------------------===//
// The real models
//===----------------------------------------------------------------------===//

void expectStoriesConfig(const ModelConfig &c, int64_t context) {
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hiddenDim, 172);
  EXPECT_EQ(c.numLayers, 5);
  EXPECT_EQ(c.numHeads, 8);
  EXPECT_EQ(c.numKVHeads, 4);
  EXPECT_EQ(c.headDim, 8);
  EXPECT_EQ(c.vocabSize, 512);
  EXPECT_EQ(c.contextLength, context);
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_EQ(c.ropeStyle, RopeStyle::Interleaved);
  EXPECT_FLOAT_EQ(c.ropeTheta, 10000.0f);
  EXPECT_FLOAT_EQ(c.normEps, 1e-5f);
}

TEST(Llama2CReaderTest, Stories260KMatchesGGUFBitForBit) {
  LOOM_REQUIRE_MODELS(models);
  Expected<std::unique_ptr<ModelFile>> bin =
      readLlama2C(models + "/stories260K.bin");
  ASSERT_TRUE(bool(bin)) << toString(bin.takeError());
  Expected<std::unique_ptr<ModelFile>> gguf =
      readGGUF(models + "/stories260K.gguf");
  ASSERT_TRUE(bool(gguf)) << toString(gguf.takeError());
  EXPECT_EQ((*bin)->format, "llama2c");
  expectStoriesConfig((*bin)->config, 512);
  EXPECT_TRUE((*bin)->tokenizer.empty());
  EXPECT_EQ((*bin)->lookup("output.weight"), nullptr);
  EXPECT_EQ((*bin)->weights.size(), 47u);
  EXPECT_FALSE(bool(validateModel(**bin)));

  // Every tensor of the .bin is in the GGUF with the same shape and bytes.
  for (const WeightInfo &w : (*bin)->weights) {
    const WeightInfo *g = (*gguf)->lookup(w.name);
    ASSERT_NE(g, nullptr) << w.name;
    EXPECT_EQ(w.shape, g->shape) << w.name;
    EXPECT_EQ(w.storage, StorageType::F32);
    EXPECT_TRUE((*bin)->bytes(w) == (*gguf)->bytes(*g)) << w.name;
  }
  const WeightInfo *embed = (*bin)->lookup("token_embd.weight");
  EXPECT_EQ(embed->offset, 28u);
  EXPECT_EQ(ArrayRef<int64_t>((*bin)->lookup("blk.3.ffn_down.weight")->shape),
            ArrayRef<int64_t>({64, 172}));
}

TEST(Llama2CReaderTest, Stories260KQ80) {
  LOOM_REQUIRE_MODELS(models);
  Expected<std::unique_ptr<ModelFile>> q80 =
      readLlama2C(models + "/stories260K_q80.bin");
  ASSERT_TRUE(bool(q80)) << toString(q80.takeError());
  Expected<std::unique_ptr<ModelFile>> bin =
      readLlama2C(models + "/stories260K.bin");
  ASSERT_TRUE(bool(bin)) << toString(bin.takeError());
  expectStoriesConfig((*q80)->config, 512);
  EXPECT_EQ((*q80)->weights.size(), 47u);
  EXPECT_FALSE(bool(validateModel(**q80)));

  // The norms are f32 and identical; the first comes right after the header.
  const WeightInfo *norm = (*q80)->lookup("blk.0.attn_norm.weight");
  EXPECT_EQ(norm->offset, 256u);
  EXPECT_EQ(norm->storage, StorageType::F32);
  for (const char *name : {"blk.0.attn_norm.weight", "blk.4.ffn_norm.weight",
                           "output_norm.weight"})
    EXPECT_TRUE((*q80)->bytes(*(*q80)->lookup(name)) ==
                (*bin)->bytes(*(*bin)->lookup(name)))
        << name;

  // Every matrix dequantizes to the f32 weights within half a step.
  for (const WeightInfo &w : (*q80)->weights) {
    if (w.storage == StorageType::F32)
      continue;
    ASSERT_EQ(w.storage, StorageType::Q8Groups) << w.name;
    EXPECT_EQ(w.groupSize, 32);
    EXPECT_EQ(w.size, uint64_t(w.numElements()));
    EXPECT_EQ(w.scaleOffset, w.offset + w.size);
    ArrayRef<uint8_t> q = (*q80)->bytes(w);
    ArrayRef<uint8_t> scales = (*q80)->scales(w);
    ArrayRef<uint8_t> ref = (*bin)->bytes(*(*bin)->lookup(w.name));
    ASSERT_EQ(scales.size(), uint64_t(w.numElements() / 32 * 4));
    for (int64_t i = 0; i < w.numElements(); ++i) {
      float scale = f32At(scales, i / 32);
      float value = float(int8_t(q[i])) * scale;
      ASSERT_NEAR(value, f32At(ref, i), scale * 0.5f + 1e-7f)
          << w.name << " [" << i << "]";
    }
  }
  // The file ends exactly after the last scales.
  const WeightInfo &last = (*q80)->weights.back();
  EXPECT_EQ(last.name, "blk.4.ffn_up.weight");
  EXPECT_EQ(last.scaleOffset + last.size / 32 * 4, 294816u);
}

TEST(Llama2CReaderTest, Tok512) {
  LOOM_REQUIRE_MODELS(models);
  Expected<TokenizerData> tok =
      readLlama2CTokenizer(models + "/tok512.bin", 512);
  ASSERT_TRUE(bool(tok)) << toString(tok.takeError());
  EXPECT_EQ(tok->model, "llama");
  ASSERT_EQ(tok->pieces.size(), 512u);
  ASSERT_EQ(tok->scores.size(), 512u);
  EXPECT_EQ(tok->pieces[0], "<unk>");
  EXPECT_EQ(tok->pieces[1], "\n<s>\n");
  EXPECT_EQ(tok->pieces[2], "\n</s>\n");
  EXPECT_EQ(tok->pieces[3], "<0x00>");
  EXPECT_EQ(tok->pieces[258], "<0xFF>");
  EXPECT_EQ(tok->pieces[403], " Once");
  EXPECT_EQ(tok->scores[403], -144.0f);
  EXPECT_EQ(tok->pieces[378], " time");
  EXPECT_EQ(tok->bosId, 1);
  EXPECT_EQ(tok->eosId, 2);
  EXPECT_EQ(tok->unkId, 0);
  // 0 reads the whole file.
  Expected<TokenizerData> all = readLlama2CTokenizer(models + "/tok512.bin", 0);
  ASSERT_TRUE(bool(all)) << toString(all.takeError());
  EXPECT_EQ(all->pieces.size(), 512u);
  EXPECT_THAT(errorText(readLlama2CTokenizer(models + "/tok512.bin", 513)),
              HasSubstr("tok512.bin: unexpected end of file reading the score "
                        "of token 512 [offset 6227, 4 bytes]"));
}

//===----------------------------------------------------------------------===//
// Synthetic checkpoints
//===----------------------------------------------------------------------===//

TEST(Llama2CReaderTest, Version0TiedAndUntied) {
  for (bool tied : {true, false}) {
    Expected<std::unique_ptr<ModelFile>> model = readBytes(legacyFile(tied));
    ASSERT_TRUE(bool(model)) << toString(model.takeError());
    const ModelConfig &c = (*model)->config;
    EXPECT_EQ(c.tiedEmbeddings, tied);
    EXPECT_EQ(c.vocabSize, 6);
    EXPECT_EQ(c.headDim, 4);
    EXPECT_EQ(c.contextLength, 4);
    EXPECT_FALSE(bool(validateModel(**model)));
    // wk of layer 1 is the second half of the stacked wk array (the 4th).
    const WeightInfo *k1 = (*model)->lookup("blk.1.attn_k.weight");
    ASSERT_NE(k1, nullptr);
    EXPECT_FLOAT_EQ(f32At((*model)->bytes(*k1), 0), 3 + 32 * 0.001f);
    const WeightInfo *up0 = (*model)->lookup("blk.0.ffn_up.weight");
    EXPECT_FLOAT_EQ(f32At((*model)->bytes(*up0), 1), 9.001f);
    const WeightInfo *output = (*model)->lookup("output.weight");
    if (tied) {
      EXPECT_EQ(output, nullptr);
      continue;
    }
    // The untied classifier follows the skipped RoPE tables.
    ASSERT_NE(output, nullptr);
    EXPECT_EQ(f32At((*model)->bytes(*output), 0), 100.0f);
    EXPECT_EQ(output->offset + output->size, legacyFile(false).size());
  }
}

TEST(Llama2CReaderTest, Version1And2) {
  for (bool tied : {true, false}) {
    Expected<std::unique_ptr<ModelFile>> v1 = readBytes(version1File(tied));
    ASSERT_TRUE(bool(v1)) << toString(v1.takeError());
    EXPECT_EQ((*v1)->config.tiedEmbeddings, tied);
    EXPECT_EQ((*v1)->lookup("blk.1.attn_q.weight")->storage, StorageType::F32);
    EXPECT_FALSE(bool(validateModel(**v1)));

    Expected<std::unique_ptr<ModelFile>> v2 = readBytes(version2File(tied));
    ASSERT_TRUE(bool(v2)) << toString(v2.takeError());
    EXPECT_EQ((*v2)->config.tiedEmbeddings, tied);
    EXPECT_FALSE(bool(validateModel(**v2)));
    const WeightInfo *norm = (*v2)->lookup("output_norm.weight");
    EXPECT_EQ(norm->offset, 256u + 32 * 4);
    EXPECT_FLOAT_EQ(f32At((*v2)->bytes(*norm), 0), 17.0f);
    const WeightInfo *embed = (*v2)->lookup("token_embd.weight");
    EXPECT_EQ(embed->offset, 256u + 40 * 4);
    EXPECT_EQ(embed->groupSize, 4);
    EXPECT_EQ(embed->scaleOffset, embed->offset + 48);
    const WeightInfo *q1 = (*v2)->lookup("blk.1.attn_q.weight");
    // token_embd (48 + 12 * 4), then blk.0.attn_q (64 + 16 * 4).
    EXPECT_EQ(q1->offset, embed->offset + 96 + 128);
    EXPECT_EQ((*v2)->scales(*q1).size(), 64u);
    EXPECT_EQ((*v2)->lookup("output.weight") != nullptr, !tied);
  }
}

TEST(Llama2CReaderTest, TokenizerSynthetic) {
  std::string bytes = le<uint32_t>(3);
  for (auto [score, piece] :
       {std::pair<float, StringRef>{0, "<unk>"}, {-1, "ab"}, {-2, ""}})
    bytes += le<float>(score) + le<uint32_t>(piece.size()) + piece.str();
  MemoryBufferRef ref(bytes, "tok.bin");
  Expected<TokenizerData> tok = readLlama2CTokenizer(ref, 3);
  ASSERT_TRUE(bool(tok)) << toString(tok.takeError());
  EXPECT_EQ(tok->pieces, (std::vector<std::string>{"<unk>", "ab", ""}));
  EXPECT_EQ(tok->scores, (std::vector<float>{0, -1, -2}));
  EXPECT_EQ(tok->source, "tok.bin");

  std::string huge =
      le<uint32_t>(3) + le<float>(0) + le<uint32_t>(0xFFFFFFFF) + "abc";
  EXPECT_EQ(
      errorText(readLlama2CTokenizer(MemoryBufferRef(huge, "tok.bin"), 1)),
      "tok.bin: token 0 at offset 4 has length 4294967295, past the end "
      "of the file (15 bytes)");
  EXPECT_EQ(errorText(readLlama2CTokenizer(ref, -1)),
            "tok.bin: vocabulary size -1 is negative");
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THAT(
        errorText(readLlama2CTokenizer(
            MemoryBufferRef(StringRef(bytes).take_front(n), "tok.bin"), 3)),
        StartsWith("tok.bin: "))
        << n;
}

//===----------------------------------------------------------------------===//
// Bad input
//===----------------------------------------------------------------------===//

TEST(Llama2CReaderTest, EveryTruncationIsAnError) {
  for (const std::string &bytes :
       {legacyFile(true), legacyFile(false), version2File(false)}) {
    for (size_t n = 0; n < bytes.size(); n += (n < 300 ? 1 : 13))
      EXPECT_THAT(errorText(readBytes(bytes.substr(0, n))),
                  StartsWith("tiny.bin: "))
          << n;
  }
  EXPECT_EQ(errorText(readBytes("")),
            "tiny.bin: unexpected end of file reading the header [offset 0, 4 "
            "bytes]: the file has 0 bytes");
}

TEST(Llama2CReaderTest, TensorPastEndIsNamed) {
  std::string bytes = legacyFile(false);
  // Cut into the untied classifier, the last tensor.
  std::string cut = bytes.substr(0, bytes.size() - 4);
  uint64_t offset = bytes.size() - 6 * 8 * 4;
  EXPECT_EQ(errorText(readBytes(cut)),
            "tiny.bin: tensor 'output.weight' data [offset " +
                std::to_string(offset) +
                ", 192 bytes] runs past the end of the file (" +
                std::to_string(cut.size()) + " bytes)");
  // The RoPE tables, when they are cut.
  std::string tied = legacyFile(true);
  EXPECT_THAT(errorText(readBytes(tied.substr(0, tied.size() - 1))),
              HasSubstr("tensor 'the RoPE tables' data"));
  // An int8 matrix of version 2.
  std::string v2 = version2File(true);
  EXPECT_THAT(errorText(readBytes(v2.substr(0, v2.size() - 1))),
              HasSubstr("tiny.bin: tensor 'blk.1.ffn_up.weight' data"));
}

TEST(Llama2CReaderTest, SizeMustMatchHeader) {
  std::string bytes = legacyFile(true) + "xx";
  EXPECT_EQ(errorText(readBytes(bytes)),
            "tiny.bin: the file has " + std::to_string(bytes.size()) +
                " bytes, but a llama2.c version 0 checkpoint with this header "
                "has " +
                std::to_string(bytes.size() - 2) + " bytes");
  std::string v2 = version2File(true) + "x";
  EXPECT_THAT(errorText(readBytes(v2)),
              HasSubstr("but a llama2.c version 2 checkpoint with this header "
                        "has"));
}

TEST(Llama2CReaderTest, ImplausibleHeaders) {
  auto header = [](std::vector<int32_t> ints) {
    std::string s;
    for (int32_t v : ints)
      s += le<int32_t>(v);
    return s + std::string(64, '\0');
  };
  EXPECT_EQ(errorText(readBytes(header({0, 16, 2, 2, 1, 6, 4}))),
            "tiny.bin: header field dim at offset 0 is 0, not a plausible size "
            "(is this a llama2.c checkpoint?)");
  EXPECT_EQ(errorText(readBytes(header({8, 16, 2, 2, 1, 6, 1 << 30}))),
            "tiny.bin: header field seq_len at offset 24 is 1073741824, not a "
            "plausible size (is this a llama2.c checkpoint?)");
  EXPECT_EQ(errorText(readBytes(header({8, 16, 2, 3, 1, 6, 4}))),
            "tiny.bin: dim 8 is not a multiple of n_heads 3");
  EXPECT_EQ(errorText(readBytes(header({8, 16, 2, 4, 3, 6, 4}))),
            "tiny.bin: n_heads 4 is not a multiple of n_kv_heads 3");
  EXPECT_EQ(errorText(readBytes(header({8, 16, 2, 2, 1, INT32_MIN, 4}))),
            "tiny.bin: header field vocab_size at offset 20 is -2147483648, "
            "not a plausible size (is this a llama2.c checkpoint?)");
}

TEST(Llama2CReaderTest, BadVersionsAndGroups) {
  std::string v3 = versionedHeader(2, true, 4);
  v3[4] = 3;
  EXPECT_EQ(errorText(readBytes(v3)),
            "tiny.bin: unsupported llama2.c checkpoint version 3 (Loom reads "
            "0, 1 and 2)");
  EXPECT_EQ(errorText(readBytes(versionedHeader(2, true, 0))),
            "tiny.bin: group size at offset 37 is 0, not positive");
  // 6 * 8 = 48 values are not a multiple of 32.
  EXPECT_EQ(errorText(readBytes(version2File(true, 32))),
            "tiny.bin: tensor 'token_embd.weight' has 48 values, not a "
            "multiple of the group size 32");
  EXPECT_EQ(errorText(readBytes(versionedHeader(2, true, 4).substr(0, 100))),
            "tiny.bin: unexpected end of file reading the 256-byte header "
            "[offset 41, 215 bytes]: the file has 100 bytes");
}

} // namespace
