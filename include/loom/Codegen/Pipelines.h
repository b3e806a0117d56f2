//===- Pipelines.h - Loom's code generation pipelines -----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The stages a model goes through after the frontend, as pass pipelines that
// loom-compile runs and loom-opt exposes (`--loom-codegen-pipeline`, the
// whole way, and its stages `--loom-lower-to-linalg`, `--loom-bufferize`),
// each taking the options of CompileOptions.h.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_PIPELINES_H
#define LOOM_CODEGEN_PIPELINES_H

#include "loom/Codegen/CompileOptions.h"

#include "mlir/Pass/PassManager.h"

namespace mlir::loom {

/// loom IR -> linalg/tensor/arith/math on tensors, weights as leading
/// function arguments (`--emit=linalg`).
void buildLoomToLinalgPipeline(OpPassManager &pm,
                               const CompileOptions &options);

/// linalg on tensors -> memrefs: one-shot bufferization with function
/// boundaries (KV caches are updated in place, results become
/// out-parameters) and deallocation of temporaries.
void buildBufferizationPipeline(OpPassManager &pm,
                                const CompileOptions &options);

/// Bufferized IR -> the LLVM dialect: loops, then LLVM with a
/// `_mlir_ciface_` wrapper for every function.
void buildMemRefToLLVMPipeline(OpPassManager &pm,
                               const CompileOptions &options);

/// linalg on tensors -> the LLVM dialect for the host CPU: one-shot
/// bufferization with function boundaries (KV caches are updated in place,
/// results become out-parameters), deallocation of temporaries, loops,
/// then the LLVM dialect with C-interface wrappers for every entry point.
void buildLinalgToLLVMPipeline(OpPassManager &pm,
                               const CompileOptions &options);

/// Both of the above: what loom-compile does between its frontend and LLVM
/// IR, registered as `loom-codegen-pipeline` (its options are the
/// CompileOptions: `--loom-codegen-pipeline="cpu=x86-64-v3"`).
void buildLoomToLLVMPipeline(OpPassManager &pm, const CompileOptions &options);

/// linalg on tensors -> NVIDIA GPU kernels (`--target=cuda --emit=gpu`):
/// bufferized as for the CPU, every linalg op as parallel loops mapped to
/// blocks and threads, outlined into kernels of one gpu.module, launched by
/// gpu.launch_func.
void buildGpuKernelsPipeline(OpPassManager &pm, const CompileOptions &options);

/// Those kernels -> NVVM, then PTX for `options.gpu` in a gpu.binary each
/// (`--target=cuda --emit=ptx`), libdevice linked from the CUDA toolkit
/// where one is found; with `binaryKind` "cubin", assembled by ptxas.
void buildGpuToBinaryPipeline(OpPassManager &pm, const CompileOptions &options,
                              llvm::StringRef binaryKind = "ptx");

/// The CUDA toolkit's ptxas: in $CUDA_HOME/bin, $CUDA_PATH/bin or
/// /usr/local/cuda/bin, else on PATH; "" where there is none.
std::string findPtxas();

/// What --gpu-binary asks for on this machine: "cubin" or "ptx" (auto: cubin
/// where ptxas is found); an error for cubin without ptxas.
llvm::Expected<std::string> resolveGpuBinary(const CompileOptions &options);

/// The linalg ops on buffers of every function as gpu.launch_func of
/// outlined gpu.modules: the second half of buildGpuKernelsPipeline
/// (addGpuLoops, then upstream's conversion to gpu.launch and outlining).
void addGpuLaunches(OpPassManager &pm, const CompileOptions &options);

/// Its first part: every linalg op on buffers as scf.parallel loops mapped
/// to a grid of blocks and to threads (#gpu.loop_dim_map), reductions
/// across a block's threads as scf.reduce. Still code any target runs:
/// `--emulate-gpu` lowers it for the CPU to check its numerics.
void addGpuLoops(OpPassManager &pm, const CompileOptions &options);

/// linalg on tensors to an artifact's LLVM dialect for --target=cuda: the
/// entry points' schedule over one arena (buildBufferizationPipeline), each
/// linalg op a kernel in PTX (gpu.binary), and host code that launches them
/// through MLIR's GPU runtime ABI (mgpuLaunchKernel, which Loom's runtime
/// defines).
void buildGpuArtifactPipeline(OpPassManager &pm, const CompileOptions &options);

/// Its last part: the host code (arena views, launches of gpu.binary
/// kernels) to the LLVM dialect.
void buildGpuHostToLLVMPipeline(OpPassManager &pm);

/// Registers the pipelines with the global registry (for loom-opt).
void registerLoomPipelines();

} // namespace mlir::loom

#endif // LOOM_CODEGEN_PIPELINES_H
