// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Q·Kᵀ and P·V spelled with upstream ops: linalg.batch_matmul over
// [batch * heads, seq, dim] (the fused op gets a batch of one), Kᵀ made by
// linalg.transpose or by a linalg.generic with a transposing map, and the
// einsum-style linalg.generic contraction (K read as [.., keys, dim]).

// batch_matmul, Kᵀ by linalg.transpose.
// CHECK-LABEL: func.func @batch_matmul_transpose
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<8x4x16xf32>, %[[K:[[:alnum:]_]+]]: tensor<8x4x16xf32>, %[[V:[[:alnum:]_]+]]: tensor<8x4x16xf32>
//   CHECK-DAG:   %[[Q4:.+]] = tensor.expand_shape %[[Q]] {{\[\[}}0, 1], [2], [3]] output_shape [1, 8, 4, 16]
//   CHECK-DAG:   %[[K4:.+]] = tensor.expand_shape %[[K]] {{\[\[}}0, 1], [2], [3]]
//   CHECK-DAG:   %[[V4:.+]] = tensor.expand_shape %[[V]] {{\[\[}}0, 1], [2], [3]]
//       CHECK:   %[[O:.+]] = loom.attention %[[Q4]], %[[K4]], %[[V4]] scale = 2.500000e-01 : tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32> -> tensor<1x8x4x16xf32>
//       CHECK:   %[[R:.+]] = tensor.collapse_shape %[[O]] {{\[\[}}0, 1], [2], [3]]
//       CHECK:   return %[[R]] : tensor<8x4x16xf32>
func.func @batch_matmul_transpose(%q: tensor<8x4x16xf32>, %k: tensor<8x4x16xf32>, %v: tensor<8x4x16xf32>) -> tensor<8x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ekt = tensor.empty() : tensor<8x16x4xf32>
  %kt = linalg.transpose ins(%k : tensor<8x4x16xf32>) outs(%ekt : tensor<8x16x4xf32>) permutation = [0, 2, 1]
  %es = tensor.empty() : tensor<8x4x4xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<8x4x16xf32>, tensor<8x16x4xf32>) outs(%zs : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %c = arith.constant dense<0.25> : tensor<8x4x4xf32>
  %x = arith.mulf %s, %c : tensor<8x4x4xf32>
  %p = linalg.softmax dimension(2) ins(%x : tensor<8x4x4xf32>) outs(%es : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %eo = tensor.empty() : tensor<8x4x16xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x4x4xf32>, tensor<8x4x16xf32>) outs(%zo : tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}

// -----

// batch_matmul with maps that read K as [batch, keys, dim] (no transpose).
// CHECK-LABEL: func.func @batch_matmul_transposed_map
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 : tensor<1x8x4x16xf32>
func.func @batch_matmul_transposed_map(%q: tensor<8x4x16xf32>, %k: tensor<8x4x16xf32>, %v: tensor<8x4x16xf32>) -> tensor<8x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %es = tensor.empty() : tensor<8x4x4xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %s = linalg.batch_matmul indexing_maps = [
         affine_map<(b, i, j, d) -> (b, i, d)>,
         affine_map<(b, i, j, d) -> (b, j, d)>,
         affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x4x16xf32>, tensor<8x4x16xf32>) outs(%zs : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<8x4x4xf32>) outs(%es : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %eo = tensor.empty() : tensor<8x4x16xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x4x4xf32>, tensor<8x4x16xf32>) outs(%zo : tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}

// -----

// Einsum-style generics over [b, h, s, d]: bhid,bhjd->bhij and
// bhij,bhjd->bhid, Kᵀ by a generic with a transposing map for the first.
// CHECK-LABEL: func.func @einsum_generics
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>
//       CHECK:   %[[O:.+]] = loom.attention %[[Q]], %[[K]], %[[V]] scale = 0.353553385 :
//   CHECK-NOT:   linalg.generic
//       CHECK:   return %[[O]]
#q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#kt = affine_map<(b, h, i, j, d) -> (b, h, d, j)>
#s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p = affine_map<(b, h, i, e, j) -> (b, h, i, j)>
#v = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#o = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
#t_in = affine_map<(b, h, d, j) -> (b, h, j, d)>
#t_out = affine_map<(b, h, d, j) -> (b, h, d, j)>
func.func @einsum_generics(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ekt = tensor.empty() : tensor<1x2x8x4xf32>
  %kT = linalg.generic {indexing_maps = [#t_in, #t_out], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%k : tensor<1x2x4x8xf32>) outs(%ekt : tensor<1x2x8x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x2x8x4xf32>
  %es = tensor.empty() : tensor<1x2x4x4xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %s = linalg.generic {indexing_maps = [#q, #kt, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kT : tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) outs(%zs : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %c = arith.constant dense<0.353553385> : tensor<1x2x4x4xf32>
  %x = arith.mulf %c, %s : tensor<1x2x4x4xf32>
  %pr = linalg.softmax dimension(3) ins(%x : tensor<1x2x4x4xf32>) outs(%es : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %eo = tensor.empty() : tensor<1x2x4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %o = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%pr, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) outs(%zo : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// K read in place by the contraction's map (bhid,bhjd->bhij).
// CHECK-LABEL: func.func @einsum_key_in_place
//       CHECK:   loom.attention
#q2 = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#k2 = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#s2 = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
func.func @einsum_key_in_place(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %es = tensor.empty() : tensor<1x2x4x4xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %s = linalg.generic {indexing_maps = [#q2, #k2, #s2], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) outs(%zs : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %pr = linalg.softmax dimension(3) ins(%s : tensor<1x2x4x4xf32>) outs(%es : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = loom.matmul %pr, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Near misses. Pᵀ·V (the probabilities read transposed).
// CHECK-LABEL: func.func @pt_v
//   CHECK-NOT:   loom.attention
#pt = affine_map<(b, h, i, e, j) -> (b, h, j, i)>
#v3 = affine_map<(b, h, i, e, j) -> (b, h, j, e)>
#o3 = affine_map<(b, h, i, e, j) -> (b, h, i, e)>
func.func @pt_v(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %es = tensor.empty() : tensor<1x2x4x4xf32>
  %pr = linalg.softmax dimension(3) ins(%s : tensor<1x2x4x4xf32>) outs(%es : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %eo = tensor.empty() : tensor<1x2x4x8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  %o = linalg.generic {indexing_maps = [#pt, #v3, #o3], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%pr, %v : tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) outs(%zo : tensor<1x2x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// P·V accumulated onto something other than zero (a residual): the sum
// is not attention's output alone.
// CHECK-LABEL: func.func @pv_onto_residual
//   CHECK-NOT:   loom.attention
func.func @pv_onto_residual(%q: tensor<8x4x16xf32>, %k: tensor<8x4x16xf32>, %v: tensor<8x4x16xf32>, %res: tensor<8x4x16xf32>) -> tensor<8x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %es = tensor.empty() : tensor<8x4x4xf32>
  %zs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %s = linalg.batch_matmul indexing_maps = [
         affine_map<(b, i, j, d) -> (b, i, d)>,
         affine_map<(b, i, j, d) -> (b, j, d)>,
         affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x4x16xf32>, tensor<8x4x16xf32>) outs(%zs : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<8x4x4xf32>) outs(%es : tensor<8x4x4xf32>) -> tensor<8x4x4xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x4x4xf32>, tensor<8x4x16xf32>) outs(%res : tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %o : tensor<8x4x16xf32>
}
