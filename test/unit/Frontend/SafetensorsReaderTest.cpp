//===- SafetensorsReaderTest.cpp - Hugging Face checkpoints ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Synthetic safetensors checkpoints in a temporary folder: one file and
// sharded, every dtype, the name mapping (dense, Qwen2 biases, Mixtral
// experts), config.json, tokenizer.json, and the bad inputs.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "loom/Support/BoundedJSON.h"

#include "llvm/Support/JSON.h"

#include <gmock/gmock.h>

using namespace llvm;
using namespace loom;
using namespace loom::test;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

Expected<std::unique_ptr<ModelFile>>
readBytes(StringRef bytes, StringRef name = "m.safetensors") {
  return readSafetensorsFromBuffer(bufferOf(bytes, name));
}

/// A folder with model.safetensors and config.json.
struct Checkpoint {
  TempDir dir;
  std::string path;
  Checkpoint(const SafetensorsWriter &w, StringRef config) {
    path = dir.write("model.safetensors", w.build());
    dir.write("config.json", config);
  }
};

TEST(SafetensorsReaderTest, OneFileWithConfig) {
  Checkpoint ckpt(tinySafetensors(), tinyConfigJSON());
  Expected<std::unique_ptr<ModelFile>> model = readSafetensors(ckpt.path);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ((*model)->format, "safetensors");
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.hiddenDim, 16);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 2);
  EXPECT_EQ(c.numKVHeads, 1);
  EXPECT_EQ(c.headDim, 4);
  EXPECT_EQ(c.vocabSize, 6);
  EXPECT_EQ(c.contextLength, 32);
  EXPECT_FLOAT_EQ(c.normEps, 1e-5f);
  EXPECT_EQ(c.ropeStyle, RopeStyle::Half);
  EXPECT_FALSE(c.tiedEmbeddings);
  EXPECT_FALSE(c.attentionBias);
  EXPECT_TRUE((*model)->tokenizer.empty());
  // HF names become GGUF names, in file order.
  EXPECT_EQ((*model)->weights.front().name, "token_embd.weight");
  EXPECT_EQ((*model)->weights.back().name, "output.weight");
  for (const char *name : {"blk.1.attn_output.weight", "blk.0.ffn_norm.weight",
                           "blk.1.ffn_down.weight", "output_norm.weight"})
    EXPECT_NE((*model)->lookup(name), nullptr) << name;
  const WeightInfo *embed = (*model)->lookup("token_embd.weight");
  EXPECT_EQ(ArrayRef<int64_t>(embed->shape), ArrayRef<int64_t>({6, 8}));
  float first;
  std::memcpy(&first, (*model)->bytes(*embed).data() + 4, 4);
  EXPECT_FLOAT_EQ(first, 0.01f);
  EXPECT_FALSE(bool(validateModel(**model)));

  // readModelFile finds the same through the folder or the file.
  for (const std::string &path : {ckpt.path, ckpt.dir.path("")}) {
    Expected<std::unique_ptr<ModelFile>> again = readModelFile(path);
    ASSERT_TRUE(bool(again)) << toString(again.takeError());
    EXPECT_EQ((*again)->weights.size(), (*model)->weights.size());
  }
}

TEST(SafetensorsReaderTest, TiedEmbeddings) {
  Checkpoint tied(tinySafetensors(/*withLmHead=*/false),
                  tinyConfigJSON(R"(, "tie_word_embeddings": true)"));
  Expected<std::unique_ptr<ModelFile>> model = readSafetensors(tied.path);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  EXPECT_TRUE((*model)->config.tiedEmbeddings);
  EXPECT_FALSE(bool(validateModel(**model)));

  Checkpoint untied(tinySafetensors(/*withLmHead=*/false), tinyConfigJSON());
  EXPECT_EQ(errorText(readSafetensors(untied.path)),
            untied.dir.path("config.json") +
                ": tie_word_embeddings is false (or absent), but the "
                "checkpoint has no lm_head.weight");
}

