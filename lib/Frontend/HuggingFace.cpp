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
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;
using loom::detail::fileError;

namespace loom {

//===----------------------------------------------------------------------===//
// Tensor names
//===----------------------------------------------------------------------===//

std::string detail::ggufNameForHF(StringRef name) {
  if (name == "model.embed_tokens.weight")
    return "token_embd.weight";
  if (name == "model.norm.weight")
    return "output_norm.weight";
  if (name == "lm_head.weight")
    return "output.weight";
  StringRef rest = name;
  unsigned layer;
  if (!rest.consume_front("model.layers.") || rest.consumeInteger(10, layer) ||
      !rest.consume_front("."))
    return name.str();
  std::string prefix = "blk." + std::to_string(layer) + ".";
  if (rest.ends_with("rotary_emb.inv_freq"))
    return "";

  // `<path>.weight` / `<path>.bias` with a fixed mapping of the path.
  StringRef path = rest, kind;
  std::tie(path, kind) = rest.rsplit('.');
  StringRef mapped = StringSwitch<StringRef>(path)
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
                         .Default("");
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
  if (const json::Array *archs = root.getArray("architectures")) {
    for (const json::Value &arch : *archs) {
      std::optional<StringRef> s = arch.getAsString();
      if (!s)
        continue;
      StringRef mapped = StringSwitch<StringRef>(*s)
                             .Case("LlamaForCausalLM", "llama")
                             .Case("MistralForCausalLM", "mistral")
                             .Case("MixtralForCausalLM", "mixtral")
                             .Case("Qwen2ForCausalLM", "qwen2")
                             .Default("");
      if (!mapped.empty())
        return mapped.str();
    }
  }
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

/// Reads typed keys of a config.json object, with errors naming the key.
class ConfigReader {
public:
  ConfigReader(const json::Object &root, StringRef name)
      : root(root), name(name) {}

  /// A positive integer key; `fallback` when absent or null.
  Expected<int64_t> integer(StringRef key, std::optional<int64_t> fallback,
                            int64_t min = 1) const {
    const json::Value *value = root.get(key);
    if (!value || value->kind() == json::Value::Null) {
      if (fallback)
        return *fallback;
      return fileError(name, "missing key '" + key + "'");
    }
    std::optional<int64_t> v = value->getAsInteger();
    if (!v || *v < min || *v > INT32_MAX)
      return fileError(name, "key '" + key + "' should be an integer >= " +
                                 Twine(min) + ", found " + show(*value));
    return *v;
  }

  Expected<double> number(StringRef key, double fallback) const {
    const json::Value *value = root.get(key);
    if (!value || value->kind() == json::Value::Null)
      return fallback;
    std::optional<double> v = value->getAsNumber();
    if (!v || !(*v > 0))
      return fileError(name, "key '" + key +
                                 "' should be a positive number, found " +
                                 show(*value));
    return *v;
  }

  Expected<std::optional<bool>> boolean(StringRef key) const {
    const json::Value *value = root.get(key);
    if (!value || value->kind() == json::Value::Null)
      return std::nullopt;
    if (std::optional<bool> v = value->getAsBoolean())
      return v;
    return fileError(name, "key '" + key + "' should be true or false, found " +
                               show(*value));
  }

private:
  static std::string show(const json::Value &value) {
    std::string s = formatv("{0}", value).str();
    if (s.size() > 40)
      s = s.substr(0, 40) + "...";
    return s;
  }

  const json::Object &root;
  StringRef name;
};

} // namespace

Expected<ModelConfig> parseHFConfig(StringRef text, StringRef name) {
  Expected<json::Value> parsed = parseBoundedJSON(text);
  if (!parsed)
    return fileError(name, "not valid JSON: " + toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(name, "the top level is not a JSON object");
  ConfigReader reader(*root, name);
  ModelConfig config;
  Expected<std::string> arch = detail::hfArchitecture(*root, name);
  if (!arch)
    return arch.takeError();
  config.architecture = *arch;

  for (auto [field, key] :
       {std::pair<int64_t *, StringRef>{&config.dim, "hidden_size"},
        {&config.hiddenDim, "intermediate_size"},
        {&config.numLayers, "num_hidden_layers"},
        {&config.numHeads, "num_attention_heads"},
        {&config.vocabSize, "vocab_size"},
        {&config.contextLength, "max_position_embeddings"}}) {
    Expected<int64_t> v = reader.integer(key, std::nullopt);
    if (!v)
      return v.takeError();
    *field = *v;
  }
  for (auto [field, key, fallback] :
       {std::tuple<int64_t *, StringRef, int64_t>{
            &config.numKVHeads, "num_key_value_heads", config.numHeads},
        {&config.headDim, "head_dim", config.dim / config.numHeads},
        {&config.numExperts, "num_local_experts", 0},
        {&config.numExpertsPerToken, "num_experts_per_tok", 0}}) {
    Expected<int64_t> v = reader.integer(key, fallback, fallback ? 1 : 0);
    if (!v)
      return v.takeError();
    *field = *v;
  }

  Expected<double> eps = reader.number("rms_norm_eps", 1e-6);
  if (!eps)
    return eps.takeError();
  Expected<double> theta = reader.number("rope_theta", 10000.0);
  if (!theta)
    return theta.takeError();
  config.normEps = float(*eps);
  config.ropeTheta = float(*theta);
  // Hugging Face checkpoints keep q/k in the layout of rotate-half RoPE.
  config.ropeStyle = RopeStyle::Half;

  Expected<std::optional<bool>> tied = reader.boolean("tie_word_embeddings");
  if (!tied)
    return tied.takeError();
  config.tiedEmbeddings = tied->value_or(false);
  Expected<std::optional<bool>> bias = reader.boolean("attention_bias");
  if (!bias)
    return bias.takeError();
  config.attentionBias = bias->value_or(config.architecture == "qwen2");

  // Qwen2 lists a window it does not use unless use_sliding_window is set.
  Expected<std::optional<bool>> useWindow =
      reader.boolean("use_sliding_window");
  if (!useWindow)
    return useWindow.takeError();
  if (useWindow->value_or(true)) {
    Expected<int64_t> window = reader.integer("sliding_window", 0, 0);
    if (!window)
      return window.takeError();
    if (*window > 0)
      config.slidingWindow = *window;
  }
  return config;
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

Error detail::readHFTokenizer(StringRef text, StringRef name,
                              TokenizerData &tok) {
  Expected<json::Value> parsed = parseBoundedJSON(text);
  if (!parsed)
    return fileError(name, "not valid JSON: " + toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  const json::Object *model = root ? root->getObject("model") : nullptr;
  if (!model)
    return fileError(name, "has no \"model\" object");
  // Only BPE vocabularies map onto TokenizerData; others leave it empty.
  if (model->getString("type") != StringRef("BPE"))
    return Error::success();
  const json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return fileError(name, "model has no \"vocab\" object");
  bool sentencePiece = model->getBoolean("byte_fallback").value_or(false);
  tok.model = sentencePiece ? "llama" : "gpt2";
  if (!sentencePiece)
    if (Error e = readPreTokenizer(root->get("pre_tokenizer"), name, tok))
      return e;

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
  if (const json::Array *merges = model->getArray("merges")) {
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
  for (auto [piece, field] :
       {std::pair<StringRef, int64_t *>{"<s>", &tok.bosId},
        {"</s>", &tok.eosId}})
    if (auto it = idOf.find(piece); it != idOf.end())
      *field = it->second;
  tok.source = name.str();
  return Error::success();
}

} // namespace loom
