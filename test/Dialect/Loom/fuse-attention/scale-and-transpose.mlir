// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// The scale on the scores, on Q, or as a division by sqrt(d); K transposed by a transpose op or the matmul flag.

// Scale on the scores as a splat constant, K transposed by a transpose op.
// CHECK-LABEL: func.func @scaled_scores_transpose_op
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x8x16x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x8x16x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x8x16x8xf32>
//       CHECK:   %[[O:.+]] = loom.attention %[[Q]], %[[K]], %[[V]] scale = 0.353553385 : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
//   CHECK-NOT:   loom.softmax
//   CHECK-NOT:   loom.matmul
//       CHECK:   return %[[O]]
func.func @scaled_scores_transpose_op(%q: tensor<1x8x16x8xf32>, %k: tensor<1x8x16x8xf32>, %v: tensor<1x8x16x8xf32>) -> tensor<1x8x16x8xf32> {
  %kt = loom.transpose %k [0, 1, 3, 2] : tensor<1x8x16x8xf32> -> tensor<1x8x8x16xf32>
  %s = loom.matmul %q, %kt : (tensor<1x8x16x8xf32>, tensor<1x8x8x16xf32>) -> tensor<1x8x16x16xf32>
  %c = arith.constant dense<0.353553385> : tensor<1x8x16x16xf32>
  %scaled = arith.mulf %s, %c : tensor<1x8x16x16xf32>
  %p = loom.softmax %scaled axis = 3 : tensor<1x8x16x16xf32>
  %o = loom.matmul %p, %v : (tensor<1x8x16x16xf32>, tensor<1x8x16x8xf32>) -> tensor<1x8x16x8xf32>
  return %o : tensor<1x8x16x8xf32>
}

// -----

// Division by sqrt(d), K transposed by the matmul's own flag.
// CHECK-LABEL: func.func @divided_by_sqrt_d_matmul_flag
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.250000e-01 :
//   CHECK-NOT:   loom.softmax
func.func @divided_by_sqrt_d_matmul_flag(%q: tensor<1x4x16x64xf32>, %k: tensor<1x4x16x64xf32>, %v: tensor<1x4x16x64xf32>) -> tensor<1x4x16x64xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x4x16x64xf32>, tensor<1x4x16x64xf32>) -> tensor<1x4x16x16xf32>
  %d = arith.constant 8.0 : f32
  %ds = tensor.splat %d : tensor<1x4x16x16xf32>
  %scaled = arith.divf %s, %ds : tensor<1x4x16x16xf32>
  %p = loom.softmax %scaled : tensor<1x4x16x16xf32>
  %o = loom.matmul %p, %v : (tensor<1x4x16x16xf32>, tensor<1x4x16x64xf32>) -> tensor<1x4x16x64xf32>
  return %o : tensor<1x4x16x64xf32>
}

// -----

// The scale applied to Q instead of the scores.
// CHECK-LABEL: func.func @scaled_query
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x2x4x16xf32>
//       CHECK:   loom.attention %[[Q]], %{{.+}}, %{{.+}} scale = 2.500000e-01 :
func.func @scaled_query(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %c = arith.constant dense<0.25> : tensor<1x2x4x16xf32>
  %qs = arith.mulf %q, %c : tensor<1x2x4x16xf32>
  %s = loom.matmul %qs, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}
