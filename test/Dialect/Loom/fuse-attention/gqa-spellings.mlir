// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s
// RUN: loom-opt %s --split-input-file --loom-fuse-attention | FileCheck %s --check-prefix=RAW

// K/V heads repeated for grouped-query or multi-query attention in the
// other spellings exporters write: Meta's repeat_kv (on [b, s, kv, d],
// before the transpose to [b, h, s, d]) and one shared head broadcast to
// every head. The fused op reads the shared heads.

// Meta's repeat: [b, s, kv, d] broadcast to [b, s, kv, rep, d], collapsed
// to [b, s, h, d], then transposed; K straight from that layout to Kᵀ.
// CHECK-LABEL: func.func @meta_repeat_kv
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x8x4x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x4x2x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x4x2x8xf32>
//   CHECK-DAG:   %[[KT:.+]] = loom.transpose %[[K]] [0, 2, 1, 3] : tensor<1x4x2x8xf32> -> tensor<1x2x4x8xf32>
//   CHECK-DAG:   %[[VT:.+]] = loom.transpose %[[V]] [0, 2, 1, 3] : tensor<1x4x2x8xf32> -> tensor<1x2x4x8xf32>
//       CHECK:   loom.attention %[[Q]], %[[KT]], %[[VT]] scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
//   CHECK-NOT:   linalg.broadcast
func.func @meta_repeat_kv(%q: tensor<1x8x4x8xf32>, %k: tensor<1x4x2x8xf32>, %v: tensor<1x4x2x8xf32>) -> tensor<1x8x4x8xf32> {
  %ek = tensor.empty() : tensor<1x4x2x4x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x4x2x8xf32>) outs(%ek : tensor<1x4x2x4x8xf32>) dimensions = [3]
  %kr = tensor.collapse_shape %kb [[0], [1], [2, 3], [4]] : tensor<1x4x2x4x8xf32> into tensor<1x4x8x8xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x4x2x8xf32>) outs(%ek : tensor<1x4x2x4x8xf32>) dimensions = [3]
  %vr = tensor.collapse_shape %vb [[0], [1], [2, 3], [4]] : tensor<1x4x2x4x8xf32> into tensor<1x4x8x8xf32>
  %kt = loom.transpose %kr [0, 2, 3, 1] : tensor<1x4x8x8xf32> -> tensor<1x8x8x4xf32>
  %vt = loom.transpose %vr [0, 2, 1, 3] : tensor<1x4x8x8xf32> -> tensor<1x8x4x8xf32>
  %s = loom.matmul %q, %kt : (tensor<1x8x4x8xf32>, tensor<1x8x8x4xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %vt : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}

// -----

// Meta's repeat with K and V both moved to [b, h, s, d] by linalg.transpose.
// CHECK-LABEL: func.func @meta_repeat_kv_linalg_transpose
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
func.func @meta_repeat_kv_linalg_transpose(%q: tensor<1x8x4x8xf32>, %k: tensor<1x4x2x8xf32>, %v: tensor<1x4x2x8xf32>) -> tensor<1x8x4x8xf32> {
  %ek = tensor.empty() : tensor<1x4x2x4x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x4x2x8xf32>) outs(%ek : tensor<1x4x2x4x8xf32>) dimensions = [3]
  %kr = tensor.collapse_shape %kb [[0], [1], [2, 3], [4]] : tensor<1x4x2x4x8xf32> into tensor<1x4x8x8xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x4x2x8xf32>) outs(%ek : tensor<1x4x2x4x8xf32>) dimensions = [3]
  %vr = tensor.collapse_shape %vb [[0], [1], [2, 3], [4]] : tensor<1x4x2x4x8xf32> into tensor<1x4x8x8xf32>
  %e = tensor.empty() : tensor<1x8x4x8xf32>
  %kh = linalg.transpose ins(%kr : tensor<1x4x8x8xf32>) outs(%e : tensor<1x8x4x8xf32>) permutation = [0, 2, 1, 3]
  %vh = linalg.transpose ins(%vr : tensor<1x4x8x8xf32>) outs(%e : tensor<1x8x4x8xf32>) permutation = [0, 2, 1, 3]
  %s = loom.matmul %q, %kh transpose_rhs : (tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %vh : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}

// -----

