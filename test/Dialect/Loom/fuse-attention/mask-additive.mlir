// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Additive masks.

// No scale at all: the scale is 1, said explicitly (the op's default is
// 1/sqrt(d)). An explicit additive mask stays a mask operand.
// CHECK-LABEL: func.func @unscaled_with_mask
//  CHECK-SAME:   %[[M:[[:alnum:]_]+]]: tensor<1x2x4x4xf32>
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[M]] : tensor<1x2x4x4xf32>) scale = 1.000000e+00 :
func.func @unscaled_with_mask(%q: tensor<1x2x4x16xf32>, %k: tensor<1x2x4x16xf32>, %v: tensor<1x2x4x16xf32>, %m: tensor<1x2x4x4xf32>) -> tensor<1x2x4x16xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x4xf32>
  %masked = arith.addf %m, %s : tensor<1x2x4x4xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>
  return %o : tensor<1x2x4x16xf32>
}
