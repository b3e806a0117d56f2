//===- GGUFReader.cpp - a ModelFile from a GGUF file ----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Builds the ModelFile of a GGUF file from its parsed container: the config
// from `general.architecture` and the `<arch>.*` keys, the weight table with
// dims reversed to outermost-first, and the `tokenizer.ggml.*` vocabulary.
//
//===----------------------------------------------------------------------===//

#include "loom/Frontend/GGUF.h"

#include "ReaderSupport.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;
using loom::detail::fileError;

namespace loom {

namespace {

/// Reads typed metadata keys, with errors that name the key.
class MetadataReader {
public:
  MetadataReader(const GGUFFile &file, StringRef name)
      : file(file), name(name) {}

  /// An integer key; `fallback` when absent, an error when absent without a
  /// fallback, of another type, or outside [min, max].
  Expected<int64_t> integer(StringRef key, std::optional<int64_t> fallback,
                            int64_t min = 1, int64_t max = INT32_MAX) const {
    const GGUFValue *value = file.lookup(key);
    if (!value) {
      if (fallback)
        return *fallback;
      return fileError(name, "missing metadata key '" + key + "'");
    }
    std::optional<int64_t> v = value->getInteger();
    if (!v || value->type == GGUFType::Bool)
      return wrongType(key, *value, "an integer");
    if (*v < min || *v > max)
      return fileError(name, "metadata key '" + key + "' is " + Twine(*v) +
                                 ", outside [" + Twine(min) + ", " +
                                 Twine(max) + "]");
    return *v;
  }

  /// A float key (float32 or float64; integers are accepted too).
  Expected<double> real(StringRef key, double fallback) const {
    const GGUFValue *value = file.lookup(key);
    if (!value)
      return fallback;
    if (std::optional<double> v = value->getFloat())
      return *v;
    if (std::optional<int64_t> v = value->getInteger();
        v && value->type != GGUFType::Bool)
      return double(*v);
    return wrongType(key, *value, "a float");
  }

  /// A bool key (present: the caller checks).
  Expected<bool> boolean(StringRef key) const {
    const GGUFValue *value = file.lookup(key);
    if (!value)
      return fileError(name, "missing metadata key '" + key + "'");
    if (value->type != GGUFType::Bool)
      return wrongType(key, *value, "a bool");
    return *value->getInteger() != 0;
  }

  Expected<StringRef> string(StringRef key) const {
    const GGUFValue *value = file.lookup(key);
    if (!value)
      return fileError(name, "missing metadata key '" + key + "'");
    if (std::optional<StringRef> s = value->getString())
      return *s;
    return wrongType(key, *value, "a string");
  }

  /// An array key whose elements are of one of `types`, or null if absent.
  Expected<const GGUFValue *> array(StringRef key,
                                    ArrayRef<GGUFType> types) const {
    const GGUFValue *value = file.lookup(key);
    if (!value)
      return nullptr;
    if (!value->isArray() || !is_contained(types, value->elementType)) {
      std::string expected = "an array of ";
      for (size_t i = 0; i < types.size(); ++i)
        expected += (i ? " or " : "") + ggufTypeName(uint32_t(types[i])).str();
      return wrongType(key, *value, expected);
    }
    return value;
  }