TEST(SafetensorsReaderTest, Dtypes) {
  SafetensorsWriter w;
  w.add("a", "F32", {2, 3}, std::string(24, '\1'))
      .add("b", "F16", {3, 2}, std::string(12, '\2'))
      .add("c", "BF16", {4}, std::string(8, '\3'))
      .add("empty", "F32", {0, 5}, "");
  Expected<std::unique_ptr<ModelFile>> model = readBytes(w.build());
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  EXPECT_EQ((*model)->lookup("a")->storage, StorageType::F32);
  EXPECT_EQ((*model)->lookup("b")->storage, StorageType::F16);
  EXPECT_EQ((*model)->lookup("b")->size, 12u);
  EXPECT_EQ((*model)->lookup("c")->storage, StorageType::BF16);
  EXPECT_EQ((*model)->bytes(*(*model)->lookup("c")),
            ArrayRef<uint8_t>(std::vector<uint8_t>(8, 3)));
  // Without a config only the weight table is known.
  EXPECT_TRUE((*model)->config.tiedEmbeddings);
  EXPECT_TRUE((*model)->config.architecture.empty());

  SafetensorsWriter bad;
  bad.add("model.layers.0.mlp.up_proj.weight", "I64", {2}, std::string(16, 0));
  EXPECT_EQ(errorText(readBytes(bad.build())),
            "m.safetensors: tensor 'model.layers.0.mlp.up_proj.weight': dtype "
            "I64 is not one Loom reads (it reads F32, F16 and BF16)");
}

