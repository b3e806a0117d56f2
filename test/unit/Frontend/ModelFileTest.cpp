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
