//===- ModelFileTest.cpp - storage sizes and the format dispatch ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// storageByteSize, the ModelFile accessors and readModelFile choosing the
// reader by magic, extension and folder.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "llvm/ADT/StringExtras.h"

#include <gmock/gmock.h>

using namespace llvm;
using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;

namespace {

TEST(ModelFileTest, StorageTypeNames) {
  EXPECT_EQ(storageTypeName(StorageType::F32), "f32");
  EXPECT_EQ(storageTypeName(StorageType::F16), "f16");
  EXPECT_EQ(storageTypeName(StorageType::BF16), "bf16");
  EXPECT_EQ(storageTypeName(StorageType::Q8_0), "q8_0");
  EXPECT_EQ(storageTypeName(StorageType::Q4_0), "q4_0");
  EXPECT_EQ(storageTypeName(StorageType::Q8Groups), "q8_groups");
  EXPECT_EQ(ggmlTypeName(14), "Q6_K");
  EXPECT_EQ(ggmlTypeName(30), "BF16");
  EXPECT_EQ(ggmlTypeName(4), "");
  EXPECT_EQ(ggmlTypeName(1000), "");
  EXPECT_EQ(ggufTypeName(12), "float64");
  EXPECT_EQ(ggufTypeName(13), "");
}

TEST(ModelFileTest, StorageByteSize) {
  EXPECT_EQ(storageByteSize(StorageType::F32, {2, 3}), 24u);
  EXPECT_EQ(storageByteSize(StorageType::F16, {2, 3}), 12u);
  EXPECT_EQ(storageByteSize(StorageType::BF16, {}), 2u);
  EXPECT_EQ(storageByteSize(StorageType::Q8_0, {2, 64}), 136u);
  EXPECT_EQ(storageByteSize(StorageType::Q4_0, {64}), 36u);
  EXPECT_EQ(storageByteSize(StorageType::Q8Groups, {4, 32}), 128u);
  EXPECT_EQ(storageByteSize(StorageType::Q8_0, {2, 33}), std::nullopt);
  EXPECT_EQ(storageByteSize(StorageType::F32, {-1}), std::nullopt);
  EXPECT_EQ(storageByteSize(StorageType::F32, {int64_t(1) << 62, 4}),
            std::nullopt);
  EXPECT_EQ(storageByteSize(StorageType::F32, {int64_t(1) << 62}),
            std::nullopt);
}

TEST(ModelFileTest, AccessorsStayInBounds) {
  ModelFile model;
  model.buffers.push_back(MemoryBuffer::getMemBufferCopy("abcdefgh", "m"));
  WeightInfo w;
  w.offset = 4;
  w.size = 4;
  EXPECT_EQ(toStringRef(model.bytes(w)), "efgh");
  w.size = 5;
  EXPECT_TRUE(model.bytes(w).empty());
  w.fileIndex = 1;
  EXPECT_TRUE(model.bytes(w).empty());
  EXPECT_TRUE(model.scales(w).empty());
  EXPECT_EQ(model.lookup("nothing"), nullptr);
  WeightInfo q;
  q.storage = StorageType::Q8Groups;
  q.shape = {2};
  q.groupSize = 1;
  q.scaleOffset = 0;
  EXPECT_EQ(toStringRef(model.scales(q)), "abcdefgh");
  q.scaleOffset = 1;
  EXPECT_TRUE(model.scales(q).empty());
}

TEST(ModelFileTest, DispatchByContent) {
  TempDir dir;
  // A GGUF named .bin is still GGUF; an "ak42" file is llama2.c whatever
  // its name.
  std::string gguf = dir.write("model.bin", TinyLlama::gguf().build());
  Expected<std::unique_ptr<ModelFile>> a = readModelFile(gguf);
  ASSERT_TRUE(bool(a)) << toString(a.takeError());
  EXPECT_EQ((*a)->format, "gguf");

  // A safetensors file without an extension, found by its header.
  std::string st = dir.write("weights", tinySafetensors().build());
  dir.write("config.json", tinyConfigJSON());
  Expected<std::unique_ptr<ModelFile>> b = readModelFile(st);
  ASSERT_TRUE(bool(b)) << toString(b.takeError());
  EXPECT_EQ((*b)->format, "safetensors");
  EXPECT_FALSE(bool(validateModel(**b)));

  std::string junk = dir.write("junk.dat", "hello world, not a model");
  EXPECT_EQ(errorText(readModelFile(junk)),
            junk + ": unknown model file format (expected GGUF, a llama2.c "
                   ".bin checkpoint, .safetensors or "
                   "model.safetensors.index.json)");
  std::string bad = dir.write("bad.gguf", "GGUX");
  EXPECT_EQ(errorText(readModelFile(bad)),
            bad + ": not a GGUF file (the magic is not \"GGUF\")");
  std::string bin = dir.write("short.bin", "abc");
  EXPECT_THAT(errorText(readModelFile(bin)),
              HasSubstr("short.bin: unexpected end of file reading the "
                        "header"));
  TempDir empty;
  EXPECT_EQ(errorText(readModelFile(empty.path(""))),
            empty.path("") + ": folder holds neither "
                             "model.safetensors.index.json nor "
                             "model.safetensors");
  EXPECT_THAT(errorText(readModelFile(dir.path("absent.gguf"))),
              HasSubstr("absent.gguf: cannot open: "));
}

TEST(ModelFileTest, RealModelsThroughReadModelFile) {
  LOOM_REQUIRE_MODELS(models);
  for (auto [file, format] :
       {std::pair<const char *, const char *>{"stories260K.gguf", "gguf"},
        {"stories260K.bin", "llama2c"},
        {"stories260K_q80.bin", "llama2c"}}) {
    Expected<std::unique_ptr<ModelFile>> model =
        readModelFile(models + "/" + file);
    ASSERT_TRUE(bool(model)) << toString(model.takeError());
    EXPECT_EQ((*model)->format, format);
    EXPECT_EQ((*model)->path, models + "/" + file);
    EXPECT_EQ((*model)->config.vocabSize, 512);
    EXPECT_FALSE(bool(validateModel(**model))) << file;
  }
}

} // namespace

