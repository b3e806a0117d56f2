//===- Session.cpp - loading artifacts and running them -------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Session.h"
#include "loom/Runtime/ArtifactFile.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <limits>
#include <cstring>
#include <dlfcn.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

using namespace llvm;

namespace loom {

//===----------------------------------------------------------------------===//
// Artifact
//===----------------------------------------------------------------------===//

Expected<std::shared_ptr<Artifact>> Artifact::load(StringRef path) {
  // A truncated or damaged file would crash the dynamic loader.
  if (Error e = checkArtifactFile(path))
    return std::move(e);
  std::string p = path.str();
  // A path without a slash would make dlopen search the library path.
  if (p.find('/') == std::string::npos)
    p = "./" + p;
  void *handle = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return createStringError(formatv("{0}: cannot load the artifact: {1}",
                                     path, dlerror())
                                 .str());
  std::shared_ptr<Artifact> a(new Artifact());
  a->path_ = path.str();
  a->handle_ = handle;
  auto *json = static_cast<const char *>(dlsym(handle, "loom_manifest"));
  if (!json)
    return createStringError(
        formatv("{0}: not a Loom artifact (no loom_manifest symbol)", path)
            .str());
  Expected<Manifest> m = Manifest::fromJSON(json);
  if (!m)
    return createStringError(
        formatv("{0}: {1}", path, toString(m.takeError())).str());
  a->manifest_ = std::move(*m);
  // Code compiled for instructions this machine lacks would die of SIGILL.
  StringMap<bool> host = sys::getHostCPUFeatures();
  SmallVector<StringRef> missing;
  for (const std::string &f : a->manifest_.cpuFeatures)
    if (!host.lookup(f))
      missing.push_back(f);
  if (!missing.empty())
    return createStringError(
        formatv("{0}: compiled for CPU '{1}', whose instructions {2} this "
                "machine ({3}) lacks; compile the model for this machine "
                "(loom-compile without --cpu, or --cpu={3})",
                path, a->manifest_.cpu, join(missing, ", "),
                sys::getHostCPUName())
            .str());
  for (const EntryInfo &e : a->manifest_.entries) {
    if (!a->entry(e.name))
      return createStringError(
          formatv("{0}: the manifest lists entry point '{1}', but the "
                  "library has no loom_entry_{1}",
                  path, e.name)
              .str());
    for (const KernelInfo &k : e.kernels)
      if (!a->entry(k.name))
        return createStringError(
            formatv("{0}: the schedule of '{1}' lists kernel '{2}', but the "
                    "library has no loom_entry_{2}",
                    path, e.name, k.name)
                .str());
  }
  return a;
}

Artifact::~Artifact() {
  if (handle_)
    dlclose(handle_);
}

void *Artifact::symbol(StringRef name) const {
  return dlsym(handle_, name.str().c_str());
}

/// `n` f32 values as bf16, rounded to nearest with ties to even (NaN stays
/// a quiet NaN): the load-time copy of a weight loom-narrow-weights reads as
/// bf16. A change of storage format, like reading the file, not model math.
static void packToBF16(const float *in, uint16_t *out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &in[i], sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) {
      out[i] = static_cast<uint16_t>((bits >> 16) | 0x0040u);
      continue;
    }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    out[i] = static_cast<uint16_t>(bits >> 16);
  }
}

/// A q4_0 / q8_0 matrix ([groups * 8, blocks] blocks) as q4_0x8 / q8_0x8
/// (BlockFormats.h): groups are independent, split across the cores (a
/// 1B-parameter model moves about 1 GB here).
static void interleaveRows(blocks::Format plain, const uint8_t *in,
                           uint8_t *out, int64_t groups, int64_t blockCount) {
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, groups),
                    [&](const tbb::blocked_range<int64_t> &range) {
                      blocks::interleaveRows(plain, in, out, blockCount,
                                             range.begin(), range.end());
                    });
}

/// Whether any of `n` IEEE values of `bits` bits (exponent mask `exponent`)
/// at `data` is a NaN or an infinity: every exponent bit set. One pass of
/// masks and ORs, which the compiler vectorizes.
template <typename Word>
static bool anyNonFinite(const uint8_t *data, size_t n, size_t strideBytes,
                         Word exponent) {
  Word found = 0;
  for (size_t i = 0; i < n; ++i) {
    Word w;
    std::memcpy(&w, data + i * strideBytes, sizeof w);
    found |= Word((w & exponent) == exponent);
  }
  return found != 0;
}

