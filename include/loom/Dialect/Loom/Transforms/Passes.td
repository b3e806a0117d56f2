//===- Passes.td - loom dialect passes ---------------------*- tablegen -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD
#define LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Binding model parameters
//===----------------------------------------------------------------------===//

def LoomWeightsToArgumentsPass
    : Pass<"loom-weights-to-arguments", "::mlir::func::FuncOp"> {
  let summary = "Turn the named weights a function reads into its leading arguments";
  let description = [{
    Code generation needs every buffer a function reads to come from its
    caller. This pass gives each distinct `loom.weight` name of a function one
    leading argument, marked with a `loom.weight` argument attribute holding
    the name, and replaces the ops by it. The runtime binds each such argument
    to the weight's bytes in the model file.

    Before:

    ```mlir
    func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %w = loom.weight "w" : tensor<4x4xf32>
      %y = loom.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
      return %y : tensor<2x4xf32>
    }
    ```

    After:

    ```mlir
    func.func @f(%w: tensor<4x4xf32> {loom.weight = "w"}, %x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %y = loom.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
      return %y : tensor<2x4xf32>
    }
    ```
  }];
}

def LoomNarrowWeightsPass : Pass<"loom-narrow-weights"> {
  let summary = "Read f32 matrices as bf16 (the bf16 compute mode)";
  let description = [{
    `loom-compile --dtype=bf16` for f32 checkpoints. Every f32 `loom.weight`
    of rank 2 that feeds linear layers (as their weight; an embedding
    reading the same table is fine) becomes a read of the weight as bf16,
    marked `loom.packed_from = "f32"`, widened by `arith.extf` where it was
    used. The runtime converts such a weight once, when it loads the model
    (round to nearest, ties to even), and binds the bf16 copy; the layers
    then run as for a bf16 checkpoint (bf16 activations, `vdpbf16ps`).
    Norms, biases, MoE experts and weights used any other way stay f32.

    Before:

    ```mlir
    %w = loom.weight "w" : tensor<8x64xf32>
    %y = loom.linear %x, %w : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
    ```

    After:

    ```mlir
    %b = loom.weight "w" {loom.packed_from = "f32"} : tensor<8x64xbf16>
    %w = arith.extf %b : tensor<8x64xbf16> to tensor<8x64xf32>
    %y = loom.linear %x, %w : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
    ```
  }];
  let options = [
    Option<"elementType", "element-type", "std::string", /*default=*/"\"bf16\"",
           "The type the matrices are read as: bf16 (the only one so far)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def LoomInterleaveWeightsPass : Pass<"loom-interleave-weights"> {
  let summary = "Read q4_0 and q8_0 matrices with the blocks of 8 rows interleaved";
  let description = [{
    With GGUF's layout one row's block (an f16 scale and 16 bytes of
    nibbles, or 32 bytes of values) feeds one 32-byte integer dot product,
    which then has to be reduced across its lanes, converted and scaled:
    per output and block. Interleaving the blocks of 8 rows (`q4_0x8`,
    `q8_0x8`) puts 4 bytes of each of the 8 rows side by side in one
    32-byte vector, so one dot product serves 8 outputs, each lane one row:
    no reduction across lanes, and the conversion, the 8 scales and the
    accumulation are paid once per 8 outputs (docs/Tiling.md).

    Every q4_0 or q8_0 matrix (`loom.weight` of `[n, blocks, 18 | 34]` i8,
    every op of that name) that is read only through `loom.dequantize` as
    the weight of linear layers, with `n` a multiple of 8, becomes a read of
    `[n / 8, blocks, 144 | 272]` bytes marked `loom.packed_from = "q4_0"`
    (`"q8_0"`), dequantized as `q4_0x8` (`q8_0x8`). The runtime interleaves
    the file's blocks once, when it loads the model (q8_0's values stored
    as q + 128). Weights used any other way (an embedding's table, MoE
    experts) stay as stored. `loom-compile` runs the pass with 8-bit
    activations (`--interleave-weights`, on by default).

    Before:

    ```mlir
    %raw = loom.weight "w" : tensor<16x2x18xi8>
    %w = loom.dequantize %raw format = q4_0 : tensor<16x2x18xi8> -> tensor<16x64xf32>
    %y = loom.linear %x, %w : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
    ```

    After:

    ```mlir
    %raw = loom.weight "w" {loom.packed_from = "q4_0"} : tensor<2x2x144xi8>
    %w = loom.dequantize %raw format = q4_0x8 : tensor<2x2x144xi8> -> tensor<16x64xf32>
    %y = loom.linear %x, %w : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def LoomFuseAttentionPass : Pass<"loom-fuse-attention"> {
  let summary = "Recognise attention written out and form loom.attention";
  let description = [{
    Finds `softmax(scale · Q·Kᵀ + mask) · V` spelled with loom and upstream
    ops and replaces it with one `loom.attention`, so that attention can be
    lowered as a whole (tiled, with an online softmax) instead of through a
    `[q_len, kv_len]` score matrix per head. Loom's own ops and upstream
    linalg/arith/math on tensors are read alike: an elementwise value is
    followed through arith and math ops on tensors and through the bodies
    of elementwise linalg ops (generic or named), fused or not, and a
    reduction or `linalg.broadcast` read back along the keys is seen through
    the consumer's indexing map. Recognised:

    - the matrix products as `loom.matmul`, `linalg.batch_matmul` over
      `[batch * heads, seq, dim]` (the fused op gets a batch of one, its
      result collapsed back), `linalg.matmul`/`batch_matmul` with indexing
      maps, or an einsum-style `linalg.generic` contraction (`bhid,bhjd->bhij`
      and `bhij,bhjd->bhid`; K may be read as `[.., keys, dim]` by the map),
      with a zero init, or a rank-4 product written as `linalg.batch_matmul`
      between a `collapse_shape` of each operand merging batch and heads
      and an `expand_shape` of the result (torch-mlir's `aten.matmul`; V's
      collapse may also merge a repeat of its heads);
    - Kᵀ as a `loom.transpose` or `linalg.transpose` of the last two
      dimensions, a `linalg.generic` copying through a transposing map, the
      matmul's `transpose_rhs` flag, or straight from `[batch, seq, heads,
      dim]` (permutation `[0, 2, 3, 1]`; Q and V moved to `[batch, heads, seq,
      dim]` by the author, the output moved back);
    - the softmax as `loom.softmax`, `linalg.softmax`, or written out:
      `exp(x - max(x)) / sum(...)` (or without the max) over the keys, the
      max and sum as `linalg.reduce` or a `linalg.generic` reduction (the
      axis dropped or kept as 1), broadcast back by `linalg.broadcast` or a
      map, the rest in arith/math on tensors or generic bodies;
    - the scale as multiplications by a constant (splat or dense splat,
      either operand, in a generic body too) and divisions by one (`/
      sqrt(d)`), on the scores, on Q, on K or Kᵀ, or split between Q and K
      (d^-1/4 on each), all multiplied into `scale`;
    - the mask as an additive tensor (`arith.addf`, a `[q_len, kv_len]`
      tensor broadcast over batch and heads by a map too; a
      `tensor.generate` at the scores' shape that reads neither the batch
      nor the head index, as a padding or sequence mask, is generated
      again as `[q_len, kv_len]`, which the fused op broadcasts; a bias
      such as ALiBi's stays such an operand); a generated mask (a
      `tensor.generate`, or a `linalg.generic` that reads no input and
      computes from `linalg.index`) that yields `-inf` where the key comes
      after the query's position (offset + i) becomes `causal` with that
      offset, and
      one that also hides keys `W` or more positions back becomes `window =
      W`: as `select(hidden, -inf, 0)` or `select(visible, 0, -inf)`, the
      comparisons in either operand order (`j > i` or `i < j`, `j + W <= i`
      or `i >= j + W`), signed or unsigned, the window's condition on either
      side of the `or`; a `[b, 1, q_len, kv_len]` mask read with 0 along
      the heads (Hugging Face's padding mask) is broadcast as it is; a mask
      of static shape (at most 2^22 elements) computed only from indices
      and constants, however spelled (torch-mlir's Trilu of ones compared
      with 0 and selected to `-inf`), is evaluated, and where it shows
      exactly the keys of a causal mask at a constant offset (with or
      without a window) it becomes `causal` (`offset`, `window`); `-inf`
      and the lowest float both count as hidden;
    - the mask as a select of `-inf`: `select(hidden, -inf, s)` or
      `select(visible, s, -inf)` (in arith on tensors or a generic body);
      a generated iota comparison (either generator; key after
      query, or key at or before query) becomes `causal`, any other boolean
      tensor the additive mask it stands for;
    - grouped-query attention as `loom.repeat_interleave` of K and V along
      the heads, as Hugging Face's `repeat_kv` (a `linalg.broadcast` to
      `[b, kv, rep, s, d]` collapsed to `[b, kv * rep, s, d]`), or as
      Meta's (the same on `[b, s, kv, d]`, before the transpose to `[b, h,
      s, d]`), the broadcast also as a `linalg.generic` copy (torch-mlir's
      `aten.expand`), and multi-query attention as a `linalg.broadcast` of one
      head `[b, s, d]` to every head; the repeat is dropped:
      `loom.attention` reads the shared heads. K and V repeated
      differently are read as written.

    Left alone, as not softmax(scale · Q·Kᵀ + mask) · V: a softmax over
    another axis than the keys (or a sum over the queries), exp without the
    normalisation, soft-capping (`tanh`) before the softmax, a scale that is
    not one constant, a mask combined other than by addition or a select of
    `-inf`, anything between the softmax and P·V (dropout), Pᵀ·V, P·V
    accumulated onto a tensor other than zero. (A multiplication of Q or K
    by a tensor is another Q or K, not a scale: it stays as the fused op's
    operand.) Every lit case of this pass is also compiled with and without
    it and compared on random inputs (FusionNumericsTest); among them,
    attention as torch-mlir lowers ONNX exports of PyTorch's and Hugging
    Face's attention (exporter-torch-mlir.mlir).

    Before:

    ```mlir
    %kt = loom.transpose %k [0, 1, 3, 2] : tensor<1x8x16x8xf32> -> tensor<1x8x8x16xf32>
    %s = loom.matmul %q, %kt : (...) -> tensor<1x8x16x16xf32>
    %c = arith.constant dense<0.353553385> : tensor<1x8x16x16xf32>
    %scaled = arith.mulf %s, %c : tensor<1x8x16x16xf32>
    %p = loom.softmax %scaled axis = 3 : tensor<1x8x16x16xf32>
    %o = loom.matmul %p, %v : (...) -> tensor<1x8x16x8xf32>
    ```

    After:

    ```mlir
    %o = loom.attention %q, %k, %v scale = 0.353553385 : ... -> tensor<1x8x16x8xf32>
    ```
  }];
  let dependentDialects = ["::mlir::loom::LoomDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

//===----------------------------------------------------------------------===//
// Mixture of Experts
//===----------------------------------------------------------------------===//

def LoomShardExpertsPass : Pass<"loom-shard-experts", "::mlir::ModuleOp"> {
  let summary = "Place the experts of MoE layers on the devices of a grid";
  let description = [{
    Expert parallelism for `loom.moe_expert_ffn`: a one-dimensional grid of
    `grid` devices, each holding `experts / grid` consecutive experts (the
    grid must divide the expert count; the op is named otherwise).

    **SPMD form** (`spmd=true`, the default). Every function holding an
    expert FFN gets a `shard.grid @experts(shape = grid)` and upstream
    `shard` annotations: the stacked expert weights (and the raw blocks or
    narrow floats they are decoded from) split along the expert axis,
    `split_axes = [[0]]`; every other tensor replicated, `split_axes =
    [[]]` (`partition=false` stops here). Upstream `shard-partition` then
    rewrites the function into the program of one device: expert weight arguments of the local type
    (`[experts / grid, ...]`), the FFN over the device's experts (its first
    expert is `shard.process_multi_index` times `experts / grid`, its
    offsets the matching slice), and a `shard.all_reduce` (sum) of the rows
    over the grid. Routing, dispatch and the dense layers stay replicated:
    every device already holds the tokens its experts need, and the
    all-reduce is the one exchange per MoE layer. The expert weights must be
    function arguments (run `loom-weights-to-arguments` first). Loom ops
    other than the expert FFN (and `loom.dequantize` / `arith.extf` of a
    split weight, which follow their operand) are partitioned as replicated.

    **In-process form** (`spmd=false`). The grid lives in one process: each
    expert FFN becomes `grid` FFNs over slices of the weights (views, not
    copies; a decoded weight is sliced before its decoding op), marked
    `loom.expert_shard = s`, and their results are summed where the
    all-reduce would be. The shards are independent, so the kernel schedule
    gives each its own kernel at the same level and the runtime's flow graph
    runs them concurrently (`loom-compile --expert-shards=N`).

    In the SPMD form each split weight argument gets `loom.shard = grid`, so
    the runtime binds each rank its slice (`loom-compile --expert-ranks=N`,
    with `loom-lower-shard-to-mpi`).

    Both forms are exact: a `loom.moe_expert_ffn` leaves the rows of experts
    it does not hold at zero, and each row belongs to one expert, so the sum
    over shards adds only zeros to every row.

    In-process, grid = 2:

    ```mlir
    %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd
        : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, ...) -> tensor<?x64xf32>
    ```

    becomes

    ```mlir
    %g0 = tensor.extract_slice %wg[0, 0, 0] [4, 128, 64] [1, 1, 1]
    %o0 = tensor.extract_slice %offs[0] [5] [1]
    %y0 = loom.moe_expert_ffn %rows, %o0, %g0, %u0, %d0 {loom.expert_shard = 0 : i64} ...
    %g1 = tensor.extract_slice %wg[4, 0, 0] [4, 128, 64] [1, 1, 1]
    %o1 = tensor.extract_slice %offs[4] [5] [1]
    %y1 = loom.moe_expert_ffn %rows, %o1, %g1, %u1, %d1 {loom.expert_shard = 1 : i64} ...
    %y = arith.addf %y0, %y1 : tensor<?x64xf32>
    ```
  }];
  let options = [
    Option<"grid", "grid", "int64_t", "2",
           "Devices in the (one-dimensional) grid the experts are split over">,
    Option<"spmd", "spmd", "bool", "true",
           "Partition into the program of one device (upstream shard-partition); "
           "false keeps all shards in this program, summed">,
    Option<"partition", "partition", "bool", "true",
           "With spmd: run shard-partition after annotating (false stops at "
           "the annotated function)">,
  ];
  let dependentDialects = ["::mlir::shard::ShardDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD
