//===- ArtifactFile.h - sealing and checking artifact files ----*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An artifact is a shared object with a 32-byte trailer after the ELF image
// (the dynamic loader reads only what the ELF headers point to):
//
//   offset  size  field
//   0       8     magic "LOOMSEAL"
//   8       8     the byte size of the ELF image before the trailer (LE)
//   16      8     XXH3-64 of those bytes (LE)
//   24      8     trailer version (1, LE)
//
// The compiler seals every artifact it writes; the runtime checks the seal
// before dlopen, so a truncated or corrupted file (a half-copied download, a
// damaged cache entry) is an error with a message instead of a crash inside
// the dynamic loader.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_ARTIFACT_ARTIFACTFILE_H
#define LOOM_ARTIFACT_ARTIFACTFILE_H

#include "llvm/Support/Error.h"

namespace loom {

/// Whether `path` is an ELF file (an artifact, not a model file: the tools
/// and the Python package take either). Says nothing of its seal.
bool isArtifactFile(llvm::StringRef path);

/// Appends the trailer to the shared object at `path`.
llvm::Error sealArtifact(llvm::StringRef path);

/// Succeeds when `path` is a sealed x86-64 ELF shared object whose size and
/// checksum match its trailer; otherwise says what is wrong, naming the file.
llvm::Error checkArtifactFile(llvm::StringRef path);

} // namespace loom

#endif // LOOM_ARTIFACT_ARTIFACTFILE_H
