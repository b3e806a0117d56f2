//===- HuggingFace.cpp - config.json, tokenizer.json, tensor names --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The Hugging Face side of the safetensors reader: `config.json` becomes a
// ModelConfig, tensor names become GGUF's, and `tokenizer.json` (BPE models)
// becomes TokenizerData.
//
//===----------------------------------------------------------------------===//

#include "HuggingFace.h"

#include "ReaderSupport.h"
#include "loom/Support/BoundedJSON.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using loom::detail::fileError;

namespace loom {

//===----------------------------------------------------------------------===//
// Tensor names
//===----------------------------------------------------------------------===//

/// Whole-model tensors of every family, by their Hugging Face names (with
/// the model prefix, `model.`, `transformer.` or `bert.`, removed).
static StringRef globalName(StringRef name) {
  return StringSwitch<StringRef>(name)
      .Cases({"embed_tokens.weight", "wte.weight", "word_embeddings.weight",
              "embeddings.word_embeddings.weight"},
             "token_embd.weight")
      .Cases({"wpe.weight", "embeddings.position_embeddings.weight"},
             "position_embd.weight")
      .Case("embeddings.token_type_embeddings.weight", "token_types.weight")
      .Case("embeddings.LayerNorm.weight", "token_embd_norm.weight")
      .Case("embeddings.LayerNorm.bias", "token_embd_norm.bias")
      .Cases({"norm.weight", "ln_f.weight"}, "output_norm.weight")
      .Case("ln_f.bias", "output_norm.bias")
      .Case("lm_head.weight", "output.weight")
      // BERT's masked-LM head (llama.cpp's converter drops it).
      .Case("cls.predictions.transform.dense.weight", "cls.dense.weight")
      .Case("cls.predictions.transform.dense.bias", "cls.dense.bias")
      .Case("cls.predictions.transform.LayerNorm.weight", "cls.norm.weight")
      .Case("cls.predictions.transform.LayerNorm.bias", "cls.norm.bias")
      .Case("cls.predictions.bias", "cls.output.bias")
      .Case("cls.predictions.decoder.weight", "cls.output.weight")
      .Case("cls.predictions.decoder.bias", "")
      // Buffers, not parameters: recomputed, never read.
      .Cases({"embeddings.position_ids", "pooler.dense.weight",
              "pooler.dense.bias"},
             "")
      .Default("-");
}

/// A layer tensor's path (without `.weight`/`.bias`) in any family.
static StringRef layerName(StringRef path) {
  return StringSwitch<StringRef>(path)
      // Llama and its relatives.
      .Case("input_layernorm", "attn_norm")
      .Case("post_attention_layernorm", "ffn_norm")
      .Case("self_attn.q_proj", "attn_q")
      .Case("self_attn.k_proj", "attn_k")
      .Case("self_attn.v_proj", "attn_v")
      .Case("self_attn.o_proj", "attn_output")
      .Case("mlp.gate_proj", "ffn_gate")
      .Case("mlp.up_proj", "ffn_up")
      .Case("mlp.down_proj", "ffn_down")
      .Case("block_sparse_moe.gate", "ffn_gate_inp")
      .Case("mlp.gate", "ffn_gate_inp")
      // GPT-2.
      .Case("ln_1", "attn_norm")
      .Case("attn.c_attn", "attn_qkv")
      .Case("attn.c_proj", "attn_output")
      .Case("ln_2", "ffn_norm")
      .Case("mlp.c_fc", "ffn_up")
      .Case("mlp.c_proj", "ffn_down")
      // Falcon (`input_layernorm` above). The new decoder's two norms are
      // named as llama.cpp's converter names them: the MLP's is
      // `attn_norm`, attention's `attn_norm_2`.
      .Case("ln_mlp", "attn_norm")
      .Case("ln_attn", "attn_norm_2")
      .Case("self_attention.query_key_value", "attn_qkv")
      .Case("self_attention.dense", "attn_output")
      .Case("mlp.dense_h_to_4h", "ffn_up")
      .Case("mlp.dense_4h_to_h", "ffn_down")
      // BERT.
      .Case("attention.self.query", "attn_q")
      .Case("attention.self.key", "attn_k")
      .Case("attention.self.value", "attn_v")
      .Case("attention.output.dense", "attn_output")
      .Case("attention.output.LayerNorm", "attn_output_norm")
      .Case("intermediate.dense", "ffn_up")
      .Case("output.dense", "ffn_down")
      .Case("output.LayerNorm", "layer_output_norm")
      .Default("");
}

bool detail::isConv1DWeight(StringRef ggufName) {
  // GPT-2's Conv1D layers store [in, out]; it has no other 2-D layer
  // tensors, and `attn_qkv` of Falcon is an nn.Linear: the caller asks
  // only for GPT-2.
  return ggufName.starts_with("blk.") && ggufName.ends_with(".weight") &&
         (ggufName.contains(".attn_qkv.") ||
          ggufName.contains(".attn_output.") || ggufName.contains(".ffn_up.") ||
          ggufName.contains(".ffn_down."));
}

std::string detail::ggufNameForHF(StringRef name) {
  StringRef rest = name;
  // The base model's prefix; BERT's masked-LM head sits beside it.
  for (StringRef prefix : {"model.", "transformer.", "bert."})
    if (rest.consume_front(prefix))
      break;
  StringRef global = globalName(rest);
  if (global != "-")
    return global.str();
  unsigned layer;
  if (!(rest.consume_front("layers.") || rest.consume_front("h.") ||
        rest.consume_front("encoder.layer.")) ||
      rest.consumeInteger(10, layer) || !rest.consume_front("."))
    return name.str();
  std::string prefix = "blk." + std::to_string(layer) + ".";
  if (rest.ends_with("rotary_emb.inv_freq") || rest == "attn.bias" ||
      rest == "attn.masked_bias")
    return "";

  // `<path>.weight` / `<path>.bias` with a fixed mapping of the path.
  StringRef path = rest, kind;
  std::tie(path, kind) = rest.rsplit('.');
  StringRef mapped = layerName(path);
  if (!mapped.empty())
    return prefix + mapped.str() + "." + kind.str();

  // Experts keep one tensor each: `blk.N.ffn_gate.E.weight`, ...
  StringRef expertPath = path;
  unsigned expert;
  if ((expertPath.consume_front("block_sparse_moe.experts.") ||
       expertPath.consume_front("mlp.experts.")) &&
      !expertPath.consumeInteger(10, expert) && expertPath.consume_front(".")) {
    StringRef role = StringSwitch<StringRef>(expertPath)
                         .Cases({"w1", "gate_proj"}, "ffn_gate")
                         .Cases({"w3", "up_proj"}, "ffn_up")
                         .Cases({"w2", "down_proj"}, "ffn_down")
                         .Default("");
    if (!role.empty())
      return prefix + role.str() + "." + std::to_string(expert) + "." +
             kind.str();
  }
  return name.str();
}

//===----------------------------------------------------------------------===//
// config.json
//===----------------------------------------------------------------------===//

Expected<std::string> detail::hfArchitecture(const json::Object &root,
                                             StringRef name) {
  std::optional<StringRef> modelType = root.getString("model_type");
  if (modelType && isKnownArchitecture(*modelType))
    return modelType->str();
  if (const json::Array *archs = root.getArray("architectures"))
    for (const json::Value &arch : *archs)
      if (std::optional<StringRef> s = arch.getAsString())
        if (StringRef mapped = architectureOfHFClass(*s); !mapped.empty())
          return mapped.str();
  std::string found = "none";
  if (modelType)
    found = ("model_type '" + *modelType + "'").str();
  else if (const json::Array *archs = root.getArray("architectures");
           archs && !archs->empty() && (*archs)[0].getAsString())
    found = ("architectures '" + *(*archs)[0].getAsString() + "'").str();
  return fileError(name, "unknown architecture (" + found + "; Loom knows " +
                             knownArchitecturesList() + ")");
}

namespace {

/// Reads typed keys of a config.json object. A key may have several names
/// (`n_embd` or `hidden_size`: older hub files use GPT-2's names); the first
/// present is read. The first error (a missing key, a wrong type), naming
/// the key, sticks: later reads return their fallbacks and `takeError`
/// reports it.
class ConfigReader {
public:
  ConfigReader(const json::Object &root, StringRef name)
      : root(root), name(name) {}

