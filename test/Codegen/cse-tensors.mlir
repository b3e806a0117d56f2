// RUN: loom-opt %s --split-input-file --loom-cse-tensors | FileCheck %s

// Two layers' RoPE tables of the same positions: the same computation into
// empty tensors of the same sizes, computed once; both users read it.
// CHECK-LABEL: func.func @same_table
//       CHECK:   %[[T:.+]] = linalg.generic
//   CHECK-NOT:   linalg.generic
//       CHECK:   return %[[T]], %[[T]]
#id = affine_map<(d0) -> (d0)>
func.func @same_table(%pos: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %pos, %c0 : tensor<?xf32>
  %e0 = tensor.empty(%n) : tensor<?xf32>
  %t0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%pos : tensor<?xf32>) outs(%e0 : tensor<?xf32>) {
  ^bb0(%p: f32, %o: f32):
    %c = math.cos %p : f32
    linalg.yield %c : f32
  } -> tensor<?xf32>
  %e1 = tensor.empty(%n) : tensor<?xf32>
  %t1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%pos : tensor<?xf32>) outs(%e1 : tensor<?xf32>) {
  ^bb0(%p: f32, %o: f32):
    %c = math.cos %p : f32
    linalg.yield %c : f32
  } -> tensor<?xf32>
  return %t0, %t1 : tensor<?xf32>, tensor<?xf32>
}

// -----

// Different bodies, or outputs of different sizes, stay apart.
// CHECK-LABEL: func.func @different
//       CHECK:   linalg.generic
//       CHECK:     math.cos
//       CHECK:   linalg.generic
//       CHECK:     math.sin
//       CHECK:   linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @different(%pos: tensor<?xf32>, %m: index) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %pos, %c0 : tensor<?xf32>
  %e0 = tensor.empty(%n) : tensor<?xf32>
  %t0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%pos : tensor<?xf32>) outs(%e0 : tensor<?xf32>) {
  ^bb0(%p: f32, %o: f32):
    %c = math.cos %p : f32
    linalg.yield %c : f32
  } -> tensor<?xf32>
  %e1 = tensor.empty(%n) : tensor<?xf32>
  %t1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%pos : tensor<?xf32>) outs(%e1 : tensor<?xf32>) {
  ^bb0(%p: f32, %o: f32):
    %c = math.sin %p : f32
    linalg.yield %c : f32
  } -> tensor<?xf32>
  %e2 = tensor.empty(%m) : tensor<?xf32>
  %t2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%t0 : tensor<?xf32>) outs(%e2 : tensor<?xf32>) {
  ^bb0(%p: f32, %o: f32):
    linalg.yield %p : f32
  } -> tensor<?xf32>
  return %t0, %t1, %t2 : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}

// -----

// Where outputs start is never shared: two fills, and two casts of one
// empty tensor that start two loops' accumulators, stay two (one buffer
// for both accumulators would be wrong).
// CHECK-LABEL: func.func @starts
//       CHECK:   linalg.fill
//       CHECK:   linalg.fill
//       CHECK:   tensor.cast
//       CHECK:   tensor.cast
//       CHECK:   scf.for
func.func @starts(%n: index, %x: f32) -> (tensor<4xf32>, tensor<4xf32>, tensor<?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<4xf32>
  %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4xf32>) -> tensor<4xf32>
  %e1 = tensor.empty() : tensor<4xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4xf32>) -> tensor<4xf32>
  %e = tensor.empty() : tensor<2xf32>
  %a = tensor.cast %e : tensor<2xf32> to tensor<?xf32>
  %b = tensor.cast %e : tensor<2xf32> to tensor<?xf32>
  %r:2 = scf.for %i = %c0 to %n step %c1 iter_args(%u = %a, %v = %b) -> (tensor<?xf32>, tensor<?xf32>) {
    %u1 = tensor.insert %x into %u[%c0] : tensor<?xf32>
    %v1 = tensor.insert %zero into %v[%c0] : tensor<?xf32>
    scf.yield %u1, %v1 : tensor<?xf32>, tensor<?xf32>
  }
  return %f0, %f1, %r#0, %r#1 : tensor<4xf32>, tensor<4xf32>, tensor<?xf32>, tensor<?xf32>
}

// -----

// Ops nested in a region are left to their region (only linalg bodies are
// compared, never merged into): both loops stay.
// CHECK-LABEL: func.func @nested
//       CHECK:   scf.for
//       CHECK:   scf.for
func.func @nested(%n: index, %x: f32) -> (f32, f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = scf.for %i = %c0 to %n step %c1 iter_args(%s = %x) -> (f32) {
    %t = arith.addf %s, %x : f32
    scf.yield %t : f32
  }
  %b = scf.for %i = %c0 to %n step %c1 iter_args(%s = %x) -> (f32) {
    %t = arith.addf %s, %x : f32
    scf.yield %t : f32
  }
  return %a, %b : f32, f32
}