TEST(SafetensorsReaderTest, Sharded) {
  TempDir dir;
  SafetensorsWriter all = tinySafetensors();
  // Shard 1: the embedding and layer 0; shard 2: the rest.
  SafetensorsWriter first, second;
  std::string header = all.header();
  std::string weightMap;
  // Split the tiny checkpoint tensor by tensor into the two shards.
  Expected<std::unique_ptr<ModelFile>> whole = readBytes(all.build());
  ASSERT_TRUE(bool(whole)) << toString(whole.takeError());
  Expected<json::Value> parsed = json::parse(header);
  ASSERT_TRUE(bool(parsed));
  std::string data = all.build().substr(8 + header.size());
  for (const auto &[key, value] : *parsed->getAsObject()) {
    StringRef name = key;
    if (name == "__metadata__")
      continue;
    const json::Object *entry = value.getAsObject();
    std::vector<int64_t> shape;
    for (const json::Value &d : *entry->getArray("shape"))
      shape.push_back(*d.getAsInteger());
    const json::Array &offsets = *entry->getArray("data_offsets");
    std::string bytes =
        data.substr(*offsets[0].getAsInteger(),
                    *offsets[1].getAsInteger() - *offsets[0].getAsInteger());
    bool inFirst = name.contains("embed") || name.contains("layers.0.");
    (inFirst ? first : second).add(name, "F32", shape, bytes);
    weightMap += (weightMap.empty() ? "" : ", ") +
                 ("\"" + name + "\": \"").str() +
                 (inFirst ? "model-00001-of-00002.safetensors"
                          : "model-00002-of-00002.safetensors") +
                 "\"";
  }
  dir.write("model-00001-of-00002.safetensors", first.build());
  dir.write("model-00002-of-00002.safetensors", second.build());
  dir.write("config.json", tinyConfigJSON());
  std::string index = dir.write(
      "model.safetensors.index.json",
      R"({"metadata": {"total_size": 1}, "weight_map": {)" + weightMap + "}}");

  Expected<std::unique_ptr<ModelFile>> model = readSafetensors(index);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  EXPECT_EQ((*model)->buffers.size(), 2u);
  EXPECT_EQ((*model)->weights.size(), (*whole)->weights.size());
  EXPECT_EQ((*model)->lookup("token_embd.weight")->fileIndex, 0u);
  EXPECT_EQ((*model)->lookup("blk.0.ffn_up.weight")->fileIndex, 0u);
  EXPECT_EQ((*model)->lookup("blk.1.ffn_up.weight")->fileIndex, 1u);
  EXPECT_EQ((*model)->lookup("output.weight")->fileIndex, 1u);
  for (const WeightInfo &w : (*whole)->weights)
    EXPECT_TRUE((*model)->bytes(*(*model)->lookup(w.name)) ==
                (*whole)->bytes(w))
        << w.name;
  EXPECT_FALSE(bool(validateModel(**model)));
  Expected<std::unique_ptr<ModelFile>> viaFolder = readModelFile(dir.path(""));
  ASSERT_TRUE(bool(viaFolder)) << toString(viaFolder.takeError());
  EXPECT_EQ((*viaFolder)->buffers.size(), 2u);

  // An index that puts a tensor in the wrong shard, or names a missing or
  // escaping file.
  std::string wrong = dir.write(
      "wrong.index.json",
      R"({"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}})");
  EXPECT_EQ(errorText(readSafetensors(wrong)),
            wrong + ": weight_map puts tensor 'lm_head.weight' in "
                    "'model-00001-of-00002.safetensors', which does not hold "
                    "it");
  std::string missing = dir.write(
      "missing.index.json", R"({"weight_map": {"x": "absent.safetensors"}})");
  EXPECT_THAT(errorText(readSafetensors(missing)),
              HasSubstr("absent.safetensors: cannot open: "));
  std::string escaping = dir.write(
      "escape.index.json", R"({"weight_map": {"x": "../x.safetensors"}})");
  EXPECT_EQ(errorText(readSafetensors(escaping)),
            escaping + ": weight_map entry 'x' names '../x.safetensors', which "
                       "is not a file in its folder");
  std::string notJSON = dir.write("bad.index.json", "{\"weight_map\": ");
  EXPECT_THAT(errorText(readSafetensors(notJSON)),
              HasSubstr("bad.index.json: not valid JSON: "));
  std::string noMap = dir.write("nomap.index.json", "{}");
  EXPECT_EQ(errorText(readSafetensors(noMap)),
            noMap + ": has no \"weight_map\" object");
}