  /// An integer key of at least `min`; `fallback` when absent or null.
  int64_t integer(ArrayRef<StringRef> keys, std::optional<int64_t> fallback,
                  int64_t min = 1) {
    auto [key, value] = find(keys);
    if (!value) {
      if (!fallback)
        fail("missing key '" + keys.front() + "'");
      return fallback.value_or(0);
    }
    std::optional<int64_t> v = value->getAsInteger();
    if (!v || *v < min || *v > INT32_MAX) {
      fail("key '" + key + "' should be an integer >= " + Twine(min) +
           ", found " + show(*value));
      return fallback.value_or(0);
    }
    return *v;
  }

  int64_t integer(StringRef key, std::optional<int64_t> fallback,
                  int64_t min = 1) {
    return integer(ArrayRef<StringRef>(key), fallback, min);
  }

  /// A positive number key; `fallback` when absent or null.
  double number(ArrayRef<StringRef> keys, double fallback) {
    auto [key, value] = find(keys);
    if (!value)
      return fallback;
    std::optional<double> v = value->getAsNumber();
    if (!v || !(*v > 0)) {
      fail("key '" + key + "' should be a positive number, found " +
           show(*value));
      return fallback;
    }
    return *v;
  }

  double number(StringRef key, double fallback) {
    return number(ArrayRef<StringRef>(key), fallback);
  }

