// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Masks as a select of -inf.

// The mask as a select: where(i1 causal condition, -inf, scores), the
// condition a generated iota comparison (key after query).
// CHECK-LABEL: func.func @select_hidden_causal
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal :
//   CHECK-NOT:   arith.select
func.func @select_hidden_causal(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %hidden = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %after = arith.cmpi ugt, %j, %i : index
    tensor.yield %after : i1
  } : tensor<1x2x8x8xi1>
  %ninf = arith.constant dense<0xFF800000> : tensor<1x2x8x8xf32>
  %masked = arith.select %hidden, %ninf, %s : tensor<1x2x8x8xi1>, tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// where(visible, scores, -inf) with a visible-key condition (j <= offset + i):
// also causal, at the offset.
// CHECK-LABEL: func.func @select_visible_causal
//  CHECK-SAME:   %[[POS:[[:alnum:]_]+]]: index
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} offset(%[[POS]]) scale = 1.000000e+00 causal :
func.func @select_visible_causal(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>, %pos: index) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %visible = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %qpos = arith.addi %i, %pos : index
    %seen = arith.cmpi ule, %j, %qpos : index
    tensor.yield %seen : i1
  } : tensor<1x2x8x8xi1>
  %ninf = arith.constant dense<0xFF800000> : tensor<1x2x8x8xf32>
  %masked = arith.select %visible, %s, %ninf : tensor<1x2x8x8xi1>, tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// Any other boolean mask becomes the additive mask it stands for.
// CHECK-LABEL: func.func @select_boolean_mask
//  CHECK-SAME:   %[[B:[[:alnum:]_]+]]: tensor<1x2x8x8xi1>
//       CHECK:   %[[M:.+]] = arith.select %[[B]], %{{.+}}, %{{.+}} : tensor<1x2x8x8xi1>, tensor<1x2x8x8xf32>
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[M]] : tensor<1x2x8x8xf32>) scale = 1.000000e+00 :
func.func @select_boolean_mask(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>, %keep: tensor<1x2x8x8xi1>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %ninf = arith.constant dense<0xFF800000> : tensor<1x2x8x8xf32>
  %masked = arith.select %keep, %s, %ninf : tensor<1x2x8x8xi1>, tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// A select that replaces scores by something other than -inf is not a mask.
// CHECK-LABEL: func.func @select_not_a_mask
//   CHECK-NOT:   loom.attention
func.func @select_not_a_mask(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>, %keep: tensor<1x2x8x8xi1>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %five = arith.constant dense<5.0> : tensor<1x2x8x8xf32>
  %masked = arith.select %keep, %s, %five : tensor<1x2x8x8xi1>, tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}
