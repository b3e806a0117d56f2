// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// GQA as Hugging Face's repeat_kv (broadcast and collapse).

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