  std::optional<bool> boolean(StringRef key) {
    auto [k, value] = find(key);
    if (!value)
      return std::nullopt;
    if (std::optional<bool> v = value->getAsBoolean())
      return v;
    fail("key '" + key + "' should be true or false, found " + show(*value));
    return std::nullopt;
  }

  std::optional<StringRef> string(StringRef key) {
    auto [k, value] = find(key);
    if (!value)
      return std::nullopt;
    if (std::optional<StringRef> v = value->getAsString())
      return v;
    fail("key '" + key + "' should be a string, found " + show(*value));
    return std::nullopt;
  }

  /// The RoPE base: `rope_parameters.rope_theta` (transformers 5) or
  /// `rope_theta` at the top level (older files).
  double ropeTheta() {
    if (const json::Object *params = root.getObject("rope_parameters"))
      if (const json::Value *theta = params->get("rope_theta"))
        if (std::optional<double> v = theta->getAsNumber(); v && *v > 0)
          return *v;
    return number("rope_theta", 10000.0);
  }

  /// A configuration Loom does not build: an error naming the key.
  void unsupported(StringRef key, const Twine &why) {
    fail("key '" + key + "': " + why);
  }

  Error takeError() {
    return error.empty() ? Error::success() : fileError(name, error);
  }

private:
  std::pair<StringRef, const json::Value *> find(ArrayRef<StringRef> keys) {
    for (StringRef key : keys)
      if (const json::Value *v = root.get(key);
          v && v->kind() != json::Value::Null)
        return {key, v};
    return {keys.front(), nullptr};
  }

  void fail(const Twine &message) {
    if (error.empty())
      error = message.str();
  }

  static std::string show(const json::Value &value) {
    std::string s = formatv("{0}", value).str();
    if (s.size() > 40)
      s = s.substr(0, 40) + "...";
    return s;
  }

