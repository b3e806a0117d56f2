// RUN: loom-opt %s --split-input-file --loom-add-into-reductions | FileCheck %s
// RUN: loom-opt %s --split-input-file --loom-add-into-reductions | grep -c "= linalg.generic" | FileCheck %s --check-prefix=GENERICS
// RUN: loom-opt %s --split-input-file --loom-add-into-reductions | grep -c "= linalg.fill" | FileCheck %s --check-prefix=FILLS

#x = affine_map<(d0, d1) -> (d1)>
#w = affine_map<(d0, d1) -> (d0, d1)>
#y = affine_map<(d0, d1) -> (d0)>
#id = affine_map<(d0) -> (d0)>

// The residual add after a projection: the matrix-vector product starts
// from the residual instead of zero, and the add and the fill go.
// CHECK-LABEL: func.func @residual
//  CHECK-SAME:   %[[A:[a-z0-9]+]]: tensor<64xf32>, %[[W:[a-z0-9]+]]: tensor<32x64xf32>, %[[R:[a-z0-9]+]]: tensor<32xf32>
//   CHECK-NOT:   linalg.fill
//       CHECK:   %[[Y:.+]] = linalg.generic {{.+}} ins(%[[A]], %[[W]] : tensor<64xf32>, tensor<32x64xf32>) outs(%[[R]] : tensor<32xf32>)
//       CHECK:       arith.mulf
//       CHECK:       arith.addf
//   CHECK-NOT:   linalg.generic
//       CHECK:   return %[[Y]]
func.func @residual(%a: tensor<64xf32>, %w: tensor<32x64xf32>, %r: tensor<32xf32>) -> tensor<32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "reduction"]} ins(%a, %w : tensor<64xf32>, tensor<32x64xf32>) outs(%f : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %p = arith.mulf %in, %in1 : f32
    %s = arith.addf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %e2 = tensor.empty() : tensor<32xf32>
  %sum = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%r, %y : tensor<32xf32>, tensor<32xf32>) outs(%e2 : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %s = arith.addf %in1, %in : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %sum : tensor<32xf32>
}

// -----

#x = affine_map<(d0, d1) -> (d1)>
#w = affine_map<(d0, d1) -> (d0, d1)>
#y = affine_map<(d0, d1) -> (d0)>
#id = affine_map<(d0) -> (d0)>

// Left alone: a sum also used elsewhere, a sum from one (not zero), a max
// (not a sum), and an addend computed after the sum: all 8 generics and 5
// fills stay (with @residual's one generic: 9 in all).
// GENERICS: 9
// FILLS: 5
func.func @left_alone(%a: tensor<64xf32>, %w: tensor<32x64xf32>, %r: tensor<32xf32>) -> (tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<32xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %shared = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "reduction"]} ins(%a, %w : tensor<64xf32>, tensor<32x64xf32>) outs(%f0 : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %p = arith.mulf %in, %in1 : f32
    %s = arith.addf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %add0 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%r, %shared : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %s = arith.addf %in, %in1 : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %f1 = linalg.fill ins(%one : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %fromOne = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "reduction"]} ins(%a, %w : tensor<64xf32>, tensor<32x64xf32>) outs(%f1 : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %p = arith.mulf %in, %in1 : f32
    %s = arith.addf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %add1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%r, %fromOne : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %s = arith.addf %in, %in1 : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %max = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "reduction"]} ins(%a, %w : tensor<64xf32>, tensor<32x64xf32>) outs(%f2 : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %p = arith.mulf %in, %in1 : f32
    %s = arith.maximumf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %add2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%r, %max : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %s = arith.addf %in, %in1 : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %late = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "reduction"]} ins(%a, %w : tensor<64xf32>, tensor<32x64xf32>) outs(%f3 : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %p = arith.mulf %in, %in1 : f32
    %s = arith.addf %out, %p : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  %after = linalg.fill ins(%one : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %add3 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%after, %late : tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32xf32>) {
  ^bb0(%in: f32, %in1: f32, %out: f32):
    %s = arith.addf %in, %in1 : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %shared, %add0, %add1, %add2, %add3 : tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>
}