/// Whether the stored values of `w` (for block formats: its scales) include
/// a NaN or an infinity.
static bool hasNonFinite(const ModelFile &model, const WeightInfo &w) {
  ArrayRef<uint8_t> bytes = model.bytes(w);
  switch (w.storage) {
  case StorageType::F32:
    return anyNonFinite<uint32_t>(bytes.data(), bytes.size() / 4, 4,
                                  0x7f800000u);
  case StorageType::F16:
    return anyNonFinite<uint16_t>(bytes.data(), bytes.size() / 2, 2, 0x7c00);
  case StorageType::BF16:
    return anyNonFinite<uint16_t>(bytes.data(), bytes.size() / 2, 2, 0x7f80);
  case StorageType::Q8_0:
  case StorageType::Q4_0: {
    // Each block starts with its f16 scale.
    size_t block = size_t(blocks::info(*blocks::ofStorage(w.storage)).bytes);
    return anyNonFinite<uint16_t>(bytes.data(), bytes.size() / block, block,
                                  0x7c00);
  }
  case StorageType::Q8Groups: {
    ArrayRef<uint8_t> scales = model.scales(w);
    return anyNonFinite<uint32_t>(scales.data(), scales.size() / 4, 4,
                                  0x7f800000u);
  }
  }
  return false;
}

/// The weights among `names` holding NaN or infinite values, checked in
/// parallel (a pass over the file at memory speed).
static std::vector<std::string>
nonFiniteWeights(const ModelFile &model, ArrayRef<const WeightInfo *> weights) {
  std::vector<char> bad(weights.size(), 0);
  tbb::parallel_for(size_t(0), weights.size(), [&](size_t i) {
    bad[i] = hasNonFinite(model, *weights[i]);
  });
  std::vector<std::string> names;
  for (size_t i = 0; i < weights.size(); ++i)
    if (bad[i])
      names.push_back(weights[i]->name);
  return names;
}

/// MPI's C API, as the artifact's MPI library exports it. The thread-level
/// constants are the same in OpenMPI and MPICH.
namespace {
using MpiInitialized = int (*)(int *);
using MpiInitThread = int (*)(int *, char ***, int, int *);
using MpiFinalize = int (*)();
constexpr int kMpiThreadSerialized = 2;
MpiFinalize mpiFinalize = nullptr;
MpiInitialized mpiFinalized = nullptr;
void finalizeMpi() {
  int done = 0;
  if (mpiFinalized && mpiFinalized(&done) == 0 && !done)
    mpiFinalize();
}
} // namespace

Expected<int> joinMpiWorld(const Artifact &artifact) {
  const Manifest &m = artifact.manifest();
  auto initialized = reinterpret_cast<MpiInitialized>(artifact.symbol("MPI_Initialized"));
  auto initThread = reinterpret_cast<MpiInitThread>(artifact.symbol("MPI_Init_thread"));
  auto finalized = reinterpret_cast<MpiInitialized>(artifact.symbol("MPI_Finalized"));
  auto finalize = reinterpret_cast<MpiFinalize>(artifact.symbol("MPI_Finalize"));
  auto commSize = reinterpret_cast<int (*)(void *, int *)>(
      artifact.symbol("MPI_Comm_size"));
  auto rank = reinterpret_cast<int (*)()>(artifact.symbol("loom_mpi_rank"));
  if (!initialized || !initThread || !finalized || !finalize || !commSize ||
      !rank)
    return createStringError(
        formatv("{0}: compiled for {1} MPI ranks, but the library has no MPI "
                "(MPI_Init_thread) or no loom_mpi_rank",
                artifact.path(), m.mpiRanks)
            .str());
  // MPI_COMM_WORLD: OpenMPI's is the address of a global, MPICH's a
  // constant handle.
  void *world = artifact.symbol("ompi_mpi_comm_world");
  if (!world)
    world = reinterpret_cast<void *>(uintptr_t(0x44000000));
  int flag = 0;
  initialized(&flag);
  if (!flag) {
    int provided = 0;
    // Kernels run on the runtime's worker threads, one collective at a time.
    if (initThread(nullptr, nullptr, kMpiThreadSerialized, &provided) != 0)
      return createStringError(
          formatv("{0}: MPI_Init_thread failed", artifact.path()).str());
    if (provided < kMpiThreadSerialized)
      return createStringError(
          formatv("{0}: the MPI library does not allow calls from several "
                  "threads (MPI_THREAD_SERIALIZED)",
                  artifact.path())
              .str());
    mpiFinalize = finalize;
    mpiFinalized = finalized;
    // MPI is finalized at exit, after the artifact is released: keep it
    // (and the MPI library it links) loaded until then.
    std::string path = artifact.path().str();
    if (path.find('/') == std::string::npos)
      path = "./" + path;
    dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    std::atexit(finalizeMpi);
  }
  int worldSize = 0;
  if (commSize(world, &worldSize) != 0 || worldSize != m.mpiRanks)
    return createStringError(
        formatv("{0}: compiled for {1} MPI ranks, but runs on {2}: start it "
                "with `mpirun -np {1}`",
                artifact.path(), m.mpiRanks, worldSize)
            .str());
  return rank();
}

