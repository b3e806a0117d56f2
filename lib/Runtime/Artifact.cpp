//===- Artifact.cpp - loading compiled models -----------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// `Artifact::load` opens a shared object written by `loom-compile` after
// checking its seal (ArtifactFile.h), reads its manifest, refuses code
// compiled for instructions this machine lacks, and checks that every entry
// point and kernel the manifest lists is in the library. The entry points and
// any other symbol are then looked up by name.
//
//===----------------------------------------------------------------------===//

#include "loom/Artifact/ArtifactFile.h"
#include "loom/Runtime/Session.h"
#include "loom/Support/CpuState.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Host.h"

#include <dlfcn.h>

using namespace llvm;

namespace loom {

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
    return createStringError(
        formatv("{0}: cannot load the artifact: {1}", path, dlerror()).str());
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
  // AMX code needs the tile state from the kernel first.
  if (llvm::is_contained(a->manifest_.cpuFeatures, "amx-tile"))
    if (Error e = loom::enableAMXTiles())
      return createStringError(
          formatv("{0}: compiled for AMX tiles, but {1}; compile it for a "
                  "CPU without AMX (--cpu=icelake-server, for one)",
                  path, toString(std::move(e)))
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

EntryFunction Artifact::entry(StringRef name) const {
  std::string symbol = ("loom_entry_" + name).str();
  return reinterpret_cast<EntryFunction>(dlsym(handle_, symbol.c_str()));
}

} // namespace loom
