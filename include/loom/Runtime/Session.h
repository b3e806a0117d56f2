//===- Session.h - running a compiled model ---------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An `Artifact` is a compiled model loaded from a shared object: its
// manifest and the entry points `loom_entry_<name>(void **args)`. A
// `Session` binds an artifact to the weights of a model file and owns the
// KV caches; it runs the prompt in one `prefill` call and then one `decode`
// call per generated token. The math is the compiled code's; the session
// only passes buffers.
//
// Thread safety: an Artifact is immutable once loaded and may be shared. A
// Session is used by one thread at a time.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_SESSION_H
#define LOOM_RUNTIME_SESSION_H

#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Manifest.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace loom {

/// The signature of every compiled entry point: args[i] points to the i-th
/// parameter (a memref descriptor pointer, or an int64 position).
using EntryFunction = void (*)(void **args);

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
  /// The entry point `name` (`prefill`, `decode`), or null.
  EntryFunction entry(llvm::StringRef name) const;
  llvm::StringRef path() const { return path_; }

private:
  Artifact() = default;
  std::string path_;
  void *handle_ = nullptr;
  Manifest manifest_;
};

/// A model ready to run: an artifact bound to weights, with KV caches.
class Session {
public:
  /// Binds every weight the artifact expects to `model`'s bytes by name. A
  /// missing weight, one of another shape or storage type, or a model file
  /// other than the one the artifact was compiled for is an error naming the
  /// weight.
  static llvm::Expected<std::unique_ptr<Session>>
  create(std::shared_ptr<Artifact> artifact,
         std::shared_ptr<const ModelFile> model);

  /// Runs `tokens` at positions `position ..` and returns their logits, one
  /// row of `vocab()` floats per token.
  llvm::Expected<llvm::ArrayRef<float>> prefill(llvm::ArrayRef<int32_t> tokens,
                                                int64_t position);
  /// Runs one token at `position` and returns its logits.
  llvm::Expected<llvm::ArrayRef<float>> decode(int32_t token, int64_t position);

  int64_t vocab() const { return artifact_->manifest().vocab; }
  int64_t contextLength() const { return artifact_->manifest().contextLength; }
  /// Forgets the cached positions (the caches are zeroed).
  void reset();

private:
  Session() = default;
  llvm::Expected<llvm::ArrayRef<float>>
  run(const EntryInfo &entry, EntryFunction fn,
      llvm::ArrayRef<int32_t> tokens, int64_t position);

  std::shared_ptr<Artifact> artifact_;
  std::shared_ptr<const ModelFile> model_;
  /// Cache buffers by name (`k_cache.0`, ...), 64-byte aligned.
  std::vector<std::pair<std::string, std::vector<float>>> caches_;
  std::vector<float> logits_;
};

} // namespace loom

#endif // LOOM_RUNTIME_SESSION_H