  const json::Object &root;
  StringRef name;
  std::string error;
};

/// Llama, Mistral, Mixtral, Qwen2.
void readLlamaConfig(ConfigReader &r, ModelConfig &c) {
  c.dim = r.integer("hidden_size", std::nullopt);
  c.hiddenDim = r.integer("intermediate_size", std::nullopt);
  c.numLayers = r.integer("num_hidden_layers", std::nullopt);
  c.numHeads = r.integer("num_attention_heads", std::nullopt);
  c.vocabSize = r.integer("vocab_size", std::nullopt);
  c.contextLength = r.integer("max_position_embeddings", std::nullopt);
  c.numKVHeads = r.integer("num_key_value_heads", c.numHeads);
  c.headDim = r.integer("head_dim", c.numHeads ? c.dim / c.numHeads : 0);
  c.numExperts = r.integer("num_local_experts", 0, 0);
  c.numExpertsPerToken = r.integer("num_experts_per_tok", 0, 0);
  c.normEps = float(r.number("rms_norm_eps", 1e-6));
  c.tiedEmbeddings = r.boolean("tie_word_embeddings").value_or(false);
  c.attentionBias =
      r.boolean("attention_bias").value_or(c.architecture == "qwen2");
  // Qwen2 lists a window it does not use unless use_sliding_window is set.
  if (r.boolean("use_sliding_window").value_or(true))
    if (int64_t window = r.integer("sliding_window", 0, 0); window > 0)
      c.slidingWindow = window;
}

/// GPT-2: Conv1D layers, learned positions, its own key names.
void readGPT2Config(ConfigReader &r, ModelConfig &c) {
  c.dim = r.integer({"n_embd", "hidden_size"}, std::nullopt);
  c.numLayers = r.integer({"n_layer", "num_hidden_layers"}, std::nullopt);
  c.numHeads = r.integer({"n_head", "num_attention_heads"}, std::nullopt);
  c.vocabSize = r.integer("vocab_size", std::nullopt);
  c.contextLength = r.integer({"n_positions", "n_ctx"}, std::nullopt);
  c.hiddenDim = r.integer("n_inner", 4 * c.dim);
  c.numKVHeads = c.numHeads;
  c.headDim = c.numHeads ? c.dim / c.numHeads : 0;
  c.normEps = float(r.number("layer_norm_epsilon", 1e-5));
  c.tiedEmbeddings = r.boolean("tie_word_embeddings").value_or(true);
  c.attentionBias = true;
  StringRef act = r.string("activation_function").value_or("gelu_new");
  if (act == "gelu_new" || act == "gelu_pytorch_tanh")
    c.blocks.feedForward = FeedForwardKind::GeluTanh;
  else if (act == "gelu")
    c.blocks.feedForward = FeedForwardKind::Gelu;
  else
    r.unsupported("activation_function",
                  "'" + act + "' (Loom builds gelu_new and gelu)");
  if (r.boolean("scale_attn_by_inverse_layer_idx").value_or(false))
    r.unsupported("scale_attn_by_inverse_layer_idx",
                  "per-layer attention scales are not built");
  if (!r.boolean("scale_attn_weights").value_or(true))
    r.unsupported("scale_attn_weights", "unscaled attention is not built");
}

/// Falcon: the original decoder (multi-query, one norm feeding attention and
/// MLP in parallel) and the new one (grouped KV heads, two norms).
void readFalconConfig(ConfigReader &r, ModelConfig &c) {
  c.dim = r.integer("hidden_size", std::nullopt);
  c.numLayers = r.integer({"num_hidden_layers", "n_layer"}, std::nullopt);
  c.numHeads = r.integer({"num_attention_heads", "n_head"}, std::nullopt);
  c.vocabSize = r.integer("vocab_size", std::nullopt);
  c.contextLength = r.integer("max_position_embeddings", 2048);
  c.hiddenDim = r.integer("ffn_hidden_size", 4 * c.dim);
  c.headDim = c.numHeads ? c.dim / c.numHeads : 0;
  c.normEps = float(r.number("layer_norm_epsilon", 1e-5));
  c.tiedEmbeddings = r.boolean("tie_word_embeddings").value_or(true);
  bool bias = r.boolean("bias").value_or(false);
  c.attentionBias = bias;
  c.blocks.projectionBias = bias;
  // Hugging Face keeps the fused rows grouped per KV head.
  c.blocks.qkv = QKVLayout::Grouped;
  bool newDecoder = r.boolean("new_decoder_architecture").value_or(false);
  if (newDecoder) {
    c.numKVHeads = r.integer({"num_kv_heads", "n_head_kv"}, c.numHeads);
    c.blocks.wiring = r.integer("num_ln_in_parallel_attn", 2) == 1
                          ? BlockWiring::ParallelSharedNorm
                          : BlockWiring::Parallel;
  } else {
    c.numKVHeads = r.boolean("multi_query").value_or(true) ? 1 : c.numHeads;
    c.blocks.wiring = r.boolean("parallel_attn").value_or(true)
                          ? BlockWiring::ParallelSharedNorm
                          : BlockWiring::PreNorm;
  }
  if (r.boolean("alibi").value_or(false))
    r.unsupported("alibi", "ALiBi positions are not built (Falcon-RW); Loom "
                           "builds Falcon with rotary positions");
  StringRef act = r.string("activation").value_or("gelu");
  if (act != "gelu")
    r.unsupported("activation", "'" + act + "' (Loom builds gelu)");
}

/// BERT encoders.
void readBertConfig(ConfigReader &r, ModelConfig &c) {
  c.dim = r.integer("hidden_size", std::nullopt);
  c.hiddenDim = r.integer("intermediate_size", std::nullopt);
  c.numLayers = r.integer("num_hidden_layers", std::nullopt);
  c.numHeads = r.integer("num_attention_heads", std::nullopt);
  c.vocabSize = r.integer("vocab_size", std::nullopt);
  c.contextLength = r.integer("max_position_embeddings", std::nullopt);
  c.numTokenTypes = r.integer("type_vocab_size", 2);
  c.numKVHeads = c.numHeads;
  c.headDim = c.numHeads ? c.dim / c.numHeads : 0;
  c.normEps = float(r.number("layer_norm_eps", 1e-12));
  c.tiedEmbeddings = true;
  c.attentionBias = true;
  StringRef act = r.string("hidden_act").value_or("gelu");
  if (act == "gelu")
    c.blocks.feedForward = FeedForwardKind::Gelu;
  else if (act == "gelu_new" || act == "gelu_pytorch_tanh")
    c.blocks.feedForward = FeedForwardKind::GeluTanh;
  else
    r.unsupported("hidden_act", "'" + act + "' (Loom builds gelu)");
  StringRef positions =
      r.string("position_embedding_type").value_or("absolute");
  if (positions != "absolute")
    r.unsupported("position_embedding_type",
                  "'" + positions + "' (Loom builds absolute)");
  if (r.boolean("is_decoder").value_or(false))
    r.unsupported("is_decoder", "BERT as a decoder is not built");
}

} // namespace

Expected<ModelConfig> parseHFConfig(StringRef text, StringRef name) {
  Expected<json::Value> parsed = parseBoundedJSON(text);
  if (!parsed)
    return fileError(name, "not valid JSON: " + toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(name, "the top level is not a JSON object");
  ModelConfig config;
  Expected<std::string> arch = detail::hfArchitecture(*root, name);
  if (!arch)
    return arch.takeError();
  config.architecture = *arch;
  config.blocks = *familyBlocks(config.architecture);
  // Hugging Face checkpoints keep q/k in the layout of rotate-half RoPE.
  config.ropeStyle = RopeStyle::Half;

  ConfigReader reader(*root, name);
  if (config.architecture == "gpt2")
    readGPT2Config(reader, config);
  else if (config.architecture == "falcon")
    readFalconConfig(reader, config);
  else if (config.architecture == "bert")
    readBertConfig(reader, config);
  else
    readLlamaConfig(reader, config);
  if (config.blocks.positions == PositionKind::Rotary)
    config.ropeTheta = float(reader.ropeTheta());
  if (Error e = reader.takeError())
    return std::move(e);
  return config;
}

//===----------------------------------------------------------------------===//
// sentence-transformers' modules.json
//===----------------------------------------------------------------------===//

Error detail::readSentenceTransformers(StringRef folder, ModelConfig &config) {
  SmallString<256> modulesPath(folder);
  sys::path::append(modulesPath, "modules.json");
  if (!sys::fs::exists(modulesPath))
    return Error::success();
  Expected<std::unique_ptr<MemoryBuffer>> text = openFile(modulesPath);
  if (!text)
    return text.takeError();
  Expected<json::Value> parsed = parseBoundedJSON((*text)->getBuffer());
  if (!parsed)
    return fileError(modulesPath,
                     "not valid JSON: " + toString(parsed.takeError()));
  const json::Array *modules = parsed->getAsArray();
  if (!modules)
    return fileError(modulesPath, "the top level is not a JSON array");
  std::optional<std::string> poolingDir;
  for (const json::Value &entry : *modules) {
    const json::Object *module = entry.getAsObject();
    std::optional<StringRef> type =
        module ? module->getString("type") : std::nullopt;
    if (!type)
      return fileError(modulesPath, "a module without a \"type\"");
    if (type->ends_with(".Pooling"))
      poolingDir = module->getString("path").value_or("").str();
    else if (type->ends_with(".Normalize"))
      config.normalizeEmbedding = true;
  }
  if (!poolingDir)
    return Error::success();
  SmallString<256> poolingPath(folder);
  sys::path::append(poolingPath, *poolingDir, "config.json");
  // The module's folder must stay inside the model's.
  if (StringRef(*poolingDir).contains("..") ||
      sys::path::is_absolute(*poolingDir))
    return fileError(modulesPath, "the Pooling module's path '" + *poolingDir +
                                      "' leaves the model's folder");
  Expected<std::unique_ptr<MemoryBuffer>> poolingText = openFile(poolingPath);
  if (!poolingText)
    return poolingText.takeError();
  Expected<json::Value> pooling = parseBoundedJSON((*poolingText)->getBuffer());
  const json::Object *root = pooling ? pooling->getAsObject() : nullptr;
  if (!root) {
    if (!pooling)
      consumeError(pooling.takeError());
    return fileError(poolingPath, "not a JSON object");
  }
  SmallVector<StringRef> modes;
  for (const auto &[key, value] : *root)
    if (StringRef(key).starts_with("pooling_mode_") &&
        value.getAsBoolean().value_or(false))
      modes.push_back(key);
  if (modes.size() == 1 && modes[0] == "pooling_mode_mean_tokens")
    config.pooling = Pooling::Mean;
  else if (modes.size() == 1 && modes[0] == "pooling_mode_cls_token")
    config.pooling = Pooling::CLS;
  else
    return fileError(
        poolingPath,
        "pooling " +
            (modes.empty() ? std::string("(none)") : join(modes, " + ")) +
            " is not one Loom builds (pooling_mode_mean_tokens "
            "or pooling_mode_cls_token, alone)");
  return Error::success();
}

//===----------------------------------------------------------------------===//
// tokenizer.json
//===----------------------------------------------------------------------===//

/// SentencePiece's word-boundary mark U+2581 becomes a space.
static std::string fromSentencePiece(StringRef piece) {
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.substr(i).starts_with("\xE2\x96\x81")) {
      out += ' ';
      i += 3;
    } else {
      out += piece[i++];
    }
  }
  return out;
}