EntryFunction Artifact::entry(StringRef name) const {
  std::string symbol = ("loom_entry_" + name).str();
  return reinterpret_cast<EntryFunction>(dlsym(handle_, symbol.c_str()));
}

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
    auto compiled = find_if(m.modelConfig,
                            [&](const auto &kv) { return kv.first == key; });
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
  if (m.mpiRanks > 1) {
    Expected<int> rank = joinMpiWorld(*artifact);
    if (!rank)
      return rank.takeError();
    s->rank_ = *rank;
  }
  s->device_ = options.device ? options.device
                              : std::shared_ptr<Device>(createCpuDevice());
  // NaN or infinite weights run and give garbage without a word: say which.
  std::vector<const WeightInfo *> used;
  StringSet<> seen;
  for (const EntryInfo &e : m.entries)
    for (const ParamInfo &p : e.params)
      if (p.kind == ParamInfo::Kind::Weight && seen.insert(p.name).second)
        if (const WeightInfo *w = model->lookup(p.name))
          used.push_back(w);
  for (const std::string &name : nonFiniteWeights(*model, used))
    s->warnings_.push_back(
        formatv("{0}: weight '{1}' holds NaN or infinite values: the model's "
                "output will be meaningless",
                file, name)
            .str());
  for (const EntryInfo &e : m.entries) {
    for (const ParamInfo &p : e.params) {
      if (p.kind == ParamInfo::Kind::Weight) {
        const WeightInfo *w = model->lookup(p.name);
        if (!w)
          return createStringError(
              formatv("{0}: no weight '{1}', which the artifact {2} expects "
                      "(it was compiled for {3})",
                      file, p.name, artifact->path(), m.modelPath)
                  .str());
        // The artifact knows the stored shape; compare logical shapes (for
        // blocks of 32: [rows..., blocks, bytes] holds rows x blocks*32).
        SmallVector<int64_t, 4> expected(p.shape);
        if (!expected.empty())
          expected.front() *= p.shards; // the file holds every rank's slice
        std::optional<blocks::Format> format = p.blockFormat();
        if (format && expected.size() >= 2) {
          const blocks::FormatInfo &f = blocks::info(*format);
          expected.pop_back();
          expected.back() *= f.values;
          if (f.rows > 1 && expected.size() >= 2)
            expected[expected.size() - 2] *= f.rows;
        }
        if (ArrayRef<int64_t>(w->shape) != ArrayRef<int64_t>(expected))
          return createStringError(
              formatv("{0}: weight '{1}' is [{2}], but the artifact {3} "
                      "expects [{4}] (it was compiled for another model: {5})",
                      file, p.name, make_range(w->shape.begin(), w->shape.end()),
                      artifact->path(),
                      make_range(expected.begin(), expected.end()), m.modelPath)
                  .str());
        if (w->storage == StorageType::Q8Groups)
          return createStringError(
              formatv("{0}: weight '{1}' is stored as llama2.c int8 groups, "
                      "which compiled models do not read yet (GGUF q8_0 and "
                      "q4_0 they do)",
                      file, p.name)
                  .str());
        if (w->storage != p.storage)
          return createStringError(
              formatv("{0}: weight '{1}' is stored as {2}, but the artifact {3} "
                      "was compiled for {4} (from {5})",
                      file, p.name, storageTypeName(w->storage),
                      artifact->path(), storageTypeName(p.storage),
                      m.modelPath)
                  .str());
        // An f32 matrix the artifact reads as bf16 (--dtype=bf16): one bf16
        // copy, rounded to nearest (ties to even), made here once.
        auto isFloat = [](StringRef t) {
          return t == "f32" || t == "f16" || t == "bf16";
        };
        if (isFloat(p.elementType) &&
            p.elementType != storageTypeName(p.storage) &&
            !s->packed_.contains(p.name)) {
          if (p.storage != StorageType::F32 || p.elementType != "bf16")
            return createStringError(
                formatv("{0}: the artifact {1} reads weight '{2}' as {3}, "
                        "but Loom converts only f32 weights to bf16 at load",
                        file, artifact->path(), p.name, p.elementType)
                    .str());
          ArrayRef<uint8_t> bytes = model->bytes(*w);
          size_t n = bytes.size() / sizeof(float);
          Expected<void *> memory = s->device_->allocate(n * sizeof(uint16_t));
          if (!memory)
            return memory.takeError();
          packToBF16(reinterpret_cast<const float *>(bytes.data()),
                     static_cast<uint16_t *>(*memory), n);
          s->packed_[p.name] = *memory;
        }
        // A q4_0 / q8_0 matrix the artifact reads as q4_0x8 / q8_0x8: the
        // file's blocks interleaved 8 rows at a time, once.
        if (p.interleaved() && !s->packed_.contains(p.name)) {
          ArrayRef<uint8_t> bytes = model->bytes(*w);
          Expected<void *> memory = s->device_->allocate(bytes.size());
          if (!memory)
            return memory.takeError();
          // [groups..., blocks, bytes]: every leading dimension counts
          // groups of 8 rows.
          int64_t groups = 1;
          for (int64_t d : ArrayRef<int64_t>(p.shape).drop_back(2))
            groups *= d;
          interleaveRows(*blocks::ofStorage(p.storage), bytes.data(),
                         static_cast<uint8_t *>(*memory), groups,
                         p.shape[p.shape.size() - 2]);
          s->packed_[p.name] = *memory;
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
        s->caches_.push_back({p.name, static_cast<float *>(*memory), size_t(n)});
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
    device_->deallocate(packed.second);
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
                                       int64_t position, bool allLogits) {
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
  logits_.assign(rows * vocab(), 0.0f);
  ArgPacker packer;
  for (const ParamInfo &p : entry.params) {
    SmallVector<int64_t, 4> shape(p.shape);
    for (int64_t &d : shape)
      if (d < 0)
        d = n; // the only call-dependent size is the number of tokens
    switch (p.kind) {
    case ParamInfo::Kind::Weight: {
      if (auto packed = packed_.find(p.name); packed != packed_.end()) {
        packer.addMemRef(packed->second, shape);
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
      packer.addMemRef(tokens.data(), shape);
      break;
    case ParamInfo::Kind::Position:
      packer.addIndex(position);
      break;
    case ParamInfo::Kind::LogitsFrom:
      packer.addIndex(n - rows);
      break;
    case ParamInfo::Kind::Cache: {
      auto it = find_if(caches_, [&](const Cache &c) { return c.name == p.name; });
      packer.addMemRef(it->data, shape);
      break;
    }
    case ParamInfo::Kind::Logits:
      for (auto [d, size] : llvm::enumerate(p.shape))
        if (size < 0)
          shape[d] = rows;
      packer.addMemRef(logits_.data(), shape);
      break;
    case ParamInfo::Kind::Arena:
      packer.addMemRef(step.arena, {std::max<int64_t>(entry.arenaBytes, 1)});
      break;
    }
  }
  step.executable->run(packer.data());
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
    Expected<ArrayRef<float>> logits = run(*s, part, position + begin, allLogits);
    if (!logits)
      return logits.takeError();
    if (!allLogits)
      all.clear(); // only the last call's last row counts
    all.insert(all.end(), logits->begin(), logits->end());
  }
  logits_ = std::move(all);
  return ArrayRef<float>(logits_);
}

Expected<ArrayRef<float>> Session::decode(int32_t token, int64_t position) {
  const Step *s = step("decode");
  if (!s)
    return createStringError("the artifact has no decode entry point");
  return run(*s, ArrayRef<int32_t>(token), position);
}

} // namespace loom
