// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Q, K, V in [batch, seq, heads, dim].

// Q, K and V in [batch, seq, heads, dim]: the author moves the heads out
// (K straight to [b, h, d, s]) and the output back. The attention runs in
// [b, h, s, d]; the transposes around it stay.
// CHECK-LABEL: func.func @bshd_layout
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x16x4x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x16x4x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x16x4x8xf32>
//   CHECK-DAG:   %[[QT:.+]] = loom.transpose %[[Q]] [0, 2, 1, 3]
//   CHECK-DAG:   %[[KT:.+]] = loom.transpose %[[K]] [0, 2, 1, 3]
//   CHECK-DAG:   %[[VT:.+]] = loom.transpose %[[V]] [0, 2, 1, 3]
//       CHECK:   %[[O:.+]] = loom.attention %[[QT]], %[[KT]], %[[VT]] scale = 0.353553385 :
//       CHECK:   loom.transpose %[[O]] [0, 2, 1, 3]
func.func @bshd_layout(%q: tensor<1x16x4x8xf32>, %k: tensor<1x16x4x8xf32>, %v: tensor<1x16x4x8xf32>) -> tensor<1x16x4x8xf32> {
  %qt = loom.transpose %q [0, 2, 1, 3] : tensor<1x16x4x8xf32> -> tensor<1x4x16x8xf32>
  %kt = loom.transpose %k [0, 2, 3, 1] : tensor<1x16x4x8xf32> -> tensor<1x4x8x16xf32>
  %vt = loom.transpose %v [0, 2, 1, 3] : tensor<1x16x4x8xf32> -> tensor<1x4x16x8xf32>
  %s = loom.matmul %qt, %kt : (tensor<1x4x16x8xf32>, tensor<1x4x8x16xf32>) -> tensor<1x4x16x16xf32>
  %c = arith.constant dense<0.353553385> : tensor<1x4x16x16xf32>
  %scaled = arith.mulf %s, %c : tensor<1x4x16x16xf32>
  %p = loom.softmax %scaled axis = 3 : tensor<1x4x16x16xf32>
  %o = loom.matmul %p, %vt : (tensor<1x4x16x16xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  %ot = loom.transpose %o [0, 2, 1, 3] : tensor<1x4x16x8xf32> -> tensor<1x16x4x8xf32>
  return %ot : tensor<1x16x4x8xf32>
}
