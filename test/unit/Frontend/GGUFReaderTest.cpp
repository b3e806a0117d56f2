//===- GGUFReaderTest.cpp - the GGUF container and reader -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The real stories260K.gguf, synthetic files covering every metadata type,
// both versions, alignment and every tensor type, and every kind of bad
// input, each with the message it must produce.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "llvm/Support/Path.h"

#include <gmock/gmock.h>

#include <cmath>

using namespace llvm;
using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

Expected<std::unique_ptr<ModelFile>> readBytes(StringRef bytes,
                                               StringRef name = "tiny.gguf") {
  return readGGUFFromBuffer(bufferOf(bytes, name));
}

Expected<GGUFFile> parseBytes(const std::string &bytes) {
  return parseGGUF(MemoryBufferRef(bytes, "tiny.gguf"));
}

/// A file of one tensor and the given extra metadata, for container tests.
GGUFWriter oneTensor(uint32_t version = 3) {
  GGUFWriter w(version);
  w.tensor("t", {4}, 0, f32Ramp(4));
  return w;
}

//===----------------------------------------------------------------------===//
// The real model
//===----------------------------------------------------------------------===//

TEST(GGUFReaderTest, Stories260K) {
  LOOM_REQUIRE_MODELS(models);
  std::string path = models + "/stories260K.gguf";
  Expected<std::unique_ptr<ModelFile>> model = readGGUF(path);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ((*model)->format, "gguf");
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hiddenDim, 172);
  EXPECT_EQ(c.numLayers, 5);
  EXPECT_EQ(c.numHeads, 8);
  EXPECT_EQ(c.numKVHeads, 4);
  EXPECT_EQ(c.headDim, 8);
  EXPECT_EQ(c.vocabSize, 512);
  EXPECT_EQ(c.contextLength, 2048);
  EXPECT_FLOAT_EQ(c.normEps, 1e-5f);
  EXPECT_FLOAT_EQ(c.ropeTheta, 10000.0f);
  EXPECT_EQ(c.ropeStyle, RopeStyle::Interleaved);
  // output.weight is a bit-identical copy of token_embd.weight.
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_FALSE(c.attentionBias);
  EXPECT_EQ(c.numExperts, 0);

  EXPECT_EQ((*model)->weights.size(), 48u);
  const WeightInfo *embed = (*model)->lookup("token_embd.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(ArrayRef<int64_t>(embed->shape), ArrayRef<int64_t>({512, 64}));
  EXPECT_EQ(embed->storage, StorageType::F32);
  EXPECT_EQ(embed->offset, 14176u);
  EXPECT_EQ(embed->size, 131072u);
  const WeightInfo *k = (*model)->lookup("blk.0.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(ArrayRef<int64_t>(k->shape), ArrayRef<int64_t>({32, 64}));
  const WeightInfo *down = (*model)->lookup("blk.4.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(ArrayRef<int64_t>(down->shape), ArrayRef<int64_t>({64, 172}));

  const TokenizerData &tok = (*model)->tokenizer;
  EXPECT_EQ(tok.model, "llama");
  ASSERT_EQ(tok.pieces.size(), 512u);
  EXPECT_EQ(tok.scores.size(), 512u);
  EXPECT_EQ(tok.tokenTypes.size(), 512u);
  EXPECT_EQ(tok.pieces[0], "<unk>");
  EXPECT_EQ(tok.pieces[1], "<s>");
  EXPECT_EQ(tok.pieces[3], "<0x00>");
  EXPECT_EQ(tok.tokenTypes[0], 2);
  EXPECT_EQ(tok.tokenTypes[1], 3);
  EXPECT_EQ(tok.tokenTypes[3], 6);
  EXPECT_EQ(tok.bosId, 1);
  EXPECT_EQ(tok.eosId, 2);
  EXPECT_EQ(tok.unkId, 0);
  // SentencePiece's U+2581 becomes a plain space, as in tok512.bin.
  EXPECT_TRUE(llvm::is_contained(tok.pieces, " a"));
  for (const std::string &piece : tok.pieces)
    EXPECT_EQ(piece.find("\xE2\x96\x81"), std::string::npos) << piece;

  EXPECT_FALSE(bool(validateModel(**model)));
}

TEST(GGUFReaderTest, Stories260KContainer) {
  LOOM_REQUIRE_MODELS(models);
  Expected<std::unique_ptr<MemoryBuffer>> buffer =
      errorOrToExpected(MemoryBuffer::getFile(models + "/stories260K.gguf"));
  ASSERT_TRUE(bool(buffer));
  Expected<GGUFFile> file = parseGGUF((*buffer)->getMemBufferRef());
  ASSERT_TRUE(bool(file)) << toString(file.takeError());
  EXPECT_EQ(file->version, 3u);
  EXPECT_EQ(file->alignment, 32u);
  EXPECT_EQ(file->dataOffset, 14176u);
  EXPECT_EQ(file->metadata.size(), 19u);
  EXPECT_EQ(file->tensors.size(), 48u);
  EXPECT_EQ(file->lookup("general.name")->getString(), StringRef("llama"));
  // A uint32 of 0xFFFFFFFF stays unsigned.
  EXPECT_EQ(file->lookup("tokenizer.ggml.padding_token_id")->getInteger(),
            int64_t(0xFFFFFFFF));
}

//===----------------------------------------------------------------------===//
// Synthetic files: what must be read
//===----------------------------------------------------------------------===//

class GGUFVersionTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GGUFVersionTest, EveryMetadataType) {
  GGUFWriter w = oneTensor(GetParam());
  w.scalar("u8", GGUFType::UInt8, uint8_t(200))
      .scalar("i8", GGUFType::Int8, int8_t(-100))
      .scalar("u16", GGUFType::UInt16, uint16_t(60000))
      .scalar("i16", GGUFType::Int16, int16_t(-30000))
      .scalar("u32", GGUFType::UInt32, uint32_t(4000000000u))
      .scalar("i32", GGUFType::Int32, int32_t(-2000000000))
      .scalar("f32", GGUFType::Float32, 1.5f)
      .scalar("bool", GGUFType::Bool, uint8_t(1))
      .str("string", "h\xC3\xA9llo")
      .scalar("u64", GGUFType::UInt64, uint64_t(1) << 63)
      .scalar("i64", GGUFType::Int64, -(int64_t(1) << 40))
      .scalar("f64", GGUFType::Float64, 0.125)
      .array("i16s", GGUFType::Int16, 3,
             le<int16_t>(-1) + le<int16_t>(2) + le<int16_t>(-3))
      .strings("strings", {"a", "", "ccc"});
  // An array of two arrays of uint32: [[7], [8, 9]].
  std::string inner0 = le<uint32_t>(uint32_t(GGUFType::UInt32)) +
                       le<uint64_t>(1) + le<uint32_t>(7);
  std::string inner1 = le<uint32_t>(uint32_t(GGUFType::UInt32)) +
                       le<uint64_t>(2) + le<uint32_t>(8) + le<uint32_t>(9);
  w.array("nested", GGUFType::Array, 2, inner0 + inner1);
  std::string bytes = w.build();
  Expected<GGUFFile> file = parseBytes(bytes);
  ASSERT_TRUE(bool(file)) << toString(file.takeError());
  EXPECT_EQ(file->version, GetParam());
  auto get = [&](StringRef key) { return *file->lookup(key); };
  EXPECT_EQ(get("u8").type, GGUFType::UInt8);
  EXPECT_EQ(get("u8").getInteger(), 200);
  EXPECT_EQ(get("i8").getInteger(), -100);
  EXPECT_EQ(get("u16").getInteger(), 60000);
  EXPECT_EQ(get("i16").getInteger(), -30000);
  EXPECT_EQ(get("u32").getInteger(), 4000000000);
  EXPECT_EQ(get("i32").getInteger(), -2000000000);
  EXPECT_EQ(get("f32").getFloat(), 1.5);
  EXPECT_EQ(get("f32").getInteger(), std::nullopt);
  EXPECT_EQ(get("bool").type, GGUFType::Bool);
  EXPECT_EQ(get("bool").u, 1u);
  EXPECT_EQ(get("string").getString(), StringRef("h\xC3\xA9llo"));
  EXPECT_EQ(get("u64").u, uint64_t(1) << 63);
  EXPECT_EQ(get("u64").getInteger(), std::nullopt); // above INT64_MAX
  EXPECT_EQ(get("i64").getInteger(), -(int64_t(1) << 40));
  EXPECT_EQ(get("f64").getFloat(), 0.125);
  GGUFValue i16s = get("i16s");
  ASSERT_TRUE(i16s.isArray());
  EXPECT_EQ(i16s.elementType, GGUFType::Int16);
  ASSERT_EQ(i16s.count, 3u);
  EXPECT_EQ(i16s.element(0).getInteger(), -1);
  EXPECT_EQ(i16s.element(2).getInteger(), -3);
  GGUFValue strings = get("strings");
  ASSERT_EQ(strings.count, 3u);
  EXPECT_EQ(strings.element(1).getString(), StringRef(""));
  EXPECT_EQ(strings.element(2).getString(), StringRef("ccc"));
  GGUFValue nested = get("nested");
  ASSERT_EQ(nested.count, 2u);
  EXPECT_EQ(nested.element(0).count, 1u);
  EXPECT_EQ(nested.element(0).element(0).getInteger(), 7);
  EXPECT_EQ(nested.element(1).element(1).getInteger(), 9);
  ASSERT_EQ(file->tensors.size(), 1u);
  EXPECT_EQ(file->tensors[0].name, "t");
  EXPECT_EQ(file->tensors[0].offset % 32, 0u);
}

TEST_P(GGUFVersionTest, TinyLlamaReadsAndValidates) {
  std::string bytes = TinyLlama::gguf(true, GetParam()).build();
  Expected<std::unique_ptr<ModelFile>> model = readBytes(bytes);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 16);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKVHeads, 1);
  EXPECT_EQ(c.headDim, 4);
  EXPECT_EQ(c.vocabSize, 6);
  EXPECT_EQ(c.contextLength, 32);
  EXPECT_TRUE(c.tiedEmbeddings);
  EXPECT_FALSE(c.slidingWindow.has_value());
  EXPECT_EQ((*model)->tokenizer.pieces[3], " hi");
  EXPECT_EQ((*model)->tokenizer.scores[5], -5.0f);
  const WeightInfo *q = (*model)->lookup("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  ArrayRef<uint8_t> data = (*model)->bytes(*q);
  ASSERT_EQ(data.size(), 8u * 8u * 4u);
  float second;
  std::memcpy(&second, data.data() + 4, 4);
  EXPECT_FLOAT_EQ(second, 12.01f); // the 13th tensor's ramp starts at 12
  EXPECT_FALSE(bool(validateModel(**model)));
}

