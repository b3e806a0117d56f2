//===- DriverPlugin.h - the compiler, loaded when it is needed ---*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-run links the runtime only: given an artifact it needs neither MLIR
// nor Loom's compiler libraries. When it has a model file to compile (or
// compile options to accept), it loads libLoomDriver.so with dlopen and
// finds these functions with dlsym. Plain functions with C linkage; the
// types they pass (LLVM's option category, Loom's ModelFile) come from
// libraries both sides link, libLLVM and libLoomFrontend.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DRIVER_DRIVERPLUGIN_H
#define LOOM_DRIVER_DRIVERPLUGIN_H

#include <cstdint>

namespace llvm::cl {
class OptionCategory;
} // namespace llvm::cl

namespace loom {
struct ModelFile;
} // namespace loom

extern "C" {

/// Makes every compile option (CompileOptions.h) a command-line flag in
/// `category`, each description starting with `prefix`; the values parsed
/// into them are what loom_driver_compile_cached compiles with. Call once,
/// before the command line is parsed.
void loom_driver_bind_flags(llvm::cl::OptionCategory *category,
                            const char *prefix);
using LoomDriverBindFlags = void (*)(llvm::cl::OptionCategory *, const char *);

/// What loom_driver_compile_cached tells its caller on the way: `kind` is
/// "note" or "warning".
using LoomDriverMessage = void (*)(const char *kind, const char *message);

/// Checks the bound options, then compiles `model` into the compile cache
/// (`cacheDir`, or the default folder when empty; a temporary file when
/// `noCache`) unless it is there. Returns 0 and the artifact's path in
/// `*artifactPath` (release with free), or 1 and the error in `*error`
/// (release with free). `*fromCache` says whether the cache had it.
int loom_driver_compile_cached(const loom::ModelFile *model,
                               const char *cacheDir, int noCache,
                               LoomDriverMessage message, char **artifactPath,
                               int *fromCache, char **error);
using LoomDriverCompileCached = int (*)(const loom::ModelFile *, const char *,
                                        int, LoomDriverMessage, char **, int *,
                                        char **);
}

#endif // LOOM_DRIVER_DRIVERPLUGIN_H
