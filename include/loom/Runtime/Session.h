//===- Session.h - running a compiled model ---------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An `Artifact` is a compiled model loaded from a shared object: its
// manifest and the entry points and kernels `loom_entry_<name>(void **args)`.
// A `Session` binds an artifact to the weights of a model file and owns the
// KV caches and activation arenas (allocated on a `Device`); it runs the
// prompt in one `prefill` step and then one `decode` step per generated
// token, each as its schedule of kernels. The math is the compiled code's;
// the session only passes buffers.
//
// Thread safety: an Artifact is immutable once loaded and may be shared. A
// Session is used by one thread at a time.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_SESSION_H
#define LOOM_RUNTIME_SESSION_H

#include "loom/Artifact/Manifest.h"
#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Device.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace loom {

/// A compiled model in memory.
class Artifact {
public:
  /// Loads a shared object written by `loom-compile -o model.so`. Errors name
  /// the file: not a shared object, no Loom manifest, a manifest of another
  /// runtime version.
  static llvm::Expected<std::shared_ptr<Artifact>> load(llvm::StringRef path);
  ~Artifact();
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;

  const Manifest &manifest() const { return manifest_; }
  /// The entry point or kernel `name` (`prefill`, `decode__k3`), or null.
  EntryFunction entry(llvm::StringRef name) const;
  /// Any symbol of the library (or of the libraries it links), or null.
  void *symbol(llvm::StringRef name) const;
  llvm::StringRef path() const { return path_; }

private:
  Artifact() = default;
  std::string path_;
  void *handle_ = nullptr;
  Manifest manifest_;
};

/// For an artifact compiled for MPI ranks (`manifest().mpiRanks > 1`):
/// initializes MPI (MPI_THREAD_SERIALIZED; finalized at exit) unless the
/// process already did, checks the world has as many ranks as the artifact
/// was compiled for, and returns this process's rank.
llvm::Expected<int> joinMpiWorld(const Artifact &artifact);

/// How a session runs its model.
struct SessionOptions {
  ScheduleMode schedule = ScheduleMode::Graph;
  /// Where the kernels run; the host CPU when null.
  std::shared_ptr<Device> device;
  /// An encoder batch is packed into calls of about this many tokens (at
  /// most the artifact's `max_tokens`; a longer sequence gets a call of its
  /// own). A packed call attends over all its tokens, masked to each
  /// sequence, so its attention grows with the square of the call while
  /// the sequences' own grows with theirs: past a few hundred tokens that
  /// costs more than larger matrix products gain.
  int64_t encoderCallTokens = 128;
};

/// A model ready to run: an artifact bound to weights, with KV caches.
class Session {
public:
  ~Session();
  /// Binds every weight the artifact expects to `model`'s bytes by name. A
  /// missing weight, one of another shape or storage type, or a model file
  /// other than the one the artifact was compiled for is an error naming the
  /// weight.
  static llvm::Expected<std::unique_ptr<Session>>
  create(std::shared_ptr<Artifact> artifact,
         std::shared_ptr<const ModelFile> model,
         const SessionOptions &options = {});

  /// Runs `tokens` at positions `position ..` and returns their logits, one
  /// row of `vocab()` floats per token; with `allLogits` false only the last
  /// token's row, and the artifact computes no others (the LM head is then
  /// one row's work, not the prompt's). More tokens than the artifact's
  /// prefill takes per call (its `max_tokens`) run as several calls.
  llvm::Expected<llvm::ArrayRef<float>> prefill(llvm::ArrayRef<int32_t> tokens,
                                                int64_t position,
                                                bool allLogits = true);
  /// Runs one token at `position` and returns its logits.
  llvm::Expected<llvm::ArrayRef<float>> decode(int32_t token, int64_t position);