INSTANTIATE_TEST_SUITE_P(V2AndV3, GGUFVersionTest, ::testing::Values(2u, 3u));

TEST(GGUFReaderTest, UntiedAndOptionalKeys) {
  GGUFWriter w = TinyLlama::gguf(/*tied=*/false);
  w.u32("llama.attention.sliding_window", 16)
      .u32("llama.rope.dimension_count", 4)
      .scalar("llama.rope.freq_base", GGUFType::Float64, 500000.0);
  w.erase("llama.rope.freq_base").f32("llama.rope.freq_base", 500000.0f);
  Expected<std::unique_ptr<ModelFile>> model = readBytes(w.build());
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  EXPECT_FALSE((*model)->config.tiedEmbeddings);
  EXPECT_EQ((*model)->config.slidingWindow, 16);
  EXPECT_FLOAT_EQ((*model)->config.ropeTheta, 500000.0f);
  EXPECT_FALSE(bool(validateModel(**model)));
}

TEST(GGUFReaderTest, AlignmentKey) {
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    GGUFWriter w = TinyLlama::gguf();
    w.u32("general.alignment", alignment);
    std::string bytes = w.build(alignment);
    Expected<GGUFFile> file = parseBytes(bytes);
    ASSERT_TRUE(bool(file)) << toString(file.takeError());
    EXPECT_EQ(file->alignment, alignment);
    EXPECT_EQ(file->dataOffset % alignment, 0u);
    for (const GGUFTensorInfo &t : file->tensors)
      EXPECT_EQ(t.offset % alignment, 0u) << t.name.str();
    Expected<std::unique_ptr<ModelFile>> model = readBytes(bytes);
    ASSERT_TRUE(bool(model)) << toString(model.takeError());
    EXPECT_FALSE(bool(validateModel(**model)));
  }
}

