//===- ModelFile.cpp - the weight table and the format dispatch -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The parts of ModelFile every reader shares, and readModelFile, which picks
// a reader by the file's magic and extension.
//
//===----------------------------------------------------------------------===//

#include "ReaderSupport.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace loom {

int64_t WeightInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

const WeightInfo *ModelFile::lookup(StringRef name) const {
  auto it = weightIndex.find(name);
  return it == weightIndex.end() ? nullptr : &weights[it->second];
}

ArrayRef<uint8_t> ModelFile::bytes(const WeightInfo &w) const {
  if (w.fileIndex >= buffers.size())
    return {};
  StringRef data = buffers[w.fileIndex]->getBuffer();
  if (w.offset > data.size() || w.size > data.size() - w.offset)
    return {};
  return arrayRefFromStringRef(data.substr(w.offset, w.size));
}

ArrayRef<uint8_t> ModelFile::scales(const WeightInfo &w) const {
  if (w.storage != StorageType::Q8Groups || w.groupSize <= 0 ||
      w.fileIndex >= buffers.size())
    return {};
  StringRef data = buffers[w.fileIndex]->getBuffer();
  uint64_t size = uint64_t(w.numElements() / w.groupSize) * 4;
  if (w.scaleOffset > data.size() || size > data.size() - w.scaleOffset)
    return {};
  return arrayRefFromStringRef(data.substr(w.scaleOffset, size));
}

std::vector<std::pair<std::string, std::string>>
describeConfig(const ModelConfig &c) {
  auto real = [](float v) { return formatv("{0}", format("%.9g", v)).str(); };
  auto flag = [](bool v) { return std::string(v ? "true" : "false"); };
  // RoPE's settings mean nothing to a model without it (a GGUF and a
  // Hugging Face folder of GPT-2 default them differently).
  bool rotary = c.blocks.positions == PositionKind::Rotary;
  return {
      {"architecture", c.architecture},
      {"dim", std::to_string(c.dim)},
      {"hidden_dim", std::to_string(c.hiddenDim)},
      {"layers", std::to_string(c.numLayers)},
      {"heads", std::to_string(c.numHeads)},
      {"kv_heads", std::to_string(c.numKVHeads)},
      {"head_dim", std::to_string(c.headDim)},
      {"vocab", std::to_string(c.vocabSize)},
      {"context_length", std::to_string(c.contextLength)},
      {"norm_eps", real(c.normEps)},
      {"rope_theta", rotary ? real(c.ropeTheta) : "none"},
      {"rope_style", !rotary                          ? "none"
                     : c.ropeStyle == RopeStyle::Half ? "half"
                                                      : "interleaved"},
      {"tied_embeddings", flag(c.tiedEmbeddings)},
      {"attention_bias", flag(c.attentionBias)},
      {"sliding_window",
       c.slidingWindow ? std::to_string(*c.slidingWindow) : "none"},
      {"experts", std::to_string(c.numExperts)},
      {"experts_per_token", std::to_string(c.numExpertsPerToken)},
      {"norm", blockName(c.blocks.norm).str()},
      {"positions", blockName(c.blocks.positions).str()},
      {"qkv", blockName(c.blocks.qkv).str()},
      {"feed_forward", blockName(c.blocks.feedForward).str()},
      {"wiring", blockName(c.blocks.wiring).str()},
      {"projection_bias", flag(c.blocks.projectionBias)},
      {"causal", flag(c.blocks.causal)},
      {"token_types", std::to_string(c.numTokenTypes)},
      {"embedding_norm", flag(c.blocks.embeddingNorm)},
      {"output_norm", flag(c.blocks.outputNorm)},
      {"pooling", blockName(c.pooling).str()},
      {"normalize_embedding", flag(c.normalizeEmbedding)},
  };
}

namespace {
/// The enumerator of `all` whose blockName is `name`.
template <typename E>
std::optional<E> blockNamed(StringRef name, std::initializer_list<E> all) {
  for (E e : all)
    if (blockName(e) == name)
      return e;
  return std::nullopt;
}

/// The names blockName gives the enumerators of `all`, for a message.
template <typename E> std::string blockNames(std::initializer_list<E> all) {
  std::string names;
  for (E e : all)
    names += (names.empty() ? "" : ", ") + blockName(e).str();
  return names;
}
} // namespace

