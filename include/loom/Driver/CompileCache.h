//===- CompileCache.h - compiled models on disk, keyed by content -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The cache loom-run compiles model files into: one artifact per key, the
// key a hash of everything the artifact depends on (cacheKey). Entries are
// written next to their final name and renamed into place, and checked
// (checkArtifactFile) before use; a damaged one is compiled again.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DRIVER_COMPILECACHE_H
#define LOOM_DRIVER_COMPILECACHE_H

#include "loom/Driver/Compiler.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <string>

namespace loom {

struct CacheOptions {
  /// The cache folder; empty: $XDG_CACHE_HOME/loom (an absolute
  /// XDG_CACHE_HOME only, as the XDG spec says), else ~/.cache/loom, else
  /// /tmp/loom-cache.
  std::string dir;
  /// Compile into a temporary file instead (the caller removes it).
  bool disabled = false;
};

/// The build of the compiler: every loaded Loom library's path, size and
/// modification time (a rebuilt compiler misses every cache).
std::string compilerStamp();

/// The cache folder `options` name (see CacheOptions::dir). Artifacts are
/// kept in it by cacheKey, and the object files of their units of code in
/// its `objects` folder (emitObjectFiles).
std::string cacheFolder(const CacheOptions &options);

/// The cache key of `model` compiled with `options`: a hash of the model's
/// configuration (every field describeConfig prints) and tensor table
/// (names, storage types, shapes) but not its file name; the compile
/// options in their printed form; the target (the CPU and instruction sets
/// code is generated for: this machine's unless `options.cpu` names one);
/// the build of the compiler (every loaded Loom library's path, size and
/// time); and the manifest version.
llvm::Expected<std::string> cacheKey(const ModelFile &model,
                                     const CompileOptions &options);

/// The artifact of `model` compiled with `options`: from the cache when it
/// holds a sound entry (`fromCache` set), else compiled into it. `warn`
/// receives a message when a damaged entry is compiled again.
llvm::Expected<std::string>
compileCached(const ModelFile &model, const CompileOptions &options,
              const CacheOptions &cache, bool &fromCache,
              llvm::function_ref<void(llvm::StringRef)> warn);

/// What to tell the user when `options` leave the context length to the
/// model and the model allows more positions than kDefaultContextCap: "a
/// KV cache for N positions (the model allows M; FLAG to change)", with
/// `flag` spelled as the caller's interface spells the option
/// (`--context-length`, `context_length=`). Empty when the cap does not
/// apply.
std::string contextCapNote(const ModelFile &model,
                           const CompileOptions &options, llvm::StringRef flag);

} // namespace loom

#endif // LOOM_DRIVER_COMPILECACHE_H
