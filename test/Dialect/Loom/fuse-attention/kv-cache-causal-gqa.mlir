// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// The frontend's spelling: a KV cache, a generated causal mask at an offset, GQA by repeat_interleave.

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
