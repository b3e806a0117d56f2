//===- Session.cpp - binding artifacts to weights and running them --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// `Session::create` checks the model's configuration against the
// artifact's, joins the MPI world (Mpi.cpp), binds the weights
// (WeightBinding.cpp) and allocates the KV caches and arenas; `prefill` and
// `decode` pack each call's arguments and run the entry point's schedule.
// Loading artifacts is Artifact.cpp.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Session.h"
#include "WeightBinding.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <limits>

using namespace llvm;

namespace loom {

//===----------------------------------------------------------------------===//
// Session
//===----------------------------------------------------------------------===//

Expected<std::unique_ptr<Session>>
Session::create(std::shared_ptr<Artifact> artifact,
                std::shared_ptr<const ModelFile> model,
                const SessionOptions &options) {
  const Manifest &m = artifact->manifest();
  StringRef file = sys::path::filename(model->path);
  // Weights of another configuration (another eps, theta, depth, ...) would
  // run and compute something else: refuse them, naming the field.
  for (const auto &[field, value] : describeConfig(model->config)) {
    StringRef key = field;
    auto compiled =
        find_if(m.modelConfig, [&](const auto &kv) { return kv.first == key; });
    if (compiled == m.modelConfig.end() || compiled->second == value)
      continue;
    return createStringError(
        formatv("{0}: the model's {1} is {2}, but the artifact {3} was "
                "compiled for {4} (from {5})",
                file, field, value, artifact->path(), compiled->second,
                m.modelPath)
            .str());
  }
  std::unique_ptr<Session> s(new Session());
  s->encoderCallTokens_ = std::max<int64_t>(1, options.encoderCallTokens);
  if (m.mpiRanks > 1) {
    Expected<int> rank = joinMpiWorld(*artifact);
    if (!rank)
      return rank.takeError();
    s->rank_ = *rank;
  }
  s->device_ = options.device ? options.device
                              : std::shared_ptr<Device>(createCpuDevice());
  // CPU code on a GPU, or GPU kernels without one, would fault.
  if (!m.gpu.empty() && s->device_->runsCpuCode())
    return createStringError(
        formatv("{0} was compiled for the NVIDIA GPU {1}: it runs on a CUDA "
                "device (loom-run --device=cuda), not on {2}",
                artifact->path(), m.gpu, s->device_->name())
            .str());
  if (m.gpu.empty() && !s->device_->runsCpuCode())
    return createStringError(
        formatv("{0} was compiled for the CPU ({1}): {2} runs artifacts "
                "compiled with --target=cuda",
                artifact->path(), m.cpu, s->device_->name())
            .str());
  // NaN or infinite weights run and give garbage without a word: say which.
  std::vector<const WeightInfo *> used;
  StringSet<> seen;
  for (const EntryInfo &e : m.entries)
    for (const ParamInfo &p : e.params)
      if (p.kind == ParamInfo::Kind::Weight && seen.insert(p.name).second)
        if (const WeightInfo *w = model->lookup(p.name))
          used.push_back(w);
  for (const std::string &name : detail::nonFiniteWeights(*model, used))
    s->warnings_.push_back(
        formatv("{0}: weight '{1}' holds NaN or infinite values: the model's "
                "output will be meaningless",
                file, name)
            .str());
  // A device the host cannot address (a GPU) gets every weight copied in
  // once, in the form the artifact reads: made on the host first.
  bool onHost = s->device_->hostAddressable();
  std::unique_ptr<Device> host = onHost ? nullptr : createCpuDevice();
  StringMap<std::pair<void *, size_t>> hostPacked;
  for (const EntryInfo &e : m.entries) {
    for (const ParamInfo &p : e.params) {
      if (p.kind == ParamInfo::Kind::Weight) {
        if (!onHost && s->packed_.contains(p.name))
          continue; // on the device already (another entry point's)
        if (Error err = detail::bindWeight(
                p, *model, *artifact, onHost ? *s->device_ : *host,
                onHost ? s->packed_ : hostPacked, file))
          return std::move(err);
        if (!onHost) {
          auto made = hostPacked.find(p.name);
          ArrayRef<uint8_t> bytes =
              made != hostPacked.end()
                  ? ArrayRef<uint8_t>(
                        static_cast<const uint8_t *>(made->second.first),
                        made->second.second)
                  : model->bytes(*model->lookup(p.name));
          Expected<void *> memory = s->device_->allocate(bytes.size());
          if (!memory)
            return memory.takeError();
          s->packed_[p.name] = {*memory, bytes.size()};
          if (Error err =
                  s->device_->copyToDevice(*memory, bytes.data(), bytes.size()))
            return std::move(err);
          if (made != hostPacked.end()) {
            host->deallocate(made->second.first);
            hostPacked.erase(made);
          }
        }
      } else if (p.kind == ParamInfo::Kind::Cache &&
                 none_of(s->caches_,
                         [&](const Cache &c) { return c.name == p.name; })) {
        int64_t n = 1;
        bool overflow = false;
        for (int64_t d : p.shape)
          overflow |= d < 0 || MulOverflow(n, d, n);
        if (overflow || n > std::numeric_limits<int64_t>::max() / 4)
          return createStringError(
              formatv("{0}: the cache '{1}' is [{2}] values, more than this "
                      "machine can address",
                      artifact->path(), p.name,
                      make_range(p.shape.begin(), p.shape.end()))
                  .str());
        Expected<void *> memory = s->device_->allocate(n * sizeof(float));
        if (!memory)
          return memory.takeError();
        s->caches_.push_back(
            {p.name, static_cast<float *>(*memory), size_t(n)});
      }
    }
    Step &step = s->steps_.emplace_back();
    step.info = &e;
    Expected<void *> arena = s->device_->allocate(e.arenaBytes);
    if (!arena)
      return arena.takeError();
    step.arena = *arena;
    std::vector<EntryFunction> kernels;
    for (const KernelInfo &k : e.kernels)
      kernels.push_back(artifact->entry(k.name));
    Expected<std::unique_ptr<Executable>> executable = s->device_->prepare(
        e, kernels, artifact->entry(e.name), options.schedule);
    if (!executable)
      return executable.takeError();
    step.executable = std::move(*executable);
  }
  s->artifact_ = std::move(artifact);
  s->model_ = std::move(model);
  return s;
}

Session::~Session() {
  for (Step &step : steps_)
    if (step.arena)
      device_->deallocate(step.arena);
  for (Cache &c : caches_)
    device_->deallocate(c.data);
  for (auto &packed : packed_)
    device_->deallocate(packed.second.first);
  for (auto &[memory, capacity] : staging_)
    device_->deallocate(memory);
}

void Session::reset() {
  for (Cache &c : caches_)
    device_->zero(c.data, c.elements * sizeof(float));
}

Error Session::checkPositions(int64_t position, int64_t n) const {
  // Compared without forming position + n, which overflows near INT64_MAX.
  if (position < 0 || n < 0 || n > contextLength() ||
      position > contextLength() - n)
    return createStringError(
        formatv("{0} positions from {1} on do not fit the context of {2} "
                "positions",
                n, position, contextLength())
            .str());
  return Error::success();
}

const Session::Step *Session::step(StringRef name) const {
  for (const Step &s : steps_)
    if (s.info->name == name)
      return &s;
  return nullptr;
}

namespace {
/// Builds the packed argument list of one call: memref descriptors
/// ({allocated, aligned, offset, sizes[r], strides[r]}) and scalars, each
/// addressed through a stable slot.
class ArgPacker {
public:
  void addMemRef(const void *data, ArrayRef<int64_t> shape) {
    std::vector<int64_t> &d = descriptors.emplace_back();
    auto ptr = reinterpret_cast<int64_t>(data);
    d.push_back(ptr);
    d.push_back(ptr);
    d.push_back(0);
    d.insert(d.end(), shape.begin(), shape.end());
    int64_t stride = 1;
    std::vector<int64_t> strides(shape.size());
    for (size_t i = shape.size(); i-- > 0;) {
      strides[i] = stride;
      stride *= shape[i];
    }
    d.insert(d.end(), strides.begin(), strides.end());
    pointers.push_back(d.data());
    args.push_back(&pointers.back());
  }
  void addIndex(int64_t value) {
    scalars.push_back(value);
    args.push_back(&scalars.back());
  }
  void **data() { return args.data(); }

private:
  std::deque<std::vector<int64_t>> descriptors;
  std::deque<void *> pointers;
  std::deque<int64_t> scalars;
  std::vector<void *> args;
};
} // namespace

Expected<ArrayRef<float>> Session::run(const Step &step,
                                       ArrayRef<int32_t> tokens,
                                       int64_t position, bool allLogits,
                                       const Packing *packing) {
  const EntryInfo &entry = *step.info;
  int64_t n = tokens.size();
  if (n == 0)
    return createStringError("no tokens to run");
  if (entry.maxTokens > 0 && n > entry.maxTokens)
    return createStringError(
        formatv("entry '{0}' was compiled for at most {1} tokens per call, "
                "not {2}",
                entry.name, entry.maxTokens, n)
            .str());
  if (Error e = checkPositions(position, n))
    return std::move(e);
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab())
      return createStringError(
          formatv("token id {0} is outside the vocabulary of {1}", t, vocab())
              .str());
  // An entry that takes logits_from computes the rows asked for; others
  // compute them all.
  bool rowsChosen = any_of(entry.params, [](const ParamInfo &p) {
    return p.kind == ParamInfo::Kind::LogitsFrom;
  });
  int64_t rows = rowsChosen && !allLogits ? 1 : n;
  // The output: [1, rows, vocab] logits, or an encoder's [1, n, dim]
  // hidden states or [b, dim] embeddings (one row per packed sequence).
  int64_t sequences = packing ? int64_t(packing->lengths.size()) : 1;
  auto outputRows = [&](const ParamInfo &p) {
    return packing && p.shape.size() == 2 ? sequences : rows;
  };
  int64_t outputSize = 1;
  for (const ParamInfo &p : entry.params)
    if (p.kind == ParamInfo::Kind::Logits)
      for (int64_t d : p.shape)
        outputSize *= d < 0 ? outputRows(p) : d;
  logits_.assign(outputSize, 0.0f);
  // A packed call's per-token inputs; one sequence of type 0 without.
  Packing single;
  bool packed = any_of(entry.params, [](const ParamInfo &p) {
    return p.kind == ParamInfo::Kind::TokenTypes ||
           p.kind == ParamInfo::Kind::Positions ||
           p.kind == ParamInfo::Kind::Sequences ||
           p.kind == ParamInfo::Kind::SequenceLengths;
  });
  if (!packing && packed) {
    single.types.assign(n, 0);
    single.sequences.assign(n, 0);
    single.lengths.assign(1, int32_t(n));
    for (int64_t i = 0; i < n; ++i)
      single.positions.push_back(int32_t(i));
    packing = &single;
  }
  auto perToken = [&](const std::vector<int32_t> &values,
                      StringRef what) -> Error {
    if (int64_t(values.size()) == n)
      return Error::success();
    return createStringError(
        formatv("{0} {1} for {2} tokens", values.size(), what, n).str());
  };
  // On a device the host cannot address, each host array of the call goes
  // through a staging buffer in device memory (inputs copied in, the
  // output copied back after the call).
  size_t slot = 0;
  std::pair<void *, size_t> output{nullptr, 0};
  auto onDevice = [&](const void *data, size_t bytes,
                      bool input) -> Expected<void *> {
    if (device_->hostAddressable())
      return const_cast<void *>(data);
    if (slot == staging_.size())
      staging_.push_back({nullptr, 0});
    auto &[memory, capacity] = staging_[slot++];
    if (capacity < bytes) {
      device_->deallocate(memory);
      memory = nullptr;
      capacity = 0;
      Expected<void *> made = device_->allocate(bytes);
      if (!made)
        return made.takeError();
      memory = *made;
      capacity = bytes;
    }
    if (input)
      if (Error e = device_->copyToDevice(memory, data, bytes))
        return std::move(e);
    return memory;
  };
  auto addArray = [&](ArgPacker &packer, ArrayRef<int32_t> values,
                      ArrayRef<int64_t> shape) -> Error {
    Expected<void *> at =
        onDevice(values.data(), values.size() * sizeof(int32_t), true);
    if (!at)
      return at.takeError();
    packer.addMemRef(*at, shape);
    return Error::success();
  };
  ArgPacker packer;
  for (const ParamInfo &p : entry.params) {
    SmallVector<int64_t, 4> shape(p.shape);
    for (int64_t &d : shape)
      if (d < 0)
        d = n; // the only call-dependent size is the number of tokens
    switch (p.kind) {
    case ParamInfo::Kind::Weight: {
      if (auto packed = packed_.find(p.name); packed != packed_.end()) {
        // (On a device, a weight split over ranks is not sliced: MPI
        // sessions run on the CPU.)
        packer.addMemRef(packed->second.first, shape);
        break;
      }
      const WeightInfo *w = model_->lookup(p.name);
      ArrayRef<uint8_t> bytes = model_->bytes(*w);
      // A weight split over ranks: this rank's slice of the first axis.
      size_t slice = bytes.size() / p.shards;
      packer.addMemRef(bytes.data() + slice * (rank_ % p.shards), shape);
      break;
    }
    case ParamInfo::Kind::Tokens:
      if (!p.shape.empty() && p.shape.back() >= 0 && p.shape.back() != n)
        return createStringError(
            formatv("entry '{0}' takes {1} tokens per call, not {2}",
                    entry.name, p.shape.back(), n)
                .str());
      if (Error e = addArray(packer, tokens, shape))
        return std::move(e);
      break;
    case ParamInfo::Kind::TokenTypes:
      if (Error e = perToken(packing->types, "token types"))
        return std::move(e);
      for (int32_t t : packing->types)
        if (t < 0 || t >= numTokenTypes())
          return createStringError(
              formatv("token type {0} is outside the model's {1} types", t,
                      numTokenTypes())
                  .str());
      if (Error e = addArray(packer, packing->types, shape))
        return std::move(e);
      break;
    case ParamInfo::Kind::Positions:
      if (Error e = perToken(packing->positions, "positions"))
        return std::move(e);
      if (Error e = addArray(packer, packing->positions, shape))
        return std::move(e);
      break;
    case ParamInfo::Kind::Sequences:
      if (Error e = perToken(packing->sequences, "sequence ids"))
        return std::move(e);
      if (Error e = addArray(packer, packing->sequences, shape))
        return std::move(e);
      break;
    case ParamInfo::Kind::SequenceLengths:
      if (Error e = addArray(packer, packing->lengths, {sequences}))
        return std::move(e);
      break;
    case ParamInfo::Kind::Position:
      packer.addIndex(position);
      break;
    case ParamInfo::Kind::LogitsFrom:
      packer.addIndex(n - rows);
      break;
    case ParamInfo::Kind::Cache: {
      auto it =
          find_if(caches_, [&](const Cache &c) { return c.name == p.name; });
      packer.addMemRef(it->data, shape);
      break;
    }
    case ParamInfo::Kind::Logits:
      for (auto [d, size] : llvm::enumerate(p.shape))
        if (size < 0)
          shape[d] = outputRows(p);
      if (Expected<void *> at =
              onDevice(logits_.data(), logits_.size() * sizeof(float), false)) {
        output = {*at, logits_.size() * sizeof(float)};
        packer.addMemRef(*at, shape);
      } else {
        return at.takeError();
      }
      break;
    case ParamInfo::Kind::Arena:
      packer.addMemRef(step.arena, {std::max<int64_t>(entry.arenaBytes, 1)});
      break;
    }
  }
  if (Error e = step.executable->run(packer.data()))
    return std::move(e);
  if (output.first && output.first != logits_.data())
    if (Error e =
            device_->copyToHost(logits_.data(), output.first, output.second))
      return std::move(e);
  return ArrayRef<float>(logits_);
}