TEST(GGUFReaderTest, TensorTypesAndSizes) {
  GGUFWriter w;
  w.tensor("f32", {64, 3}, 0, std::string(64 * 3 * 4, '\1'))
      .tensor("f16", {64, 3}, 1, std::string(64 * 3 * 2, '\2'))
      .tensor("bf16", {64, 3}, 30, std::string(64 * 3 * 2, '\3'))
      .tensor("q8_0", {64, 3}, 8, std::string(2 * 3 * 34, '\4'))
      .tensor("q4_0", {64, 3}, 2, std::string(2 * 3 * 18, '\5'))
      .tensor("scalar", {}, 0, le<float>(3));
  w.str("general.architecture", "llama")
      .u32("llama.embedding_length", 64)
      .u32("llama.feed_forward_length", 128)
      .u32("llama.block_count", 1)
      .u32("llama.attention.head_count", 8)
      .u32("llama.context_length", 16);
  Expected<std::unique_ptr<ModelFile>> model = readBytes(w.build());
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  struct Expect {
    const char *name;
    StorageType storage;
    uint64_t size;
  };
  for (Expect e : {Expect{"f32", StorageType::F32, 768},
                   {"f16", StorageType::F16, 384},
                   {"bf16", StorageType::BF16, 384},
                   {"q8_0", StorageType::Q8_0, 204},
                   {"q4_0", StorageType::Q4_0, 108}}) {
    const WeightInfo *t = (*model)->lookup(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->storage, e.storage) << e.name;
    EXPECT_EQ(t->size, e.size) << e.name;
    EXPECT_EQ(ArrayRef<int64_t>(t->shape), ArrayRef<int64_t>({3, 64}));
    EXPECT_EQ(storageByteSize(e.storage, t->shape), e.size) << e.name;
    EXPECT_EQ((*model)->bytes(*t).size(), e.size);
  }
  EXPECT_TRUE((*model)->lookup("scalar")->shape.empty());
  // No tokenizer: the vocabulary comes from nowhere, the config keeps 0.
  EXPECT_TRUE((*model)->tokenizer.empty());
  EXPECT_EQ((*model)->config.headDim, 8);
  EXPECT_EQ((*model)->config.numKVHeads, 8);
}

