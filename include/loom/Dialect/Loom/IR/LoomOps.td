//===- LoomOps.td - loom dialect operations ----------------*- tablegen -*-===//
//
// Operations of the `loom` dialect, grouped by family: parameters, linear
// algebra, normalization and activations, positions, attention, the KV cache,
// layout, and Mixture of Experts.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_IR_LOOMOPS_TD
#define LOOM_DIALECT_LOOM_IR_LOOMOPS_TD

include "loom/Dialect/Loom/IR/LoomBase.td"
include "loom/Dialect/Loom/IR/LoomAttrs.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

/// An op whose result types follow from its operands and attributes. The
/// inferred type may be more static than the written one (and vice versa):
/// they must only be compatible.
class Loom_InferredOp<string mnemonic, list<Trait> traits = []>
    : Loom_Op<mnemonic, !listconcat(traits,
                                    [Pure, InferTypeOpAdaptorWithIsCompatible])>;

//===----------------------------------------------------------------------===//
// Model parameters
//===----------------------------------------------------------------------===//

def Loom_WeightOp : Loom_Op<"weight",
    [Pure, DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "a named model parameter";
  let description = [{
    A parameter of the model, referred to by the name it has in the model
    file (`blk.0.attn_q.weight` in GGUF naming). The values are never part of
    the IR: the runtime binds the name to the bytes of the model file when it
    loads the compiled artifact, so the IR of a large model stays small.
    Weights have static shapes. The type is the weight as stored: f32, f16
    or bf16 values, or the i8 bytes of block-quantized data
    (`[rows..., blocks, bytes per block]`, read through `loom.dequantize`).

    Example:

    ```mlir
    %wq = loom.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs AnyTypeOf<[Loom_FloatTensor, Loom_BlockTensor]>:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getResult().getType());
    }
    /// The values the weight holds: its elements, or for the i8 bytes of
    /// quantized blocks ([rows..., blocks, bytes]) 32 per block.
    int64_t getNumParameters();
  }];
}

def Loom_DequantizeOp : Loom_Op<"dequantize", [Pure]> {
  let summary = "the values of a block-quantized weight";
  let description = [{
    Reads the bytes of a weight stored in a block-quantized format (as GGUF
    files store most weights) as the f32 values they encode. The input is
    `[rows..., blocks, bytes_per_block]` i8 (34 bytes per block of 32 values
    for `q8_0`, 18 for `q4_0`); the result is `[rows..., blocks * 32]`.
    `q4_0x8` and `q8_0x8` are q4_0 and q8_0 with 8 rows interleaved: the
    input is `[rows..., rows_8, blocks, 144 | 272]` and the result
    `[rows..., 8 * rows_8, blocks * 32]`.

    The op states what the bytes mean; it does not ask for a copy. Lowered
    as the weight of a `loom.linear` or the table of a `loom.embedding`, the
    blocks are decoded inside the contraction or gather, at the place each
    value is used, and no f32 copy of the weight exists. Elsewhere it lowers
    to a tensor of the decoded values.

    Example:

    ```mlir
    %raw = loom.weight "blk.0.attn_q.weight" : tensor<64x2x34xi8>
    %wq = loom.dequantize %raw format = q8_0 : tensor<64x2x34xi8> -> tensor<64x64xf32>
    %q = loom.linear %x, %wq : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
    ```
  }];
  let arguments = (ins Loom_BlockTensor:$input, Loom_BlockFormat:$format);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $input `format` `=` $format attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    // The sizes come from loom/Support/BlockFormats.h.
    /// Bytes per block in `format` (q4_0x8: per block of 8 rows).
    static int64_t blockBytes(BlockFormat format);
    /// Values per block (of one row) in `format`: 32, or 256 for the
    /// K-quants' super-blocks.
    static int64_t blockValues(BlockFormat format);
    /// Rows per block in `format`: 8 for q4_0x8 and q8_0x8, otherwise 1.
    static int64_t blockRows(BlockFormat format);
    /// The form of `format` with the blocks of 8 rows interleaved (q4_0 ->
    /// q4_0x8), if it has one.
    static std::optional<BlockFormat> interleavedForm(BlockFormat format);
    /// The f32 value of a block's scale: the little-endian f16 whose bytes
    /// are the i8 values `lo` and `hi`. Shared by every lowering that
    /// decodes blocks.
    static ::mlir::Value buildScale(::mlir::OpBuilder &b, ::mlir::Location loc,
                                    ::mlir::Value lo, ::mlir::Value hi);
    /// 8-bit activations, quantized per block of x as llama.cpp's x86 code
    /// quantizes them: the scale x.d of a block whose max |x| is `amax`.
    /// Blocks of 32 (llama.cpp's q8_0 and q8_1, which store x.d as f16):
    /// f16(amax / 127) as f32. Super-blocks of 256 shared by a K-quant's
    /// blocks (q8_K, an f32 scale): 1 / (127 / amax). 0 where amax is 0.
    static ::mlir::Value buildActivationScale(::mlir::OpBuilder &b,
                                              ::mlir::Location loc,
                                              ::mlir::Value amax,
                                              bool superBlock);
    /// The factor x is multiplied by before rounding to 8 bits: 127 / amax,
    /// or 0 where amax is 0 (a block of zeros).
    static ::mlir::Value buildActivationInverse(::mlir::OpBuilder &b,
                                                ::mlir::Location loc,
                                                ::mlir::Value amax);
  }];
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Loom_EmbeddingOp : Loom_InferredOp<"embedding"> {
  let summary = "gathers rows of an embedding table by token id";
  let description = [{
    `result[i..., :] = table[ids[i...], :]`: the row of a `[vocab, dim]` table
    for every token id. The result has the shape of `ids` followed by `dim`.
    An id outside `[0, vocab)` is undefined behaviour at run time.

    Example:

    ```mlir
    %x = loom.embedding %table, %ids
        : (tensor<512x64xf32>, tensor<1x16xi32>) -> tensor<1x16x64xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$table, Loom_IntTensor:$ids);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $table `,` $ids attr-dict `:` functional-type(operands, results)
  }];
}

