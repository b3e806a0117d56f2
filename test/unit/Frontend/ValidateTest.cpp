//===- ValidateTest.cpp - checking a config against its weights -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// validateModel on a tiny llama built in memory, broken one way at a time:
// each message names the tensor, the shape expected and the shape found.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include <gmock/gmock.h>

using namespace llvm;
using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;

namespace {

/// The tiny llama as a ModelFile over a zero-filled buffer.
class ValidateTest : public ::testing::Test {
protected:
  void SetUp() override {
    model.path = "tiny";
    ModelConfig &c = model.config;
    c.architecture = "llama";
    c.dim = TinyLlama::dim;
    c.hiddenDim = TinyLlama::hidden;
    c.numLayers = TinyLlama::layers;
    c.numHeads = TinyLlama::heads;
    c.numKVHeads = TinyLlama::kvHeads;
    c.headDim = TinyLlama::headDim;
    c.vocabSize = TinyLlama::vocab;
    c.contextLength = TinyLlama::context;
    c.tiedEmbeddings = true;
    model.buffers.push_back(
        MemoryBuffer::getMemBufferCopy(std::string(1 << 16, '\0'), "tiny"));
    for (auto &[name, shape] : TinyLlama::tensors())
      add(name, shape);
  }

  void add(StringRef name, std::vector<int64_t> shape) {
    WeightInfo w;
    w.name = name.str();
    w.shape.assign(shape.begin(), shape.end());
    w.size = *storageByteSize(StorageType::F32, w.shape);
    model.weightIndex[name] = model.weights.size();
    model.weights.push_back(std::move(w));
  }

  WeightInfo &get(StringRef name) {
    return model.weights[model.weightIndex[name]];
  }

  void remove(StringRef name) {
    get(name).name = "removed";
    model.weightIndex.erase(name);
  }

  std::string validate() { return errorText(validateModel(model)); }

  ModelFile model;
};

TEST_F(ValidateTest, TinyLlamaIsValid) { EXPECT_EQ(validate(), "<no error>"); }

TEST_F(ValidateTest, WrongShape) {
  get("blk.0.attn_q.weight").shape = {4, 8};
  EXPECT_EQ(validate(), "tiny: tensor 'blk.0.attn_q.weight' has shape [4, 8], "
                        "expected [8, 8]");
}

TEST_F(ValidateTest, MissingTensor) {
  remove("blk.1.ffn_up.weight");
  EXPECT_EQ(validate(), "tiny: missing tensor 'blk.1.ffn_up.weight' (expected "
                        "shape [16, 8])");
}

TEST_F(ValidateTest, UntiedNeedsOutput) {
  model.config.tiedEmbeddings = false;
  EXPECT_EQ(validate(), "tiny: missing tensor 'output.weight' (expected shape "
                        "[6, 8])");
  add("output.weight", {6, 8});
  EXPECT_EQ(validate(), "<no error>");
  // A tied model may keep a copy, which must still have the right shape.
  model.config.tiedEmbeddings = true;
  get("output.weight").shape = {8, 6};
  get("output.weight").size = 192;
  EXPECT_EQ(validate(),
            "tiny: tensor 'output.weight' has shape [8, 6], expected [6, 8]");
}

TEST_F(ValidateTest, ConfigContradictingTensors) {
  model.config.hiddenDim = 32;
  std::string error = validate();
  EXPECT_THAT(error, HasSubstr("tiny: tensor 'blk.0.ffn_gate.weight' has shape "
                               "[16, 8], expected [32, 8]"));
  EXPECT_THAT(error, HasSubstr("tiny: tensor 'blk.1.ffn_down.weight' has shape "
                               "[8, 16], expected [8, 32]"));
  // Six problems, one line each.
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 5);

  model.config.hiddenDim = 16;
  model.config.vocabSize = 7;
  EXPECT_EQ(validate(), "tiny: tensor 'token_embd.weight' has shape [6, 8], "
                        "expected [7, 8]");
}

TEST_F(ValidateTest, ManyProblemsAreCapped) {
  model.config.dim = 16;
  std::string error = validate();
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 10);
  EXPECT_THAT(error, HasSubstr("tiny: ... and "));
}

TEST_F(ValidateTest, HugeLayerCountStopsEarly) {
  model.config.numLayers = INT32_MAX;
  EXPECT_EQ(validate(), "tiny: the config's layer count is 2147483647, more "
                        "than Loom accepts (65536)");
  // At the limit, the tensors of 65536 layers are not all looked for.
  model.config.numLayers = 65536;
  std::string error = validate();
  EXPECT_THAT(error, HasSubstr("tiny: missing tensor 'blk.2.attn_norm.weight' "
                               "(expected shape [8])"));
  EXPECT_THAT(error, ::testing::EndsWith(" or more"));
}

TEST_F(ValidateTest, ConfigNumbers) {
  model.config.numKVHeads = 3;
  EXPECT_EQ(validate(),
            "tiny: the config's 2 heads are not a multiple of its 3 KV heads");
  model.config.numKVHeads = 1;
  model.config.headDim = 3;
  EXPECT_EQ(validate(),
            "tiny: the config's head size 3 is odd, but RoPE rotates pairs");
  model.config.headDim = 4;
  model.config.numLayers = 0;
  EXPECT_EQ(validate(), "tiny: the config's layer count is 0, not positive");
  model.config.numLayers = 2;
  model.config.architecture = "gptj";
  EXPECT_EQ(validate(), "tiny: unknown architecture 'gptj' (Loom knows llama, "
                        "mistral, mixtral, qwen2, gpt2, falcon, bert)");
  model.config.architecture = "llama";
  model.config.numExpertsPerToken = 1;
  EXPECT_EQ(validate(), "tiny: the config picks 1 of 0 experts per token");
}

TEST_F(ValidateTest, SizeMustMatchStorage) {
  get("output_norm.weight").size = 10;
  EXPECT_EQ(validate(), "tiny: tensor 'output_norm.weight' holds 10 bytes, but "
                        "f32 [8] takes 32");
}

TEST_F(ValidateTest, ExtraLayer) {
  add("blk.2.attn_q.weight", {8, 8});
  EXPECT_EQ(validate(), "tiny: tensor 'blk.2.attn_q.weight' belongs to layer "
                        "2, but the config has 2 layers");
}

TEST_F(ValidateTest, AttentionBias) {
  model.config.attentionBias = true;
  std::string error = validate();
  EXPECT_THAT(error,
              HasSubstr("tiny: missing tensor 'blk.0.attn_q.bias' (expected "
                        "shape [8])"));
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_q.bias", {8});
    add(p + "attn_k.bias", {4});
    add(p + "attn_v.bias", {4});
  }
  EXPECT_EQ(validate(), "<no error>");
}

TEST_F(ValidateTest, StackedExperts) {
  model.config.numExperts = 4;
  model.config.numExpertsPerToken = 2;
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    for (StringRef dense :
         {"ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"})
      remove(p + dense.str());
    add(p + "ffn_gate_inp.weight", {4, 8});
    add(p + "ffn_gate_exps.weight", {4, 16, 8});
    add(p + "ffn_up_exps.weight", {4, 16, 8});
    add(p + "ffn_down_exps.weight", {4, 8, 16});
  }
  EXPECT_EQ(validate(), "<no error>");
  get("blk.1.ffn_down_exps.weight").shape = {4, 16, 8};
  EXPECT_EQ(validate(), "tiny: tensor 'blk.1.ffn_down_exps.weight' has shape "
                        "[4, 16, 8], expected [4, 8, 16]");
  get("blk.1.ffn_down_exps.weight").shape = {4, 8, 16};
  remove("blk.0.ffn_gate_inp.weight");
  EXPECT_EQ(validate(), "tiny: missing tensor 'blk.0.ffn_gate_inp.weight' "
                        "(expected shape [4, 8])");
}

TEST_F(ValidateTest, PerExpertTensors) {
  model.config.numExperts = 2;
  model.config.numExpertsPerToken = 1;
  for (int l = 0; l < 2; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    add(p + "ffn_gate_inp.weight", {2, 8});
    for (int e = 0; e < 2; ++e) {
      std::string n = "." + std::to_string(e) + ".weight";
      add(p + "ffn_gate" + n, {16, 8});
      add(p + "ffn_up" + n, {16, 8});
      if (l == 1 && e == 1)
        continue;
      add(p + "ffn_down" + n, {8, 16});
    }
  }
  EXPECT_EQ(validate(), "tiny: missing tensor 'blk.1.ffn_down.1.weight' "
                        "(expected shape [8, 16])");
}

} // namespace
