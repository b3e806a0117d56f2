// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

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

// -----

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

// The frontend's spelling: GQA as repeat_interleave of K and V over a KV
// cache, a causal mask generated from the position. It becomes a causal
// attention at that offset over the unrepeated heads.
// CHECK-LABEL: func.func @frontend_causal_gqa
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x8x?x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x4x?x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x4x?x8xf32>, %[[POS:[[:alnum:]_]+]]: index
//       CHECK:   %[[O:.+]] = loom.attention %[[Q]], %[[K]], %[[V]] offset(%[[POS]]) scale = 0.353553385 causal : tensor<1x8x?x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
//   CHECK-NOT:   tensor.generate
//   CHECK-NOT:   loom.repeat_interleave
//       CHECK:   return %[[O]]
func.func @frontend_causal_gqa(%q: tensor<1x8x?x8xf32>, %k: tensor<1x4x?x8xf32>, %v: tensor<1x4x?x8xf32>, %pos: index) -> tensor<1x8x?x8xf32> {
  %c2 = arith.constant 2 : index
  %kr = loom.repeat_interleave %k axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
  %vr = loom.repeat_interleave %v axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
  %kt = loom.transpose %kr [0, 1, 3, 2] : tensor<1x8x?x8xf32> -> tensor<1x8x8x?xf32>
  %s = loom.matmul %q, %kt : (tensor<1x8x?x8xf32>, tensor<1x8x8x?xf32>) -> tensor<1x8x?x?xf32>
  %n = tensor.dim %q, %c2 : tensor<1x8x?x8xf32>
  %len = tensor.dim %k, %c2 : tensor<1x4x?x8xf32>
  %c = arith.constant 0.353553385 : f32
  %cs = tensor.splat %c[%n, %len] : tensor<1x8x?x?xf32>
  %scaled = arith.mulf %s, %cs : tensor<1x8x?x?xf32>
  %mask = tensor.generate %n, %len {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %qpos = arith.addi %pos, %i : index
    %hidden = arith.cmpi ugt, %j, %qpos : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %hidden, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x8x?x?xf32>
  %masked = arith.addf %scaled, %mask : tensor<1x8x?x?xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x8x?x?xf32>
  %o = loom.matmul %p, %vr : (tensor<1x8x?x?xf32>, tensor<1x8x?x8xf32>) -> tensor<1x8x?x8xf32>
  return %o : tensor<1x8x?x8xf32>
}

// -----

// A sliding-window causal mask (Mistral) without offset: causal, window 4.
// CHECK-LABEL: func.func @sliding_window
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal window = 4 :
func.func @sliding_window(%q: tensor<1x2x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) -> tensor<1x2x16x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) -> tensor<1x2x16x16xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %after = arith.cmpi ugt, %j, %i : index
    %w = arith.constant 4 : index
    %jw = arith.addi %j, %w : index
    %old = arith.cmpi ule, %jw, %i : index
    %hidden = arith.ori %after, %old : i1
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %hidden, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x16x16xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x16x16xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x16x16xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x16x16xf32>, tensor<1x2x16x8xf32>) -> tensor<1x2x16x8xf32>
  return %o : tensor<1x2x16x8xf32>
}

// -----

// A generated mask that is not causal (it hides keys before the query) stays
// an explicit mask.
// CHECK-LABEL: func.func @anticausal_generate_is_a_plain_mask
//       CHECK:   %[[M:.+]] = tensor.generate
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[M]] : tensor<1x2x8x8xf32>) scale = 1.000000e+00 :
//   CHECK-NOT:   causal
func.func @anticausal_generate_is_a_plain_mask(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %before = arith.cmpi ult, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %before, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

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

// K and V repeated differently: the heads would not line up.
// CHECK-LABEL: func.func @repeats_differ
//   CHECK-NOT:   loom.attention
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

// -----

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

// -----

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

// -----

// GQA spelled as Hugging Face's repeat_kv: K and V broadcast to
// [b, kv, rep, s, d] and collapsed to [b, kv * rep, s, d].
// CHECK-LABEL: func.func @gqa_broadcast_collapse
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x8x4x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>
//       CHECK:   loom.attention %[[Q]], %[[K]], %[[V]] scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
//   CHECK-NOT:   linalg.broadcast
func.func @gqa_broadcast_collapse(%q: tensor<1x8x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %ek = tensor.empty() : tensor<1x2x4x4x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x4x8xf32>) outs(%ek : tensor<1x2x4x4x8xf32>) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x4x4x8xf32> into tensor<1x8x4x8xf32>
  %ev = tensor.empty() : tensor<1x2x4x4x8xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x4x8xf32>) outs(%ev : tensor<1x2x4x4x8xf32>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x4x4x8xf32> into tensor<1x8x4x8xf32>
  %s = loom.matmul %q, %kr transpose_rhs : (tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %vr : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}

// -----

// A broadcast along another axis is not a repeat of the heads: the
// attention reads the broadcast keys as they are.
// CHECK-LABEL: func.func @broadcast_not_heads
//       CHECK:   %[[B:.+]] = linalg.broadcast
//       CHECK:   %[[KR:.+]] = tensor.collapse_shape %[[B]]
//       CHECK:   loom.attention %{{.+}}, %[[KR]], %{{.+}} scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>
func.func @broadcast_not_heads(%q: tensor<1x8x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %ek = tensor.empty() : tensor<1x2x4x4x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x4x8xf32>) outs(%ek : tensor<1x2x4x4x8xf32>) dimensions = [3]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x4x4x8xf32> into tensor<1x8x4x8xf32>
  %s = loom.matmul %q, %kr transpose_rhs : (tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}
