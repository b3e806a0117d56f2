//===- Pipelines.cpp - Loom's code generation pipelines -------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Pipelines.h"

#include "loom/Codegen/Passes.h"

#include "loom/Conversion/Passes.h"
#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"

using namespace mlir;

void loom::buildLoomToLinalgPipeline(OpPassManager &pm,
                                     const CompileOptions &options) {
  // The target, described in the module once (unless it is already), for
  // every later pass to read.
  LoomSetTargetPassOptions target;
  target.cpu = options.cpu;
  if (options.cuda())
    target.gpu = options.gpu;
  pm.addPass(createLoomSetTargetPass(target));
  // The bf16 compute mode: f32 matrices read as bf16 copies made at load.
  if (options.dtype == "bf16") {
    LoomNarrowWeightsPassOptions narrow;
    narrow.elementType = options.dtype;
    pm.addPass(createLoomNarrowWeightsPass(narrow));
  }
  // q4_0 and q8_0 matrices read 8 rows at a time, in integer dot products
  // of 8 lanes (the runtime interleaves the blocks at load).
  // (The CPU runtime does the interleaving: not for --target=cuda.)
  if (options.int8Activations && options.interleaveWeights && !options.cuda())
    pm.addPass(createLoomInterleaveWeightsPass());
  // Each MoE layer's experts on the ranks of an MPI world: the program of
  // one rank, with its slice of the expert weights.
  if (options.expertRanks > 1) {
    pm.addNestedPass<func::FuncOp>(createLoomWeightsToArgumentsPass());
    LoomShardExpertsPassOptions ranks;
    ranks.grid = options.expertRanks;
    pm.addPass(createLoomShardExpertsPass(ranks));
    pm.addPass(createLoomLowerShardToMPIPass());
  }
  // Each MoE layer's experts in shards the runtime runs side by side.
  if (options.expertShards > 1) {
    LoomShardExpertsPassOptions shards;
    shards.grid = options.expertShards;
    shards.spmd = false;
    pm.addPass(createLoomShardExpertsPass(shards));
  }
  // Attention as the frontend writes it becomes loom.attention first, so it
  // is lowered as a whole.
  if (options.fuseAttention) {
    pm.addPass(createLoomFuseAttentionPass());
    pm.addPass(createCanonicalizerPass());
  }
  ConvertLoomToLinalgPassOptions lowering;
  lowering.attentionKeyBlock = options.attentionKeyBlock;
  if (options.cuda()) {
    // Not the CPU's tiled form: its loop over key blocks would run on the
    // host, between launches. Attention is a thread per query row (decode:
    // per chunk of keys) with its online softmax in registers; with
    // --attention-key-block=-1 it has the whole score matrix.
    lowering.attentionKeyBlock = -1;
    lowering.attentionRows = options.attentionKeyBlock != -1;
    // No host-side loop over device memory.
    lowering.moeGathered = true;
  }
  lowering.int8Activations = options.int8Activations;
  lowering.bf16Activations = options.bf16Activations;
  pm.addPass(createConvertLoomToLinalgPass(lowering));
  // Residual adds, gating multiplies and scalings the frontend wrote with
  // arith on tensors become linalg.generic too.
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addNestedPass<func::FuncOp>(createLoomWeightsToArgumentsPass());
  pm.addPass(createCanonicalizerPass());
}

/// Elementwise fusion on tensors, then one-shot bufferization with
/// function boundaries, as every target's entry points take their buffers:
/// caches updated in place, results as out-parameters.
static void addFusionAndBufferization(OpPassManager &pm,
                                      const loom::CompileOptions &options) {
  using namespace mlir::loom;
  // Elementwise producers fuse into their consumers while still on tensors.
  // Never into a contraction: that would recompute the producer for every
  // output the contraction makes.
  pm.addPass(createLoomFuseElementwisePass());
  pm.addPass(createCanonicalizerPass());
  // Identical computations once (RoPE's table of the step's positions,
  // which every layer's queries and keys rebuilt: a launch each on a GPU).
  if (options.cuda()) {
    pm.addPass(createLoomCseTensorsPass());
    // Residual adds as the start of the projections' sums: a kernel less
    // each.
    pm.addPass(createLoomAddIntoReductionsPass());
    // An output later inserted into a bigger tensor (a new key or value row
    // into its cache) is written there in the first place: no copy kernel.
    // (The value row computed in the cache's shape first: through a reshape
    // the elimination finds no slice.)
    pm.addPass(createLoomExpandIntoSlicesPass());
    pm.addPass(bufferization::createEmptyTensorEliminationPass());
  }
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // The tiled attention loop carries its running max, sum and accumulator
  // through fresh buffers.
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // A cache written in place is returned as the argument it came in as:
  // drop such results; the rest (logits) become out-parameters.
  pm.addNestedPass<func::FuncOp>(createLoomDropInPlaceResultsPass());
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.modifyPublicFunctions = true;
  outParams.hoistStaticAllocs = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  // The row attention's forall writes each row in place and then copies
  // the row's view onto an identical view: one view, and the copy folds.
  if (options.cuda())
    pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
}

void loom::buildBufferizationPipeline(OpPassManager &pm,
                                      const CompileOptions &options) {
  addFusionAndBufferization(pm, options);
  // Sizes in terms of the token count, then the entry points as kernels
  // over one activation arena, with their dependency graph as data.
  pm.addPass(memref::createResolveRankedShapeTypeResultDimsPass());
  pm.addPass(createCanonicalizerPass());
  LoomScheduleKernelsPassOptions schedule;
  schedule.maxTokens = options.maxTokens;
  pm.addPass(createLoomScheduleKernelsPass(schedule));
  pm.addPass(createCanonicalizerPass());
  // Every public function (entry points, kernels) gets a `_mlir_ciface_`
  // wrapper taking memref descriptors by pointer: the ABI the runtime
  // calls. Marked here, before private functions join: the code kernels
  // share, the deallocation helpers, the outlined parallel bodies.
  pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  // The kernels of different layers, one function each.
  if (options.shareKernelCode)
    pm.addPass(createLoomShareKernelCodePass());
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
}

void loom::buildMemRefToLLVMPipeline(OpPassManager &pm,
                                     const CompileOptions &options) {
  // Contractions become parallel loops, outlined into bodies the runtime
  // runs across its threads (loom_parallel_for, on oneTBB). Each output
  // element is still reduced by one thread in order, so results do not
  // depend on the thread count. Everything else runs as sequential loops.
  LoomParallelizeContractionsPassOptions contractions;
  // The target's L2 (its description in the module), or one chunk.
  contractions.cacheBytes = options.cacheTiling ? -1 : 0;
  contractions.packWeights = options.packWeights;
  pm.addNestedPass<func::FuncOp>(
      createLoomParallelizeContractionsPass(contractions));
  pm.addPass(createLoomOutlineParallelLoopsPass());
  // The lowerings that stay inside a function run on the functions side by
  // side (MLIR's thread pool); those that add declarations to the module
  // (libm, memref's malloc, the MPI library) or change signatures run on
  // the module.
  OpPassManager &loops = pm.nest<func::FuncOp>();
  loops.addPass(createConvertLinalgToLoopsPass());
  if (options.approximateMath)
    loops.addPass(createLoomApproximateMathPass());
  loops.addPass(createLowerAffinePass());
  loops.addPass(createSCFToControlFlowPass());
  loops.addPass(memref::createExpandStridedMetadataPass());
  loops.addPass(createLowerAffinePass());
  // x86vector ops (vdpbf16ps) become LLVM intrinsics here too.
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.x86Vector = true;
  // And amx ops (lowerAmxContraction) tile intrinsics.
  vectorToLLVM.amx = true;
  loops.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  // Expert ranks (loom-lower-shard-to-mpi): calls of the MPI library.
  pm.addPass(createLoomConvertMPIToLLVMPass());
  pm.addNestedPass<func::FuncOp>(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  OpPassManager &scalars = pm.nest<func::FuncOp>();
  scalars.addPass(createArithToLLVMConversionPass());
  scalars.addPass(createConvertIndexToLLVMPass());
  // Poison values (from vector lowerings: a broadcast's undefined lanes).
  scalars.addPass(createUBToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createLoomLowerParallelDispatchPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  // No canonicalization of the LLVM dialect: LLVM's own pipeline folds the
  // same (it took 0.5 s of TinyLlama-1.1B's compile).
}

void loom::buildLinalgToLLVMPipeline(OpPassManager &pm,
                                     const CompileOptions &options) {
  buildBufferizationPipeline(pm, options);
  buildMemRefToLLVMPipeline(pm, options);
}

void loom::buildLoomToLLVMPipeline(OpPassManager &pm,
                                   const CompileOptions &options) {
  buildLoomToLinalgPipeline(pm, options);
  buildLinalgToLLVMPipeline(pm, options);
}

namespace {

/// The CUDA toolkit the NVVM target links libdevice from: $CUDA_HOME,
/// $CUDA_PATH, or /usr/local/cuda, the first that exists ("" for none:
/// then only kernels without libdevice's math functions compile).
std::string cudaToolkitPath() {
  for (const char *var : {"CUDA_HOME", "CUDA_PATH"})
    if (std::optional<std::string> path = llvm::sys::Process::GetEnv(var))
      if (llvm::sys::fs::is_directory(*path))
        return *path;
  if (llvm::sys::fs::is_directory("/usr/local/cuda"))
    return "/usr/local/cuda";
  return "";
}

} // namespace

std::string loom::findPtxas() {
  std::string toolkit = cudaToolkitPath();
  if (!toolkit.empty()) {
    llvm::SmallString<128> path(toolkit);
    llvm::sys::path::append(path, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(path))
      return std::string(path);
  }
  if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName("ptxas"))
    return *path;
  return "";
}

llvm::Expected<std::string>
loom::resolveGpuBinary(const CompileOptions &options) {
  if (options.gpuBinary == "ptx")
    return std::string("ptx");
  if (!findPtxas().empty())
    return std::string("cubin");
  if (options.gpuBinary == "auto")
    return std::string("ptx");
  return llvm::createStringError(
      "--gpu-binary=cubin needs the CUDA toolkit's ptxas, found in none of "
      "$CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin or PATH (install "
      "the toolkit, or embed PTX with --gpu-binary=ptx)");
}

void loom::buildGpuKernelsPipeline(OpPassManager &pm,
                                   const CompileOptions &options) {
  // The NVIDIA half (`--target=cuda`): each linalg op as parallel loops
  // mapped onto blocks and threads: a block per output where a reduction
  // with few outputs is long (decode), a tile of outputs per thread for the
  // other reductions (prefill), else one thread per output element: a
  // baseline for the shared-memory and tensor-core lowerings.
  addFusionAndBufferization(pm, options);
  addGpuLaunches(pm, options);
}

void loom::addGpuLaunches(OpPassManager &pm, const CompileOptions &options) {
  addGpuLoops(pm, options);
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  pm.addNestedPass<func::FuncOp>(createLoomUniformGpuReductionsPass());
  // Constants and dims into the launches that use them (the tiling's index
  // arithmetic folded into constants first): otherwise each is a kernel
  // parameter, and the kernel divides by a tile size it cannot see (a
  // 64-bit division in software).
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createLoomMergeGpuModulesPass());
  pm.addPass(createCanonicalizerPass());
}