/// The expressions a byte-level tokenizer.json's `pre_tokenizer` splits
/// with, in order: `Split` by a regex (its matches isolated), `Digits`,
/// `ByteLevel` with GPT-2's expression, and `Sequence`s of them. Another
/// kind is named in `tok.pre` for the tokenizer to refuse.
static Error readPreTokenizer(const json::Value *value, StringRef name,
                              TokenizerData &tok) {
  if (!value || value->kind() == json::Value::Null)
    return Error::success();
  const json::Object *pre = value->getAsObject();
  std::optional<StringRef> type = pre ? pre->getString("type") : std::nullopt;
  if (!type)
    return fileError(name, "pre_tokenizer has no \"type\"");
  if (*type == "Sequence") {
    if (const json::Array *list = pre->getArray("pretokenizers"))
      for (const json::Value &inner : *list)
        if (Error e = readPreTokenizer(&inner, name, tok))
          return e;
    return Error::success();
  }
  if (*type == "ByteLevel") {
    if (pre->getBoolean("use_regex").value_or(true))
      tok.preExpressions.push_back("<gpt-2>");
    return Error::success();
  }
  if (*type == "Digits") {
    tok.preExpressions.push_back(
        pre->getBoolean("individual_digits").value_or(false) ? "\\p{N}"
                                                             : "\\p{N}+");
    return Error::success();
  }
  if (*type == "Split") {
    const json::Object *pattern = pre->getObject("pattern");
    std::optional<StringRef> regex =
        pattern ? pattern->getString("Regex") : std::nullopt;
    std::optional<StringRef> literal =
        pattern ? pattern->getString("String") : std::nullopt;
    std::optional<StringRef> behavior = pre->getString("behavior");
    if ((!regex && !literal) || (behavior && *behavior != "Isolated"))
      return fileError(name, "pre_tokenizer Split: only a Regex or String "
                             "pattern with behavior Isolated is supported");
    tok.preExpressions.push_back(regex ? regex->str()
                                       : "\\Q" + literal->str() + "\\E");
    return Error::success();
  }
  tok.pre = ("tokenizer.json pre_tokenizer " + *type).str();
  return Error::success();
}

/// A WordPiece tokenizer.json's settings: the model's continuation prefix
/// and word length limit, the BertNormalizer's switches (no normalizer:
/// none of them), and BertPreTokenizer (the only pre-tokenizer read).
static Error readWordPieceOptions(const json::Object &root,
                                  const json::Object &model, StringRef name,
                                  TokenizerData &tok) {
  TokenizerData::WordPieceOptions &options = tok.wordPiece;
  if (std::optional<StringRef> prefix =
          model.getString("continuing_subword_prefix"))
    options.continuation = prefix->str();
  if (std::optional<int64_t> limit =
          model.getInteger("max_input_chars_per_word"))
    options.maxCharsPerWord = *limit;
  const json::Value *normalizer = root.get("normalizer");
  if (!normalizer || normalizer->kind() == json::Value::Null) {
    options.cleanText = options.chineseChars = options.lowercase = false;
    options.stripAccents = false;
  } else {
    const json::Object *object = normalizer->getAsObject();
    if (!object || object->getString("type") != StringRef("BertNormalizer"))
      return fileError(name, "a WordPiece model's normalizer must be "
                             "BertNormalizer (or none); Loom implements no "
                             "other");
    options.cleanText = object->getBoolean("clean_text").value_or(true);
    options.chineseChars =
        object->getBoolean("handle_chinese_chars").value_or(true);
    options.lowercase = object->getBoolean("lowercase").value_or(true);
    options.stripAccents = object->getBoolean("strip_accents");
  }
  const json::Object *pre = root.getObject("pre_tokenizer");
  if (!pre || pre->getString("type") != StringRef("BertPreTokenizer"))
    return fileError(name, "a WordPiece model's pre_tokenizer must be "
                           "BertPreTokenizer; Loom implements no other");
  return Error::success();
}