  /// Whether the artifact is an encoder's (BERT): entry points `hidden`,
  /// and `mlm` and `embed` where the model has them, instead of `prefill`
  /// and `decode`.
  bool isEncoder() const;
  /// Runs an encoder's entry point on one sequence of `tokens` (with
  /// `tokenTypes`, or type 0 for every token when empty) and returns its
  /// output: `hidden`, [n x dim] last hidden states; `mlm`, [n x vocab]
  /// masked-LM logits; `embed`, the [dim] sentence embedding. Errors name
  /// what the model lacks.
  llvm::Expected<llvm::ArrayRef<float>>
  encode(llvm::StringRef entry, llvm::ArrayRef<int32_t> tokens,
         llvm::ArrayRef<int32_t> tokenTypes = {});
  /// Runs an encoder's entry point on a batch of sequences (each with its
  /// token types in `tokenTypes`, or none for all 0), packed one after the
  /// other into as few calls as the artifact's `max_tokens` allows, each
  /// sequence attending to itself only. Returns the outputs in the order
  /// of the sequences: every token's row for `hidden` and `mlm`, one row
  /// per sequence for `embed`.
  llvm::Expected<llvm::ArrayRef<float>>
  encodeBatch(llvm::StringRef entry,
              llvm::ArrayRef<std::vector<int32_t>> sequences,
              llvm::ArrayRef<std::vector<int32_t>> tokenTypes = {});
  /// The token types (segments) an encoder embeds.
  int64_t numTokenTypes() const;
  /// Whether the artifact has the entry point `name` (`prefill`, `mlm`).
  bool hasEntry(llvm::StringRef name) const;

  int64_t vocab() const { return artifact_->manifest().vocab; }
  int64_t contextLength() const { return artifact_->manifest().contextLength; }
  /// This process's MPI rank (0 without MPI): each rank computes the same
  /// logits; tools print from rank 0.
  int rank() const { return rank_; }

  /// What loading found suspicious but not fatal, one line each, naming the
  /// file and tensor (weights holding NaN or infinite values).
  llvm::ArrayRef<std::string> warnings() const { return warnings_; }
  /// Forgets the cached positions (the caches are zeroed).
  void reset();

private:
  /// One entry point bound to its executable and arena.
  struct Step {
    const EntryInfo *info = nullptr;
    std::unique_ptr<Executable> executable;
    void *arena = nullptr;
  };
  /// A KV cache on the device, by name (`k_cache.0`, ...).
  struct Cache {
    std::string name;
    float *data;
    size_t elements;
  };

  /// An encoder call's packed sequences: each token's type, position and
  /// sequence, and the sequences' lengths.
  struct Packing {
    std::vector<int32_t> types, positions, sequences, lengths;
  };

  Session() = default;
  llvm::Expected<llvm::ArrayRef<float>>
  run(const Step &step, llvm::ArrayRef<int32_t> tokens, int64_t position,
      bool allLogits = true, const Packing *packing = nullptr);
  /// The encoder entry point `entry`, or an error naming what the model
  /// lacks.
  llvm::Expected<const Step *> encoderStep(llvm::StringRef entry) const;
  const Step *step(llvm::StringRef name) const;
  /// Positions `position .. position + n - 1` fit the context, or an error.
  llvm::Error checkPositions(int64_t position, int64_t n) const;

  std::shared_ptr<Artifact> artifact_;
  std::shared_ptr<const ModelFile> model_;
  std::shared_ptr<Device> device_;
  std::vector<Cache> caches_;
  std::vector<std::string> warnings_;
  /// Weights the artifact reads in another type than the file stores
  /// (loom-narrow-weights: f32 matrices as bf16), by name: the copies made
  /// once at load, and their bytes. On a device the host cannot address
  /// (a GPU), every weight, copied there.
  llvm::StringMap<std::pair<void *, size_t>> packed_;
  /// Inputs and outputs of a call staged in device memory (a GPU's): one
  /// buffer and its capacity per host array of the call, reused.
  std::vector<std::pair<void *, size_t>> staging_;
  std::vector<Step> steps_;
  std::vector<float> logits_;
  std::vector<float> batchOutput_; ///< encodeBatch's rows
  int64_t encoderCallTokens_ = 128;
  int rank_ = 0;
};

} // namespace loom

#endif // LOOM_RUNTIME_SESSION_H
