//===- Target.h - what the code generator knows of a CPU --------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A target description: the vector units and the cache hierarchy of the CPU
// Loom generates code for, from the host or from a CPU named the way LLVM
// names them (`--cpu=sapphirerapids`), and the tile sizes of a matrix
// multiplication derived from it by the model in docs/Tiling.md.
// `loom-compile --print-target` prints it.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_TARGET_H
#define LOOM_CODEGEN_TARGET_H

#include "loom/Target/TargetSpec.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>

namespace loom {

using mlir::loom::TargetDescription;

/// The tiles of an f32 matrix multiplication C[m, n] += A[m, k] * B[k, n],
/// for one core (BLIS-style blocking; see docs/Tiling.md).
struct GemmTiles {
  int64_t mr = 0, nr = 0; ///< the register tile of C: mr rows x nr columns
  int64_t kc = 0;         ///< k per panel: an A and a B sliver fit in L1
  int64_t mc = 0;         ///< rows of A per block: fits in L2
  int64_t nc = 0;         ///< columns of B per block: fits in L3
};

/// Describes the CPU `cpu` (LLVM spelling), or the host when it is empty.
llvm::Expected<TargetDescription> describeTarget(llvm::StringRef cpu);

/// The model of docs/Tiling.md applied to `target`.
GemmTiles gemmTiles(const TargetDescription &target);

/// The description and the tiles as a table.
void printTarget(const TargetDescription &target, llvm::raw_ostream &os);

} // namespace loom

#endif // LOOM_CODEGEN_TARGET_H