  Error wrongType(StringRef key, const GGUFValue &value,
                  const Twine &expected) const {
    std::string found = ggufTypeName(uint32_t(value.type)).str();
    if (value.isArray())
      found = "an array of " + ggufTypeName(uint32_t(value.elementType)).str();
    return fileError(name, "metadata key '" + key + "' has type " + found +
                               ", expected " + expected);
  }

private:
  const GGUFFile &file;
  StringRef name;
};

} // namespace

/// Fills `model.config` from the `<arch>.*` keys.
static Error readConfig(const GGUFFile &file, ModelFile &model) {
  MetadataReader md(file, model.path);
  ModelConfig &config = model.config;
  Expected<StringRef> arch = md.string("general.architecture");
  if (!arch)
    return arch.takeError();
  if (!detail::isKnownArchitecture(*arch))
    return fileError(model.path, "unknown architecture '" + *arch +
                                     "' (general.architecture; Loom knows " +
                                     detail::knownArchitecturesList() + ")");
  config.architecture = arch->str();
  std::string p = config.architecture + ".";

  auto setInt = [&](int64_t &field, StringRef key,
                    std::optional<int64_t> fallback, int64_t min = 1,
                    int64_t max = INT32_MAX) -> Error {
    Expected<int64_t> v = md.integer(p + key.str(), fallback, min, max);
    if (!v)
      return v.takeError();
    field = *v;
    return Error::success();
  };
  if (Error e = setInt(config.dim, "embedding_length", std::nullopt))
    return e;
  if (Error e = setInt(config.hiddenDim, "feed_forward_length", std::nullopt))
    return e;
  if (Error e = setInt(config.numLayers, "block_count", std::nullopt))
    return e;
  if (Error e = setInt(config.numHeads, "attention.head_count", std::nullopt))
    return e;
  if (Error e =
          setInt(config.numKVHeads, "attention.head_count_kv", config.numHeads))
    return e;
  if (Error e = setInt(config.contextLength, "context_length", std::nullopt))
    return e;
  if (Error e = setInt(config.numExperts, "expert_count", 0, 0))
    return e;
  if (Error e = setInt(config.numExpertsPerToken, "expert_used_count", 0, 0))
    return e;

  // The head size: attention.key_length where given, else the rotary
  // dimension count (the whole head in the llama family), else dim / heads.
  int64_t ropeDim = 0, keyLength = 0;
  if (Error e = setInt(ropeDim, "rope.dimension_count", 0, 0))
    return e;
  if (Error e = setInt(keyLength, "attention.key_length", 0, 0))
    return e;
  config.headDim = keyLength ? keyLength
                   : ropeDim ? ropeDim
                             : config.dim / config.numHeads;

  if (file.lookup(p + "attention.sliding_window")) {
    int64_t window = 0;
    if (Error e = setInt(window, "attention.sliding_window", std::nullopt, 0))
      return e;
    if (window > 0)
      config.slidingWindow = window;
  }

  config.blocks = *familyBlocks(config.architecture);
  ModelBlocks &blocks = config.blocks;
  // LayerNorm families name their epsilon differently.
  std::string epsKey = blocks.norm == NormKind::LayerNorm
                           ? "attention.layer_norm_epsilon"
                           : "attention.layer_norm_rms_epsilon";
  Expected<double> eps = md.real(p + epsKey, 1e-5);
  if (!eps)
    return eps.takeError();
  Expected<double> theta = md.real(p + "rope.freq_base", 10000.0);
  if (!theta)
    return theta.takeError();
  if (!(*eps > 0 && *eps < 1))
    return fileError(model.path, "metadata key '" + p + epsKey + "' is " +
                                     formatv("{0}", *eps) + ", outside (0, 1)");
  if (!(*theta > 0 && *theta < 1e12))
    return fileError(model.path, "metadata key '" + p + "rope.freq_base' is " +
                                     formatv("{0}", *theta) +
                                     ", not a positive base");
  config.normEps = float(*eps);
  config.ropeTheta = float(*theta);
  config.ropeStyle = detail::ggufRopeStyle(config.architecture);

  // What the family leaves to the file: fused projections, biases, the
  // second norm of Falcon's new decoder, BERT's attention mask.
  if (model.lookup("blk.0.attn_qkv.weight"))
    blocks.qkv = QKVLayout::Fused;
  detail::detectBiases(model);
  if (config.architecture == "falcon" &&
      model.lookup("blk.0.attn_norm_2.weight"))
    blocks.wiring = BlockWiring::Parallel;
  if (file.lookup(p + "attention.causal")) {
    Expected<bool> causal = md.boolean(p + "attention.causal");
    if (!causal)
      return causal.takeError();
    blocks.causal = *causal;
  }
  // llama.cpp's pooling types: 1 mean, 2 CLS (0 none; others not built).
  if (file.lookup(p + "pooling_type")) {
    Expected<int64_t> type = md.integer(p + "pooling_type", std::nullopt, 0, 2);
    if (!type)
      return type.takeError();
    config.pooling = *type == 1   ? Pooling::Mean
                     : *type == 2 ? Pooling::CLS
                                  : Pooling::None;
    // L2-normalized, as llama.cpp's embedding tools give it by default
    // (and sentence-transformers' models of these files say).
    config.normalizeEmbedding = config.pooling != Pooling::None;
  }
  if (blocks.tokenTypes) {
    const WeightInfo *types = model.lookup("token_types.weight");
    config.numTokenTypes = types && !types->shape.empty() ? types->shape[0] : 0;
  }

  // The vocabulary size: the tokenizer's, else `<arch>.vocab_size`, else the
  // embedding's rows.
  if (const GGUFValue *tokens = file.lookup("tokenizer.ggml.tokens");
      tokens && tokens->isArray())
    config.vocabSize = int64_t(tokens->count);
  else if (file.lookup(p + "vocab_size")) {
    if (Error e = setInt(config.vocabSize, "vocab_size", std::nullopt))
      return e;
  } else if (const WeightInfo *embed = model.lookup("token_embd.weight");
             embed && !embed->shape.empty())
    config.vocabSize = embed->shape.front();
  return Error::success();
}

/// Replaces SentencePiece's word-boundary mark U+2581 with a space.
static std::string spacesFromSentencePiece(StringRef piece) {
  std::string out;
  out.reserve(piece.size());
  static constexpr StringLiteral mark = "\xE2\x96\x81";
  while (!piece.empty()) {
    if (piece.consume_front(mark)) {
      out += ' ';
      continue;
    }
    out += piece.front();
    piece = piece.drop_front();
  }
  return out;
}

/// Fills `model.tokenizer` from the `tokenizer.ggml.*` keys, when present.
static Error readTokenizer(const GGUFFile &file, ModelFile &model) {
  MetadataReader md(file, model.path);
  TokenizerData &tok = model.tokenizer;
  Expected<const GGUFValue *> tokens =
      md.array("tokenizer.ggml.tokens", {GGUFType::String});
  if (!tokens)
    return tokens.takeError();
  if (!*tokens)
    return Error::success();
  if (file.lookup("tokenizer.ggml.model")) {
    Expected<StringRef> kind = md.string("tokenizer.ggml.model");
    if (!kind)
      return kind.takeError();
    tok.model = kind->str();
  }
  bool sentencePiece = tok.model == "llama";
  tok.pieces.reserve((*tokens)->count);
  for (const GGUFValue &piece : (*tokens)->elements)
    tok.pieces.push_back(sentencePiece ? spacesFromSentencePiece(piece.str)
                                       : piece.str.str());

  auto checkCount = [&](StringRef key, const GGUFValue &value) -> Error {
    if (value.count == (*tokens)->count)
      return Error::success();
    return fileError(model.path, "metadata key '" + key + "' has " +
                                     Twine(value.count) +
                                     " entries but "
                                     "tokenizer.ggml.tokens has " +
                                     Twine((*tokens)->count));
  };
  Expected<const GGUFValue *> scores =
      md.array("tokenizer.ggml.scores", {GGUFType::Float32});
  if (!scores)
    return scores.takeError();
  if (*scores) {
    if (Error e = checkCount("tokenizer.ggml.scores", **scores))
      return e;
    tok.scores.reserve((*scores)->count);
    for (uint64_t i = 0; i < (*scores)->count; ++i)
      tok.scores.push_back(float((*scores)->element(i).f));
  }
  Expected<const GGUFValue *> types = md.array(
      "tokenizer.ggml.token_type", {GGUFType::Int32, GGUFType::UInt32});
  if (!types)
    return types.takeError();
  if (*types) {
    if (Error e = checkCount("tokenizer.ggml.token_type", **types))
      return e;
    tok.tokenTypes.reserve((*types)->count);
    for (uint64_t i = 0; i < (*types)->count; ++i)
      tok.tokenTypes.push_back(int32_t(*(*types)->element(i).getInteger()));
  }
  Expected<const GGUFValue *> merges =
      md.array("tokenizer.ggml.merges", {GGUFType::String});
  if (!merges)
    return merges.takeError();
  if (*merges)
    for (const GGUFValue &merge : (*merges)->elements)
      tok.merges.push_back(merge.str.str());

  int64_t vocab = int64_t(tok.pieces.size());
  for (auto [key, field] : {std::pair<StringRef, int64_t *>(
                                "tokenizer.ggml.bos_token_id", &tok.bosId),
                            {"tokenizer.ggml.eos_token_id", &tok.eosId},
                            {"tokenizer.ggml.unknown_token_id", &tok.unkId}}) {
    if (!file.lookup(key))
      continue;
    Expected<int64_t> id = md.integer(key, std::nullopt, 0, vocab - 1);
    if (!id)
      return id.takeError();
    *field = *id;
  }
  // WordPiece: the template's [CLS] and [SEP] are BOS and EOS (newer
  // converters write both pairs of keys, older ones only these).
  if (tok.model == "bert")
    for (auto [key, field] :
         {std::pair<StringRef, int64_t *>("tokenizer.ggml.cls_token_id",
                                          &tok.bosId),
          {"tokenizer.ggml.seperator_token_id", &tok.eosId}}) {
      if (!file.lookup(key))
        continue;
      Expected<int64_t> id = md.integer(key, std::nullopt, 0, vocab - 1);
      if (!id)
        return id.takeError();
      *field = *id;
    }
  if (file.lookup("tokenizer.ggml.eot_token_id")) {
    Expected<int64_t> id =
        md.integer("tokenizer.ggml.eot_token_id", std::nullopt, 0, vocab - 1);
    if (!id)
      return id.takeError();
    tok.eotId = *id;
  }
  if (file.lookup("general.name")) {
    Expected<StringRef> name = md.string("general.name");
    if (!name)
      return name.takeError();
    std::string lower = name->lower();
    tok.stripAfterSpecials =
        StringRef(lower).contains("phi-3") || StringRef(lower).contains("phi3");
  }
  for (auto [key, field] :
       {std::pair<StringRef, std::string *>("tokenizer.ggml.pre", &tok.pre),
        {"tokenizer.chat_template", &tok.chatTemplate}}) {
    if (!file.lookup(key))
      continue;
    Expected<StringRef> text = md.string(key);
    if (!text)
      return text.takeError();
    *field = text->str();
  }
  if (const GGUFValue *addBos = file.lookup("tokenizer.ggml.add_bos_token")) {
    if (addBos->type != GGUFType::Bool || addBos->isArray())
      return md.wrongType("tokenizer.ggml.add_bos_token", *addBos, "a bool");
    tok.addBos = addBos->getInteger().value_or(0) != 0;
  }
  // WordPiece: llama.cpp's converter writes whether the normalizer
  // lowercases (which also strips accents, as BertNormalizer's default).
  if (const GGUFValue *lower =
          file.lookup("tokenizer.ggml.normalizer.lowercase")) {
    if (lower->type != GGUFType::Bool || lower->isArray())
      return md.wrongType("tokenizer.ggml.normalizer.lowercase", *lower,
                          "a bool");
    tok.wordPiece.lowercase = lower->getInteger().value_or(1) != 0;
  }
  tok.source = model.path;
  return Error::success();
}

/// The storage type of ggml type `type`, or nullopt when Loom does not read
/// it.
static std::optional<StorageType> storageOf(uint32_t type) {
  switch (type) {
  case 0:
    return StorageType::F32;
  case 1:
    return StorageType::F16;
  case 30:
    return StorageType::BF16;
  default:
    if (std::optional<blocks::Format> f = blocks::ofGGMLType(type))
      return blocks::info(*f).storage;
    return std::nullopt;
  }
}

Expected<std::unique_ptr<ModelFile>>
readGGUFFromBuffer(std::unique_ptr<MemoryBuffer> buffer) {
  auto model = std::make_unique<ModelFile>();
  model->path = buffer->getBufferIdentifier().str();
  model->format = "gguf";
  Expected<GGUFFile> file = parseGGUF(buffer->getMemBufferRef());
  if (!file)
    return file.takeError();
  model->buffers.push_back(std::move(buffer));

  for (const GGUFTensorInfo &info : file->tensors) {
    std::optional<StorageType> storage = storageOf(info.ggmlType);
    if (!storage)
      return fileError(model->path,
                       "tensor '" + info.name + "' has type " +
                           ggmlTypeName(info.ggmlType) +
                           ", which Loom does not read (it reads F32, F16, "
                           "BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K-Q6_K "
                           "and IQ4_NL)");
    WeightInfo w;
    w.name = info.name.str();
    w.shape.assign(info.dims.rbegin(), info.dims.rend());
    w.storage = *storage;
    w.offset = info.offset;
    if (!info.size) // the parser sizes every type the reader reads
      return fileError(model->path, "tensor '" + info.name +
                                        "' has no size Loom can compute");
    w.size = *info.size;
    if (Error e = detail::addWeight(*model, std::move(w)))
      return std::move(e);
  }

  if (Error e = readConfig(*file, *model))
    return std::move(e);
  if (Error e = readTokenizer(*file, *model))
    return std::move(e);
  detail::detectTiedEmbeddings(*model);
  return std::move(model);
}

Expected<TokenizerData> readVocabulary(StringRef path) {
  // A Hugging Face folder is read as a model (its tokenizer.json).
  bool folder = sys::fs::is_directory(path);
  Expected<std::unique_ptr<MemoryBuffer>> buffer =
      folder ? std::unique_ptr<MemoryBuffer>() : detail::openFile(path);
  if (!buffer)
    return buffer.takeError();
  if (folder || !(*buffer)->getBuffer().starts_with("GGUF")) {
    Expected<std::unique_ptr<ModelFile>> model = readModelFile(path);
    if (!model)
      return model.takeError();
    if ((*model)->tokenizer.empty())
      return fileError(path, "holds no vocabulary");
    return std::move((*model)->tokenizer);
  }
  Expected<GGUFFile> file = parseGGUF((*buffer)->getMemBufferRef());
  if (!file)
    return file.takeError();
  ModelFile model;
  model.path = path.str();
  if (Error e = readTokenizer(*file, model))
    return std::move(e);
  if (model.tokenizer.empty())
    return fileError(path, "holds no vocabulary (no tokenizer.ggml.tokens)");
  // The pieces are copies: the buffer can go.
  return std::move(model.tokenizer);
}

Expected<std::unique_ptr<ModelFile>> readGGUF(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
  if (!buffer)
    return buffer.takeError();
  return readGGUFFromBuffer(std::move(*buffer));
}

} // namespace loom
