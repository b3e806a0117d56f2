//===- Passes.td - Loom conversion passes ------------------*- tablegen -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CONVERSION_PASSES_TD
#define LOOM_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// LoomToLinalg
//===----------------------------------------------------------------------===//

def ConvertLoomToLinalgPass : Pass<"convert-loom-to-linalg"> {
  let summary = "Lower loom ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Rewrites every loom op except `loom.weight` into upstream ops on tensors:
    contractions and elementwise computations become `linalg.generic` (or
    `linalg.transpose` / `linalg.fill`; a transpose that moves only
    dimensions of size 1 keeps the elements' order and becomes
    `tensor.collapse_shape` + `tensor.expand_shape`, a view once bufferized),
    the KV cache ops become `tensor.insert_slice` / `tensor.extract_slice`. Elementwise arithmetic,
    norms and softmax follow the reference implementations operation by
    operation (llama2.c's `rmsnorm`, `softmax`, RoPE and SwiGLU); the dot
    products of contractions carry `reassoc` and `contract` so that they
    vectorize (stories260K's logits stay within 1.6e-5 of llama2.c's).
    RoPE computes the cosine and sine of each (position, pair) angle once,
    into a `[tokens, rotary_dim / 2]` table the rotation reads for every
    head and both elements of a pair (the same values as computing them in
    place).

    `loom.attention` is lowered directly (scores, mask, softmax, weighted
    sum) with `attention-key-block=-1`, and otherwise FlashAttention-style:
    blocks of queries, each walking blocks of keys with an online softmax
    (running maximum and sum, the accumulator rescaled as the maximum grows),
    so that no more than `[block, block]` scores per head exist at a time; a
    query block stops at its own last position (with causal attention the
    blocks above the diagonal are never computed) and starts at its window.
    Decode (one query, no explicit mask) is a case of its own: the visible
    keys are cut into 4 chunks computed side by side, a parallel dimension
    next to the heads that the runtime splits across threads, and the partial
    maxima, sums and accumulators are merged.

    The Mixture-of-Experts ops become index computations and grouped
    products: the router ranks the experts per token, dispatch is a counting
    sort of the (token, choice) pairs by expert, the expert FFN is a loop
    over the experts in which each expert's contiguous rows are
    matrix-matrix products with slices of its stacked weights (the work of
    the active experts only; rows of no expert stay zero), and combine sums
    a token's rows back, weighted. No `[tokens, experts, dim]` tensor is
    formed.

    Before:

    ```mlir
    %y = loom.silu %x : tensor<4x172xf32>
    ```

    After:

    ```mlir
    %e = tensor.empty() : tensor<4x172xf32>
    %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%x : tensor<4x172xf32>) outs(%e : tensor<4x172xf32>) {
      ^bb0(%in: f32, %out: f32):  // x * (1 / (1 + exp(-x)))
        ...
    } -> tensor<4x172xf32>
    ```
  }];
  let options = [
    Option<"attentionKeyBlock", "attention-key-block", "int64_t",
           /*default=*/"0",
           "Keys per block of the tiled attention lowering. 0 derives it "
           "from the L1 data cache: the largest power of two up to 256 for "
           "which a block of K and V fits (the L1 of the module's target, "
           "see loom-set-target; 32 KiB where the IR names no target). -1 lowers attention directly, with the "
           "whole score matrix (the reference the tiled form is tested "
           "against)">,
    Option<"attentionRows", "attention-rows", "bool", /*default=*/"false",
           "Attention as scf.foralls of rows walking their visible keys "
           "with an online softmax in loop-carried values: no score is "
           "stored (the GPU's flash attention, a thread per row). Several "
           "query rows (prefill): a row per (batch, head, value chunk, "
           "query); one query row (decode): its keys split into 32 chunks, "
           "a row per (batch, head, chunk), then a row per (batch, head) "
           "combining them. Preferred over the other lowerings">,
    Option<"moeGathered", "moe-gathered", "bool", /*default=*/"false",
           "MoE dispatch, expert FFN and combine without a sequential pass "
           "over the (token, choice) pairs or a loop over the experts: each "
           "row searches for its pair, and each row's products read the "
           "weights of its expert (one kernel per projection for all "
           "experts; what a GPU needs, as nothing on the host may walk "
           "device memory)">,
    Option<"int8Activations", "int8-activations", "bool", /*default=*/"true",
           "Linear layers with q8_0 or q4_0 weights quantize their input to "
           "8-bit blocks of 32 values (q = round-to-nearest-even(x * 127 / "
           "max|x|), scale max|x| / 127 rounded to f16 per block) and "
           "multiply the blocks in integers, as llama.cpp's x86 code does; "
           "false decodes the weights to f32 and multiplies "
           "the input as it is">,
    Option<"bf16Activations", "bf16-activations", "bool", /*default=*/"true",
           "Linear layers with bf16 weights round their input to bf16 "
           "(to nearest, ties to even) and multiply bf16 by bf16 with f32 "
           "sums, as llama.cpp does (AVX512-BF16's vdpbf16ps where the "
           "target has it); false multiplies the f32 input by the widened "
           "weights">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
}

//===----------------------------------------------------------------------===//
// ShardToMPI
//===----------------------------------------------------------------------===//

def LoomLowerShardToMPIPass : Pass<"loom-lower-shard-to-mpi", "::mlir::ModuleOp"> {
  let summary = "Run the expert grid's SPMD program on MPI ranks";
  let description = [{
    Maps the one-dimensional grid of `loom-shard-experts`' SPMD form onto the
    ranks of `MPI_COMM_WORLD`, on tensors: `shard.process_multi_index`
    becomes the rank (`mpi.comm_rank`), and a sum `shard.all_reduce` an
    `mpi.allreduce` (`MPI_SUM`) from the tensor's buffer into a new one.
    The module gets `dlti.map<"MPI:Implementation" = ...>` (the ABI the MPI
    lowering to LLVM targets) and a function for the runtime,
    `loom_mpi_rank()` (marked `loom.runtime_helper`).
    Upstream `convert-shard-to-mpi` splits a communicator for every
    collective and does not handle the dynamic row count of the expert rows
    yet; one axis over the whole world needs neither. Grids of more axes,
    other reductions, and shard annotations left over are errors.
  }];
  let options = [
    Option<"implementation", "implementation", "std::string", "\"OpenMPI\"",
           "The MPI implementation whose ABI the code targets (OpenMPI or MPICH)">,
  ];
  let dependentDialects = ["::mlir::mpi::MPIDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::DLTIDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect"];
}

//===----------------------------------------------------------------------===//
// MPIToLLVM
//===----------------------------------------------------------------------===//

def LoomConvertMPIToLLVMPass
    : Pass<"loom-convert-mpi-to-llvm", "::mlir::ModuleOp"> {
  let summary = "Lower the mpi dialect to calls of the MPI library";
  let description = [{
    Applies upstream's MPI-to-LLVM patterns (calls of `MPI_Comm_rank`,
    `MPI_Allreduce`, ..., with the handles and constants of the ABI the
    module's `dlti.map<"MPI:Implementation" = ...>` names, MPICH by
    default), then drops that attribute, which LLVM IR has no place for,
    and names OpenMPI's reduction operations as the library exports them
    (`ompi_mpi_op_sum`; upstream writes `ompi_mpi_sum`).
    Runs with the rest of the conversion to LLVM, after memrefs are
    lowered; a module without MPI ops is left alone. The artifact is then
    linked against the MPI library (see `loom-lower-shard-to-mpi`).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // LOOM_CONVERSION_PASSES_TD