TEST(SafetensorsReaderTest, MixtralExperts) {
  // The tiny llama with 2 experts per layer instead of a dense FFN.
  SafetensorsWriter moe;
  constexpr int64_t dim = 8, hidden = 16;
  auto hf = [](int l, StringRef rest) {
    return ("model.layers." + Twine(l) + "." + rest).str();
  };
  moe.add("model.embed_tokens.weight", "F32", {6, dim}, f32Ramp(6 * dim))
      .add("model.norm.weight", "F32", {dim}, f32Ramp(dim))
      .add("lm_head.weight", "F32", {6, dim}, f32Ramp(6 * dim));
  for (int l = 0; l < 2; ++l) {
    moe.add(hf(l, "input_layernorm.weight"), "F32", {dim}, f32Ramp(dim))
        .add(hf(l, "post_attention_layernorm.weight"), "F32", {dim},
             f32Ramp(dim))
        .add(hf(l, "self_attn.q_proj.weight"), "F32", {dim, dim},
             f32Ramp(dim * dim))
        .add(hf(l, "self_attn.k_proj.weight"), "F32", {4, dim}, f32Ramp(32))
        .add(hf(l, "self_attn.v_proj.weight"), "F32", {4, dim}, f32Ramp(32))
        .add(hf(l, "self_attn.o_proj.weight"), "F32", {dim, dim},
             f32Ramp(dim * dim))
        .add(hf(l, "self_attn.rotary_emb.inv_freq"), "F32", {2}, f32Ramp(2))
        .add(hf(l, "block_sparse_moe.gate.weight"), "F32", {2, dim},
             f32Ramp(2 * dim));
    for (int e = 0; e < 2; ++e) {
      std::string p = "block_sparse_moe.experts." + std::to_string(e) + ".";
      moe.add(hf(l, p + "w1.weight"), "F32", {hidden, dim},
              f32Ramp(hidden * dim))
          .add(hf(l, p + "w3.weight"), "F32", {hidden, dim},
               f32Ramp(hidden * dim))
          .add(hf(l, p + "w2.weight"), "F32", {dim, hidden},
               f32Ramp(hidden * dim, 5));
    }
  }
  Checkpoint ckpt(moe, tinyConfigJSON(R"(, "model_type": "mixtral",
      "num_local_experts": 2, "num_experts_per_tok": 1, "rope_theta": 1e6,
      "sliding_window": null)",
                                      /*withArchitecture=*/false));
  Expected<std::unique_ptr<ModelFile>> model = readSafetensors(ckpt.path);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  const ModelConfig &c = (*model)->config;
  EXPECT_EQ(c.architecture, "mixtral");
  EXPECT_EQ(c.numExperts, 2);
  EXPECT_EQ(c.numExpertsPerToken, 1);
  EXPECT_FALSE(c.slidingWindow.has_value());
  EXPECT_FLOAT_EQ(c.ropeTheta, 1e6f);
  EXPECT_NE((*model)->lookup("blk.0.ffn_gate_inp.weight"), nullptr);
  EXPECT_NE((*model)->lookup("blk.1.ffn_gate.1.weight"), nullptr);
  EXPECT_NE((*model)->lookup("blk.1.ffn_up.0.weight"), nullptr);
  const WeightInfo *down = (*model)->lookup("blk.0.ffn_down.1.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(ArrayRef<int64_t>(down->shape), ArrayRef<int64_t>({dim, hidden}));
  // inv_freq is dropped: RoPE is recomputed from the config.
  for (const WeightInfo &t : (*model)->weights)
    EXPECT_FALSE(StringRef(t.name).contains("inv_freq")) << t.name;
  EXPECT_FALSE(bool(validateModel(**model)));
}

TEST(SafetensorsReaderTest, Qwen2Biases) {
  SafetensorsWriter w = tinySafetensors();
  for (int l = 0; l < 2; ++l)
    for (auto [proj, n] : {std::pair<const char *, int64_t>{"q_proj", 8},
                           {"k_proj", 4},
                           {"v_proj", 4}})
      w.add("model.layers." + std::to_string(l) + ".self_attn." + proj +
                ".bias",
            "F32", {n}, f32Ramp(n));
  Checkpoint ckpt(w, tinyConfigJSON(R"(, "model_type": "qwen2",
      "use_sliding_window": false, "sliding_window": 4096)",
                                    /*withArchitecture=*/false));
  Expected<std::unique_ptr<ModelFile>> model = readSafetensors(ckpt.path);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  EXPECT_EQ((*model)->config.architecture, "qwen2");
  EXPECT_TRUE((*model)->config.attentionBias);
  EXPECT_FALSE((*model)->config.slidingWindow.has_value());
  EXPECT_NE((*model)->lookup("blk.1.attn_k.bias"), nullptr);
  EXPECT_FALSE(bool(validateModel(**model)));
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