namespace {

/// A configuration of `architecture` with every number set.
ModelConfig sampleConfig(StringRef architecture) {
  ModelConfig c;
  c.architecture = architecture.str();
  c.blocks = *familyBlocks(architecture);
  c.dim = 64;
  c.hiddenDim = 172;
  c.numLayers = 2;
  c.numHeads = 8;
  c.numKVHeads = 4;
  c.headDim = 8;
  c.vocabSize = 100;
  c.contextLength = 32;
  c.normEps = 1e-6f;
  c.ropeTheta = 500000.0f;
  c.ropeStyle = RopeStyle::Half;
  c.tiedEmbeddings = true;
  c.slidingWindow = 16;
  if (architecture == "bert")
    c.numTokenTypes = 2, c.pooling = Pooling::Mean;
  if (architecture == "mixtral")
    c.numExperts = 4, c.numExpertsPerToken = 2;
  return c;
}

TEST(ModelFileTest, ParseConfigInvertsDescribeConfig) {
  for (StringRef arch : supportedArchitectures()) {
    SCOPED_TRACE(arch.str());
    ModelConfig c = sampleConfig(arch);
    auto fields = describeConfig(c);
    Expected<ModelConfig> parsed = parseConfig(fields, "test");
    ASSERT_TRUE(bool(parsed)) << toString(parsed.takeError());
    EXPECT_EQ(describeConfig(*parsed), fields);
  }
  // Left-out fields keep the family's blocks and ModelConfig's defaults.
  Expected<ModelConfig> gpt2 =
      parseConfig({{"architecture", "gpt2"}, {"dim", "768"}}, "test");
  ASSERT_TRUE(bool(gpt2)) << toString(gpt2.takeError());
  EXPECT_EQ(gpt2->dim, 768);
  EXPECT_EQ(gpt2->blocks.norm, NormKind::LayerNorm);
  EXPECT_EQ(gpt2->blocks.feedForward, FeedForwardKind::GeluTanh);
  EXPECT_EQ(gpt2->numLayers, 0);
}

TEST(ModelFileTest, ParseConfigNamesTheField) {
  auto fails = [](std::vector<std::pair<std::string, std::string>> fields,
                  StringRef message) {
    Expected<ModelConfig> c = parseConfig(fields, "def.py");
    ASSERT_FALSE(bool(c));
    EXPECT_THAT(toString(c.takeError()), HasSubstr(message.str()));
  };
  fails({{"dim", "64"}}, "def.py: the configuration names no architecture");
  fails({{"architecture", "gpt5"}}, "unknown architecture 'gpt5'");
  fails({{"architecture", "llama"}, {"dim", "sixty"}},
        "the configuration's dim is 'sixty', not an integer");
  fails({{"architecture", "llama"}, {"norm_eps", "tiny"}},
        "norm_eps is 'tiny', not a number");
  fails({{"architecture", "llama"}, {"causal", "yes"}},
        "causal is 'yes', not true or false");
  fails({{"architecture", "llama"}, {"norm", "batch_norm"}},
        "norm is 'batch_norm', not one of rms_norm, layer_norm");
  fails({{"architecture", "llama"}, {"rope_style", "spiral"}},
        "rope_style is 'spiral', not interleaved, half or none");
  fails({{"architecture", "llama"}, {"colour", "red"}},
        "has no field 'colour' (the fields: architecture, dim,");
  fails({{"architecture", "llama"}, {"dim", "1"}, {"dim", "2"}},
        "names 'dim' twice");
}

TEST(ModelFileTest, ExpectedWeightsAreWhatValidationChecks) {
  for (StringRef arch : supportedArchitectures()) {
    SCOPED_TRACE(arch.str());
    ModelConfig c = sampleConfig(arch);
    // A model with exactly the required tensors, zero-filled, validates.
    std::vector<std::vector<uint8_t>> storage;
    std::vector<TensorData> tensors;
    forEachExpectedWeight(
        c, /*stackedExperts=*/true,
        [&](StringRef name, ArrayRef<int64_t> shape, bool required) {
          if (!required)
            return true;
          TensorData t;
          t.name = name.str();
          t.shape.assign(shape.begin(), shape.end());
          storage.emplace_back(*storageByteSize(StorageType::F32, shape));
          tensors.push_back(std::move(t));
          return true;
        });
    for (size_t i = 0; i < tensors.size(); ++i)
      tensors[i].bytes = storage[i];
    auto model = modelFromTensors("mem", c, tensors, {});
    ASSERT_TRUE(bool(model)) << toString(model.takeError());
    Error valid = validateModel(**model);
    EXPECT_FALSE(bool(valid)) << toString(std::move(valid));
    // Without its last tensor it does not, naming the tensor.
    tensors.pop_back();
    auto fewer = modelFromTensors("mem", c, tensors, {});
    ASSERT_TRUE(bool(fewer)) << toString(fewer.takeError());
    Error e = validateModel(**fewer);
    EXPECT_THAT(toString(std::move(e)), HasSubstr("mem: missing tensor"));
  }
  // The visitor stops the walk.
  int visited = 0;
  forEachExpectedWeight(
      sampleConfig("llama"), true,
      [&](StringRef, ArrayRef<int64_t>, bool) { return ++visited < 3; });
  EXPECT_EQ(visited, 3);
}

TEST(ModelFileTest, ModelFromTensorsChecksTheBytes) {
  ModelConfig c = sampleConfig("llama");
  std::vector<uint8_t> bytes(24, 7);
  TensorData t{"a.weight", {2, 3}, StorageType::F32, bytes};
  auto model = modelFromTensors("mem", c, {t}, {});
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  EXPECT_EQ((*model)->format, "memory");
  const WeightInfo *w = (*model)->lookup("a.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ((*model)->bytes(*w), ArrayRef<uint8_t>(bytes));
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*model)->bytes(*w).data()) % 64, 0u);

  auto fails = [&](std::vector<TensorData> tensors, StringRef message) {
    auto m = modelFromTensors("mem", c, tensors, {});
    ASSERT_FALSE(bool(m));
    EXPECT_THAT(toString(m.takeError()), HasSubstr(message.str()));
  };
  fails({TensorData{"b", {2, 4}, StorageType::F32, bytes}},
        "mem: tensor 'b' holds 24 bytes, but f32 [2, 4] takes 32");
  fails({t, t}, "mem: tensor 'a.weight' is given twice");
  fails({TensorData{"q", {1, 33}, StorageType::Q8_0, bytes}},
        "an impossible number of");
  fails({TensorData{"g", {2, 3}, StorageType::Q8Groups, bytes}},
        "q8_groups tensors are read from llama2.c files only");
}

} // namespace