//===----------------------------------------------------------------------===//
// Synthetic files: what must be refused, and how
//===----------------------------------------------------------------------===//

TEST(GGUFReaderTest, UnsupportedTensorTypeNamed) {
  GGUFWriter w = TinyLlama::gguf();
  // IQ2_XXS (16): 66 bytes per 256 values.
  w.tensor("blk.0.ffn_extra.weight", {256, 2}, 16, std::string(2 * 66, '\0'));
  EXPECT_THAT(errorText(readBytes(w.build())),
              HasSubstr("tiny.gguf: tensor 'blk.0.ffn_extra.weight' has type "
                        "IQ2_XXS, which Loom does not read"));
}

TEST(GGUFReaderTest, UnknownTensorType) {
  GGUFWriter w = oneTensor();
  w.tensor("odd", {4}, 99, "");
  EXPECT_EQ(errorText(parseBytes(w.build())),
            "tiny.gguf: tensor 'odd' has unknown ggml type 99");
}

TEST(GGUFReaderTest, BlockTypeNeedsWholeBlocks) {
  GGUFWriter w;
  w.tensor("q", {40, 2}, 8, std::string(200, '\0'));
  EXPECT_THAT(errorText(parseBytes(w.build())),
              HasSubstr("tensor 'q' of type Q8_0 has dimensions whose size "
                        "overflows or whose innermost dimension is not a "
                        "multiple of its block size (32)"));
}

