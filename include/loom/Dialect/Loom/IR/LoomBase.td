//===- LoomBase.td - loom dialect definition and base classes -*- tablegen -*-===//
//
// The `loom` dialect: tensor-level operations for decoder and encoder
// transformers.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_IR_LOOMBASE_TD
#define LOOM_DIALECT_LOOM_IR_LOOMBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Loom_Dialect : Dialect {
  let name = "loom";
  let cppNamespace = "::mlir::loom";
  let summary = "Tensor-level operations for transformer models";
  let description = [{
    The `loom` dialect is the level at which Loom keeps what it knows about
    transformers: named model parameters, embeddings, linear layers, norms,
    rotary position embeddings, fused attention, the KV cache and
    Mixture-of-Experts routing. Every op works on ranked tensors with value
    semantics and infers its result type from its operands.

    Plain elementwise arithmetic (residual adds, the gating multiply of a
    SwiGLU FFN, scaling by a constant) is written with upstream `arith` and
    `math` ops on tensors; reshapes, slices and concatenations with the
    upstream `tensor` dialect. Loom adds ops only where they make model IR
    read like the model or carry knowledge a later pass needs (see
    `docs/Dialects/LoomRationale.md`).
  }];
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
  // The `loom.*` attributes of ops, arguments and results are checked
  // (LoomDialect.cpp: a misspelt or mistyped one is an error).
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
  private:
    void registerAttributes();
  public:
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

/// Base class of every loom op.
// Every ranked tensor an op takes or gives has a size in bytes that fits in
// int64: passes multiply shapes freely, so IR whose products overflow is
// rejected by the verifier instead of being miscompiled.
def Loom_ShapesFitInInt64 : NativeOpTrait<"ShapesFitInInt64"> {
  let cppNamespace = "::mlir::loom";
}

class Loom_Op<string mnemonic, list<Trait> traits = []>
    : Op<Loom_Dialect, mnemonic, !listconcat([Loom_ShapesFitInInt64], traits)>;

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

/// Activations and parameters: f32, f16 or bf16 ranked tensors.
def Loom_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
/// Token ids, expert ids and permutations.
def Loom_IntTensor : RankedTensorOf<[I32, I64]>;
def Loom_I32Tensor : RankedTensorOf<[I32]>;
/// The bytes of a block-quantized weight: [rows..., blocks, bytes per block].
def Loom_BlockTensor : RankedTensorOf<[I8]>;

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Loom_GeluApproximation : I32EnumAttr<"GeluApproximation",
    "how gelu is computed", [
      I32EnumAttrCase<"erf", 0>,
      I32EnumAttrCase<"tanh", 1>
    ]> {
  let cppNamespace = "::mlir::loom";
}

def Loom_RopeStyle : I32EnumAttr<"RopeStyle",
    "which pairs of a head's features a rotary embedding rotates", [
      // (x[2i], x[2i+1]): Llama's original layout, llama2.c, GGUF llama.
      I32EnumAttrCase<"interleaved", 0>,
      // (x[i], x[i + d/2]): rotate-half, GPT-NeoX, Hugging Face Llama, Falcon.
      I32EnumAttrCase<"half", 1>
    ]> {
  let cppNamespace = "::mlir::loom";
}

def Loom_Activation : I32EnumAttr<"Activation",
    "the activation of a gated feed-forward network", [
      I32EnumAttrCase<"silu", 0>,
      I32EnumAttrCase<"gelu", 1>
    ]> {
  let cppNamespace = "::mlir::loom";
}

def Loom_BlockFormat : I32EnumAttr<"BlockFormat",
    "a block-quantized storage format of weights (GGUF's)", [
      // Blocks of 32 values: an f16 scale d, then 32 int8 q; value = d * q.
      // 34 bytes per block.
      I32EnumAttrCase<"q8_0", 0>,
      // Blocks of 32 values: an f16 scale d, then 16 bytes whose low nibbles
      // are values 0-15 and high nibbles values 16-31; value = d * (q - 8).
      // 18 bytes per block.
      I32EnumAttrCase<"q4_0", 1>,
      // q4_0 with the blocks of 8 consecutive rows interleaved, as Loom
      // repacks q4_0 matrices at load (loom-interleave-weights): per group
      // of 8 rows and block, the 8 rows' f16 scales (16 bytes), then 4
      // chunks of 32 bytes, chunk c holding bytes 4c..4c+3 of each of the
      // 8 rows' 16 bytes of nibbles in turn. 144 bytes per group and block;
      // the input is [rows / 8, blocks, 144].
      I32EnumAttrCase<"q4_0x8", 2>,
      // q8_0 with the blocks of 8 consecutive rows interleaved
      // (loom-interleave-weights): per group of 8 rows and block, the 8
      // rows' f16 scales (16 bytes), then 8 chunks of 32 bytes, chunk c
      // holding values 4c..4c+3 of each of the 8 rows in turn, each stored
      // as q + 128 (unsigned). 272 bytes per group and block; the input is
      // [rows / 8, blocks, 272].
      I32EnumAttrCase<"q8_0x8", 3>,
      // Blocks of 32 values: an f16 scale d, an f16 minimum m, then 16
      // bytes of nibbles as q4_0's (low nibbles values 0-15, high 16-31);
      // value = d * q + m. 20 bytes per block.
      I32EnumAttrCase<"q4_1", 4>,
      // Blocks of 32 values: an f16 scale d, 4 bytes holding the values'
      // fifth bits (bit i for value i), then q4_0's 16 bytes of nibbles;
      // value = d * (q - 16). 22 bytes per block.
      I32EnumAttrCase<"q5_0", 5>,
      // q5_0 with an f16 minimum m after d and unsigned values: value =
      // d * q + m. 24 bytes per block.
      I32EnumAttrCase<"q5_1", 6>,
      // The K-quants: super-blocks of 256 values (the input is [rows...,
      // super-blocks, bytes]) in sub-blocks with scales of their own, as
      // ggml-common.h defines block_q2_K ... block_q6_K. q2_k: 2-bit values
      // in sub-blocks of 16, each with a 4-bit scale and minimum, f16 d and
      // dmin (84 bytes).
      I32EnumAttrCase<"q2_k", 7>,
      // 3-bit values (2 low bits + a high-bit mask) in sub-blocks of 16 with
      // 6-bit signed scales, f16 d (110 bytes).
      I32EnumAttrCase<"q3_k", 8>,
      // 4-bit values in sub-blocks of 32 with 6-bit scales and minimums,
      // f16 d and dmin: value = d * sc * q - dmin * m (144 bytes).
      I32EnumAttrCase<"q4_k", 9>,
      // q4_k with a fifth bit per value (176 bytes).
      I32EnumAttrCase<"q5_k", 10>,
      // 6-bit values (q - 32) in sub-blocks of 16 with int8 scales, f16 d
      // (210 bytes).
      I32EnumAttrCase<"q6_k", 11>,
      // q4_0's layout, each nibble an index into a fixed table of 16 values
      // from -127 to 113: value = d * table[q]. 18 bytes per block.
      I32EnumAttrCase<"iq4_nl", 12>
    ]> {
  let cppNamespace = "::mlir::loom";
}

#endif // LOOM_DIALECT_LOOM_IR_LOOMBASE_TD
