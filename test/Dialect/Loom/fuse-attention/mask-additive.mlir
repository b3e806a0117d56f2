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

// -----

// An ALiBi bias (head h adds -slope_h * (i - j), slope_h = 2^-(h+1)) on top
// of the scaled scores, with a causal part: a bias, not a mask, so it stays
// an additive operand of the scores' shape (it reads the head index), and
// the attention fuses with it.
// CHECK-LABEL: func.func @alibi_bias
//       CHECK:   %[[B:.+]] = tensor.generate
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[B]] : tensor<1x2x8x8xf32>) scale = 2.500000e-01 :
//   CHECK-NOT:   loom.softmax
func.func @alibi_bias(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x8xf32>
  %c = arith.constant dense<0.25> : tensor<1x2x8x8xf32>
  %scaled = arith.mulf %s, %c : tensor<1x2x8x8xf32>
  %bias = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %after = arith.cmpi ugt, %j, %i : index
    %ii = arith.index_cast %i : index to i32
    %jj = arith.index_cast %j : index to i32
    %d = arith.subi %ii, %jj : i32
    %df = arith.sitofp %d : i32 to f32
    %hh = arith.index_cast %h : index to i32
    %one = arith.constant 1 : i32
    %e = arith.addi %hh, %one : i32
    %ef = arith.sitofp %e : i32 to f32
    %two = arith.constant 2.0 : f32
    %ninv = arith.negf %ef : f32
    %slope = math.powf %two, %ninv : f32
    %pen = arith.mulf %slope, %df : f32
    %neg = arith.negf %pen : f32
    %ninf = arith.constant 0xFF800000 : f32
    %m = arith.select %after, %ninf, %neg : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %scaled, %bias : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}