// Multi-query attention: one head of K and V ([b, s, d]) broadcast to every
// head; the fused op reads a single KV head.
// CHECK-LABEL: func.func @mqa_broadcast
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x8x4x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x4x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x4x8xf32>
//   CHECK-DAG:   %[[K1:.+]] = tensor.expand_shape %[[K]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 1, 4, 8]
//   CHECK-DAG:   %[[V1:.+]] = tensor.expand_shape %[[V]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 1, 4, 8]
//       CHECK:   loom.attention %[[Q]], %[[K1]], %[[V1]] scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>
func.func @mqa_broadcast(%q: tensor<1x8x4x8xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %e = tensor.empty() : tensor<1x8x4x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x4x8xf32>) outs(%e : tensor<1x8x4x8xf32>) dimensions = [1]
  %vb = linalg.broadcast ins(%v : tensor<1x4x8xf32>) outs(%e : tensor<1x8x4x8xf32>) dimensions = [1]
  %s = loom.matmul %q, %kb transpose_rhs : (tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %vb : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}

// -----

// Near miss: K shared by every head but V not (V has its own heads): the
// repeats differ, so the broadcast K is read as it is... and nothing is
// lost: it still fuses, with K's heads written out.
// CHECK-LABEL: func.func @mqa_key_only
//       CHECK:   %[[KB:.+]] = linalg.broadcast
//       CHECK:   loom.attention %{{.+}}, %[[KB]], %{{.+}} scale = 1.000000e+00 : tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>
func.func @mqa_key_only(%q: tensor<1x8x4x8xf32>, %k: tensor<1x4x8xf32>, %v: tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32> {
  %e = tensor.empty() : tensor<1x8x4x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x4x8xf32>) outs(%e : tensor<1x8x4x8xf32>) dimensions = [1]
  %s = loom.matmul %q, %kb transpose_rhs : (tensor<1x8x4x8xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x4xf32>
  %p = loom.softmax %s axis = 3 : tensor<1x8x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x8x4x4xf32>, tensor<1x8x4x8xf32>) -> tensor<1x8x4x8xf32>
  return %o : tensor<1x8x4x8xf32>
}

// -----

// A match that fails late leaves the IR as it found it: multi-query K and V
// (their shared head stripped, which makes expand_shapes of them) under a
// boolean mask of dynamic shape, which the pass does not fuse. Without
// --canonicalize (RAW), no helper op is left behind. (The pattern erases
// them itself, as MLIR's expensive pattern checks require of a pattern
// that fails; the greedy driver would also drop them as dead.)
// CHECK-LABEL: func.func @late_failure_leaves_nothing
//       CHECK:   loom.softmax
//   CHECK-NOT:   loom.attention
// RAW-LABEL: func.func @late_failure_leaves_nothing
//   RAW-NOT:   tensor.expand_shape
//       RAW:   loom.softmax
//   RAW-NOT:   tensor.expand_shape
func.func @late_failure_leaves_nothing(%q: tensor<1x8x?x8xf32>, %k: tensor<1x?x8xf32>, %v: tensor<1x?x8xf32>, %hidden: tensor<1x8x?x?xi1>) -> tensor<1x8x?x8xf32> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %n = tensor.dim %k, %c1 : tensor<1x?x8xf32>
  %m = tensor.dim %q, %c2 : tensor<1x8x?x8xf32>
  %e = tensor.empty(%n) : tensor<1x8x?x8xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x?x8xf32>) outs(%e : tensor<1x8x?x8xf32>) dimensions = [1]
  %vb = linalg.broadcast ins(%v : tensor<1x?x8xf32>) outs(%e : tensor<1x8x?x8xf32>) dimensions = [1]
  %s = loom.matmul %q, %kb transpose_rhs : (tensor<1x8x?x8xf32>, tensor<1x8x?x8xf32>) -> tensor<1x8x?x?xf32>
  %se = tensor.empty(%m, %n) : tensor<1x8x?x?xf32>
  %masked = linalg.generic {indexing_maps = [affine_map<(b, h, i, j) -> (b, h, i, j)>,
                                             affine_map<(b, h, i, j) -> (b, h, i, j)>,
                                             affine_map<(b, h, i, j) -> (b, h, i, j)>],
                            iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%hidden, %s : tensor<1x8x?x?xi1>, tensor<1x8x?x?xf32>) outs(%se : tensor<1x8x?x?xf32>) {
  ^bb0(%h: i1, %x: f32, %out: f32):
    %ninf = arith.constant 0xFF800000 : f32
    %r = arith.select %h, %ninf, %x : f32
    linalg.yield %r : f32
  } -> tensor<1x8x?x?xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x8x?x?xf32>
  %o = loom.matmul %p, %vb : (tensor<1x8x?x?xf32>, tensor<1x8x?x8xf32>) -> tensor<1x8x?x8xf32>
  return %o : tensor<1x8x?x8xf32>
}