TEST(SafetensorsReaderTest, HFConfig) {
  Expected<ModelConfig> c = parseHFConfig(
      R"({"architectures": ["MistralForCausalLM"], "hidden_size": 4096,
          "intermediate_size": 14336, "num_hidden_layers": 32,
          "num_attention_heads": 32, "num_key_value_heads": 8,
          "max_position_embeddings": 32768, "sliding_window": 4096,
          "vocab_size": 32000, "rope_theta": 10000.0})",
      "config.json");
  ASSERT_TRUE(bool(c)) << toString(c.takeError());
  EXPECT_EQ(c->architecture, "mistral");
  EXPECT_EQ(c->headDim, 128);
  EXPECT_EQ(c->numKVHeads, 8);
  EXPECT_EQ(c->slidingWindow, 4096);
  EXPECT_FLOAT_EQ(c->normEps, 1e-6f); // the Hugging Face default
  EXPECT_FALSE(c->tiedEmbeddings);

  Expected<ModelConfig> defaults =
      parseHFConfig(tinyConfigJSON(R"(, "head_dim": 6)"), "config.json");
  ASSERT_TRUE(bool(defaults));
  EXPECT_EQ(defaults->headDim, 6);

  EXPECT_EQ(errorText(parseHFConfig(R"({"model_type": "llama"})", "c.json")),
            "c.json: missing key 'hidden_size'");
  EXPECT_EQ(errorText(parseHFConfig(
                tinyConfigJSON(R"(, "num_key_value_heads": "one")"), "c.json")),
            "c.json: key 'num_key_value_heads' should be an integer >= 1, "
            "found \"one\"");
  EXPECT_EQ(errorText(parseHFConfig(tinyConfigJSON(R"(, "rms_norm_eps": -1)"),
                                    "c.json")),
            "c.json: key 'rms_norm_eps' should be a positive number, found -1");
  EXPECT_EQ(errorText(parseHFConfig(
                tinyConfigJSON(R"(, "tie_word_embeddings": 1)"), "c.json")),
            "c.json: key 'tie_word_embeddings' should be true or false, found "
            "1");
  EXPECT_EQ(errorText(parseHFConfig(R"({"model_type": "gptj",
              "architectures": ["GPTJForCausalLM"]})",
                                    "c.json")),
            "c.json: unknown architecture (model_type 'gptj'; Loom knows "
            "llama, mistral, mixtral, qwen2, gpt2, falcon, bert)");
  EXPECT_EQ(errorText(parseHFConfig(R"({"architectures": ["Phi3ForCausalLM"]})",
                                    "c.json")),
            "c.json: unknown architecture (architectures 'Phi3ForCausalLM'; "
            "Loom knows llama, mistral, mixtral, qwen2, gpt2, falcon, bert)");
  EXPECT_THAT(errorText(parseHFConfig("{\"hidden_size\": ", "c.json")),
              StartsWith("c.json: not valid JSON: "));
  EXPECT_EQ(errorText(parseHFConfig("[1]", "c.json")),
            "c.json: the top level is not a JSON object");
}

TEST(SafetensorsReaderTest, ConfigBesideTheWeights) {
  TempDir dir;
  std::string path = dir.write("model.safetensors", tinySafetensors().build());
  EXPECT_EQ(errorText(readSafetensors(path)),
            path + ": no config.json beside it (looked for " +
                dir.path("config.json") + ")");
  dir.write("config.json", R"({"model_type": "llama", "hidden_size": 8})");
  EXPECT_EQ(errorText(readSafetensors(path)),
            dir.path("config.json") + ": missing key 'intermediate_size'");
}

//===----------------------------------------------------------------------===//
// tokenizer.json
//===----------------------------------------------------------------------===//

