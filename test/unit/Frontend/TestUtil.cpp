//===- TestUtil.cpp - helpers of the model-file reader tests --------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace llvm;

namespace loom::test {

std::string modelsDir() {
  SmallVector<std::string, 2> roots;
  if (const char *env = std::getenv("LOOM_SOURCE_DIR"))
    roots.push_back(env);
  // This file is <root>/test/unit/Frontend/TestUtil.cpp.
  SmallString<256> fromFile(__FILE__);
  for (int i = 0; i < 4; ++i)
    sys::path::remove_filename(fromFile);
  roots.push_back(std::string(fromFile));
  for (const std::string &root : roots) {
    SmallString<256> dir(root);
    sys::path::append(dir, "..", "shared", "models");
    SmallString<256> probe(dir);
    sys::path::append(probe, "stories260K.gguf");
    if (sys::fs::exists(probe))
      return std::string(dir);
  }
  return "";
}

TempDir::TempDir() {
  if (std::error_code ec =
          sys::fs::createUniqueDirectory("loom-frontend-test", dir))
    ADD_FAILURE() << "cannot create a temporary folder: " << ec.message();
}

TempDir::~TempDir() { (void)sys::fs::remove_directories(dir); }

std::string TempDir::path(StringRef name) const {
  SmallString<256> p(dir);
  sys::path::append(p, name);
  return std::string(p);
}

std::string TempDir::write(StringRef name, StringRef bytes) const {
  std::string p = path(name);
  std::error_code ec;
  raw_fd_ostream os(p, ec);
  EXPECT_FALSE(ec) << "cannot write " << p << ": " << ec.message();
  os << bytes;
  return p;
}

std::unique_ptr<MemoryBuffer> bufferOf(StringRef bytes, StringRef name) {
  return MemoryBuffer::getMemBufferCopy(bytes, name);
}

std::string ggufString(StringRef s) { return le<uint64_t>(s.size()) + s.str(); }

std::string f32Ramp(size_t count, float start, float step) {
  std::string s;
  for (size_t i = 0; i < count; ++i)
    s += le<float>(start + step * float(i));
  return s;
}

//===----------------------------------------------------------------------===//
// GGUF
//===----------------------------------------------------------------------===//

GGUFWriter &GGUFWriter::raw(StringRef key, GGUFType type, StringRef value) {
  kvs.push_back({key.str(),
                 ggufString(key) + le<uint32_t>(uint32_t(type)) + value.str()});
  return *this;
}

GGUFWriter &GGUFWriter::erase(StringRef key) {
  llvm::erase_if(kvs, [&](const auto &kv) { return kv.first == key; });
  return *this;
}

GGUFWriter &GGUFWriter::strings(StringRef key,
                                const std::vector<std::string> &values) {
  std::string elements;
  for (const std::string &v : values)
    elements += ggufString(v);
  return raw(key, GGUFType::Array,
             le<uint32_t>(uint32_t(GGUFType::String)) +
                 le<uint64_t>(values.size()) + elements);
}

GGUFWriter &GGUFWriter::array(StringRef key, GGUFType type, uint64_t count,
                              StringRef elements) {
  return raw(key, GGUFType::Array,
             le<uint32_t>(uint32_t(type)) + le<uint64_t>(count) +
                 elements.str());
}

GGUFWriter &GGUFWriter::tensor(StringRef name, std::vector<uint64_t> dims,
                               uint32_t ggmlType, StringRef data,
                               std::optional<uint64_t> offset) {
  tensors.push_back(
      {name.str(), std::move(dims), ggmlType, data.str(), offset});
  return *this;
}

static uint64_t alignUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

std::string GGUFWriter::build(uint64_t alignment) const {
  std::string out = "GGUF" + le<uint32_t>(version) +
                    le<uint64_t>(tensors.size()) + le<uint64_t>(kvs.size());
  for (const auto &kv : kvs)
    out += kv.second;
  std::string data;
  for (const Tensor &t : tensors) {
    data.resize(alignUp(data.size(), alignment), '\0');
    out += ggufString(t.name) + le<uint32_t>(t.dims.size());
    for (uint64_t d : t.dims)
      out += le<uint64_t>(d);
    out += le<uint32_t>(t.type) + le<uint64_t>(t.offset.value_or(data.size()));
    data += t.data;
  }
  out.resize(alignUp(out.size(), alignment), '\0');
  return out + data;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> TinyLlama::tensors() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> list = {
      {"token_embd.weight", {vocab, dim}}, {"output_norm.weight", {dim}}};
  for (int l = 0; l < layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    list.push_back({p + "attn_norm.weight", {dim}});
    list.push_back({p + "attn_q.weight", {heads * headDim, dim}});
    list.push_back({p + "attn_k.weight", {kvHeads * headDim, dim}});
    list.push_back({p + "attn_v.weight", {kvHeads * headDim, dim}});
    list.push_back({p + "attn_output.weight", {dim, heads * headDim}});
    list.push_back({p + "ffn_norm.weight", {dim}});
    list.push_back({p + "ffn_gate.weight", {hidden, dim}});
    list.push_back({p + "ffn_down.weight", {dim, hidden}});
    list.push_back({p + "ffn_up.weight", {hidden, dim}});
  }
  return list;
}

GGUFWriter TinyLlama::gguf(bool tied, uint32_t version) {
  GGUFWriter w(version);
  w.str("general.architecture", "llama")
      .u32("llama.embedding_length", dim)
      .u32("llama.feed_forward_length", hidden)
      .u32("llama.block_count", layers)
      .u32("llama.attention.head_count", heads)
      .u32("llama.attention.head_count_kv", kvHeads)
      .u32("llama.context_length", context)
      .f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .f32("llama.rope.freq_base", 10000.0f)
      .str("tokenizer.ggml.model", "llama")
      .strings("tokenizer.ggml.tokens",
               {"<unk>", "<s>", "</s>", "\xE2\x96\x81hi", "a", "b"});
  std::string scores, types;
  for (int i = 0; i < vocab; ++i) {
    scores += le<float>(-float(i));
    types += le<int32_t>(i == 0 ? 2 : i < 3 ? 3 : 1);
  }
  w.array("tokenizer.ggml.scores", GGUFType::Float32, vocab, scores)
      .array("tokenizer.ggml.token_type", GGUFType::Int32, vocab, types)
      .u32("tokenizer.ggml.bos_token_id", 1)
      .u32("tokenizer.ggml.eos_token_id", 2);
  float start = 0;
  for (auto &[name, shape] : tensors()) {
    size_t n = 1;
    for (int64_t d : shape)
      n *= d;
    w.tensor(name, std::vector<uint64_t>(shape.rbegin(), shape.rend()), 0,
             f32Ramp(n, start, 0.01f));
    start += 1;
  }
  if (!tied)
    w.tensor("output.weight", {uint64_t(dim), uint64_t(vocab)}, 0,
             f32Ramp(vocab * dim, -1, 0.5f));
  return w;
}

//===----------------------------------------------------------------------===//
// safetensors
//===----------------------------------------------------------------------===//

SafetensorsWriter &SafetensorsWriter::add(StringRef name, StringRef dtype,
                                          std::vector<int64_t> shape,
                                          StringRef data) {
  tensors.push_back({name.str(), dtype.str(), std::move(shape), data.str()});
  return *this;
}

std::string SafetensorsWriter::header() const {
  json::Object root;
  root["__metadata__"] = json::Object{{"format", "pt"}};
  uint64_t offset = 0;
  for (const Tensor &t : tensors) {
    json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    root[t.name] = json::Object{
        {"dtype", t.dtype},
        {"shape", std::move(shape)},
        {"data_offsets", json::Array{offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text;
  raw_string_ostream os(text);
  os << json::Value(std::move(root));
  return text;
}

std::string SafetensorsWriter::build(std::optional<std::string> header) const {
  std::string h = header ? *header : this->header();
  std::string out = le<uint64_t>(h.size()) + h;
  for (const Tensor &t : tensors)
    out += t.data;
  return out;
}

std::string tinyConfigJSON(StringRef extra, bool withArchitecture) {
  std::string arch =
      withArchitecture ? R"("architectures": ["LlamaForCausalLM"], )" : "";
  return "{" + arch +
         R"("hidden_size": 8, "intermediate_size": 16,
  "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
  "max_position_embeddings": 32, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "vocab_size": 6)" +
         extra.str() + "}";
}

SafetensorsWriter tinySafetensors(bool withLmHead) {
  static const std::pair<const char *, const char *> hfNames[] = {
      {"attn_norm", "input_layernorm"},
      {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},
      {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},
      {"ffn_down", "mlp.down_proj"},
      {"ffn_up", "mlp.up_proj"}};
  SafetensorsWriter w;
  float start = 0;
  for (auto &[name, shape] : TinyLlama::tensors()) {
    std::string hf;
    if (name == "token_embd.weight")
      hf = "model.embed_tokens.weight";
    else if (name == "output_norm.weight")
      hf = "model.norm.weight";
    else {
      StringRef rest = StringRef(name).drop_front(4); // "blk."
      auto [layer, tail] = rest.split('.');
      StringRef what = tail.drop_back(7); // ".weight"
      for (auto &[gguf, hfName] : hfNames)
        if (what == gguf)
          hf = ("model.layers." + layer + "." + hfName + ".weight").str();
    }
    size_t n = 1;
    for (int64_t d : shape)
      n *= d;
    w.add(hf, "F32", shape, f32Ramp(n, start, 0.01f));
    start += 1;
  }
  if (withLmHead)
    w.add("lm_head.weight", "F32", {TinyLlama::vocab, TinyLlama::dim},
          f32Ramp(TinyLlama::vocab * TinyLlama::dim, -1, 0.5f));
  return w;
}

} // namespace loom::test
