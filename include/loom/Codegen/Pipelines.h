//===- Pipelines.h - Loom's code generation pipelines -----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The stages a model goes through after the frontend, as pass pipelines that
// loom-compile runs and loom-opt exposes (`--loom-lower-to-linalg`,
// `--loom-lower-to-llvm`).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_PIPELINES_H
#define LOOM_CODEGEN_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::loom {

/// Choices the pipelines leave to the user.
struct PipelineOptions {
  /// Keys per block of the tiled attention lowering; 0 derives it from the
  /// L1 cache, -1 lowers attention directly (see convert-loom-to-linalg).
  int64_t attentionKeyBlock = 0;
  /// Run loom-fuse-attention first (off: attention stays as written).
  bool fuseAttention = true;
  /// Tokens per call the activation arena is planned for (0: the context
  /// length; larger values are capped to it). See loom-schedule-kernels.
  int64_t maxTokens = 0;
  /// Expert shards in one process (loom-shard-experts with spmd=false);
  /// 1: none.
  int64_t expertShards = 1;
  /// MPI ranks the experts are split over (loom-shard-experts in SPMD form,
  /// then loom-lower-shard-to-mpi); 1: none.
  int64_t expertRanks = 1;
  /// The element type f32 matrices of linear layers are read as ("bf16";
  /// empty: as stored). See loom-narrow-weights.
  std::string weightType;
  /// The L2 cache the register-blocked contractions chunk their tokens for
  /// (loom-parallelize-contractions cache-bytes; 0: no chunks). The
  /// compiler passes the target's (docs/Tiling.md).
  int64_t l2Bytes = 0;
  /// Linear layers with q8_0/q4_0 weights take 8-bit activations
  /// (convert-loom-to-linalg int8-activations).
  bool int8Activations = true;
  /// With int8Activations: q4_0 / q8_0 matrices of linear layers read as
  /// q4_0x8 / q8_0x8 (loom-interleave-weights).
  bool interleaveWeights = true;
  /// The target has AVX512-VNNI or AVX-VNNI: 8-bit dot products of q8_0 /
  /// q4_0 blocks use vpdpbusd (loom-parallelize-contractions vnni).
  bool vnni = false;
  /// Linear layers with bf16 weights round their input to bf16
  /// (convert-loom-to-linalg bf16-activations).
  bool bf16Activations = true;
  /// The target has AVX512-BF16: bf16 x bf16 dot products use vdpbf16ps
  /// (loom-parallelize-contractions avx512bf16).
  bool avx512bf16 = false;
};

/// loom IR -> linalg/tensor/arith/math on tensors, weights as leading
/// function arguments (`--emit=linalg`).
void buildLoomToLinalgPipeline(OpPassManager &pm,
                               const PipelineOptions &options = {});

/// linalg on tensors -> memrefs: one-shot bufferization with function
/// boundaries (KV caches are updated in place, results become
/// out-parameters) and deallocation of temporaries.
void buildBufferizationPipeline(OpPassManager &pm,
                                const PipelineOptions &options = {});

/// Bufferized IR -> the LLVM dialect: loops, then LLVM with a
/// `_mlir_ciface_` wrapper for every function.
void buildMemRefToLLVMPipeline(OpPassManager &pm,
                               const PipelineOptions &options = {});

/// linalg on tensors -> the LLVM dialect for the host CPU: one-shot
/// bufferization with function boundaries (KV caches are updated in place,
/// results become out-parameters), deallocation of temporaries, loops,
/// then the LLVM dialect with C-interface wrappers for every entry point.
void buildLinalgToLLVMPipeline(OpPassManager &pm,
                               const PipelineOptions &options = {});

/// Both of the above.
void buildLoomToLLVMPipeline(OpPassManager &pm,
                             const PipelineOptions &options = {});

/// Registers the pipelines with the global registry (for loom-opt).
void registerLoomPipelines();

} // namespace mlir::loom

#endif // LOOM_CODEGEN_PIPELINES_H