/// [CLS] and [SEP] as a WordPiece tokenizer.json's post-processor names
/// them: TemplateProcessing's `single` template (its first and last
/// special tokens, ids from `special_tokens`) or BertProcessing's `cls`
/// and `sep` pairs.
static Error readTemplateIds(const json::Object *post, StringRef name,
                             const StringMap<int64_t> &idOf,
                             TokenizerData &tok) {
  if (!post)
    return Error::success();
  int64_t count = int64_t(tok.pieces.size());
  auto set = [&](const json::Value *idValue, int64_t &field) -> Error {
    std::optional<int64_t> id =
        idValue ? idValue->getAsInteger() : std::nullopt;
    if (!id || *id < 0 || *id >= count)
      return fileError(name, "post_processor names a special token id "
                             "outside the vocabulary");
    field = *id;
    return Error::success();
  };
  std::optional<StringRef> type = post->getString("type");
  if (type == StringRef("BertProcessing")) {
    for (auto [key, field] :
         {std::pair<StringRef, int64_t *>{"cls", &tok.bosId},
          {"sep", &tok.eosId}}) {
      const json::Array *pair = post->getArray(key);
      if (pair && pair->size() == 2)
        if (Error e = set(&(*pair)[1], *field))
          return e;
    }
    return Error::success();
  }
  if (type != StringRef("TemplateProcessing"))
    return Error::success();
  const json::Array *single = post->getArray("single");
  const json::Object *specials = post->getObject("special_tokens");
  if (!single)
    return Error::success();
  std::vector<StringRef> names;
  for (const json::Value &item : *single)
    if (const json::Object *obj = item.getAsObject())
      if (const json::Object *special = obj->getObject("SpecialToken"))
        if (std::optional<StringRef> id = special->getString("id"))
          names.push_back(*id);
  auto idOfSpecial = [&](StringRef special, int64_t &field) -> Error {
    const json::Object *entry =
        specials ? specials->getObject(special) : nullptr;
    const json::Array *ids = entry ? entry->getArray("ids") : nullptr;
    if (ids && ids->size() == 1)
      return set(&(*ids)[0], field);
    if (auto it = idOf.find(special); it != idOf.end())
      field = it->second;
    return Error::success();
  };
  if (names.size() >= 1)
    if (Error e = idOfSpecial(names.front(), tok.bosId))
      return e;
  if (names.size() >= 2)
    if (Error e = idOfSpecial(names.back(), tok.eosId))
      return e;
  return Error::success();
}

