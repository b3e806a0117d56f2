//===- Llama2CReader.cpp - llama2.c checkpoints and tokenizer.bin ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Karpathy's llama2.c writes three checkpoint layouts (export.py):
//
//   version 0 (legacy, no magic): 7 int32 (dim, hidden_dim, n_layers,
//     n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means
//     an untied classifier), then f32 arrays, each stacked over the layers:
//     token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
//     rms_final, two RoPE tables (seq_len x head_size/2 each, skipped), and
//     the classifier when untied.
//   version 1 ("ak42", f32): a 256-byte header (magic, version, the 7 ints,
//     uint8 shared_classifier), then rms_att, rms_ffn, rms_final, then
//     token_embedding, wq, wk, wv, wo, w1, w2, w3 and the classifier.
//   version 2 ("ak42", int8): the header adds int32 group_size; the f32
//     norms come first, then every matrix in the order of version 1, each
//     layer's own: its int8 values, then one f32 scale per group.
//
// Matrices are row-major [out][in], as the weight table wants them. The
// reader checks the file's size against the one the header implies.
//
//===----------------------------------------------------------------------===//

#include "ReaderSupport.h"

using namespace llvm;
using loom::detail::ByteReader;
using loom::detail::fileError;

namespace loom {

namespace {

constexpr uint32_t kMagic = 0x616b3432; // "ak42"
constexpr uint64_t kHeaderSize = 256;   // versions 1 and 2

/// Lays tensors out one after another from a starting offset, checking
/// each against the file's size.
class Layout {
public:
  Layout(ModelFile &model, uint64_t offset) : model(model), offset(offset) {}

  /// Adds an f32 tensor (or skips its bytes, for an empty name).
  Error f32(StringRef name, ArrayRef<int64_t> shape) {
    WeightInfo w;
    w.name = name.str();
    w.shape.assign(shape.begin(), shape.end());
    w.storage = StorageType::F32;
    return place(std::move(w), *storageByteSize(StorageType::F32, shape), 0);
  }

  /// Adds a Q8Groups tensor: int8 values, then f32 scales.
  Error q8(StringRef name, ArrayRef<int64_t> shape, int64_t groupSize) {
    WeightInfo w;
    w.name = name.str();
    w.shape.assign(shape.begin(), shape.end());
    w.storage = StorageType::Q8Groups;
    w.groupSize = groupSize;
    uint64_t n = uint64_t(w.numElements());
    if (n % uint64_t(groupSize))
      return fileError(model.path, "tensor '" + name + "' has " + Twine(n) +
                                       " values, not a multiple of the "
                                       "group size " +
                                       Twine(groupSize));
    return place(std::move(w), n, n / uint64_t(groupSize) * 4);
  }

  /// Skips `bytes` bytes named `what`.
  Error skip(StringRef what, uint64_t bytes) {
    if (Error e = check(what, bytes))
      return e;
    offset += bytes;
    return Error::success();
  }

  uint64_t end() const { return offset; }

private:
  Error check(StringRef name, uint64_t bytes) {
    uint64_t fileSize = model.buffers.front()->getBufferSize();
    if (offset > fileSize || bytes > fileSize - offset)
      return detail::dataPastEnd(model.path, name, offset, bytes, fileSize);
    return Error::success();
  }

  Error place(WeightInfo w, uint64_t size, uint64_t scaleSize) {
    if (Error e = check(w.name, size + scaleSize))
      return e;
    w.offset = offset;
    w.size = size;
    if (w.storage == StorageType::Q8Groups)
      w.scaleOffset = offset + size;
    offset += size + scaleSize;
    return detail::addWeight(model, std::move(w));
  }

