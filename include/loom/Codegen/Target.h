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

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

struct TargetDescription {
  std::string cpu;    ///< LLVM's name for it
  std::string triple; ///< the target triple
  bool isHost = false;
  /// Vector unit: the widest vector registers, and how many there are.
  int vectorBits = 128;
  int vectorRegisters = 16;
  bool fma = false, avx2 = false, avx512f = false, avx512bf16 = false,
       avx512fp16 = false, avx512vnni = false, avxvnni = false, f16c = false,
       amxTile = false, amxBf16 = false, amxInt8 = false, avx512vl = false;
  /// Every instruction-set feature code for this CPU may use (LLVM's names,
  /// those the host detection knows: `avx2`, `avx512f`, `amx-int8`, ...),
  /// sorted. The manifest carries them; the runtime refuses an artifact
  /// whose features the machine running it lacks.
  std::vector<std::string> isaFeatures;
  /// Data caches in bytes: L1 and L2 per core, L3 shared.
  int64_t l1d = 0, l2 = 0, l3 = 0;
  /// Where the cache sizes come from: "host" (the operating system),
  /// "table" (a known CPU), or "assumed" (defaults for an unknown one).
  std::string cacheSource;

  /// f32 values per vector register.
  int vectorFloats() const { return vectorBits / 32; }
  /// 8-bit dot products on 256-bit vectors (vpdpbusd): AVX-VNNI, or
  /// AVX512-VNNI with AVX512VL.
  bool hasVNNI() const { return avxvnni || (avx512vnni && avx512vl); }
};

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
