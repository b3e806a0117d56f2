// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Softmax spelled with upstream ops: linalg.softmax, and written out
// (max, subtract, exp, sum, divide) as torch exporters and hand-written IR
// produce it: in linalg.generic bodies, in linalg.reduce / linalg.broadcast
// with arith and math on tensors, with or without the max subtracted.

// CHECK-LABEL: func.func @linalg_softmax
//  CHECK-SAME:   %[[Q:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>, %[[K:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>, %[[V:[[:alnum:]_]+]]: tensor<1x2x4x8xf32>
//       CHECK:   %[[O:.+]] = loom.attention %[[Q]], %[[K]], %[[V]] scale = 1.250000e-01 :
//   CHECK-NOT:   linalg.softmax
//       CHECK:   return %[[O]]
func.func @linalg_softmax(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %c = arith.constant dense<0.125> : tensor<1x2x4x4xf32>
  %scaled = arith.mulf %s, %c : tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %p = linalg.softmax dimension(3) ins(%scaled : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Written out in linalg.generic, as torch-mlir lowers torch.softmax: a max
// reduction, exp(s - max) in one generic, a sum reduction, a division, the
// reductions broadcast back by the consumers' maps.
// CHECK-LABEL: func.func @generic_softmax
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 0.353553385 :
//   CHECK-NOT:   linalg.generic
//   CHECK-NOT:   loom.matmul
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @generic_softmax(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %c = arith.constant dense<0.353553385> : tensor<1x2x4x4xf32>
  %x = arith.mulf %s, %c : tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e3 = tensor.empty() : tensor<1x2x4xf32>
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %max = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x : tensor<1x2x4x4xf32>) outs(%mi : tensor<1x2x4xf32>) {
  ^bb0(%a: f32, %m: f32):
    %r = arith.maximumf %a, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4xf32>
  %ex = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x, %max : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %y = math.exp %d : f32
    linalg.yield %y : f32
  } -> tensor<1x2x4x4xf32>
  %si = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #row4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%ex : tensor<1x2x4x4xf32>) outs(%si : tensor<1x2x4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ex, %sum : tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.divf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Written out with linalg.reduce and linalg.broadcast and arith/math on
// tensors; the reductions kept as a dimension of 1 (torch's keepdim) would
// read the same through a map with 0 at the axis.
// CHECK-LABEL: func.func @reduce_broadcast_softmax
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 :
//   CHECK-NOT:   linalg.reduce
//   CHECK-NOT:   math.exp
func.func @reduce_broadcast_softmax(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %e3 = tensor.empty() : tensor<1x2x4xf32>
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %max = linalg.reduce ins(%s : tensor<1x2x4x4xf32>) outs(%mi : tensor<1x2x4xf32>) dimensions = [3]
    (%in: f32, %init: f32) {
      %r = arith.maxnumf %in, %init : f32
      linalg.yield %r : f32
    }
  %mb = linalg.broadcast ins(%max : tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) dimensions = [3]
  %d = arith.subf %s, %mb : tensor<1x2x4x4xf32>
  %ex = math.exp %d : tensor<1x2x4x4xf32>
  %si = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %sum = linalg.reduce ins(%ex : tensor<1x2x4x4xf32>) outs(%si : tensor<1x2x4xf32>) dimensions = [3]
    (%in: f32, %init: f32) {
      %r = arith.addf %init, %in : f32
      linalg.yield %r : f32
    }
  %sb = linalg.broadcast ins(%sum : tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) dimensions = [3]
  %p = arith.divf %ex, %sb : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// exp(s) / sum(exp(s)) without the max subtracted is the same softmax.
// CHECK-LABEL: func.func @softmax_without_max
//       CHECK:   loom.attention
func.func @softmax_without_max(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %zero = arith.constant 0.0 : f32
  %e3 = tensor.empty() : tensor<1x2x4xf32>
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %ex = math.exp %s : tensor<1x2x4x4xf32>
  %si = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %sum = linalg.reduce ins(%ex : tensor<1x2x4x4xf32>) outs(%si : tensor<1x2x4xf32>) dimensions = [3]
    (%in: f32, %init: f32) {
      %r = arith.addf %in, %init : f32
      linalg.yield %r : f32
    }
  %sb = linalg.broadcast ins(%sum : tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) dimensions = [3]
  %p = arith.divf %ex, %sb : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Near misses. linalg.softmax over the queries (dimension 2).
// CHECK-LABEL: func.func @linalg_softmax_over_queries
//   CHECK-NOT:   loom.attention
//       CHECK:   linalg.softmax dimension(2)
func.func @linalg_softmax_over_queries(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// The normalisation missing: exp(s - max) with no division by its sum.
// CHECK-LABEL: func.func @not_normalised
//   CHECK-NOT:   loom.attention
//       CHECK:   math.exp
func.func @not_normalised(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %e3 = tensor.empty() : tensor<1x2x4xf32>
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %mi = linalg.fill ins(%ninf : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %max = linalg.reduce ins(%s : tensor<1x2x4x4xf32>) outs(%mi : tensor<1x2x4xf32>) dimensions = [3]
    (%in: f32, %init: f32) {
      %r = arith.maximumf %in, %init : f32
      linalg.yield %r : f32
    }
  %mb = linalg.broadcast ins(%max : tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) dimensions = [3]
  %d = arith.subf %s, %mb : tensor<1x2x4x4xf32>
  %p = math.exp %d : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Divided by the sum over the queries (dimension 2), not the keys.
// CHECK-LABEL: func.func @sum_over_queries
//   CHECK-NOT:   loom.attention
func.func @sum_over_queries(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %zero = arith.constant 0.0 : f32
  %e3 = tensor.empty() : tensor<1x2x4xf32>
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %ex = math.exp %s : tensor<1x2x4x4xf32>
  %si = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  %sum = linalg.reduce ins(%ex : tensor<1x2x4x4xf32>) outs(%si : tensor<1x2x4xf32>) dimensions = [2]
    (%in: f32, %init: f32) {
      %r = arith.addf %in, %init : f32
      linalg.yield %r : f32
    }
  %sb = linalg.broadcast ins(%sum : tensor<1x2x4xf32>) outs(%e4 : tensor<1x2x4x4xf32>) dimensions = [2]
  %p = arith.divf %ex, %sb : tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Soft-capping (tanh) before the softmax, as Gemma 2 does: not attention
// as loom.attention computes it.
// CHECK-LABEL: func.func @soft_capped
//   CHECK-NOT:   loom.attention
//       CHECK:   math.tanh
func.func @soft_capped(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %c = arith.constant dense<0.02> : tensor<1x2x4x4xf32>
  %cap = arith.constant dense<50.0> : tensor<1x2x4x4xf32>
  %a = arith.mulf %s, %c : tensor<1x2x4x4xf32>
  %t = math.tanh %a : tensor<1x2x4x4xf32>
  %x = arith.mulf %t, %cap : tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// -----

// Dropout on the probabilities (a mask multiplied after the softmax).
// CHECK-LABEL: func.func @dropout_on_probabilities
//   CHECK-NOT:   loom.attention
func.func @dropout_on_probabilities(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %keep: tensor<1x2x4x4xf32>) -> tensor<1x2x4x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %pd = arith.mulf %p, %keep : tensor<1x2x4x4xf32>
  %o = loom.matmul %pd, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}