Expected<ModelConfig>
parseConfig(ArrayRef<std::pair<std::string, std::string>> fields,
            StringRef source) {
  auto fail = [&](const Twine &message) -> Error {
    return createStringError(source + ": " + message);
  };
  StringMap<std::string> given;
  for (const auto &[field, value] : fields)
    if (!given.try_emplace(field, value).second)
      return fail("the configuration names '" + field + "' twice");
  auto arch = given.find("architecture");
  if (arch == given.end())
    return fail("the configuration names no architecture (one of " +
                detail::knownArchitecturesList() + ")");
  std::optional<ModelBlocks> blocks = familyBlocks(arch->second);
  if (!blocks)
    return fail("unknown architecture '" + arch->second + "' (Loom knows " +
                detail::knownArchitecturesList() + ")");
  ModelConfig c;
  c.architecture = arch->second;
  c.blocks = *blocks;
  // The fields in describeConfig's order, each with how it is read.
  ModelConfig described;
  described.blocks = *blocks;
  Error error = Error::success();
  auto bad = [&](StringRef field, StringRef value, const Twine &want) {
    if (!error)
      error = fail("the configuration's " + field + " is '" + value +
                   "', not " + want);
  };
  auto integer = [&](StringRef field, StringRef value, int64_t &out) {
    if (value.getAsInteger(10, out))
      bad(field, value, "an integer");
  };
  auto real = [&](StringRef field, StringRef value, float &out) {
    double d;
    if (value.getAsDouble(d))
      return bad(field, value, "a number");
    out = float(d);
  };
  auto flag = [&](StringRef field, StringRef value, bool &out) {
    if (value != "true" && value != "false")
      return bad(field, value, "true or false");
    out = value == "true";
  };
  // A block of the enumerators `all...`, by its blockName.
  auto block = [&](StringRef field, StringRef value, auto &out, auto... all) {
    using E = std::decay_t<decltype(out)>;
    if (auto e = blockNamed<E>(value, {all...}))
      out = *e;
    else
      bad(field, value, "one of " + blockNames<E>({all...}));
  };
  for (const auto &[field, value] : fields) {
    StringRef f = field, v = value;
    if (f == "architecture")
      continue;
    if (f == "dim")
      integer(f, v, c.dim);
    else if (f == "hidden_dim")
      integer(f, v, c.hiddenDim);
    else if (f == "layers")
      integer(f, v, c.numLayers);
    else if (f == "heads")
      integer(f, v, c.numHeads);
    else if (f == "kv_heads")
      integer(f, v, c.numKVHeads);
    else if (f == "head_dim")
      integer(f, v, c.headDim);
    else if (f == "vocab")
      integer(f, v, c.vocabSize);
    else if (f == "context_length")
      integer(f, v, c.contextLength);
    else if (f == "norm_eps")
      real(f, v, c.normEps);
    else if (f == "rope_theta") {
      if (v != "none")
        real(f, v, c.ropeTheta);
    } else if (f == "rope_style") {
      if (v == "half")
        c.ropeStyle = RopeStyle::Half;
      else if (v == "interleaved")
        c.ropeStyle = RopeStyle::Interleaved;
      else if (v != "none")
        bad(f, v, "interleaved, half or none");
    } else if (f == "tied_embeddings")
      flag(f, v, c.tiedEmbeddings);
    else if (f == "attention_bias")
      flag(f, v, c.attentionBias);
    else if (f == "sliding_window") {
      c.slidingWindow.reset();
      if (v != "none") {
        int64_t window = 0;
        integer(f, v, window);
        c.slidingWindow = window;
      }
    } else if (f == "experts")
      integer(f, v, c.numExperts);
    else if (f == "experts_per_token")
      integer(f, v, c.numExpertsPerToken);
    else if (f == "norm")
      block(f, v, c.blocks.norm, NormKind::RMSNorm, NormKind::LayerNorm);
    else if (f == "positions")
      block(f, v, c.blocks.positions, PositionKind::Rotary,
            PositionKind::Learned);
    else if (f == "qkv")
      block(f, v, c.blocks.qkv, QKVLayout::Split, QKVLayout::Fused,
            QKVLayout::Grouped);
    else if (f == "feed_forward")
      block(f, v, c.blocks.feedForward, FeedForwardKind::SwiGLU,
            FeedForwardKind::Gelu, FeedForwardKind::GeluTanh);
    else if (f == "wiring")
      block(f, v, c.blocks.wiring, BlockWiring::PreNorm,
            BlockWiring::ParallelSharedNorm, BlockWiring::Parallel,
            BlockWiring::PostNorm);
    else if (f == "projection_bias")
      flag(f, v, c.blocks.projectionBias);
    else if (f == "causal")
      flag(f, v, c.blocks.causal);
    else if (f == "token_types") {
      integer(f, v, c.numTokenTypes);
      c.blocks.tokenTypes = c.numTokenTypes > 0;
    } else if (f == "embedding_norm")
      flag(f, v, c.blocks.embeddingNorm);
    else if (f == "output_norm")
      flag(f, v, c.blocks.outputNorm);
    else if (f == "pooling")
      block(f, v, c.pooling, Pooling::None, Pooling::Mean, Pooling::CLS);
    else if (f == "normalize_embedding")
      flag(f, v, c.normalizeEmbedding);
    else {
      std::string names;
      for (const auto &[name, _] : describeConfig(described))
        names += (names.empty() ? "" : ", ") + name;
      return fail("the configuration has no field '" + f +
                  "' (the fields: " + names + ")");
    }
    if (error)
      return std::move(error);
  }
  return c;
}