def Loom_LinearOp : Loom_InferredOp<"linear"> {
  let summary = "a fully connected layer: x times the transposed weight";
  let description = [{
    `result = x · weightᵀ (+ bias)` over the last dimension of `x`. The weight
    is `[out_features, in_features]`, the layout of PyTorch's `nn.Linear`, of
    llama2.c checkpoints and of GGUF tensors, so a model's parameters are used
    as stored. `x` may have any number of leading dimensions.

    Example:

    ```mlir
    %q = loom.linear %x, %wq : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
    %h = loom.linear %x, %w, %b
        : (tensor<16x64xf32>, tensor<172x64xf32>, tensor<172xf32>) -> tensor<16x172xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$weight,
                       Optional<Loom_FloatTensor>:$bias);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Loom_MatmulOp : Loom_InferredOp<"matmul"> {
  let summary = "batched matrix multiplication with optional transposes";
  let description = [{
    Multiplies the last two dimensions of `lhs` and `rhs`; all leading
    dimensions are batch dimensions and must agree. With `transpose_lhs` the
    last two dimensions of `lhs` are read as `[k, m]`, with `transpose_rhs`
    those of `rhs` as `[n, k]`.

    Example (attention scores, K read transposed):

    ```mlir
    %s = loom.matmul %q, %k transpose_rhs
        : (tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>) -> tensor<1x8x16x16xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$lhs, Loom_FloatTensor:$rhs,
                       UnitProp:$transpose_lhs, UnitProp:$transpose_rhs);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)? (`transpose_rhs` $transpose_rhs^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Normalization and activations
//===----------------------------------------------------------------------===//

def Loom_RmsNormOp : Loom_InferredOp<"rms_norm"> {
  let summary = "root-mean-square normalization over the last dimension";
  let description = [{
    `result = x / sqrt(mean(x², last dim) + epsilon) * weight`, as in Llama,
    Mistral and Mixtral. `weight` has the size of the last dimension.

    Example:

    ```mlir
    %n = loom.rms_norm %x, %w epsilon = 1.0e-06
        : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$weight,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`epsilon` `=` $epsilon^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_LayerNormOp : Loom_InferredOp<"layer_norm"> {
  let summary = "layer normalization over the last dimension";
  let description = [{
    `result = (x - mean) / sqrt(var + epsilon) * weight + bias` over the last
    dimension, as in the original Transformer, BERT, GPT-2 and Falcon. `bias`
    is optional.

    Example:

    ```mlir
    %n = loom.layer_norm %x, %g, %b
        : (tensor<1x16x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<1x16x768xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_FloatTensor:$weight,
                       Optional<Loom_FloatTensor>:$bias,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? (`epsilon` `=` $epsilon^)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Loom_SoftmaxOp : Loom_Op<"softmax",
    [Pure, SameOperandsAndResultType]> {
  let summary = "softmax along one axis";
  let description = [{
    `result = exp(x - max(x)) / sum(exp(x - max(x)))` along `axis`. A negative
    axis counts from the end (`-1`, the default, is the last dimension).
    Fully masked rows (all `-inf`) are undefined, as in PyTorch.

    Example:

    ```mlir
    %p = loom.softmax %scores axis = 3 : tensor<1x8x16x16xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input,
                       DefaultValuedProp<I64Prop, "-1">:$axis);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`axis` `=` $axis^)? attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let extraClassDeclaration = [{
    /// The axis as a non-negative dimension index.
    int64_t getNormalizedAxis();
  }];
}

class Loom_ActivationOp<string mnemonic, list<Trait> traits = []>
    : Loom_Op<mnemonic, !listconcat(traits,
                                    [Pure, Elementwise, SameOperandsAndResultType])> {
  let results = (outs Loom_FloatTensor:$result);
}

def Loom_SiluOp : Loom_ActivationOp<"silu"> {
  let summary = "sigmoid linear unit, x * sigmoid(x)";
  let description = [{
    The activation of Llama's SwiGLU feed-forward network.

    Example:

    ```mlir
    %a = loom.silu %gate : tensor<1x16x172xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Loom_GeluOp : Loom_ActivationOp<"gelu"> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `x * Φ(x)`. With `approximation = erf` (the default) Φ is computed
    exactly through `erf`, as in BERT; with `tanh` through the tanh
    approximation `0.5 * (1 + tanh(sqrt(2/π) * (x + 0.044715 x³)))`, as in
    GPT-2.

    Example:

    ```mlir
    %a = loom.gelu %h approximation = tanh : tensor<1x16x3072xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input,
      DefaultValuedAttr<Loom_GeluApproximation,
                        "::mlir::loom::GeluApproximation::erf">:$approximation);
  let assemblyFormat = [{
    $input (`approximation` `=` $approximation^)? attr-dict `:` type($input)
  }];
}

//===----------------------------------------------------------------------===//
// Positions
//===----------------------------------------------------------------------===//

def Loom_RopeOp : Loom_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding";
  let description = [{
    Rotates pairs of features of every head by an angle that grows with the
    token's position: for the pair `i` of a head (`i < rotary_dim / 2`) at
    position `p = offset + s`, the angle is `p * theta^(-2i / rotary_dim)`.
    `input` is `[batch, seq, heads, head_dim]`; `offset` is the position of
    the first token (0 for a prompt, the cache length for a decode step).

    `style = interleaved` rotates `(x[2i], x[2i+1])` (Meta's Llama, llama2.c,
    GGUF `llama`); `style = half` rotates `(x[i], x[i + rotary_dim/2])`
    (GPT-NeoX, Hugging Face checkpoints, Falcon). `rotary_dim` (default: the
    whole head) rotates only the leading features, as in GPT-NeoX's partial
    rotary embedding; the rest pass through.

    Example:

    ```mlir
    %qr = loom.rope %q, %pos : tensor<1x16x8x8xf32>
    %kr = loom.rope %k, %pos style = half theta = 1.0e+06 rotary_dim = 4 : tensor<1x16x4x8xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Index:$offset,
      DefaultValuedAttr<F32Attr, "10000.0">:$theta,
      DefaultValuedAttr<Loom_RopeStyle,
                        "::mlir::loom::RopeStyle::interleaved">:$style,
      OptionalProp<I64Prop>:$rotary_dim);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $offset (`style` `=` $style^)? (`theta` `=` $theta^)?
    (`rotary_dim` `=` $rotary_dim^)? attr-dict `:` type($input)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The number of leading features of each head that are rotated.
    int64_t getRotaryDimOrDefault();
  }];
}

def Loom_PositionalEncodingOp : Loom_Op<"positional_encoding", [Pure]> {
  let summary = "the sinusoidal position table of the original Transformer";
  let description = [{
    A `[seq, dim]` table for positions `offset .. offset + seq - 1`:
    `pe[p, 2i] = sin(p / base^(2i/dim))`, `pe[p, 2i+1] = cos(p / base^(2i/dim))`
    ("Attention Is All You Need", section 3.5). It is added to the token
    embeddings.

    Example:

    ```mlir
    %pe = loom.positional_encoding %c0 : tensor<16x512xf32>
    ```
  }];
  let arguments = (ins Index:$offset,
                       DefaultValuedAttr<F32Attr, "10000.0">:$base);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = "$offset (`base` `=` $base^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def Loom_AttentionOp : Loom_InferredOp<"attention", [AttrSizedOperandSegments]> {
  let summary = "fused scaled dot-product attention";
  let description = [{
    `softmax(scale · Q·Kᵀ + mask) · V` per head, as one op: the form attention
    takes for code generation, whose lowering can walk the keys in tiles with
    an online softmax and never hold the whole `[q_len, kv_len]` score matrix
    (the FlashAttention idea).

    Shapes: `query` is `[batch, q_heads, q_len, head_dim]`, `key`
    `[batch, kv_heads, kv_len, head_dim]`, `value`
    `[batch, kv_heads, kv_len, v_head_dim]`, the result
    `[batch, q_heads, q_len, v_head_dim]`. Grouped-query attention: `q_heads`
    is a multiple of `kv_heads`, and query head `h` reads key/value head
    `h / (q_heads / kv_heads)`.

    Positions: key `j` is at position `j`; query `i` is at position
    `offset + i` (`offset` defaults to 0; with a KV cache it is the number of
    tokens cached before this step). With `causal`, query `i` sees key `j`
    only where `j <= offset + i`; with `window = W` (sliding window, needs
    `causal`) also only where `offset + i - j < W`.

    `mask` is an additive mask broadcast to `[batch, q_heads, q_len, kv_len]`
    (rank 4, each dimension equal or 1; or rank 2 `[q_len, kv_len]`).
    `scale` defaults to `1/sqrt(head_dim)`.

    Example:

    ```mlir
    %o = loom.attention %q, %k, %v offset(%pos) causal
        : tensor<1x8x1x8xf32>, tensor<1x4x512x8xf32>, tensor<1x4x512x8xf32> -> tensor<1x8x1x8xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$query, Loom_FloatTensor:$key,
                       Loom_FloatTensor:$value,
                       Optional<Loom_FloatTensor>:$mask,
                       Optional<Index>:$offset,
                       OptionalAttr<F32Attr>:$scale,
                       UnitProp:$causal,
                       OptionalProp<I64Prop>:$window);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`offset` `(` $offset^ `)`)? (`scale` `=` $scale^)? (`causal` $causal^)?
    (`window` `=` $window^)? attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The softmax scale: the attribute, or 1/sqrt(head_dim).
    double getScaleOrDefault();
    /// How many query heads share one key/value head.
    int64_t getGroupSize();
  }];
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

def Loom_KVCacheWriteOp : Loom_Op<"kv_cache_write",
    [Pure, AllTypesMatch<["cache", "result"]>]> {
  let summary = "writes new keys or values into a cache at a position";
  let description = [{
    Returns `cache` with `update` written at sequence positions
    `position .. position + len - 1`. Both are `[batch, heads, seq, head_dim]`;
    the cache's `seq` is its capacity. Writing past the capacity is undefined
    behaviour at run time. After bufferization the write happens in place.

    Example:

    ```mlir
    %c1 = loom.kv_cache_write %k into %c0 at %pos
        : tensor<1x4x1x8xf32> into tensor<1x4x512x8xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$update, Loom_FloatTensor:$cache,
                       Index:$position);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $update `into` $cache `at` $position attr-dict `:` type($update) `into` type($cache)
  }];
  let hasVerifier = 1;
}

def Loom_KVCacheReadOp : Loom_Op<"kv_cache_read", [Pure]> {
  let summary = "reads the valid prefix of a cache";
  let description = [{
    The first `length` positions of a `[batch, heads, capacity, head_dim]`
    cache. The result's sequence dimension is dynamic, or static where the
    length is known.

    Example:

    ```mlir
    %k = loom.kv_cache_read %cache[%len] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$cache, Index:$length);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $cache `[` $length `]` attr-dict `:` type($cache) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

def Loom_TransposeOp : Loom_InferredOp<"transpose"> {
  let summary = "permutes the dimensions of a tensor";
  let description = [{
    `result` dimension `i` is `input` dimension `permutation[i]`; the
    `[batch, seq, heads, dim]` to `[batch, heads, seq, dim]` change of an
    attention block is `[0, 2, 1, 3]`. An identity permutation folds away, and
    two transposes in a row become one.

    Example:

    ```mlir
    %t = loom.transpose %x [0, 2, 1, 3] : tensor<1x16x8x8xf32> -> tensor<1x8x16x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input $permutation attr-dict `:` type($input) `->` type($result)
  }];
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Loom_RepeatInterleaveOp : Loom_InferredOp<"repeat_interleave"> {
  let summary = "repeats every slice along an axis a number of times";
  let description = [{
    Each slice of `input` along `axis` appears `repeats` times in a row, as
    `torch.repeat_interleave`. Grouped-query attention written out by hand
    repeats the key/value heads this way (Hugging Face's `repeat_kv`), so that
    query head `h` meets key/value head `h / repeats`. `repeats = 1` folds
    away.

    Example:

    ```mlir
    %k2 = loom.repeat_interleave %k axis = 1 repeats = 2
        : tensor<1x4x16x8xf32> -> tensor<1x8x16x8xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Prop:$axis, I64Prop:$repeats);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `axis` `=` $axis `repeats` `=` $repeats attr-dict `:` type($input) `->` type($result)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Mixture of Experts
//===----------------------------------------------------------------------===//

def Loom_MoeRouterOp : Loom_InferredOp<"moe_router"> {
  let summary = "top-k expert selection from router logits";
  let description = [{
    For router logits `[tokens, experts]`, picks the `top_k` experts of each
    token and their weights: the softmax of the logits over all experts at the
    chosen ones, renormalised to sum to one when `renormalize` is set
    (Mixtral), which equals the softmax over the top-k logits alone. Ties go
    to the lower expert id. Results: `weights [tokens, top_k]` in the logits'
    element type, `experts [tokens, top_k]` as i32, best first.

    Example:

    ```mlir
    %w, %e = loom.moe_router %logits top_k = 2 renormalize
        : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$logits, I64Prop:$top_k,
                       UnitProp:$renormalize);
  let results = (outs Loom_FloatTensor:$weights, Loom_I32Tensor:$experts);
  let assemblyFormat = [{
    $logits `top_k` `=` $top_k (`renormalize` $renormalize^)? attr-dict
    `:` functional-type(operands, results)
  }];
}

def Loom_MoeDispatchOp : Loom_InferredOp<"moe_dispatch"> {
  let summary = "groups token copies by expert";
  let description = [{
    Given `input [tokens, dim]` and `experts [tokens, top_k]`, makes one row
    per (token, choice) pair, ordered by expert and, within an expert, by
    token: `sorted [tokens * top_k, dim]`. `permutation[r]` is the flat index
    `token * top_k + choice` that row `r` came from; `offsets [num_experts + 1]`
    holds where each expert's rows begin (`offsets[e] .. offsets[e+1]`). No
    `[tokens, experts, dim]` tensor is ever formed.

    Example:

    ```mlir
    %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8
        : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_I32Tensor:$experts,
                       I64Prop:$num_experts);
  let results = (outs Loom_FloatTensor:$sorted, Loom_I32Tensor:$permutation,
                      Loom_I32Tensor:$offsets);
  let assemblyFormat = [{
    $input `,` $experts `num_experts` `=` $num_experts attr-dict `:` functional-type(operands, results)
  }];
}

def Loom_MoeExpertFfnOp : Loom_InferredOp<"moe_expert_ffn"> {
  let summary = "the gated FFNs of all experts over their groups of rows";
  let description = [{
    For every expert `e` and each row `r` in `offsets[e] .. offsets[e+1]`:
    `result[r] = down[e] · (act(gate[e] · x[r]) * (up[e] · x[r]))`. Weights are
    stacked per expert: `gate`, `up` `[experts, hidden, dim]`, `down`
    `[experts, dim, hidden]` (GGUF `ffn_{gate,up,down}_exps`). Each expert's
    rows form one matrix-matrix product. `offsets` must be non-decreasing
    and within the rows (as `loom.moe_dispatch` makes them); rows outside
    `offsets[0] .. offsets[experts]` belong to no expert and are zero, so an
    op over a slice of the experts (one shard of them) yields its part of
    the sum over shards.

    Example:

    ```mlir
    %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd
        : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$input, Loom_I32Tensor:$offsets,
                       Loom_FloatTensor:$gate, Loom_FloatTensor:$up,
                       Loom_FloatTensor:$down,
                       DefaultValuedAttr<Loom_Activation,
                                         "::mlir::loom::Activation::silu">:$activation);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $offsets `,` $gate `,` $up `,` $down
    (`activation` `=` $activation^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Loom_MoeCombineOp : Loom_InferredOp<"moe_combine"> {
  let summary = "weighted sum of expert outputs back in token order";
  let description = [{
    `result[t] = Σ_j weights[t, j] · rows[r]` where `permutation[r] = t * top_k + j`:
    the inverse of `loom.moe_dispatch`, weighting each expert's output by the
    router weight.

    Example:

    ```mlir
    %out = loom.moe_combine %y, %perm, %w
        : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins Loom_FloatTensor:$rows, Loom_I32Tensor:$permutation,
                       Loom_FloatTensor:$weights);
  let results = (outs Loom_FloatTensor:$result);
  let assemblyFormat = [{
    $rows `,` $permutation `,` $weights attr-dict `:` functional-type(operands, results)
  }];
}

#endif // LOOM_DIALECT_LOOM_IR_LOOMOPS_TD
