// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// The scale wherever it is mathematically a scale of the scores: on K (or
// Kᵀ), split between Q and K (d^-1/4 on each, as Whisper does), on the
// left of a product, as a division, inside an elementwise linalg.generic
// with the constant in its body, or several of these at once.

// d^-1/4 on Q and on K (16^-1/4 = 0.5 each: scale 0.25).
// CHECK-LABEL: func.func @split_between_q_and_k
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x2x4x16xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x2x4x16xf32>
//       CHECK:   loom.attention %[[Q]], %[[K]], %{{.+}} scale = 2.500000e-01 :
func.func @split_between_q_and_k(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %c = arith.constant dense<0.5> : tensor<1x2x4x16xf32>
  %qs = arith.mulf %q, %c : tensor<1x2x4x16xf32>
  %ks = arith.mulf %c, %k : tensor<1x2x4x16xf32>
  %s = loom.matmul %qs, %ks transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// On Kᵀ (after the transpose), as a division.
// CHECK-LABEL: func.func @divided_k_transposed
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 2.500000e-01 :
func.func @divided_k_transposed(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %kt = loom.transpose %k [0, 1, 3, 2] : tensor<1x2x4x16xf32> -> tensor<1x2x16x4xf32>
  %four = arith.constant 4.0 : f32
  %d = tensor.splat %four : tensor<1x2x16x4xf32>
  %kts = arith.divf %kt, %d : tensor<1x2x16x4xf32>
  %s = loom.matmul %q, %kts : (tensor<1x2x4x16xf32>, tensor<1x2x16x4xf32>) -> tensor<1x2x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// On the left of the product with the scores, in a generic whose body holds
// the constant, and again on Q (0.5 x 0.5).
// CHECK-LABEL: func.func @generic_scale_and_q
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 2.500000e-01 :
//   CHECK-NOT:   linalg.generic
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @generic_scale_and_q(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %c = arith.constant dense<0.5> : tensor<1x2x4x16xf32>
  %qs = arith.mulf %c, %q : tensor<1x2x4x16xf32>
  %s = loom.matmul %qs, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %x = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %half = arith.constant 0.5 : f32
    %r = arith.mulf %half, %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %p = loom.softmax %x axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Near miss: a constant added, not multiplied, is a (uniform) mask, which
// softmax ignores: it fuses as an additive mask, not as a scale.
// CHECK-LABEL: func.func @constant_added
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%{{.+}}) scale = 1.000000e+00 :
func.func @constant_added(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %c = arith.constant dense<3.0> : tensor<1x2x4x4xf32>
  %x = arith.addf %s, %c : tensor<1x2x4x4xf32>
  %p = loom.softmax %x axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}

// -----

// Q multiplied by a tensor that varies per element is another query, not a
// scale: the product stays, as the fused op's Q (scale 1).
// CHECK-LABEL: func.func @q_scaled_per_element
//       CHECK:   %[[QS:.+]] = arith.mulf %arg0, %arg3
//       CHECK:   loom.attention %[[QS]], %arg1, %arg2 scale = 1.000000e+00 :
func.func @q_scaled_per_element(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>, %t: tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32> {
  %qs = arith.mulf %q, %t : tensor<1x2x4x16xf32>
  %s = loom.matmul %qs, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}