Expected<std::unique_ptr<ModelFile>>
modelFromTensors(StringRef name, const ModelConfig &config,
                 ArrayRef<TensorData> tensors, TokenizerData tokenizer) {
  auto model = std::make_unique<ModelFile>();
  model->path = name.str();
  model->format = "memory";
  model->config = config;
  constexpr uint64_t kAlign = 64;
  uint64_t total = 0;
  for (const TensorData &t : tensors) {
    // Q8Groups (llama2.c's int8 export) keeps its scales apart.
    if (t.storage == StorageType::Q8Groups)
      return createStringError(name + ": tensor '" + t.name +
                               "': " + storageTypeName(t.storage) +
                               " tensors are read from llama2.c files only");
    std::optional<uint64_t> size = storageByteSize(t.storage, t.shape);
    if (!size || *size != t.bytes.size())
      return createStringError(
          name + ": tensor '" + t.name + "' holds " + Twine(t.bytes.size()) +
          " bytes, but " + storageTypeName(t.storage) + " " +
          detail::shapeString(t.shape) + " takes " +
          (size ? Twine(*size) : Twine("an impossible number of")));
    total = alignTo(total, kAlign) + *size;
  }
  auto buffer = WritableMemoryBuffer::getNewUninitMemBuffer(
      std::max<uint64_t>(total, 1), name, Align(kAlign));
  if (!buffer)
    return createStringError(name + ": cannot allocate " + Twine(total) +
                             " bytes for its tensors");
  uint64_t offset = 0;
  for (const TensorData &t : tensors) {
    offset = alignTo(offset, kAlign);
    if (!model->weightIndex.try_emplace(t.name, model->weights.size()).second)
      return createStringError(name + ": tensor '" + t.name +
                               "' is given twice");
    WeightInfo w;
    w.name = t.name;
    w.shape = t.shape;
    w.storage = t.storage;
    w.offset = offset;
    w.size = t.bytes.size();
    if (!t.bytes.empty())
      std::memcpy(buffer->getBufferStart() + offset, t.bytes.data(),
                  t.bytes.size());
    model->weights.push_back(std::move(w));
    offset += t.bytes.size();
  }
  model->buffers.push_back(std::move(buffer));
  if (tokenizer.source.empty())
    tokenizer.source = name.str();
  model->tokenizer = std::move(tokenizer);
  return model;
}

