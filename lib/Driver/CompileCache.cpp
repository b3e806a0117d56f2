//===- CompileCache.cpp - compiled models on disk, keyed by content -------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Driver/CompileCache.h"

#include "loom/Artifact/ArtifactFile.h"
#include "loom/Codegen/Target.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/xxhash.h"

#include <link.h>

using namespace llvm;

namespace loom {

/// Adds the path, size and modification time of every Loom library this
/// process has loaded: a rebuilt or upgraded compiler misses the cache.
static int addLoomLibrary(struct dl_phdr_info *info, size_t, void *data) {
  StringRef path = info->dlpi_name ? info->dlpi_name : "";
  if (!sys::path::filename(path).starts_with("libLoom"))
    return 0;
  sys::fs::file_status st;
  if (!sys::fs::status(path, st))
    *static_cast<std::string *>(data) +=
        formatv("{0}:{1}:{2};", path, st.getSize(),
                st.getLastModificationTime().time_since_epoch().count())
            .str();
  return 0;
}

std::string compilerStamp() {
  std::string stamp;
  dl_iterate_phdr(addLoomLibrary, &stamp);
  return stamp;
}

std::string cacheFolder(const CacheOptions &options) {
  SmallString<256> path;
  if (!options.dir.empty()) {
    path = options.dir;
  } else if (std::optional<std::string> xdg =
                 sys::Process::GetEnv("XDG_CACHE_HOME");
             xdg && sys::path::is_absolute(*xdg)) {
    // The XDG spec: an empty or relative value is to be ignored.
    path = *xdg;
    sys::path::append(path, "loom");
  } else if (std::optional<std::string> home = sys::Process::GetEnv("HOME");
             home && !home->empty()) {
    path = *home;
    sys::path::append(path, ".cache", "loom");
  } else {
    path = "/tmp/loom-cache";
  }
  return std::string(path);
}

Expected<std::string> cacheKey(const ModelFile &model,
                               const CompileOptions &options) {
  Expected<TargetDescription> target = describeTarget(options.cpu);
  if (!target)
    return target.takeError();
  std::string config;
  for (const auto &[field, value] : describeConfig(model.config))
    config += field + "=" + value + ";";
  std::string text =
      formatv("config:{0}|weights:{1}|options:{2}|target:{3}:{4}|compiler:{5}|"
              "manifest:v{6}",
              config, weightsFingerprint(model), options.str(), target->cpu,
              join(target->isaFeatures, ","), compilerStamp(),
              Manifest::kVersion)
          .str();
  return utohexstr(xxh3_64bits(text), /*LowerCase=*/true);
}

Expected<std::string> compileCached(const ModelFile &model,
                                    const CompileOptions &options,
                                    const CacheOptions &cache, bool &fromCache,
                                    function_ref<void(StringRef)> warn) {
  SmallString<256> path;
  if (cache.disabled) {
    if (std::error_code ec =
            sys::fs::createTemporaryFile("loom-model", "so", path))
      return createStringError(ec, "cannot create a temporary file");
  } else {
    path = cacheFolder(cache);
    if (std::error_code ec = sys::fs::create_directories(path))
      return createStringError(ec, "cannot create the cache folder " + path);
    // create_directories accepts an existing file of that name.
    if (!sys::fs::is_directory(path))
      return createStringError(std::make_error_code(std::errc::not_a_directory),
                               "the cache folder " + path +
                                   " is a file, not a folder");
    Expected<std::string> key = cacheKey(model, options);
    if (!key)
      return key.takeError();
    sys::path::append(path, *key + ".so");
    if (sys::fs::exists(path)) {
      // A truncated or damaged entry (a full disk, a killed copy) is
      // compiled again, not loaded.
      Error damaged = checkArtifactFile(path);
      if (!damaged) {
        fromCache = true;
        return std::string(path);
      }
      warn(toString(std::move(damaged)) + "; compiling it again");
    }
  }
  // Write next to the final name, then rename: concurrent runs never see a
  // half-written artifact.
  SmallString<256> partial(path);
  partial += ".partial." + std::to_string(sys::Process::getProcessId());
  // Kernels' objects are kept beside the artifacts: another option or
  // another model with the same kernels compiles only what changed.
  SmallString<256> objects;
  if (!cache.disabled) {
    objects = cacheFolder(cache);
    sys::path::append(objects, "objects");
  }
  if (Error e = compileArtifact(model, options, partial, objects)) {
    sys::fs::remove(partial);
    return std::move(e);
  }
  if (std::error_code ec = sys::fs::rename(partial, path)) {
    sys::fs::remove(partial);
    return createStringError(ec, "cannot move the artifact to " + path);
  }
  fromCache = false;
  return std::string(path);
}

std::string contextCapNote(const ModelFile &model,
                           const CompileOptions &options, StringRef flag) {
  if (options.contextLength != 0 ||
      model.config.contextLength <= kDefaultContextCap)
    return "";
  return formatv("a KV cache for {0} positions (the model allows {1}; {2} to "
                 "change)",
                 kDefaultContextCap, model.config.contextLength, flag)
      .str();
}

} // namespace loom
