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

/// Whether `data` starts like a safetensors file: a header length that fits
/// the file, then a JSON object.
static bool looksLikeSafetensors(StringRef data) {
  if (data.size() < 10)
    return false;
  uint64_t headerSize =
      support::endian::read64le(reinterpret_cast<const uint8_t *>(data.data()));
  return headerSize <= data.size() - 8 && data[8] == '{';
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

  StringRef ext = sys::path::extension(path);
  if (ext == ".json" || ext == ".safetensors")
    return readSafetensors(path);

  Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
  if (!buffer)
    return buffer.takeError();
  StringRef data = (*buffer)->getBuffer();
  if (data.starts_with("GGUF") || ext == ".gguf")
    return readGGUFFromBuffer(std::move(*buffer));
  if (data.size() >= 4 && support::endian::read32le(data.data()) == 0x616b3432)
    return readLlama2CFromBuffer(std::move(*buffer));
  if (looksLikeSafetensors(data)) {
    buffer->reset();
    return readSafetensors(path);
  }
  if (ext == ".bin")
    return readLlama2CFromBuffer(std::move(*buffer));
  return detail::fileError(
      path, "unknown model file format (expected GGUF, a llama2.c .bin "
            "checkpoint, .safetensors or model.safetensors.index.json)");
}

} // namespace loom