std::optional<uint64_t> storageByteSize(StorageType type,
                                        ArrayRef<int64_t> shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    std::optional<uint64_t> m = detail::mulU64(n, uint64_t(d));
    if (!m || *m > uint64_t(INT64_MAX))
      return std::nullopt;
    n = *m;
  }
  switch (type) {
  case StorageType::F32:
    return detail::mulU64(n, 4);
  case StorageType::F16:
  case StorageType::BF16:
    return detail::mulU64(n, 2);
  case StorageType::Q8Groups:
    return n;
  default: {
    // Blocks run along the innermost dimension.
    blocks::Format format = *blocks::ofStorage(type);
    if (!shape.empty() && shape.back() % blocks::info(format).values != 0)
      return std::nullopt;
    return blocks::storageBytes(format, n);
  }
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Shared reader support
//===----------------------------------------------------------------------===//

namespace detail {

std::optional<uint64_t> mulU64(uint64_t a, uint64_t b) {
  return checkedMulUnsigned(a, b);
}

std::optional<uint64_t> addU64(uint64_t a, uint64_t b) {
  return checkedAddUnsigned(a, b);
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Error dataPastEnd(StringRef file, StringRef name, uint64_t offset,
                  uint64_t size, uint64_t fileSize) {
  return fileError(file, "tensor '" + name + "' data [offset " + Twine(offset) +
                             ", " + Twine(size) +
                             " bytes] runs past the end of the file (" +
                             Twine(fileSize) + " bytes)");
}

Error addWeight(ModelFile &model, WeightInfo weight) {
  auto [it, inserted] =
      model.weightIndex.try_emplace(weight.name, model.weights.size());
  if (!inserted)
    return fileError(model.path,
                     "tensor '" + weight.name + "' appears more than once");
  model.weights.push_back(std::move(weight));
  return Error::success();
}

void detectTiedEmbeddings(ModelFile &model) {
  const WeightInfo *output = model.lookup("output.weight");
  const WeightInfo *embed = model.lookup("token_embd.weight");
  if (!output) {
    model.config.tiedEmbeddings = true;
    return;
  }
  model.config.tiedEmbeddings = embed && embed->storage == output->storage &&
                                embed->shape == output->shape &&
                                embed->size == output->size &&
                                model.bytes(*embed) == model.bytes(*output);
}

void detectBiases(ModelFile &model) {
  ModelConfig &c = model.config;
  c.attentionBias |=
      model.lookup("blk.0.attn_q.bias") || model.lookup("blk.0.attn_qkv.bias");
  c.blocks.projectionBias |= model.lookup("blk.0.attn_output.bias") != nullptr;
}

Expected<std::unique_ptr<MemoryBuffer>> openFile(StringRef path) {
  // A device (/dev/zero), folder or pipe has no size to check claims
  // against; reading one to its end could exhaust memory.
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(path, status))
    return fileError(path, "cannot open: " + ec.message());
  if (status.type() != sys::fs::file_type::regular_file)
    return fileError(path, "cannot open: not a regular file (a device, "
                           "folder or pipe)");
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false,
                            /*IsVolatile=*/false);
  if (!buffer)
    return fileError(path, "cannot open: " + buffer.getError().message());
  return std::move(*buffer);
}

} // namespace detail

//===----------------------------------------------------------------------===//
// readModelFile
//===----------------------------------------------------------------------===//

namespace {
/// The model file formats that readModelFile reads.
enum class ModelFormat { GGUF, Llama2C, Safetensors };
} // namespace

