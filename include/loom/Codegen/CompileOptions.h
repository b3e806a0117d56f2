//===- CompileOptions.h - every option of a compilation, once ---*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The options that change what a model compiles to, declared once: as the
// options of the `loom-codegen-pipeline` pass pipeline (so that
// `loom-opt --loom-codegen-pipeline="cpu=x86-64-v3 max-tokens=64"` replays
// what `loom-compile --cpu=x86-64-v3 --max-tokens=64` does), as the flags of
// the tools (`bindCompileFlags`), and, through their printed form, as the
// options part of loom-run's cache key.
//
// Adding an option: declare it here (name, description, default), read it
// where it takes effect (the pipeline builder in Pipelines.cpp hands it to
// its pass), and, when some values are invalid, reject them in validate().
// The tools, loom-opt and the cache key follow. See docs/Compiler.md.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_COMPILEOPTIONS_H
#define LOOM_CODEGEN_COMPILEOPTIONS_H

#include "mlir/Pass/PassOptions.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::loom {

struct CompileOptions : public PassPipelineOptions<CompileOptions> {
  //===--- The frontend -------------------------------------------------===//
  Option<int64_t> contextLength{
      *this, "context-length",
      llvm::cl::desc("KV cache capacity in positions (default: the model's "
                     "context length, at most 4096)"),
      llvm::cl::value_desc("N"), llvm::cl::init(0)};

  //===--- loom IR ------------------------------------------------------===//
  Option<std::string> dtype{
      *this, "dtype",
      llvm::cl::desc("The compute mode: f32 (the default: weights as the file "
                     "stores them) or bf16 (the matrices of an f32 "
                     "checkpoint's linear layers converted to bf16 once, at "
                     "load; bf16 activations; vdpbf16ps on AVX512-BF16)"),
      llvm::cl::value_desc("f32|bf16"), llvm::cl::init("f32")};
  Option<int64_t> expertShards{
      *this, "expert-shards",
      llvm::cl::desc("Split the experts of every MoE layer into N shards "
                     "(each holding experts/N of them) that run side by side "
                     "as kernels of their own; N must divide the expert "
                     "count (default 1)"),
      llvm::cl::value_desc("N"), llvm::cl::init(1)};
  Option<int64_t> expertRanks{
      *this, "expert-ranks",
      llvm::cl::desc("Split the experts of every MoE layer over N MPI ranks "
                     "(each holding experts/N of them, exchanging rows with "
                     "an all-reduce); run it under `mpirun -np N` (default 1)"),
      llvm::cl::value_desc("N"), llvm::cl::init(1)};
  Option<bool> fuseAttention{
      *this, "fuse-attention",
      llvm::cl::desc("Recognise attention the frontend wrote out as "
                     "loom.attention, lowered as a whole "
                     "(loom-fuse-attention; default true)"),
      llvm::cl::init(true)};

  //===--- loom IR to linalg --------------------------------------------===//
  Option<int64_t> attentionKeyBlock{
      *this, "attention-key-block",
      llvm::cl::desc("Keys per block of the tiled (FlashAttention-style) "
                     "attention; 0 derives it from the target's L1 cache, -1 "
                     "lowers attention with the whole score matrix "
                     "(default 0). With --target=cuda, prefill's attention "
                     "is a thread per query row with an online softmax "
                     "unless this is -1"),
      llvm::cl::value_desc("N"), llvm::cl::init(0)};
  Option<bool> int8Activations{
      *this, "int8-activations",
      llvm::cl::desc("Linear layers with q8_0/q4_0 weights quantize their "
                     "input to 8-bit blocks of 32 and multiply in integers, "
                     "as llama.cpp does (default true; false: f32 input "
                     "against the decoded weights, slower and closer to the "
                     "f32 model)"),
      llvm::cl::init(true)};
  Option<bool> interleaveWeights{
      *this, "interleave-weights",
      llvm::cl::desc("With --int8-activations, q4_0 and q8_0 matrices of "
                     "linear layers are read with the blocks of 8 rows "
                     "interleaved, which the runtime makes from the file's "
                     "blocks once, at load: one integer dot product serves 8 "
                     "rows (default true; false: the file's layout, one row "
                     "at a time)"),
      llvm::cl::init(true)};
  Option<bool> bf16Activations{
      *this, "bf16-activations",
      llvm::cl::desc("Linear layers with bf16 weights round their input to "
                     "bf16 and multiply bf16 by bf16 with f32 sums "
                     "(vdpbf16ps on AVX512-BF16), as llama.cpp does (default "
                     "true; false: f32 input against the widened weights)"),
      llvm::cl::init(true)};

  //===--- Buffers, kernels and loops -----------------------------------===//
  Option<int64_t> maxTokens{
      *this, "max-tokens",
      llvm::cl::desc("Most tokens one prefill call takes: the activation "
                     "arena is planned for it, and the runtime splits longer "
                     "prompts (default 512; at most the context length)"),
      llvm::cl::value_desc("N"), llvm::cl::init(512)};
  Option<bool> cacheTiling{
      *this, "cache-tiling",
      llvm::cl::desc("Chunk the tokens of register-blocked contractions for "
                     "the target's L2 (default true; false: one chunk, to "
                     "measure what the chunks gain)"),
      llvm::cl::init(true)};
  Option<bool> packWeights{
      *this, "pack-weights",
      llvm::cl::desc("f32 linear layers over several tokens run as "
                     "outer products on weight panels each task packs "
                     "(default true; false: register-blocked dot products, "
                     "to compare)"),
      llvm::cl::init(true)};
  Option<bool> approximateMath{
      *this, "approximate-math",
      llvm::cl::desc("f32 exp, tanh and erf (softmax, SiLU, GELU) as inline "
                     "polynomials that vectorize, within about one unit "
                     "in the last place (loom-approximate-math; default true; "
                     "false: libm calls, one value each)"),
      llvm::cl::init(true)};
  Option<bool> shareKernelCode{
      *this, "share-kernel-code",
      llvm::cl::desc("Kernels that differ only in their weights, caches and "
                     "arena offsets (every layer's) run one function, "
                     "compiled once (loom-share-kernel-code; default true; "
                     "false: one function per kernel, to compare)"),
      llvm::cl::init(true)};

  //===--- The target ---------------------------------------------------===//
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("What to generate code for: cpu (the default) or "
                     "cuda (NVIDIA GPU kernels in PTX for --gpu, launched "
                     "by host code: an artifact loom-run runs with "
                     "--device=cuda)"),
      llvm::cl::value_desc("cpu|cuda"), llvm::cl::init("cpu")};
  Option<std::string> gpu{
      *this, "gpu",
      llvm::cl::desc("The NVIDIA GPU of --target=cuda, as its compute "
                     "capability (sm_80: A100, sm_90a: H100/H200 with its "
                     "architecture-specific instructions; default sm_90a)"),
      llvm::cl::value_desc("sm_NN[a]"), llvm::cl::init("sm_90a")};
  Option<std::string> gpuBinary{
      *this, "gpu-binary",
      llvm::cl::desc("How --target=cuda embeds its kernels: cubin (assembled "
                     "for --gpu by the CUDA toolkit's ptxas, found in "
                     "$CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin or "
                     "on PATH), ptx (compiled by the driver when the "
                     "artifact loads), or auto (the default: cubin where "
                     "ptxas is found, else ptx)"),
      llvm::cl::value_desc("auto|cubin|ptx"), llvm::cl::init("auto")};
  Option<bool> emulateGpu{
      *this, "emulate-gpu",
      llvm::cl::desc("With --target=cuda: compile the GPU kernels' loops "
                     "(grid, blocks, threads and their reductions, as the "
                     "kernels run them) for this CPU instead of PTX: an "
                     "artifact the CPU runs, to check the GPU lowering's "
                     "numerics without a GPU (default false)"),
      llvm::cl::init(false)};
  Option<std::string> cpu{
      *this, "cpu",
      llvm::cl::desc("The CPU to generate code for, as LLVM names it (e.g. "
                     "sapphirerapids, x86-64-v3); default: this machine's"),
      llvm::cl::value_desc("name"), llvm::cl::init("")};
  Option<unsigned> optLevel{
      *this, "opt-level",
      llvm::cl::desc("LLVM optimization level, 0 to 3 (default 2)"),
      llvm::cl::value_desc("N"), llvm::cl::init(2)};

  /// The command-line option behind each option (for bindCompileFlags).
  llvm::SmallVector<llvm::cl::Option *> commandLineOptions();

  /// An error naming the option (as a flag) whose value is out of range.
  llvm::Error validate() const;

  /// Whether the code is for an NVIDIA GPU (--target=cuda).
  bool cuda() const { return target == "cuda"; }

  /// Whether the kernels are GPU kernels run on a GPU: --target=cuda
  /// without --emulate-gpu.
  bool gpuArtifact() const { return cuda() && !emulateGpu; }

  /// The options in their printed form, `{attention-key-block=0 ...}`: what
  /// `--loom-codegen-pipeline=` takes, and the options part of a cache key.
  std::string str() const;
};

/// Makes every option of `options` a command-line flag of the tool (same
/// name, description and value), in `category`; `prefix` starts each
/// description ("With a model file: "). `options` must outlive the parse.
void bindCompileFlags(CompileOptions &options,
                      llvm::cl::OptionCategory &category,
                      llvm::StringRef prefix = "");

} // namespace mlir::loom

#endif // LOOM_CODEGEN_COMPILEOPTIONS_H