Expected<ArrayRef<float>> Session::prefill(ArrayRef<int32_t> tokens,
                                           int64_t position, bool allLogits) {
  const Step *s = step("prefill");
  if (!s)
    return createStringError("the artifact has no prefill entry point");
  int64_t chunk = s->info->maxTokens;
  if (chunk <= 0 || int64_t(tokens.size()) <= chunk)
    return run(*s, tokens, position, allLogits);
  // More tokens than the arena was planned for: several calls, each after
  // the positions the previous ones put in the cache.
  if (Error e = checkPositions(position, tokens.size()))
    return std::move(e);
  std::vector<float> all;
  all.reserve(tokens.size() * vocab());
  for (size_t begin = 0; begin < tokens.size(); begin += chunk) {
    ArrayRef<int32_t> part =
        tokens.slice(begin, std::min<size_t>(chunk, tokens.size() - begin));
    Expected<ArrayRef<float>> logits =
        run(*s, part, position + begin, allLogits);
    if (!logits)
      return logits.takeError();
    if (!allLogits)
      all.clear(); // only the last call's last row counts
    all.insert(all.end(), logits->begin(), logits->end());
  }
  logits_ = std::move(all);
  return ArrayRef<float>(logits_);
}

bool Session::isEncoder() const { return hasEntry("hidden"); }