/// The format `data` announces by its first bytes: GGUF's magic, the
/// llama2.c version-2 magic ("ak42"), or a safetensors header (a length
/// that fits the file, then a JSON object). A legacy llama2.c checkpoint
/// and a llama2.c tokenizer.bin carry no magic and give none.
static std::optional<ModelFormat> formatByContent(StringRef data) {
  if (data.starts_with("GGUF"))
    return ModelFormat::GGUF;
  if (data.size() >= 4 && support::endian::read32le(data.data()) == 0x616b3432)
    return ModelFormat::Llama2C;
  if (data.size() >= 10) {
    uint64_t headerSize = support::endian::read64le(
        reinterpret_cast<const uint8_t *>(data.data()));
    if (headerSize <= data.size() - 8 && data[8] == '{')
      return ModelFormat::Safetensors;
  }
  return std::nullopt;
}

/// The format a file's name claims. A .json file is a sharded checkpoint's
/// index, read before its shards are opened.
static std::optional<ModelFormat> formatByName(StringRef path) {
  StringRef ext = sys::path::extension(path);
  if (ext == ".json" || ext == ".safetensors")
    return ModelFormat::Safetensors;
  if (ext == ".gguf")
    return ModelFormat::GGUF;
  if (ext == ".bin")
    return ModelFormat::Llama2C;
  return std::nullopt;
}

Expected<std::unique_ptr<ModelFile>> readModelFile(StringRef path) {
  // A folder holding a Hugging Face checkpoint.
  if (sys::fs::is_directory(path)) {
    for (StringRef name :
         {"model.safetensors.index.json", "model.safetensors"}) {
      SmallString<256> candidate(path);
      sys::path::append(candidate, name);
      if (sys::fs::exists(candidate))
        return readSafetensors(candidate);
    }
    return detail::fileError(path, "folder holds neither "
                                   "model.safetensors.index.json nor "
                                   "model.safetensors");
  }

  // The safetensors reader maps its files itself.
  std::optional<ModelFormat> named = formatByName(path);
  if (named == ModelFormat::Safetensors)
    return readSafetensors(path);

  Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
  if (!buffer)
    return buffer.takeError();
  // The content decides; the name only for files without magic (a legacy
  // llama2.c checkpoint; a .gguf without magic gets GGUF's diagnostic).
  std::optional<ModelFormat> format = formatByContent((*buffer)->getBuffer());
  if (!format)
    format = named;
  if (!format)
    return detail::fileError(
        path, "unknown model file format (expected GGUF, a llama2.c .bin "
              "checkpoint, .safetensors or model.safetensors.index.json)");
  switch (*format) {
  case ModelFormat::GGUF:
    return readGGUFFromBuffer(std::move(*buffer));
  case ModelFormat::Llama2C:
    return readLlama2CFromBuffer(std::move(*buffer));
  case ModelFormat::Safetensors:
    buffer->reset();
    return readSafetensors(path);
  }
  llvm_unreachable("every model format is read above");
}

Expected<TokenizerData> readTokenizerFile(StringRef path, int64_t vocabSize) {
  if (!sys::fs::is_directory(path)) {
    Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
    if (!buffer)
      return buffer.takeError();
    StringRef data = (*buffer)->getBuffer();
    // A model file announces itself by its magic (or is an index .json);
    // a tokenizer.bin has none.
    bool modelFile =
        formatByContent(data) || formatByName(path) == ModelFormat::Safetensors;
    if (!modelFile) {
      // A tokenizer.bin has no magic: its pieces must end with the file.
      Expected<TokenizerData> all =
          readLlama2CTokenizer((*buffer)->getMemBufferRef(), 0);
      if (all && !all->pieces.empty()) {
        if (vocabSize > 0 && int64_t(all->pieces.size()) > vocabSize) {
          all->pieces.resize(vocabSize);
          all->scores.resize(vocabSize);
        }
        return all;
      }
      std::string why = all ? "no pieces" : toString(all.takeError());
      // A legacy llama2.c checkpoint has no magic either.
      if (Expected<std::unique_ptr<ModelFile>> model = readModelFile(path))
        return detail::fileError(path, "is a model file without a vocabulary "
                                       "(a llama2.c checkpoint)");
      else
        consumeError(model.takeError());
      return detail::fileError(path,
                               "is neither a file with a vocabulary nor a "
                               "llama2.c tokenizer.bin (read as one: " +
                                   why + ")");
    }
  }
  return readVocabulary(path);
}

} // namespace loom