TEST(SafetensorsReaderTest, TokenizerJSON) {
  Checkpoint ckpt(tinySafetensors(), tinyConfigJSON());
  ckpt.dir.write("tokenizer.json", R"({
    "added_tokens": [{"id": 0, "content": "<unk>", "special": true},
                     {"id": 1, "content": "<s>", "special": true},
                     {"id": 2, "content": "</s>", "special": true}],
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
      "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3,
                "\u2581": 4, "h": 5, "i": 6, "hi": 7, "\u2581hi": 8},
      "merges": ["h i", ["\u2581", "hi"]]}})");
  Expected<std::unique_ptr<ModelFile>> model = readSafetensors(ckpt.path);
  ASSERT_TRUE(bool(model)) << toString(model.takeError());
  const TokenizerData &tok = (*model)->tokenizer;
  EXPECT_EQ(tok.model, "llama");
  ASSERT_EQ(tok.pieces.size(), 9u);
  EXPECT_EQ(tok.pieces[4], " ");
  EXPECT_EQ(tok.pieces[8], " hi");
  EXPECT_EQ(tok.scores[7], 0.0f);
  EXPECT_EQ(tok.scores[8], -1.0f);
  EXPECT_EQ(tok.tokenTypes[0], 2);
  EXPECT_EQ(tok.tokenTypes[1], 3);
  EXPECT_EQ(tok.tokenTypes[3], 6);
  EXPECT_EQ(tok.tokenTypes[5], 1);
  EXPECT_EQ(tok.bosId, 1);
  EXPECT_EQ(tok.eosId, 2);
  EXPECT_TRUE(tok.merges.empty());

  ckpt.dir.write("tokenizer.json", R"({"model": {"type": "BPE",
      "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}})");
  Expected<std::unique_ptr<ModelFile>> gpt2 = readSafetensors(ckpt.path);
  ASSERT_TRUE(bool(gpt2)) << toString(gpt2.takeError());
  EXPECT_EQ((*gpt2)->tokenizer.model, "gpt2");
  EXPECT_EQ((*gpt2)->tokenizer.merges, std::vector<std::string>{"a b"});

  ckpt.dir.write("tokenizer.json",
                 R"({"model": {"type": "BPE", "vocab": {"a": -1}}})");
  EXPECT_EQ(errorText(readSafetensors(ckpt.path)),
            ckpt.dir.path("tokenizer.json") +
                ": token 'a' has the id -1, outside the 1 tokens the file "
                "lists");
  // A 60-byte file claiming an id of 16 million must not size the table by
  // it (it used to allocate 740 MB).
  ckpt.dir.write("tokenizer.json",
                 R"({"model": {"type": "BPE", "vocab": {"a": 16777215}}})");
  EXPECT_EQ(errorText(readSafetensors(ckpt.path)),
            ckpt.dir.path("tokenizer.json") +
                ": token 'a' has the id 16777215, outside the 1 tokens the "
                "file lists");
  ckpt.dir.write("tokenizer.json", R"({"model": {"type": "Unigram"}})");
  Expected<std::unique_ptr<ModelFile>> unigram = readSafetensors(ckpt.path);
  ASSERT_TRUE(bool(unigram)) << toString(unigram.takeError());
  EXPECT_TRUE((*unigram)->tokenizer.empty());
}

//===----------------------------------------------------------------------===//
// Bad input
//===----------------------------------------------------------------------===//

// JSON nested 100,000 deep (a header, config.json, tokenizer.json) is an
// error, not a stack overflow in the recursive parser.
TEST(SafetensorsReaderTest, DeeplyNestedJSONIsAnError) {
  std::string deep(100000, '[');
  std::string header = "{\"x\": " + deep + "}";
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  EXPECT_THAT(errorText(readBytes(bytes + header)),
              HasSubstr("arrays and objects nest more than 256 deep"));

  Checkpoint ckpt(tinySafetensors(), "{\"a\": " + deep + "}");
  EXPECT_THAT(errorText(readSafetensors(ckpt.path)),
              HasSubstr("arrays and objects nest more than 256 deep"));
  ckpt.dir.write("config.json", tinyConfigJSON());
  ckpt.dir.write("tokenizer.json", "{\"model\": " + deep);
  EXPECT_THAT(errorText(readSafetensors(ckpt.path)),
              HasSubstr("arrays and objects nest more than 256 deep"));
  // Brackets inside strings do not count, and 256 levels are fine.
  Expected<json::Value> ok = parseBoundedJSON(
      "{\"s\": \"[[[[\\\"[[\", \"a\": " + std::string(255, '[') +
      std::string(255, ']') + "}");
  EXPECT_TRUE(bool(ok)) << toString(ok.takeError());
}