// Found by GGUFReaderFuzzer: a K-quant tensor whose element count
// overflows (or whose rows are not whole super-blocks) had no size, and
// the reader read one anyway.
TEST(GGUFReaderTest, KQuantNeedsWholeSuperBlocksAndASize) {
  GGUFWriter w;
  w.tensor("q", {128, 2}, 14, std::string(210, '\0'));
  EXPECT_THAT(errorText(parseBytes(w.build())),
              HasSubstr("tensor 'q' of type Q6_K has dimensions whose size "
                        "overflows or whose innermost dimension is not a "
                        "multiple of its block size (256)"));
  GGUFWriter huge;
  huge.tensor("q", {256, uint64_t(1) << 60}, 12, std::string(144, '\0'));
  EXPECT_THAT(errorText(parseBytes(huge.build())),
              HasSubstr("tensor 'q' of type Q4_K has dimensions whose size "
                        "overflows"));
}

TEST(GGUFReaderTest, EveryTruncationIsAnError) {
  std::string bytes = TinyLlama::gguf().build();
  for (size_t n = 0; n < bytes.size(); n += (n < 600 ? 1 : 97)) {
    std::string error = errorText(readBytes(bytes.substr(0, n)));
    EXPECT_THAT(error, StartsWith("tiny.gguf: ")) << n;
  }
  EXPECT_EQ(errorText(readBytes("")),
            "tiny.gguf: unexpected end of file reading the GGUF magic [offset "
            "0, 4 bytes]: the file has 0 bytes");
  EXPECT_EQ(errorText(readBytes(bytes.substr(0, 10))),
            "tiny.gguf: unexpected end of file reading the tensor count "
            "[offset 8, 8 bytes]: the file has 10 bytes");
}

TEST(GGUFReaderTest, TensorDataPastEnd) {
  std::string bytes = TinyLlama::gguf().build();
  Expected<GGUFFile> file = parseBytes(bytes);
  ASSERT_TRUE(bool(file));
  const GGUFTensorInfo &last = file->tensors.back();
  std::string cut = bytes.substr(0, bytes.size() - 10);
  EXPECT_EQ(errorText(readBytes(cut)),
            "tiny.gguf: tensor '" + last.name.str() + "' data [offset " +
                std::to_string(last.offset) + ", " +
                std::to_string(*last.size) +
                " bytes] runs past the end of the file (" +
                std::to_string(cut.size()) + " bytes)");
  // An offset far past the end, and one that overflows.
  GGUFWriter far = oneTensor();
  far.tensor("far", {4}, 0, f32Ramp(4), uint64_t(1) << 40);
  EXPECT_THAT(errorText(parseBytes(far.build())),
              HasSubstr("tensor 'far' data [offset 1099511627872, 16 bytes] "
                        "runs past the end of the file"));
  GGUFWriter wrap = oneTensor();
  wrap.tensor("wrap", {4}, 0, f32Ramp(4), ~uint64_t(31));
  EXPECT_THAT(errorText(parseBytes(wrap.build())),
              HasSubstr("tensor 'wrap' offset 18446744073709551584 overflows"));
}

TEST(GGUFReaderTest, MisalignedTensorOffset) {
  GGUFWriter w = oneTensor();
  w.tensor("odd", {1}, 0, le<float>(1), 4);
  EXPECT_EQ(errorText(parseBytes(w.build())),
            "tiny.gguf: tensor 'odd' offset 4 is not a multiple of the "
            "alignment 32");
}

TEST(GGUFReaderTest, WrongMagicAndVersion) {
  std::string bytes = oneTensor().build();
  std::string ggml = "GGML" + bytes.substr(4);
  EXPECT_EQ(errorText(parseBytes(ggml)),
            "tiny.gguf: not a GGUF file (the magic is not \"GGUF\")");
  EXPECT_EQ(errorText(parseBytes(oneTensor(1).build())),
            "tiny.gguf: unsupported GGUF version 1 (Loom reads 2 and 3)");
  EXPECT_EQ(errorText(parseBytes(oneTensor(4).build())),
            "tiny.gguf: unsupported GGUF version 4 (Loom reads 2 and 3)");
  EXPECT_EQ(errorText(parseBytes(oneTensor(0x03000000).build())),
            "tiny.gguf: big-endian GGUF files are not supported");
}