  ModelFile &model;
  uint64_t offset;
};

/// The 7 config ints every version stores.
struct Header {
  int32_t dim, hiddenDim, numLayers, numHeads, numKVHeads, vocabSize, seqLen;
};

} // namespace

static Error readHeader(ByteReader &r, Header &h) {
  for (auto [field, name] : {std::pair<int32_t *, StringRef>{&h.dim, "dim"},
                             {&h.hiddenDim, "hidden_dim"},
                             {&h.numLayers, "n_layers"},
                             {&h.numHeads, "n_heads"},
                             {&h.numKVHeads, "n_kv_heads"},
                             {&h.vocabSize, "vocab_size"},
                             {&h.seqLen, "seq_len"}}) {
    uint64_t at = r.offset();
    if (Error e = r.read(*field, "the header field " + name))
      return e;
    // Every size must be positive; vocab_size's sign carries the sharing.
    int64_t value = name == "vocab_size" ? std::abs(int64_t(*field)) : *field;
    if (value <= 0 || value > (1 << 24))
      return fileError(r.file(), "header field " + name + " at offset " +
                                     Twine(at) + " is " + Twine(*field) +
                                     ", not a plausible size (is this a "
                                     "llama2.c checkpoint?)");
  }
  if (h.dim % h.numHeads)
    return fileError(r.file(), "dim " + Twine(h.dim) +
                                   " is not a multiple of n_heads " +
                                   Twine(h.numHeads));
  if (h.numHeads % h.numKVHeads)
    return fileError(r.file(), "n_heads " + Twine(h.numHeads) +
                                   " is not a multiple of n_kv_heads " +
                                   Twine(h.numKVHeads));
  return Error::success();
}

static void setConfig(ModelConfig &c, const Header &h, bool shared) {
  c.architecture = "llama";
  c.dim = h.dim;
  c.hiddenDim = h.hiddenDim;
  c.numLayers = h.numLayers;
  c.numHeads = h.numHeads;
  c.numKVHeads = h.numKVHeads;
  c.headDim = h.dim / h.numHeads;
  c.vocabSize = std::abs(int64_t(h.vocabSize));
  c.contextLength = h.seqLen;
  c.normEps = 1e-5f;
  c.ropeTheta = 10000.0f;
  c.ropeStyle = RopeStyle::Interleaved;
  c.tiedEmbeddings = shared;
}

static std::string layerName(int64_t layer, StringRef what) {
  return ("blk." + Twine(layer) + "." + what + ".weight").str();
}

/// Calls `place(name, {out, in})` for the matrices of every version in file
/// order (token_embd, then wq, wk, wv, wo, w1, w2, w3 of every layer), or
/// of `groups` [first, last) of the seven per-layer groups; stops at the
/// first error. Names are made one at a time, so a header claiming
/// millions of layers costs no more than the file can hold.
static Error
forEachMatrix(const ModelConfig &c, unsigned first, unsigned last,
              function_ref<Error(StringRef, ArrayRef<int64_t>)> place) {
  int64_t kvDim = c.numKVHeads * c.headDim;
  const std::tuple<StringRef, int64_t, int64_t> groups[] = {
      {"attn_q", c.dim, c.dim},         {"attn_k", kvDim, c.dim},
      {"attn_v", kvDim, c.dim},         {"attn_output", c.dim, c.dim},
      {"ffn_gate", c.hiddenDim, c.dim}, {"ffn_down", c.dim, c.hiddenDim},
      {"ffn_up", c.hiddenDim, c.dim}};
  for (unsigned g = first; g < last; ++g) {
    auto [what, out, in] = groups[g];
    for (int64_t l = 0; l < c.numLayers; ++l)
      if (Error e = place(layerName(l, what), {out, in}))
        return e;
  }
  return Error::success();
}

/// Version 0: f32, stacked over layers, no magic.
static Error readLegacy(ByteReader &r, ModelFile &model) {
  Header h;
  if (Error e = readHeader(r, h))
    return e;
  setConfig(model.config, h, h.vocabSize > 0);
  const ModelConfig &c = model.config;
  Layout layout(model, r.offset());
  auto perLayer = [&](StringRef what, ArrayRef<int64_t> shape) -> Error {
    for (int64_t l = 0; l < c.numLayers; ++l)
      if (Error e = layout.f32(layerName(l, what), shape))
        return e;
    return Error::success();
  };
  // The order of the file: the matrices interleaved with the norms.
  auto f32 = [&](StringRef name, ArrayRef<int64_t> shape) {
    return layout.f32(name, shape);
  };
  if (Error e = layout.f32("token_embd.weight", {c.vocabSize, c.dim}))
    return e;
  if (Error e = perLayer("attn_norm", {c.dim}))
    return e;
  if (Error e = forEachMatrix(c, 0, 4, f32)) // wq, wk, wv, wo
    return e;
  if (Error e = perLayer("ffn_norm", {c.dim}))
    return e;
  if (Error e = forEachMatrix(c, 4, 7, f32)) // w1, w2, w3
    return e;
  if (Error e = layout.f32("output_norm.weight", {c.dim}))
    return e;
  uint64_t ropeTable = uint64_t(h.seqLen) * uint64_t(c.headDim / 2) * 4;
  if (Error e = layout.skip("the RoPE tables", 2 * ropeTable))
    return e;
  if (!c.tiedEmbeddings)
    if (Error e = layout.f32("output.weight", {c.vocabSize, c.dim}))
      return e;
  if (layout.end() != r.size())
    return fileError(r.file(),
                     "the file has " + Twine(r.size()) +
                         " bytes, but a llama2.c version 0 checkpoint with "
                         "this header has " +
                         Twine(layout.end()) + " bytes");
  return Error::success();
}

/// Versions 1 (f32) and 2 (int8 groups), after the magic.
static Error readVersioned(ByteReader &r, ModelFile &model) {
  int32_t version;
  if (Error e = r.read(version, "the version"))
    return e;
  if (version != 1 && version != 2)
    return fileError(r.file(), "unsupported llama2.c checkpoint version " +
                                   Twine(version) + " (Loom reads 0, 1 and 2)");
  Header h;
  if (Error e = readHeader(r, h))
    return e;
  uint8_t shared;
  if (Error e = r.read(shared, "the shared_classifier flag"))
    return e;
  int32_t groupSize = 0;
  if (version == 2) {
    uint64_t at = r.offset();
    if (Error e = r.read(groupSize, "the group size"))
      return e;
    if (groupSize <= 0 || groupSize > (1 << 20))
      return fileError(r.file(), "group size at offset " + Twine(at) + " is " +
                                     Twine(groupSize) + ", not positive");
  }
  if (r.size() < kHeaderSize)
    return r.truncated(kHeaderSize - r.offset(), "the 256-byte header");
  setConfig(model.config, h, shared != 0);
  const ModelConfig &c = model.config;

  Layout layout(model, kHeaderSize);
  for (StringRef what : {"attn_norm", "ffn_norm"})
    for (int64_t l = 0; l < c.numLayers; ++l)
      if (Error e = layout.f32(layerName(l, what), {c.dim}))
        return e;
  if (Error e = layout.f32("output_norm.weight", {c.dim}))
    return e;
  auto place = [&](StringRef name, ArrayRef<int64_t> shape) {
    return version == 1 ? layout.f32(name, shape)
                        : layout.q8(name, shape, groupSize);
  };
  if (Error e = place("token_embd.weight", {c.vocabSize, c.dim}))
    return e;
  if (Error e = forEachMatrix(c, 0, 7, place))
    return e;
  if (!c.tiedEmbeddings)
    if (Error e = place("output.weight", {c.vocabSize, c.dim}))
      return e;
  if (layout.end() != r.size())
    return fileError(r.file(), "the file has " + Twine(r.size()) +
                                   " bytes, but a llama2.c version " +
                                   Twine(version) +
                                   " checkpoint with this header has " +
                                   Twine(layout.end()) + " bytes");
  return Error::success();
}

Expected<std::unique_ptr<ModelFile>>
readLlama2CFromBuffer(std::unique_ptr<MemoryBuffer> buffer) {
  auto model = std::make_unique<ModelFile>();
  model->path = buffer->getBufferIdentifier().str();
  model->format = "llama2c";
  ByteReader r(buffer->getBuffer(), model->path);
  model->buffers.push_back(std::move(buffer));
  uint32_t magic;
  if (Error e = r.read(magic, "the header"))
    return std::move(e);
  if (magic != kMagic)
    cantFail(r.seek(0, "the header"));
  if (Error e =
          magic == kMagic ? readVersioned(r, *model) : readLegacy(r, *model))
    return std::move(e);
  return std::move(model);
}

Expected<std::unique_ptr<ModelFile>> readLlama2C(StringRef path) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
  if (!buffer)
    return buffer.takeError();
  return readLlama2CFromBuffer(std::move(*buffer));
}

//===----------------------------------------------------------------------===//
// tokenizer.bin
//===----------------------------------------------------------------------===//

Expected<TokenizerData> readLlama2CTokenizer(MemoryBufferRef buffer,
                                             int64_t vocabSize) {
  ByteReader r(buffer.getBuffer(), buffer.getBufferIdentifier());
  if (vocabSize < 0)
    return fileError(r.file(),
                     "vocabulary size " + Twine(vocabSize) + " is negative");
  TokenizerData tok;
  tok.model = "llama";
  tok.source = buffer.getBufferIdentifier().str();
  uint32_t maxLength;
  if (Error e = r.read(maxLength, "max_token_length"))
    return std::move(e);
  // Each piece takes at least 8 bytes: bound the reservation by the file.
  if (vocabSize)
    tok.pieces.reserve(std::min<uint64_t>(vocabSize, r.remaining() / 8));
  for (int64_t id = 0; vocabSize ? id < vocabSize : r.remaining() > 0; ++id) {
    float score;
    uint32_t length;
    uint64_t at = r.offset();
    if (Error e = r.read(score, "the score of token " + Twine(id)))
      return std::move(e);
    if (Error e = r.read(length, "the length of token " + Twine(id)))
      return std::move(e);
    if (length > r.remaining())
      return fileError(r.file(), "token " + Twine(id) + " at offset " +
                                     Twine(at) + " has length " +
                                     Twine(length) +
                                     ", past the end of the file (" +
                                     Twine(r.size()) + " bytes)");
    StringRef piece;
    cantFail(r.readBytes(length, piece, "token"));
    tok.pieces.push_back(piece.str());
    tok.scores.push_back(score);
  }
  return std::move(tok);
}

Expected<TokenizerData> readLlama2CTokenizer(StringRef path,
                                             int64_t vocabSize) {
  Expected<std::unique_ptr<MemoryBuffer>> buffer = detail::openFile(path);
  if (!buffer)
    return buffer.takeError();
  return readLlama2CTokenizer((*buffer)->getMemBufferRef(), vocabSize);
}

} // namespace loom