TEST(SafetensorsReaderTest, EveryTruncationIsAnError) {
  std::string bytes = tinySafetensors().build();
  for (size_t n = 0; n < bytes.size(); n += (n < 200 ? 1 : 37))
    EXPECT_THAT(errorText(readBytes(bytes.substr(0, n))),
                StartsWith("m.safetensors: "))
        << n;
  EXPECT_EQ(errorText(readBytes("\x10")),
            "m.safetensors: unexpected end of file reading the header length "
            "[offset 0, 8 bytes]: the file has 1 bytes");
}

TEST(SafetensorsReaderTest, BadHeaders) {
  EXPECT_EQ(errorText(readBytes(le<uint64_t>(uint64_t(1) << 60) + "{}")),
            "m.safetensors: header length 1152921504606846976 [offset 0] runs "
            "past the end of the file (10 bytes)");
  EXPECT_EQ(errorText(readBytes(le<uint64_t>(200 << 20) +
                                std::string(200 << 20, ' '))),
            "m.safetensors: header length 209715200 is over the limit of "
            "104857600 bytes");
  EXPECT_THAT(errorText(readBytes(le<uint64_t>(5) + "{\"a\":")),
              StartsWith("m.safetensors: the header [offset 8, 5 bytes] is not "
                         "valid JSON: "));
  EXPECT_EQ(errorText(readBytes(le<uint64_t>(2) + "[]")),
            "m.safetensors: the header is not a JSON object");
  auto withHeader = [](StringRef header) {
    return errorText(readBytes(SafetensorsWriter().build(header.str()) +
                               std::string(64, '\0')));
  };
  EXPECT_EQ(withHeader(R"({"w": 1})"),
            "m.safetensors: tensor 'w': the header entry is not an object");
  EXPECT_EQ(withHeader(R"({"w": {"dtype": "F32", "shape": [2]}})"),
            "m.safetensors: tensor 'w': the header entry lacks \"dtype\", "
            "\"shape\" or \"data_offsets\"");
  EXPECT_EQ(
      withHeader(
          R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})"),
      "m.safetensors: tensor 'w': the shape holds something other than "
      "sizes");
  EXPECT_EQ(
      withHeader(
          R"({"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})"),
      "m.safetensors: tensor 'w': the shape [4611686018427387904, 4] "
      "overflows");
  EXPECT_EQ(
      withHeader(
          R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})"),
      "m.safetensors: tensor 'w': data_offsets is not [begin, end] with "
      "begin <= end");
  EXPECT_EQ(
      withHeader(
          R"({"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 8]}})"),
      "m.safetensors: tensor 'w': data_offsets [0, 8] span 8 bytes, but "
      "F16 [2, 3] takes 12");
}

TEST(SafetensorsReaderTest, DataPastEnd) {
  SafetensorsWriter w;
  w.add("a", "F32", {4}, f32Ramp(4)).add("b", "F32", {8}, f32Ramp(8));
  std::string bytes = w.build();
  std::string cut = bytes.substr(0, bytes.size() - 4);
  uint64_t offset = 8 + w.header().size() + 16;
  EXPECT_EQ(errorText(readBytes(cut)),
            "m.safetensors: tensor 'b' data [offset " + std::to_string(offset) +
                ", 32 bytes] runs past the end of the file (" +
                std::to_string(cut.size()) + " bytes)");
}

TEST(SafetensorsReaderTest, NameCollision) {
  SafetensorsWriter w;
  w.add("model.embed_tokens.weight", "F32", {1}, f32Ramp(1))
      .add("token_embd.weight", "F32", {1}, f32Ramp(1));
  EXPECT_EQ(errorText(readBytes(w.build())),
            "m.safetensors: tensor 'token_embd.weight' maps to "
            "'token_embd.weight', which another tensor has already");
}

} // namespace
