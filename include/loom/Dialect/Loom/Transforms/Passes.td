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

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def LoomFuseAttentionPass : Pass<"loom-fuse-attention"> {
  let summary = "Recognise attention written out and form loom.attention";
  let description = [{
    Finds `softmax(scale · Q·Kᵀ + mask) · V` spelled with loom and upstream
    ops and replaces it with one `loom.attention`, so that attention can be
    lowered as a whole (tiled, with an online softmax) instead of through a
    `[q_len, kv_len]` score matrix per head. Recognised:

    - Kᵀ as a `loom.transpose` of the last two dimensions, as the matmul's
      `transpose_rhs` flag, or straight from `[batch, seq, heads, dim]`
      (permutation `[0, 2, 3, 1]`; Q and V moved to `[batch, heads, seq,
      dim]` by the author, the output moved back);
    - the scale as `arith.mulf` by a splat constant, `arith.divf` by one
      (`/ sqrt(d)`), applied to the scores or to Q, or absent (scale 1);
    - the mask as an additive tensor (`arith.addf`); a `tensor.generate`
      that yields `-inf` where the key comes after the query's position
      (offset + i) becomes `causal` with that offset, and one that also
      hides keys `W` or more positions back becomes `window = W`;
    - the mask as a select of `-inf`: `select(hidden, -inf, s)` or
      `select(visible, s, -inf)`; a generated iota comparison (key after
      query, or key at or before query) becomes `causal`, any other boolean
      tensor the additive mask it stands for;
    - grouped-query attention as `loom.repeat_interleave` of K and V along
      the heads, or as Hugging Face's `repeat_kv` (a `linalg.broadcast` to
      `[b, kv, rep, s, d]` collapsed to `[b, kv * rep, s, d]`); the repeat
      is dropped: `loom.attention` reads the shared heads.

    Softmax over another axis than the keys, a scale that is not one
    constant, a mask combined other than by addition or a select of `-inf`,
    or K and V repeated differently are left alone.

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
  let dependentDialects = ["::mlir::loom::LoomDialect"];
}

#endif // LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD
