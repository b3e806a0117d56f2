//===- TargetSpec.h - the target CPU as the IR carries it -------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// What the code generator knows of the CPU it generates code for, and its
// form in the IR: a DLTI target system spec on the module,
//
//   module attributes {dlti.target_system_spec = #dlti.target_system_spec<
//     "CPU" = #dlti.target_device_spec<
//       "cpu" = "sapphirerapids", "isa_features" = ["avx2", ...],
//       "vector_bits" = 512 : i64, "l1d_cache_bytes" = 49152 : i64, ...>>}
//
// written once per compilation by `loom-set-target` (from `--cpu`, or the
// host) and read by every pass that makes a target-dependent decision (tile
// and block sizes, vector widths, which dot-product instructions to use) and
// by the driver (the LLVM target machine, the manifest). A GPU will be a
// second device of the same system spec.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TARGET_TARGETSPEC_H
#define LOOM_TARGET_TARGETSPEC_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::loom {

struct TargetDescription {
  std::string cpu;    ///< LLVM's name for it
  std::string triple; ///< the target triple
  bool isHost = false;
  /// The LLVM target machine's feature string beyond what `cpu` implies
  /// ("+x,-y": where the machine differs from its model's defaults, e.g. in
  /// a virtual machine that hides AVX-512); empty for a named CPU.
  std::string llvmFeatures;
  /// Vector unit: the widest vector registers, and how many there are.
  int vectorBits = 128;
  int vectorRegisters = 16;
  bool fma = false, avx2 = false, avx512f = false, avx512bf16 = false,
       avx512fp16 = false, avx512vnni = false, avxvnni = false, f16c = false,
       amxTile = false, amxBf16 = false, amxInt8 = false, avx512vl = false,
       avx512bw = false;
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
  /// Sets the feature flags (fma, avx2, ...) from isaFeatures.
  void deriveFeatureFlags();
};

/// The device id of the CPU in the target system spec.
constexpr llvm::StringLiteral kCpuDeviceId = "CPU";

/// Stamps `module` with `target` as its DLTI target system spec (replacing
/// any spec it had).
void setTargetSpec(ModuleOp module, const TargetDescription &target);

/// The CPU described by the target system spec of `op` or its closest
/// ancestor that has one; std::nullopt where none has. Entries a
/// hand-written spec leaves out keep TargetDescription's defaults (caches:
/// 32 KiB L1d, no L2/L3 figure).
std::optional<TargetDescription> getTargetSpec(Operation *op);

/// The L1 data cache the tiling decisions of passes assume when the IR
/// names no target (a pass run on its own in a test).
constexpr int64_t kAssumedL1Bytes = 32 * 1024;

} // namespace mlir::loom

#endif // LOOM_TARGET_TARGETSPEC_H
