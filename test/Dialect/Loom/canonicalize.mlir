// RUN: loom-opt %s --split-input-file --canonicalize | FileCheck %s

// An identity transpose folds away.
// CHECK-LABEL: func.func @transpose_identity
//  CHECK-SAME:   %[[X:.+]]: tensor<2x3xf32>
//   CHECK-NOT:   loom.transpose
//       CHECK:   return %[[X]]
func.func @transpose_identity(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = loom.transpose %x [0, 1] : tensor<2x3xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Two transposes compose into one; back-to-back inverses vanish.
// CHECK-LABEL: func.func @transpose_compose
//  CHECK-SAME:   %[[X:.+]]: tensor<1x16x8x4xf32>
//       CHECK:   %[[T:.+]] = loom.transpose %[[X]] [0, 2, 3, 1] : tensor<1x16x8x4xf32> -> tensor<1x8x4x16xf32>
//   CHECK-NOT:   loom.transpose
//       CHECK:   return %[[T]], %[[X]]
func.func @transpose_compose(%x: tensor<1x16x8x4xf32>) -> (tensor<1x8x4x16xf32>, tensor<1x16x8x4xf32>) {
  %0 = loom.transpose %x [0, 2, 1, 3] : tensor<1x16x8x4xf32> -> tensor<1x8x16x4xf32>
  %1 = loom.transpose %0 [0, 1, 3, 2] : tensor<1x8x16x4xf32> -> tensor<1x8x4x16xf32>
  %2 = loom.transpose %0 [0, 2, 1, 3] : tensor<1x8x16x4xf32> -> tensor<1x16x8x4xf32>
  return %1, %2 : tensor<1x8x4x16xf32>, tensor<1x16x8x4xf32>
}

// -----

// A transpose of the last two dimensions feeding a matmul becomes the
// matmul's own flag: Q·Kᵀ has one spelling.
// CHECK-LABEL: func.func @matmul_absorbs_transpose
//  CHECK-SAME:   %[[Q:.+]]: tensor<1x8x16x8xf32>, %[[K:.+]]: tensor<1x8x24x8xf32>
//       CHECK:   %[[S:.+]] = loom.matmul %[[Q]], %[[K]] transpose_rhs : (tensor<1x8x16x8xf32>, tensor<1x8x24x8xf32>) -> tensor<1x8x16x24xf32>
//   CHECK-NOT:   loom.transpose
//       CHECK:   return %[[S]]
func.func @matmul_absorbs_transpose(%q: tensor<1x8x16x8xf32>, %k: tensor<1x8x24x8xf32>) -> tensor<1x8x16x24xf32> {
  %kt = loom.transpose %k [0, 1, 3, 2] : tensor<1x8x24x8xf32> -> tensor<1x8x8x24xf32>
  %s = loom.matmul %q, %kt : (tensor<1x8x16x8xf32>, tensor<1x8x8x24xf32>) -> tensor<1x8x16x24xf32>
  return %s : tensor<1x8x16x24xf32>
}

// -----

// A transposed operand that is already read transposed cancels out, on
// either side.
// CHECK-LABEL: func.func @matmul_double_transpose
//  CHECK-SAME:   %[[A:.+]]: tensor<4x3xf32>, %[[B:.+]]: tensor<4x5xf32>
//       CHECK:   loom.matmul %[[A]], %[[B]] transpose_lhs : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
func.func @matmul_double_transpose(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) -> tensor<3x5xf32> {
  %bt = loom.transpose %b [1, 0] : tensor<4x5xf32> -> tensor<5x4xf32>
  %s = loom.matmul %a, %bt transpose_lhs transpose_rhs : (tensor<4x3xf32>, tensor<5x4xf32>) -> tensor<3x5xf32>
  return %s : tensor<3x5xf32>
}

// -----

// A transpose of batch dimensions is not a matmul flag and stays.
// CHECK-LABEL: func.func @matmul_keeps_batch_transpose
//       CHECK:   loom.transpose %{{.+}} [1, 0, 2, 3]
//       CHECK:   loom.matmul
//   CHECK-NOT:   transpose_rhs
func.func @matmul_keeps_batch_transpose(%q: tensor<2x4x16x8xf32>, %k: tensor<4x2x8x16xf32>) -> tensor<2x4x16x16xf32> {
  %kt = loom.transpose %k [1, 0, 2, 3] : tensor<4x2x8x16xf32> -> tensor<2x4x8x16xf32>
  %s = loom.matmul %q, %kt : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
  return %s : tensor<2x4x16x16xf32>
}

// -----

// Repeating once is the identity; repeating twice stays.
// CHECK-LABEL: func.func @repeat_once
//  CHECK-SAME:   %[[K:.+]]: tensor<1x4x16x8xf32>
//       CHECK:   %[[R:.+]] = loom.repeat_interleave %[[K]] axis = 1 repeats = 2
//       CHECK:   return %[[K]], %[[R]]
func.func @repeat_once(%k: tensor<1x4x16x8xf32>) -> (tensor<1x4x16x8xf32>, tensor<1x8x16x8xf32>) {
  %0 = loom.repeat_interleave %k axis = 1 repeats = 1 : tensor<1x4x16x8xf32> -> tensor<1x4x16x8xf32>
  %1 = loom.repeat_interleave %k axis = 1 repeats = 2 : tensor<1x4x16x8xf32> -> tensor<1x8x16x8xf32>
  return %0, %1 : tensor<1x4x16x8xf32>, tensor<1x8x16x8xf32>
}

// -----

// The softmax over a single element is a tensor of ones; over more it stays.
// CHECK-LABEL: func.func @softmax_single
//       CHECK:   %[[ONES:.+]] = arith.constant dense<1.000000e+00> : tensor<1x8x16x1xf32>
//       CHECK:   %[[S:.+]] = loom.softmax %{{.+}} axis = 2
//       CHECK:   return %[[ONES]], %[[S]]
func.func @softmax_single(%x: tensor<1x8x16x1xf32>) -> (tensor<1x8x16x1xf32>, tensor<1x8x16x1xf32>) {
  %0 = loom.softmax %x : tensor<1x8x16x1xf32>
  %1 = loom.softmax %x axis = 2 : tensor<1x8x16x1xf32>
  return %0, %1 : tensor<1x8x16x1xf32>, tensor<1x8x16x1xf32>
}

// -----

// Reading a cache's whole capacity reads the cache; a shorter read stays.
// CHECK-LABEL: func.func @kv_read_whole
//  CHECK-SAME:   %[[C:.+]]: tensor<1x4x512x8xf32>
//       CHECK:   %[[R:.+]] = loom.kv_cache_read %[[C]]
//       CHECK:   return %[[C]], %[[R]]
func.func @kv_read_whole(%c: tensor<1x4x512x8xf32>) -> (tensor<1x4x512x8xf32>, tensor<1x4x?x8xf32>) {
  %c512 = arith.constant 512 : index
  %c100 = arith.constant 100 : index
  %0 = loom.kv_cache_read %c[%c512] : tensor<1x4x512x8xf32> -> tensor<1x4x512x8xf32>
  %1 = loom.kv_cache_read %c[%c100] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
  return %0, %1 : tensor<1x4x512x8xf32>, tensor<1x4x?x8xf32>
}

// -----

// Unused weights are dead code; used ones stay.
// CHECK-LABEL: func.func @dce
//   CHECK-NOT:   loom.weight "unused"
//       CHECK:   %[[W:.+]] = loom.weight "w"
//       CHECK:   loom.linear %{{.+}}, %[[W]]
func.func @dce(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %unused = loom.weight "unused" : tensor<4xf32>
  %w = loom.weight "w" : tensor<4x4xf32>
  %a = loom.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %a : tensor<2x4xf32>
}