bool Session::hasEntry(StringRef name) const { return step(name) != nullptr; }

int64_t Session::numTokenTypes() const { return model_->config.numTokenTypes; }

Expected<const Session::Step *> Session::encoderStep(StringRef entry) const {
  if (const Step *s = step(entry))
    return s;
  if (!isEncoder())
    return createStringError(
        "the model is a decoder: it has no encoder entry points");
  if (entry == "mlm")
    return createStringError(
        formatv("{0}: the model has no masked-LM head (cls.predictions.*; "
                "llama.cpp's GGUF converter drops it)",
                sys::path::filename(model_->path))
            .str());
  if (entry == "embed")
    return createStringError(
        formatv("{0}: the model names no pooling for a sentence embedding "
                "(sentence-transformers' modules.json and "
                "1_Pooling/config.json beside the weights, or GGUF's "
                "pooling_type)",
                sys::path::filename(model_->path))
            .str());
  return createStringError(
      formatv("the artifact has no entry point '{0}'", entry).str());
}

Expected<ArrayRef<float>> Session::encode(StringRef entry,
                                          ArrayRef<int32_t> tokens,
                                          ArrayRef<int32_t> tokenTypes) {
  std::vector<std::vector<int32_t>> sequences = {tokens.vec()};
  std::vector<std::vector<int32_t>> types;
  if (!tokenTypes.empty())
    types.push_back(tokenTypes.vec());
  return encodeBatch(entry, sequences, types);
}

