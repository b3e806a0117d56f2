//===- Manifest.h - what a compiled model expects from its caller -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The manifest is the data half of a compiled model: for every entry point,
// the parameters its compiled code takes in order (weights by name, the
// tokens, the position, the KV caches, the logits it writes, the activation
// arena), with shapes, its schedule (kernels and their dependencies) and
// the arena size, plus the model's configuration. The compiler writes it; the
// runtime reads it to bind weights and buffers. An artifact embeds it as JSON.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_ARTIFACT_MANIFEST_H
#define LOOM_ARTIFACT_MANIFEST_H

#include "loom/Support/BlockFormats.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

/// One parameter of a compiled entry point.
struct ParamInfo {
  enum class Kind {
    Weight,     ///< a model parameter, bound by `name`
    Tokens,     ///< i32 token ids [1, n]
    Position,   ///< index: positions already in the cache
    LogitsFrom, ///< index: the first token whose logits are computed
    Cache,      ///< a KV cache buffer, updated in place (`name`: k_cache.3)
    Logits,     ///< the f32 output [1, n - logits_from, vocab] (decode: n = 1)
    Arena,      ///< i8 [bytes]: the activations, laid out by the compiler
    TokenTypes, ///< i32 token types (segment ids) [1, n] of an encoder
    Positions,  ///< i32 [1, n]: each token's position in its sequence
    Sequences,  ///< i32 [1, n]: the packed sequence each token belongs to
    SequenceLengths, ///< i32 [b]: the length of each packed sequence
  };
  Kind kind = Kind::Weight;
  std::string name;
  /// The shape, -1 where it depends on the call (the number of tokens).
  llvm::SmallVector<int64_t, 4> shape;
  /// `f32`, `f16`, `bf16`, `i32`, `i8` or `index`.
  std::string elementType;
  /// Weights: how the model file stores it (f32, f16, bf16, q8_0, q4_0);
  /// `shape` is then the shape of the data the artifact reads (for block
  /// formats: [rows..., blocks, bytes per block]).
  StorageType storage = StorageType::F32;
  /// Weights stored in blocks: the block format the artifact reads them in,
  /// the file's or its interleaved form (q4_0 with 144 bytes per block is
  /// q4_0x8: [rows / 8, blocks, 144]), which the runtime makes from the
  /// file's blocks at load. std::nullopt for other weights.
  std::optional<blocks::Format> blockFormat() const {
    std::optional<blocks::Format> plain = blocks::ofStorage(storage);
    if (kind != Kind::Weight || !plain || shape.empty())
      return std::nullopt;
    if (shape.back() == blocks::info(*plain).bytes)
      return plain;
    return blocks::interleavedWithBytes(storage, shape.back());
  }
  /// Whether the weight is read with its blocks of rows interleaved.
  bool interleaved() const {
    std::optional<blocks::Format> f = blockFormat();
    return f && blocks::isInterleaved(*f);
  }
  /// Weights split over MPI ranks (the experts of MoE layers): the file's
  /// first axis is `shards` times `shape[0]`, and rank r is bound slice r.
  int64_t shards = 1;
  /// A matrix the file stores transposed (GPT-2's Conv1D, [in, out]): the
  /// artifact reads `shape` ([out, in]), which the runtime makes at load.
  bool transposed = false;
};

/// One kernel of an entry point's schedule: `loom_entry_<name>(args)` takes
/// the same packed arguments as the entry point (it reads the parameters
/// `params` of them) and runs after the kernels `deps` (indices of earlier
/// kernels). `reads` and `writes` name the buffers it touches (parameters by
/// name, arena ranges by offset), for tools and diagnostics.
struct KernelInfo {
  std::string name;
  std::vector<int64_t> deps;
  std::vector<int64_t> params;
  std::vector<std::string> reads, writes;
  /// The function whose code the kernel runs where other kernels share it
  /// (loom-share-kernel-code); empty when the kernel has code of its own.
  /// For people and tools: the runtime calls `loom_entry_<name>` either way.
  std::string code;
  /// What the kernel computes, in the model file's names ("blk.0.attn_q",
  /// several joined by '+'; empty where its ops had none): for profiles
  /// (loom-run --profile) and people.
  std::string op;
};

/// One entry point: `prefill` (any number of tokens) or `decode` (one).
struct EntryInfo {
  std::string name;
  std::vector<ParamInfo> params;
  /// The bytes of the activation arena, planned for `maxTokens` tokens.
  int64_t arenaBytes = 0;
  int64_t maxTokens = 0;
  /// The schedule, in a topological order; calling `loom_entry_<name>`
  /// runs the same kernels one after the other.
  std::vector<KernelInfo> kernels;
};

/// Everything the runtime needs to know about a compiled model.
struct Manifest {
  /// Bumped when the layout of the manifest or the calling convention
  /// changes; the runtime refuses artifacts of another version.
  static constexpr int64_t kVersion = 6;
  int64_t version = kVersion;
  std::string architecture;
  int64_t dim = 0, layers = 0, heads = 0, kvHeads = 0, headDim = 0;
  int64_t vocab = 0, contextLength = 0;
  /// The model file the artifact was compiled from (absolute path; its
  /// weights are read from there unless the user names another file) and a
  /// fingerprint of its weight table (names, shapes, types).
  std::string modelPath;
  std::string weightsFingerprint;
  /// The model's configuration as describeConfig prints it: a session
  /// refuses weights whose file says otherwise, naming the field.
  std::vector<std::pair<std::string, std::string>> modelConfig;
  /// The CPU the code was compiled for (LLVM's name) and the instruction-set
  /// features it may use: the runtime refuses to load it on a machine that
  /// lacks one (instead of dying of SIGILL).
  std::string cpu;
  std::vector<std::string> cpuFeatures;
  /// The NVIDIA GPU the entry points' kernels were compiled for (`sm_90a`,
  /// with --target=cuda), or empty: they run on the CPU. The host code of a
  /// GPU artifact is the CPU's; it launches the kernels on a CUDA device.
  std::string gpu;
  /// How the kernels are embedded: "cubin" (assembled by ptxas for `gpu`)
  /// or "ptx" (compiled by the driver when loaded); empty for the CPU.
  std::string gpuBinary;
  std::vector<EntryInfo> entries;
  /// The MPI ranks the artifact's program is one of (1: a single process).
  /// With more, the artifact exports `int loom_mpi_rank(void)`, links the
  /// MPI library, and runs under `mpirun -np <ranks>`.
  int64_t mpiRanks = 1;

  const EntryInfo *entry(llvm::StringRef name) const;
  std::string toJSON() const;
  static llvm::Expected<Manifest> fromJSON(llvm::StringRef json);
};

} // namespace loom

#endif // LOOM_ARTIFACT_MANIFEST_H
