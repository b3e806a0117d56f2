// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// What is not attention is left alone.

// Softmax over the queries is not attention.
// CHECK-LABEL: func.func @softmax_wrong_axis
//   CHECK-NOT:   loom.attention
//       CHECK:   loom.softmax %{{.+}} axis = 2
func.func @softmax_wrong_axis(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %p = loom.softmax %s axis = 2 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// A scale that varies per element is not a softmax scale.
// CHECK-LABEL: func.func @scale_varies
//   CHECK-NOT:   loom.attention
func.func @scale_varies(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>, %t: tensor<1x2x4x4xf32>) -> tensor<1x2x4x16xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %scaled = arith.mulf %s, %t : tensor<1x2x4x4xf32>
  %p = loom.softmax %scaled axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// A "mask" multiplied in is not a mask.
// CHECK-LABEL: func.func @mask_multiplied
//   CHECK-NOT:   loom.attention
func.func @mask_multiplied(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>, %m: tensor<1x2x4x4xf32>) -> tensor<1x2x4x16xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %c = arith.constant dense<0.25> : tensor<1x2x4x4xf32>
  %scaled = arith.mulf %s, %c : tensor<1x2x4x4xf32>
  %masked = arith.subf %scaled, %m : tensor<1x2x4x4xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// K repeated and V not: no grouping to recover (the heads would not line
// up), so K is read with its heads written out, as the author wrote it.
// CHECK-LABEL: func.func @repeats_differ
//       CHECK:   %[[KR:.+]] = loom.repeat_interleave
//       CHECK:   loom.attention %{{.+}}, %[[KR]], %{{.+}} scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>
func.func @repeats_differ(%q: tensor<1x8x4x8xf32>, %k: tensor<1x4x4x8xf32>, %v: tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %kr = loom.repeat_interleave %k axis = 1 repeats = 2 : tensor<1x4x4x8xf32> -> tensor<1x8x4x8xf32>
  %s = loom.matmul %q, %kr transpose_rhs : (tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}

// -----

// K transposed some other way is not Kᵀ.
// CHECK-LABEL: func.func @wrong_transpose
//   CHECK-NOT:   loom.attention
func.func @wrong_transpose(%q: tensor<1x4x4x4xf32>, %k: tensor<4x1x4x4xf32>, %v: tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> {
  %kt = loom.transpose %k [1, 0, 2, 3] : tensor<4x1x4x4xf32> -> tensor<1x4x4x4xf32>
  %s = loom.matmul %q, %kt : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x4x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %o : tensor<1x4x4x4xf32>
}