void loom::addGpuLoops(OpPassManager &pm, const CompileOptions &options) {
  OpPassManager &loops = pm.nest<func::FuncOp>();
  // The row attention's forall: a parallel loop like the others (a thread
  // per query row).
  loops.addPass(createForallToParallelLoopPass());
  // Reductions with few outputs (decode's) first: a block per output.
  loops.addPass(createLoomReduceAcrossGpuThreadsPass());
  // The other reductions (prefill's): a 4 x 4 tile of outputs per thread.
  loops.addPass(createLoomRegisterTileGpuReductionsPass());
  loops.addPass(createConvertLinalgToParallelLoopsPass());
  // exp, tanh and erf as arithmetic: no libdevice call for them.
  if (options.approximateMath)
    loops.addPass(createLoomApproximateMathPass());
  // Mapped right after tiling: canonicalization would merge the loops of
  // blocks and of threads back into one.
  loops.addPass(createLoomTileParallelLoopsForGpuPass());
  loops.addPass(createGpuMapParallelLoopsPass());
}

void loom::buildGpuToBinaryPipeline(OpPassManager &pm,
                                    const CompileOptions &options,
                                    StringRef binaryKind) {
  // The GPU the module's target spec describes (--gpu where it has none).
  LoomAttachGpuTargetPassOptions target;
  target.chip = options.gpu;
  pm.addPass(createLoomAttachGpuTargetPass(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  // A view made inside a kernel (the row attention's output row) folded
  // into the accesses through it.
  kernels.addPass(memref::createFoldMemRefAliasOpsPass());
  kernels.addPass(createLowerAffinePass());
  kernels.addPass(createSCFToControlFlowPass());
  // The row attention's vectors (a row of Q, K, V and the accumulator):
  // loads and LLVM vector arithmetic, which NVPTX splits into registers.
  kernels.addPass(createConvertVectorToLLVMPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = binaryKind == "cubin" ? "bin" : "isa";
  binary.toolkitPath = cudaToolkitPath();
  // ptxas found on PATH only: its toolkit is the directory above.
  if (binaryKind == "cubin" && binary.toolkitPath.empty())
    binary.toolkitPath =
        llvm::sys::path::parent_path(llvm::sys::path::parent_path(findPtxas()))
            .str();
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void loom::buildGpuArtifactPipeline(OpPassManager &pm,
                                    const CompileOptions &options) {
  // The entry points and their schedule over one activation arena as on
  // the CPU (the runtime passes device memory for it), then every linalg op
  // a GPU kernel, then PTX.
  buildBufferizationPipeline(pm, options);
  addGpuLaunches(pm, options);
  buildGpuToBinaryPipeline(pm, options);
  buildGpuHostToLLVMPipeline(pm);
}

void loom::buildGpuHostToLLVMPipeline(OpPassManager &pm) {
  // The host code: views of the arena and launches, to the LLVM dialect;
  // gpu-to-llvm passes each memref to a kernel as its descriptor's fields,
  // as convert-gpu-to-nvvm made the kernels take them.
  OpPassManager &host = pm.nest<func::FuncOp>();
  host.addPass(createLowerAffinePass());
  host.addPass(createSCFToControlFlowPass());
  host.addPass(memref::createExpandStridedMetadataPass());
  host.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  OpPassManager &scalars = pm.nest<func::FuncOp>();
  scalars.addPass(createArithToLLVMConversionPass());
  scalars.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void loom::registerLoomPipelines() {
  PassPipelineRegistration<CompileOptions>(
      "loom-codegen-pipeline",
      "Lower loom IR to the LLVM dialect as loom-compile does, with its "
      "options (cpu, max-tokens, int8-activations, ...: loom-compile --help)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildLoomToLLVMPipeline(pm, options);
      });
  PassPipelineRegistration<CompileOptions>(
      "loom-lower-to-linalg",
      "Lower loom IR to linalg on tensors with weights as arguments (the "
      "first stage of loom-codegen-pipeline)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildLoomToLinalgPipeline(pm, options);
      });
  PassPipelineRegistration<CompileOptions>(
      "loom-bufferize",
      "Bufferize linalg-on-tensors entry points into the runtime's calling "
      "convention (caches in place, logits as an out-parameter)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildBufferizationPipeline(pm, options);
      });
  PassPipelineRegistration<CompileOptions>(
      "loom-gpu-kernels",
      "Lower linalg on tensors to NVIDIA GPU kernels: gpu.launch_func of "
      "outlined kernels of one gpu.module: a block per output of decode's "
      "reductions, a 4x4 tile of outputs per thread of prefill's, a thread "
      "per iteration of an scf.forall (the row attention), else one thread "
      "per output element "
      "(loom-compile --target=cuda --emit=gpu)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildGpuKernelsPipeline(pm, options);
      });
  PassPipelineRegistration<CompileOptions>(
      "loom-gpu-to-binary",
      "Lower the GPU kernels to NVVM and PTX for the option gpu (sm_90a by "
      "default) in gpu.binary ops (loom-compile --target=cuda --emit=ptx)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildGpuToBinaryPipeline(pm, options);
      });
  PassPipelineRegistration<CompileOptions>(
      "loom-gpu-artifact",
      "Lower linalg on tensors to what loom-compile --target=cuda links into "
      "an artifact: host code in the LLVM dialect over one arena, launching "
      "the kernels of gpu.binary ops (PTX for the option gpu)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildGpuArtifactPipeline(pm, options);
      });
  PassPipelineRegistration<CompileOptions>(
      "loom-lower-to-llvm",
      "The same as loom-codegen-pipeline (its former name)",
      [](OpPassManager &pm, const CompileOptions &options) {
        buildLoomToLLVMPipeline(pm, options);
      });
}
