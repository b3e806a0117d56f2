//===- WeightBinding.cpp - binding a model file's weights -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The weights a session binds are the model file's bytes, checked against
// the artifact's weight parameters (shape, storage type). Where the artifact
// reads a weight in another form than the file stores, the copy is made here
// once: f32 packed to bf16, q4_0 / q8_0 interleaved as q4_0x8 / q8_0x8
// (BlockFormats.h). Weights holding NaN or infinite values are found in one
// parallel pass.
//
//===----------------------------------------------------------------------===//

#include "WeightBinding.h"

#include "loom/Support/BlockFormats.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>
#include <optional>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

using namespace llvm;

namespace loom::detail {

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
  default: {
    // Each block's f16 scale (minimums and sub-block scales are not
    // checked).
    const blocks::FormatInfo &f = blocks::info(*blocks::ofStorage(w.storage));
    size_t block = size_t(f.bytes);
    return anyNonFinite<uint16_t>(bytes.data() + f.scaleOffset,
                                  bytes.size() / block, block, 0x7c00);
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
std::vector<std::string>
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

Error bindWeight(const ParamInfo &p, const ModelFile &model,
                 const Artifact &artifact, Device &device,
                 StringMap<std::pair<void *, size_t>> &packed, StringRef file) {
  const Manifest &m = artifact.manifest();
  const WeightInfo *w = model.lookup(p.name);
  if (!w)
    return createStringError(
        formatv("{0}: no weight '{1}', which the artifact {2} expects "
                "(it was compiled for {3})",
                file, p.name, artifact.path(), m.modelPath)
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
  // A matrix stored transposed (GPT-2's Conv1D): the file's shape says
  // what it stands for ([out, in]); the artifact reads that (made at load
  // below) or, compiled before it did so, the stored [in, out].
  SmallVector<int64_t, 4> stored(w->shape);
  if (w->transposed && stored.size() == 2 && !p.transposed)
    std::swap(stored[0], stored[1]);
  if (p.transposed && (!w->transposed || stored.size() != 2))
    return createStringError(
        formatv("{0}: weight '{1}' is not stored transposed, but the "
                "artifact {2} expects it so (it was compiled for {3})",
                file, p.name, artifact.path(), m.modelPath)
            .str());
  if (ArrayRef<int64_t>(stored) != ArrayRef<int64_t>(expected))
    return createStringError(
        formatv("{0}: weight '{1}' is [{2}], but the artifact {3} "
                "expects [{4}] (it was compiled for another model: {5})",
                file, p.name, make_range(stored.begin(), stored.end()),
                artifact.path(), make_range(expected.begin(), expected.end()),
                m.modelPath)
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
                file, p.name, storageTypeName(w->storage), artifact.path(),
                storageTypeName(p.storage), m.modelPath)
            .str());
  // An f32 matrix the artifact reads as bf16 (--dtype=bf16): one bf16
  // copy, rounded to nearest (ties to even), made here once.
  auto isFloat = [](StringRef t) {
    return t == "f32" || t == "f16" || t == "bf16";
  };
  bool narrowed =
      isFloat(p.elementType) && p.elementType != storageTypeName(p.storage);
  // The bytes the conversion below starts from: the file's, or for a
  // transposed matrix its [out, in] copy, made once: in the weight's own
  // memory, or where it is narrowed next, in a scratch copy.
  ArrayRef<uint8_t> source = model.bytes(*w);
  std::vector<uint8_t> scratch;
  if (p.transposed && !packed.contains(p.name)) {
    if (!isFloat(storageTypeName(p.storage)))
      return createStringError(
          formatv("{0}: weight '{1}' is stored transposed as {2}, which "
                  "Loom cannot transpose at load",
                  file, p.name, storageTypeName(p.storage))
              .str());
    uint8_t *out;
    if (narrowed) {
      scratch.resize(source.size());
      out = scratch.data();
    } else {
      Expected<void *> memory = device.allocate(source.size());
      if (!memory)
        return memory.takeError();
      out = static_cast<uint8_t *>(*memory);
      packed[p.name] = {*memory, source.size()};
    }
    uint64_t element = *storageByteSize(p.storage, {1});
    int64_t rows = w->shape[0], cols = w->shape[1]; // [out, in]
    // Stored [in, out]: element (o, i) is at i * rows + o.
    tbb::parallel_for(int64_t(0), rows, [&](int64_t o) {
      for (int64_t i = 0; i < cols; ++i)
        std::memcpy(&out[(o * cols + i) * element],
                    &source[(i * rows + o) * element], element);
    });
    source = ArrayRef<uint8_t>(out, source.size());
  }
  if (narrowed && !packed.contains(p.name)) {
    if (p.storage != StorageType::F32 || p.elementType != "bf16")
      return createStringError(
          formatv("{0}: the artifact {1} reads weight '{2}' as {3}, "
                  "but Loom converts only f32 weights to bf16 at load",
                  file, artifact.path(), p.name, p.elementType)
              .str());
    size_t n = source.size() / sizeof(float);
    Expected<void *> memory = device.allocate(n * sizeof(uint16_t));
    if (!memory)
      return memory.takeError();
    packToBF16(reinterpret_cast<const float *>(source.data()),
               static_cast<uint16_t *>(*memory), n);
    packed[p.name] = {*memory, n * sizeof(uint16_t)};
  }
  // A q4_0 / q8_0 matrix the artifact reads as q4_0x8 / q8_0x8: the
  // file's blocks interleaved 8 rows at a time, once.
  if (p.interleaved() && !packed.contains(p.name)) {
    ArrayRef<uint8_t> bytes = model.bytes(*w);
    Expected<void *> memory = device.allocate(bytes.size());
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
    packed[p.name] = {*memory, bytes.size()};
  }
  return Error::success();
}

} // namespace loom::detail
