// RUN: loom-opt %s --split-input-file --loom-narrow-weights | FileCheck %s
// RUN: not loom-opt %s --split-input-file --loom-narrow-weights="element-type=f16" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: loom-opt %s --split-input-file --loom-narrow-weights --loom-weights-to-arguments | FileCheck %s --check-prefix=ARGS

// The bf16 compute mode: a linear layer's f32 matrix is read as bf16 (the
// runtime's copy, made at load from the f32 the file stores) and widened
// where it was used. A table only an embedding reads, and a norm's vector,
// stay f32.
// CHECK-LABEL: func.func @layer
//       CHECK:   %[[B:.+]] = loom.weight "w" {loom.packed_from = "f32"} : tensor<8x64xbf16>
//       CHECK:   %[[W:.+]] = arith.extf %[[B]] : tensor<8x64xbf16> to tensor<8x64xf32>
//       CHECK:   loom.linear %{{.+}}, %[[W]]
//       CHECK:   loom.weight "table" : tensor<32x64xf32>
//       CHECK:   loom.weight "norm" : tensor<64xf32>
// The marker travels to the argument (and from there to the manifest).
// ARGS-LABEL: func.func @layer
//  ARGS-SAME:   %{{.+}}: tensor<8x64xbf16> {loom.packed_from = "f32", loom.weight = "w"}
// BAD: loom-narrow-weights: element-type 'f16' is not supported (bf16 is)
func.func @layer(%x: tensor<4x64xf32>, %ids: tensor<1x4xi32>) -> (tensor<4x8xf32>, tensor<1x4x64xf32>, tensor<4x64xf32>) {
  %w = loom.weight "w" : tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
  %t = loom.weight "table" : tensor<32x64xf32>
  %e = loom.embedding %t, %ids : (tensor<32x64xf32>, tensor<1x4xi32>) -> tensor<1x4x64xf32>
  %n = loom.weight "norm" : tensor<64xf32>
  %r = loom.rms_norm %x, %n : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %y, %e, %r : tensor<4x8xf32>, tensor<1x4x64xf32>, tensor<4x64xf32>
}

// -----

// Tied embeddings: the LM head and the embedding read one matrix; both
// read the bf16 copy (the embedding widens the rows it gathers).
// CHECK-LABEL: func.func @tied
//       CHECK:   %[[B:.+]] = loom.weight "token_embd.weight" {loom.packed_from = "f32"} : tensor<32x64xbf16>
//       CHECK:   %[[W:.+]] = arith.extf %[[B]]
//       CHECK:   loom.embedding %[[W]]
//       CHECK:   loom.linear %{{.+}}, %[[W]]
func.func @tied(%ids: tensor<1x4xi32>) -> tensor<1x4x32xf32> {
  %t = loom.weight "token_embd.weight" : tensor<32x64xf32>
  %e = loom.embedding %t, %ids : (tensor<32x64xf32>, tensor<1x4xi32>) -> tensor<1x4x64xf32>
  %y = loom.linear %e, %t : (tensor<1x4x64xf32>, tensor<32x64xf32>) -> tensor<1x4x32xf32>
  return %y : tensor<1x4x32xf32>
}

// -----

// A matrix used any other way (here as a matmul operand) stays f32.
// CHECK-LABEL: func.func @other_use
//   CHECK-NOT:   packed_from
func.func @other_use(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = loom.weight "w" : tensor<8x8xf32>
  %y = loom.linear %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %z = loom.matmul %y, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %z : tensor<4x8xf32>
}