Expected<ArrayRef<float>>
Session::encodeBatch(StringRef entry, ArrayRef<std::vector<int32_t>> sequences,
                     ArrayRef<std::vector<int32_t>> tokenTypes) {
  Expected<const Step *> s = encoderStep(entry);
  if (!s)
    return s.takeError();
  if (!tokenTypes.empty() && tokenTypes.size() != sequences.size())
    return createStringError(formatv("{0} token type lists for {1} sequences",
                                     tokenTypes.size(), sequences.size())
                                 .str());
  int64_t limit = (*s)->info->maxTokens;
  batchOutput_.clear();
  std::vector<int32_t> tokens;
  Packing packing;
  // Runs the sequences packed so far as one call.
  auto flush = [&]() -> Error {
    if (tokens.empty())
      return Error::success();
    Expected<ArrayRef<float>> out =
        run(**s, tokens, 0, /*allLogits=*/true, &packing);
    if (!out)
      return out.takeError();
    batchOutput_.insert(batchOutput_.end(), out->begin(), out->end());
    tokens.clear();
    packing = Packing();
    return Error::success();
  };
  for (auto [i, sequence] : llvm::enumerate(sequences)) {
    int64_t n = int64_t(sequence.size());
    if (n == 0)
      return createStringError(
          formatv("sequence {0} of the batch has no tokens", i).str());
    if (limit > 0 && n > limit)
      return createStringError(
          formatv("{0} tokens are more than the {1} an encoder call takes "
                  "(--max-tokens, at most the context length)",
                  n, limit)
              .str());
    if (!tokenTypes.empty() && !tokenTypes[i].empty() &&
        int64_t(tokenTypes[i].size()) != n)
      return createStringError(
          formatv("{0} token types for {1} tokens", tokenTypes[i].size(), n)
              .str());
    int64_t budget =
        limit > 0 ? std::min(limit, encoderCallTokens_) : encoderCallTokens_;
    if (!tokens.empty() && int64_t(tokens.size()) + n > budget)
      if (Error e = flush())
        return std::move(e);
    int32_t id = int32_t(packing.lengths.size());
    tokens.insert(tokens.end(), sequence.begin(), sequence.end());
    for (int64_t p = 0; p < n; ++p) {
      packing.types.push_back(
          tokenTypes.empty() || tokenTypes[i].empty() ? 0 : tokenTypes[i][p]);
      packing.positions.push_back(int32_t(p));
      packing.sequences.push_back(id);
    }
    packing.lengths.push_back(int32_t(n));
  }
  if (Error e = flush())
    return std::move(e);
  return ArrayRef<float>(batchOutput_);
}

Expected<ArrayRef<float>> Session::decode(int32_t token, int64_t position) {
  const Step *s = step("decode");
  if (!s)
    return createStringError("the artifact has no decode entry point");
  return run(*s, ArrayRef<int32_t>(token), position);
}

} // namespace loom