TEST(GGUFReaderTest, AbsurdLengthsAndCounts) {
  std::string header = "GGUF" + le<uint32_t>(3);
  // A key of length 2^60.
  std::string hugeKey = header + le<uint64_t>(0) + le<uint64_t>(1) +
                        le<uint64_t>(uint64_t(1) << 60) + "abc" +
                        std::string(20, '\0');
  EXPECT_EQ(errorText(parseBytes(hugeKey)),
            "tiny.gguf: metadata key #0 at offset 24 has length "
            "1152921504606846976, past the end of the file (55 bytes)");
  // A string value of length 2^60.
  GGUFWriter s = oneTensor();
  s.raw("general.name", GGUFType::String,
        le<uint64_t>(uint64_t(1) << 60) + "x");
  EXPECT_THAT(errorText(parseBytes(s.build())),
              HasSubstr("metadata key 'general.name' at offset 48 has length "
                        "1152921504606846976, past the end of the file"));
  // An array of 2^40 uint8 and of 2^61 strings.
  GGUFWriter a = oneTensor();
  a.array("big", GGUFType::UInt8, uint64_t(1) << 40, "xyz");
  EXPECT_THAT(errorText(parseBytes(a.build())),
              HasSubstr("metadata key 'big' at offset 39 claims 1099511627776 "
                        "uint8 elements, more than the"));
  GGUFWriter b = oneTensor();
  b.array("big", GGUFType::String, uint64_t(1) << 61, "");
  EXPECT_THAT(errorText(parseBytes(b.build())),
              HasSubstr("claims 2305843009213693952 string elements"));
  // Counts no file could hold.
  EXPECT_EQ(errorText(parseBytes(header + le<uint64_t>(uint64_t(1) << 40) +
                                 le<uint64_t>(0) + std::string(64, '\0'))),
            "tiny.gguf: tensor count 1099511627776 is more than the file can "
            "hold");
  EXPECT_EQ(errorText(parseBytes(header + le<uint64_t>(0) +
                                 le<uint64_t>(~uint64_t(0)))),
            "tiny.gguf: metadata count 18446744073709551615 is more than the "
            "file can hold");
  // Dimensions whose product overflows.
  GGUFWriter d;
  d.tensor("huge", {uint64_t(1) << 62, uint64_t(1) << 62}, 0, "");
  EXPECT_THAT(errorText(parseBytes(d.build())),
              HasSubstr("tensor 'huge' of type F32 has dimensions whose size "
                        "overflows"));
  GGUFWriter n;
  n.tensor("neg", {~uint64_t(0)}, 0, "");
  EXPECT_THAT(errorText(parseBytes(n.build())),
              HasSubstr("tensor 'neg' has dimension 0 of absurd size"));
  GGUFWriter five;
  five.tensor("five", {1, 1, 1, 1, 1}, 0, le<float>(0));
  EXPECT_THAT(errorText(parseBytes(five.build())),
              HasSubstr("tensor 'five' at offset 24 has 5 dimensions (at "
                        "most 4)"));
}

TEST(GGUFReaderTest, BadMetadata) {
  GGUFWriter type = oneTensor();
  type.raw("odd", GGUFType(13), "");
  EXPECT_EQ(errorText(parseBytes(type.build())),
            "tiny.gguf: metadata key 'odd' at offset 24 has unknown type 13");
  GGUFWriter elem = oneTensor();
  elem.array("odd", GGUFType(42), 0, "");
  EXPECT_THAT(errorText(parseBytes(elem.build())),
              HasSubstr("metadata key 'odd' at offset 39 has unknown element "
                        "type 42"));
  GGUFWriter twice = oneTensor();
  twice.u32("k", 1).u32("k", 2);
  EXPECT_EQ(errorText(parseBytes(twice.build())),
            "tiny.gguf: metadata key 'k' at offset 41 appears twice");
  // Arrays nested 17 deep.
  std::string value = le<uint32_t>(uint32_t(GGUFType::UInt8)) + le<uint64_t>(0);
  for (int i = 0; i < 16; ++i)
    value = le<uint32_t>(uint32_t(GGUFType::Array)) + le<uint64_t>(1) + value;
  GGUFWriter deep = oneTensor();
  deep.raw("deep", GGUFType::Array, value);
  EXPECT_THAT(errorText(parseBytes(deep.build())),
              HasSubstr("nests arrays deeper than 16"));
  for (uint32_t alignment : {0u, 3u, 48u}) {
    GGUFWriter w = oneTensor();
    w.u32("general.alignment", alignment);
    EXPECT_EQ(errorText(parseBytes(w.build())),
              "tiny.gguf: general.alignment must be a power of two, not " +
                  std::to_string(alignment));
  }
  GGUFWriter s = oneTensor();
  s.str("general.alignment", "32");
  EXPECT_EQ(errorText(parseBytes(s.build())),
            "tiny.gguf: general.alignment must be a power of two, not a "
            "string");
}

