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
// by the driver (the LLVM target machine, the manifest). With --target=cuda
// the GPU is a second device of the same system spec,
//
//     "GPU" = #dlti.target_device_spec<"chip" = "sm_90a",
//       "warp_size" = 32 : i64, "max_threads_per_block" = 1024 : i64,
//       "max_registers_per_thread" = 255 : i64,
//       "shared_memory_per_block_bytes" = 232448 : i64>
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

/// Stamps `module` with `target` as the CPU of its DLTI target system spec
/// (replacing a CPU it had; a GPU stays).
void setTargetSpec(ModuleOp module, const TargetDescription &target);

/// The CPU described by the target system spec of `op` or its closest
/// ancestor that has one; std::nullopt where none has. Entries a
/// hand-written spec leaves out keep TargetDescription's defaults (caches:
/// 32 KiB L1d, no L2/L3 figure).
std::optional<TargetDescription> getTargetSpec(Operation *op);

/// What the code generator knows of an NVIDIA GPU: its compute capability
/// and the limits of a block that follow from it.
struct GpuDescription {
  std::string chip; ///< sm_80, sm_90a, ...: the compute capability
  int64_t warpSize = 32;
  int64_t maxThreadsPerBlock = 1024;
  int64_t maxRegistersPerThread = 255;
  /// Shared memory a block may have (with the opt-in above 48 KiB).
  int64_t sharedMemoryPerBlock = 48 * 1024;
};

/// The device id of the GPU in the target system spec.
constexpr llvm::StringLiteral kGpuDeviceId = "GPU";

/// The description of the GPU `chip` names ("sm_" and two or three digits,
/// perhaps an "a"); std::nullopt for another name.
std::optional<GpuDescription> describeGpu(llvm::StringRef chip);

/// Adds `gpu` to the target system spec of `module` (replacing a GPU it
/// had; the CPU stays).
void setGpuTargetSpec(ModuleOp module, const GpuDescription &gpu);

/// The GPU described by the target system spec of `op` or its closest
/// ancestor that has one; std::nullopt where none describes a GPU.
std::optional<GpuDescription> getGpuTargetSpec(Operation *op);

/// The L1 data cache the tiling decisions of passes assume when the IR
/// names no target (a pass run on its own in a test).
constexpr int64_t kAssumedL1Bytes = 32 * 1024;

} // namespace mlir::loom

#endif // LOOM_TARGET_TARGETSPEC_H
