// RUN: loom-opt %s --loom-expand-into-slices --split-input-file | FileCheck %s

// Decode's value projection [1, 1, kv_heads * head_dim], split into heads
// ([1, 1, kv_heads, head_dim]), its unit dimensions moved
// ([1, kv_heads, 1, head_dim]: a transpose of unit dimensions, as
// collapse + expand) and inserted at the step's position, computes the
// cache's shape itself: its output starts as a fill of an empty tensor of
// that shape (which eliminate-empty-tensors can then replace by the
// cache's slice).
// CHECK-LABEL: func.func @value_row
//   CHECK-NOT:   tensor.collapse_shape
//       CHECK:   %[[E:.+]] = tensor.empty() : tensor<1x2x1x4xf32>
//       CHECK:   %[[F:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%[[E]] : tensor<1x2x1x4xf32>)
//       CHECK:   %[[V:.+]] = linalg.generic
//  CHECK-SAME:     outs(%[[F]] : tensor<1x2x1x4xf32>)
//   CHECK-NOT:   tensor.expand_shape
//       CHECK:   tensor.insert_slice %[[V]] into %{{.+}}[0, 0, %{{.+}}, 0] [1, 2, 1, 4]
#x = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#w = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#y = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @value_row(%x: tensor<1x1x16xf32>, %w: tensor<8x16xf32>, %cache: tensor<1x2x64x4xf32>, %pos: index) -> tensor<1x2x64x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x8xf32>) -> tensor<1x1x8xf32>
  %v = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : tensor<1x1x16xf32>, tensor<8x16xf32>) outs(%f : tensor<1x1x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<1x1x8xf32>
  %heads = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 1, 2, 4] : tensor<1x1x8xf32> into tensor<1x1x2x4xf32>
  %flat = tensor.collapse_shape %heads [[0, 1, 2], [3]] : tensor<1x1x2x4xf32> into tensor<2x4xf32>
  %row = tensor.expand_shape %flat [[0, 1], [2, 3]] output_shape [1, 2, 1, 4] : tensor<2x4xf32> into tensor<1x2x1x4xf32>
  %r = tensor.insert_slice %row into %cache[0, 0, %pos, 0] [1, 2, 1, 4] [1, 1, 1, 1] : tensor<1x2x1x4xf32> into tensor<1x2x64x4xf32>
  return %r : tensor<1x2x64x4xf32>
}

// -----

// A reshape with another use, or one not inserted into a slice, stays.
// CHECK-LABEL: func.func @other_uses
//       CHECK:   %[[V:.+]] = linalg.generic
//       CHECK:   } -> tensor<1x8xf32>
//       CHECK:   tensor.expand_shape %[[V]]
//       CHECK:   tensor.expand_shape %[[V]]
#in = affine_map<(d0, d1) -> (d0, d1)>
func.func @other_uses(%x: tensor<1x8xf32>, %cache: tensor<2x64x4xf32>) -> (tensor<2x64x4xf32>, tensor<4x2xf32>) {
  %e = tensor.empty() : tensor<1x8xf32>
  %v = linalg.generic {indexing_maps = [#in, #in], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<1x8xf32>) outs(%e : tensor<1x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8xf32>
  %row = tensor.expand_shape %v [[0], [1, 2]] output_shape [1, 2, 4] : tensor<1x8xf32> into tensor<1x2x4xf32>
  %r = tensor.insert_slice %row into %cache[0, 3, 0] [1, 2, 4] [1, 1, 1] : tensor<1x2x4xf32> into tensor<2x64x4xf32>
  %other = tensor.expand_shape %v [[0], [1, 2]] output_shape [1, 4, 2] : tensor<1x8xf32> into tensor<1x4x2xf32>
  %flat = tensor.collapse_shape %other [[0, 1], [2]] : tensor<1x4x2xf32> into tensor<4x2xf32>
  return %r, %flat : tensor<2x64x4xf32>, tensor<4x2xf32>
}
