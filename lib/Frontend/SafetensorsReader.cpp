//===- SafetensorsReader.cpp - Hugging Face safetensors checkpoints -------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A safetensors file is a uint64 little-endian header length N, N bytes of
// JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end]} (offsets relative to the byte after the header; "__metadata__" holds
// free-form strings), then the data. A sharded checkpoint lists in
// `model.safetensors.index.json` which shard holds each tensor; each shard
// stays a memory buffer of its own. The config comes from `config.json` in
// the same folder, the vocabulary from `tokenizer.json` when it is there.
//
//===----------------------------------------------------------------------===//

#include "HuggingFace.h"
#include "ReaderSupport.h"
#include "loom/Support/BoundedJSON.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using loom::detail::fileError;

namespace loom {

/// Headers larger than this are refused (the reference implementation's
/// limit is 100 MB too).
static constexpr uint64_t kMaxHeaderSize = 100 << 20;

/// The storage of a safetensors dtype Loom reads.
static std::optional<StorageType> storageOf(StringRef dtype) {
  if (dtype == "F32")
    return StorageType::F32;
  if (dtype == "F16")
    return StorageType::F16;
  if (dtype == "BF16")
    return StorageType::BF16;
  return std::nullopt;
}

/// Reads the header of the shard in `model.buffers[index]` and adds its
/// tensors, in file order, under their GGUF names. `hfNames` receives the
/// names the header uses.
static Error readShard(ModelFile &model, unsigned index, StringSet<> &hfNames) {
  const MemoryBuffer &buffer = *model.buffers[index];
  StringRef data = buffer.getBuffer();
  StringRef file = buffer.getBufferIdentifier();
  detail::ByteReader r(data, file);
  uint64_t headerSize;
  if (Error e = r.read(headerSize, "the header length"))
    return e;
  if (headerSize > r.remaining())
    return fileError(file, "header length " + Twine(headerSize) +
                               " [offset 0] runs past the end of the file (" +
                               Twine(data.size()) + " bytes)");
  if (headerSize > kMaxHeaderSize)
    return fileError(file, "header length " + Twine(headerSize) +
                               " is over the limit of " +
                               Twine(kMaxHeaderSize) + " bytes");
  uint64_t dataStart = 8 + headerSize;
  uint64_t dataSize = data.size() - dataStart;
  Expected<json::Value> header = parseBoundedJSON(data.substr(8, headerSize));
  if (!header)
    return fileError(
        file, "the header [offset 8, " + Twine(headerSize) +
                  " bytes] is not valid JSON: " + toString(header.takeError()));
  const json::Object *root = header->getAsObject();
  if (!root)
    return fileError(file, "the header is not a JSON object");

  std::vector<std::pair<std::string, WeightInfo>> found;
  for (const auto &[key, value] : *root) {
    StringRef name = key;
    if (name == "__metadata__")
      continue;
    auto bad = [&](const Twine &why) {
      return fileError(file, "tensor '" + name + "': " + why);
    };
    const json::Object *entry = value.getAsObject();
    if (!entry)
      return bad("the header entry is not an object");
    // Buffers a model recomputes (`embeddings.position_ids`, an I64
    // tensor in BERT checkpoints) are dropped unread.
    std::string ggufName = detail::ggufNameForHF(name);
    if (ggufName.empty())
      continue;
    std::optional<StringRef> dtype = entry->getString("dtype");
    const json::Array *shape = entry->getArray("shape");
    const json::Array *offsets = entry->getArray("data_offsets");
    if (!dtype || !shape || !offsets)
      return bad("the header entry lacks \"dtype\", \"shape\" or "
                 "\"data_offsets\"");
    std::optional<StorageType> storage = storageOf(*dtype);
    if (!storage)
      return bad("dtype " + *dtype +
                 " is not one Loom reads (it reads F32, F16 and BF16)");
    WeightInfo w;
    w.storage = *storage;
    w.fileIndex = index;
    for (const json::Value &dim : *shape) {
      std::optional<int64_t> d = dim.getAsInteger();
      if (!d || *d < 0)
        return bad("the shape holds something other than sizes");
      w.shape.push_back(*d);
    }
    std::optional<uint64_t> size = storageByteSize(w.storage, w.shape);
    if (!size)
      return bad("the shape " + detail::shapeString(w.shape) + " overflows");
    std::optional<int64_t> begin, end;
    if (offsets->size() == 2) {
      begin = (*offsets)[0].getAsInteger();
      end = (*offsets)[1].getAsInteger();
    }
    if (!begin || !end || *begin < 0 || *end < *begin)
      return bad("data_offsets is not [begin, end] with begin <= end");
    if (uint64_t(*end - *begin) != *size)
      return bad("data_offsets [" + Twine(*begin) + ", " + Twine(*end) +
                 "] span " + Twine(*end - *begin) + " bytes, but " + *dtype +
                 " " + detail::shapeString(w.shape) + " takes " + Twine(*size));
    w.offset = dataStart + uint64_t(*begin);
    w.size = *size;
    if (uint64_t(*end) > dataSize)
      return detail::dataPastEnd(file, name, w.offset, w.size, data.size());
    hfNames.insert(name);
    w.name = std::move(ggufName);
    found.push_back({name.str(), std::move(w)});
  }
  // json::Object is unordered: keep the file's order.
  llvm::sort(found, [](const auto &a, const auto &b) {
    return std::tie(a.second.offset, a.first) <
           std::tie(b.second.offset, b.first);
  });
  for (auto &[hfName, w] : found) {
    if (model.lookup(w.name))
      return fileError(file, "tensor '" + hfName + "' maps to '" + w.name +
                                 "', which another tensor has already");
    cantFail(detail::addWeight(model, std::move(w)));
  }
  return Error::success();
}

/// Sets the config from `configText` (when given) and the weight table.
static Error finish(ModelFile &model, std::optional<StringRef> configText,
                    StringRef configName) {
  bool hasOutput = model.lookup("output.weight");
  if (!configText) {
    model.config.tiedEmbeddings = !hasOutput;
    model.config.ropeStyle = RopeStyle::Half;
    detail::detectBiases(model);
    return Error::success();
  }
  Expected<ModelConfig> config = parseHFConfig(*configText, configName);
  if (!config)
    return config.takeError();
  model.config = *config;
  if (!model.config.tiedEmbeddings && !hasOutput)
    return fileError(configName,
                     "tie_word_embeddings is false (or absent), but the "
                     "checkpoint has no lm_head.weight");
  detail::detectBiases(model);
  // GPT-2's Conv1D layers store [in, out]: the table keeps the logical
  // [out, in] shape and says the bytes are transposed.
  if (model.config.architecture == "gpt2")
    for (WeightInfo &w : model.weights)
      if (w.shape.size() == 2 && detail::isConv1DWeight(w.name)) {
        std::swap(w.shape[0], w.shape[1]);
        w.transposed = true;
      }
  return Error::success();
}

Expected<std::unique_ptr<ModelFile>>
readSafetensorsFromBuffer(std::unique_ptr<MemoryBuffer> buffer,
                          std::optional<StringRef> configJSON) {
  auto model = std::make_unique<ModelFile>();
  model->path = buffer->getBufferIdentifier().str();
  model->format = "safetensors";
  model->buffers.push_back(std::move(buffer));
  StringSet<> hfNames;
  if (Error e = readShard(*model, 0, hfNames))
    return std::move(e);
  if (Error e = finish(*model, configJSON, "config.json"))
    return std::move(e);
  return std::move(model);
}

/// Opens the shards an index names and reads their headers.
static Error readIndex(ModelFile &model, StringRef indexPath,
                       StringRef folder) {
  Expected<std::unique_ptr<MemoryBuffer>> index = detail::openFile(indexPath);
  if (!index)
    return index.takeError();
  Expected<json::Value> parsed = parseBoundedJSON((*index)->getBuffer());
  if (!parsed)
    return fileError(indexPath,
                     "not valid JSON: " + toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  const json::Object *weightMap =
      root ? root->getObject("weight_map") : nullptr;
  if (!weightMap)
    return fileError(indexPath, "has no \"weight_map\" object");

  // The shards in name order, each opened once.
  std::vector<std::string> shards;
  for (const auto &[tensor, shard] : *weightMap) {
    std::optional<StringRef> shardName = shard.getAsString();
    if (!shardName)
      return fileError(indexPath, "weight_map entry '" + StringRef(tensor) +
                                      "' is not a file name");
    if (shardName->empty() || sys::path::is_absolute(*shardName) ||
        shardName->contains(".."))
      return fileError(indexPath, "weight_map entry '" + StringRef(tensor) +
                                      "' names '" + *shardName +
                                      "', which is not a file in its folder");
    shards.push_back(shardName->str());
  }
  llvm::sort(shards);
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  if (shards.empty())
    return fileError(indexPath, "weight_map is empty");

  std::vector<StringSet<>> shardNames(shards.size());
  for (unsigned i = 0; i < shards.size(); ++i) {
    SmallString<256> shardPath(folder);
    sys::path::append(shardPath, shards[i]);
    Expected<std::unique_ptr<MemoryBuffer>> buffer =
        detail::openFile(shardPath);
    if (!buffer)
      return buffer.takeError();
    model.buffers.push_back(std::move(*buffer));
    if (Error e = readShard(model, i, shardNames[i]))
      return e;
  }
  for (const auto &[tensor, shard] : *weightMap) {
    unsigned i =
        llvm::lower_bound(shards, *shard.getAsString()) - shards.begin();
    if (!shardNames[i].contains(tensor))
      return fileError(indexPath, "weight_map puts tensor '" +
                                      StringRef(tensor) + "' in '" + shards[i] +
                                      "', which does not hold it");
  }
  return Error::success();
}

Expected<std::unique_ptr<ModelFile>> readSafetensors(StringRef path) {
  auto model = std::make_unique<ModelFile>();
  model->path = path.str();
  model->format = "safetensors";
  SmallString<256> folder = sys::path::parent_path(path);
  if (folder.empty())
    folder = ".";

  if (sys::path::extension(path) == ".json") {
    if (Error e = readIndex(*model, path, folder))
      return std::move(e);
  } else {
    Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
    if (!buffer)
      return buffer.takeError();
    model->buffers.push_back(std::move(*buffer));
    StringSet<> hfNames;
    if (Error e = readShard(*model, 0, hfNames))
      return std::move(e);
  }

  SmallString<256> configPath(folder);
  sys::path::append(configPath, "config.json");
  if (!sys::fs::exists(configPath))
    return fileError(path, "no config.json beside it (looked for " +
                               configPath + ")");
  Expected<std::unique_ptr<MemoryBuffer>> config = detail::openFile(configPath);
  if (!config)
    return config.takeError();
  if (Error e = finish(*model, (*config)->getBuffer(), configPath))
    return std::move(e);

  // An encoder's sentence embedding, as sentence-transformers makes it.
  if (!model->config.blocks.causal)
    if (Error e = detail::readSentenceTransformers(folder, model->config))
      return std::move(e);

  SmallString<256> tokenizerPath(folder);
  sys::path::append(tokenizerPath, "tokenizer.json");
  if (sys::fs::exists(tokenizerPath)) {
    Expected<std::unique_ptr<MemoryBuffer>> text =
        detail::openFile(tokenizerPath);
    if (!text)
      return text.takeError();
    if (Error e = detail::readHFTokenizer((*text)->getBuffer(), tokenizerPath,
                                          model->tokenizer))
      return std::move(e);
  } else if (!model->config.blocks.causal) {
    // An encoder's older folders have BERT's vocab.txt only.
    SmallString<256> vocabPath(folder);
    sys::path::append(vocabPath, "vocab.txt");
    if (sys::fs::exists(vocabPath)) {
      Expected<std::unique_ptr<MemoryBuffer>> text =
          detail::openFile(vocabPath);
      if (!text)
        return text.takeError();
      std::optional<bool> lowercase;
      SmallString<256> configPath(folder);
      sys::path::append(configPath, "tokenizer_config.json");
      if (auto config = MemoryBuffer::getFile(configPath)) {
        Expected<json::Value> parsed = parseBoundedJSON((*config)->getBuffer());
        if (!parsed)
          return fileError(configPath,
                           "not valid JSON: " + toString(parsed.takeError()));
        if (const json::Object *object = parsed->getAsObject())
          lowercase = object->getBoolean("do_lower_case");
      }
      if (Error e = detail::readVocabTxt((*text)->getBuffer(), vocabPath,
                                         lowercase, model->tokenizer))
        return std::move(e);
    }
  }
  return std::move(model);
}

} // namespace loom