TEST(GGUFReaderTest, DuplicateTensor) {
  GGUFWriter w = TinyLlama::gguf();
  w.tensor("output_norm.weight", {8}, 0, f32Ramp(8));
  EXPECT_EQ(errorText(readBytes(w.build())),
            "tiny.gguf: tensor 'output_norm.weight' appears more than once");
}

TEST(GGUFReaderTest, ConfigKeys) {
  GGUFWriter missing = TinyLlama::gguf();
  missing.erase("llama.block_count");
  EXPECT_EQ(errorText(readBytes(missing.build())),
            "tiny.gguf: missing metadata key 'llama.block_count'");
  GGUFWriter noArch = TinyLlama::gguf();
  noArch.erase("general.architecture");
  EXPECT_EQ(errorText(readBytes(noArch.build())),
            "tiny.gguf: missing metadata key 'general.architecture'");
  GGUFWriter typed = TinyLlama::gguf();
  typed.erase("llama.block_count").str("llama.block_count", "2");
  EXPECT_EQ(errorText(readBytes(typed.build())),
            "tiny.gguf: metadata key 'llama.block_count' has type string, "
            "expected an integer");
  GGUFWriter zero = TinyLlama::gguf();
  zero.erase("llama.attention.head_count").u32("llama.attention.head_count", 0);
  EXPECT_EQ(errorText(readBytes(zero.build())),
            "tiny.gguf: metadata key 'llama.attention.head_count' is 0, "
            "outside [1, 2147483647]");
  GGUFWriter eps = TinyLlama::gguf();
  eps.erase("llama.attention.layer_norm_rms_epsilon")
      .str("llama.attention.layer_norm_rms_epsilon", "small");
  EXPECT_EQ(errorText(readBytes(eps.build())),
            "tiny.gguf: metadata key 'llama.attention.layer_norm_rms_epsilon' "
            "has type string, expected a float");
  GGUFWriter arch = TinyLlama::gguf();
  arch.erase("general.architecture").str("general.architecture", "gptj");
  EXPECT_EQ(errorText(readBytes(arch.build())),
            "tiny.gguf: unknown architecture 'gptj' (general.architecture; "
            "Loom knows llama, mistral, mixtral, qwen2, gpt2, falcon, bert)");
}

TEST(GGUFReaderTest, TokenizerKeys) {
  GGUFWriter scores = TinyLlama::gguf();
  scores.erase("tokenizer.ggml.scores")
      .array("tokenizer.ggml.scores", GGUFType::Float32, 3, f32Ramp(3));
  EXPECT_EQ(errorText(readBytes(scores.build())),
            "tiny.gguf: metadata key 'tokenizer.ggml.scores' has 3 entries but "
            "tokenizer.ggml.tokens has 6");
  GGUFWriter tokens = TinyLlama::gguf();
  tokens.erase("tokenizer.ggml.tokens")
      .array("tokenizer.ggml.tokens", GGUFType::UInt8, 1, "a");
  EXPECT_EQ(errorText(readBytes(tokens.build())),
            "tiny.gguf: metadata key 'tokenizer.ggml.tokens' has type an array "
            "of uint8, expected an array of string");
  GGUFWriter bos = TinyLlama::gguf();
  bos.erase("tokenizer.ggml.bos_token_id")
      .u32("tokenizer.ggml.bos_token_id", 6);
  EXPECT_EQ(errorText(readBytes(bos.build())),
            "tiny.gguf: metadata key 'tokenizer.ggml.bos_token_id' is 6, "
            "outside [0, 5]");
}

TEST(GGUFReaderTest, MissingFile) {
  EXPECT_THAT(errorText(readGGUF("/nonexistent/x.gguf")),
              HasSubstr("/nonexistent/x.gguf: cannot open: "));
}

} // namespace
