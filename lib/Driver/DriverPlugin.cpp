//===- DriverPlugin.cpp - the compiler, loaded when it is needed ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The functions loom-run finds with dlsym in libLoomDriver.so (see
// DriverPlugin.h): the compile options as flags, and the compile cache.
//
//===----------------------------------------------------------------------===//

#include "loom/Driver/DriverPlugin.h"

#include "loom/Driver/CompileCache.h"
#include "loom/Frontend/ModelBuilder.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstdlib>
#include <cstring>

using namespace llvm;

namespace {
/// The options the flags are bound to: one set per process, as the tools
/// have.
mlir::loom::CompileOptions &boundOptions() {
  static mlir::loom::CompileOptions options;
  return options;
}

char *copy(StringRef s) {
  char *out = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = 0;
  return out;
}
} // namespace

extern "C" {

void loom_driver_bind_flags(cl::OptionCategory *category, const char *prefix) {
  mlir::loom::bindCompileFlags(boundOptions(), *category, prefix);
}

int loom_driver_compile_cached(const loom::ModelFile *model,
                               const char *cacheDir, int noCache,
                               LoomDriverMessage message, char **artifactPath,
                               int *fromCache, char **error) {
  const mlir::loom::CompileOptions &options = boundOptions();
  auto fail = [&](Error e) {
    *error = copy(toString(std::move(e)));
    return 1;
  };
  if (Error e = options.validate())
    return fail(std::move(e));
  std::string note = loom::contextCapNote(*model, options, "--context-length");
  if (!note.empty())
    message("note", note.c_str());
  loom::CacheOptions cache;
  cache.dir = cacheDir ? cacheDir : "";
  cache.disabled = noCache != 0;
  bool cached = false;
  Expected<std::string> path =
      loom::compileCached(*model, options, cache, cached, [&](StringRef text) {
        message("warning", text.str().c_str());
      });
  if (!path)
    return fail(path.takeError());
  *fromCache = cached;
  *artifactPath = copy(*path);
  return 0;
}
}