Error detail::readHFTokenizer(StringRef text, StringRef name,
                              TokenizerData &tok) {
  Expected<json::Value> parsed = parseBoundedJSON(text);
  if (!parsed)
    return fileError(name, "not valid JSON: " + toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  const json::Object *model = root ? root->getObject("model") : nullptr;
  if (!model)
    return fileError(name, "has no \"model\" object");
  // BPE and WordPiece vocabularies map onto TokenizerData; others (Unigram)
  // leave it empty.
  std::optional<StringRef> type = model->getString("type");
  if (type != StringRef("BPE") && type != StringRef("WordPiece"))
    return Error::success();
  bool wordPiece = type == StringRef("WordPiece");
  const json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return fileError(name, "model has no \"vocab\" object");
  bool sentencePiece = model->getBoolean("byte_fallback").value_or(false);
  tok.model = wordPiece ? "bert" : sentencePiece ? "llama" : "gpt2";
  if (wordPiece) {
    if (Error e = readWordPieceOptions(*root, *model, name, tok))
      return e;
  } else if (!sentencePiece) {
    if (Error e = readPreTokenizer(root->get("pre_tokenizer"), name, tok))
      return e;
  }

  // Ids come from the vocab and the added tokens; both must stay in range.
  // Ids are dense: none is past the number of tokens listed, so a tiny file
  // cannot claim an id of millions and make the table that large.
  const json::Array *addedTokens = root->getArray("added_tokens");
  int64_t listed =
      int64_t(vocab->size()) + int64_t(addedTokens ? addedTokens->size() : 0);
  auto place = [&](StringRef piece, const json::Value &idValue) -> Error {
    std::optional<int64_t> id = idValue.getAsInteger();
    if (!id || *id < 0 || *id >= listed)
      return fileError(name, "token '" + piece + "' has the id " +
                                 (id ? Twine(*id) : Twine("(not an integer)")) +
                                 ", outside the " + Twine(listed) +
                                 " tokens the file lists");
    if (uint64_t(*id) >= tok.pieces.size())
      tok.pieces.resize(*id + 1);
    tok.pieces[*id] = sentencePiece ? fromSentencePiece(piece) : piece.str();
    return Error::success();
  };
  for (const auto &[piece, id] : *vocab)
    if (Error e = place(piece, id))
      return e;
  std::vector<int64_t> special;
  if (const json::Array *added = addedTokens) {
    for (const json::Value &entry : *added) {
      const json::Object *obj = entry.getAsObject();
      std::optional<StringRef> content =
          obj ? obj->getString("content") : std::nullopt;
      const json::Value *id = obj ? obj->get("id") : nullptr;
      if (!content || !id)
        return fileError(name, "an added token lacks \"content\" or \"id\"");
      if (Error e = place(*content, *id))
        return e;
      if (obj->getBoolean("special").value_or(false))
        special.push_back(*id->getAsInteger());
    }
  }

  // Scores: a piece made by merge r scores -r, so earlier merges win.
  tok.scores.assign(tok.pieces.size(), 0.0f);
  StringMap<int64_t> idOf;
  for (size_t id = 0; id < tok.pieces.size(); ++id)
    idOf.try_emplace(tok.pieces[id], id);
  if (const json::Array *merges =
          wordPiece ? nullptr : model->getArray("merges")) {
    int64_t rank = 0;
    for (const json::Value &merge : *merges) {
      std::string left, right;
      if (std::optional<StringRef> s = merge.getAsString()) {
        auto [l, r] = s->split(' ');
        left = l.str(), right = r.str();
      } else if (const json::Array *pair = merge.getAsArray();
                 pair && pair->size() == 2 && (*pair)[0].getAsString() &&
                 (*pair)[1].getAsString()) {
        left = (*pair)[0].getAsString()->str();
        right = (*pair)[1].getAsString()->str();
      } else {
        return fileError(name, "merge #" + Twine(rank) +
                                   " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      if (!sentencePiece)
        tok.merges.push_back(left + " " + right);
      std::string joined =
          sentencePiece ? fromSentencePiece(left + right) : left + right;
      auto it = idOf.find(joined);
      if (it != idOf.end() && tok.scores[it->second] == 0.0f)
        tok.scores[it->second] = -float(rank);
      ++rank;
    }
  }

  tok.tokenTypes.assign(tok.pieces.size(), 1);
  for (size_t id = 0; id < tok.pieces.size(); ++id) {
    StringRef piece = tok.pieces[id];
    if (sentencePiece && piece.size() == 6 && piece.starts_with("<0x") &&
        piece.ends_with(">") && isHexDigit(piece[3]) && isHexDigit(piece[4]))
      tok.tokenTypes[id] = 6;
  }
  for (int64_t id : special)
    tok.tokenTypes[id] = 3;
  if (std::optional<StringRef> unk = model->getString("unk_token")) {
    auto it = idOf.find(sentencePiece ? fromSentencePiece(*unk) : unk->str());
    if (it != idOf.end()) {
      tok.unkId = it->second;
      tok.tokenTypes[it->second] = 2;
    }
  }
  // WordPiece: BOS and EOS are the template's [CLS] and [SEP].
  for (auto [piece, field] : {std::pair<StringRef, int64_t *>{
                                  wordPiece ? "[CLS]" : "<s>", &tok.bosId},
                              {wordPiece ? "[SEP]" : "</s>", &tok.eosId}})
    if (auto it = idOf.find(piece); it != idOf.end())
      *field = it->second;
  if (wordPiece)
    if (Error e =
            readTemplateIds(root->getObject("post_processor"), name, idOf, tok))
      return e;
  tok.source = name.str();
  return Error::success();
}

Error detail::readVocabTxt(StringRef text, StringRef name,
                           std::optional<bool> lowercase, TokenizerData &tok) {
  tok = TokenizerData();
  tok.model = "bert";
  SmallVector<StringRef> lines;
  text.split(lines, '\n');
  if (!lines.empty() && lines.back().empty())
    lines.pop_back();
  if (lines.empty())
    return fileError(name, "lists no tokens");
  for (StringRef line : lines)
    tok.pieces.push_back(line.rtrim("\r").str());
  tok.scores.assign(tok.pieces.size(), 0.0f);
  tok.tokenTypes.assign(tok.pieces.size(), 1);
  StringMap<int64_t> idOf;
  for (size_t id = 0; id < tok.pieces.size(); ++id)
    idOf.try_emplace(tok.pieces[id], id);
  // BertTokenizer's special tokens, where the vocabulary has them.
  for (auto [piece, field] :
       {std::pair<StringRef, int64_t *>{"[CLS]", &tok.bosId},
        {"[SEP]", &tok.eosId},
        {"[UNK]", &tok.unkId},
        {"[PAD]", nullptr},
        {"[MASK]", nullptr}}) {
    auto it = idOf.find(piece);
    if (it == idOf.end()) {
      if (field)
        return fileError(name, "has no " + piece + " token");
      continue;
    }
    tok.tokenTypes[it->second] = 3;
    if (field)
      *field = it->second;
  }
  tok.wordPiece.lowercase = lowercase.value_or(true);
  tok.source = name.str();
  return Error::success();
}

} // namespace loom
