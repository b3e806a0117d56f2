// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg | FileCheck %s

// Writing to the cache is an insert_slice at the position; reading its
// valid prefix an extract_slice of the given length.
// CHECK-LABEL: func.func @kv_cache
//  CHECK-SAME:   %[[K:.+]]: tensor<1x4x?x8xf32>, %[[C:.+]]: tensor<1x4x512x8xf32>, %[[POS:.+]]: index, %[[LEN:.+]]: index
//       CHECK:   %[[N:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<1x4x?x8xf32>
//       CHECK:   %[[W:.+]] = tensor.insert_slice %[[K]] into %[[C]][0, 0, %[[POS]], 0] [1, 4, %[[N]], 8] [1, 1, 1, 1]
//       CHECK:   tensor.extract_slice %[[W]][0, 0, 0, 0] [1, 4, %[[LEN]], 8] [1, 1, 1, 1] : tensor<1x4x512x8xf32> to tensor<1x4x?x8xf32>
func.func @kv_cache(%k: tensor<1x4x?x8xf32>, %cache: tensor<1x4x512x8xf32>, %pos: index, %len: index) -> tensor<1x4x?x8xf32> {
  %c = loom.kv_cache_write %k into %cache at %pos : tensor<1x4x?x8xf32> into tensor<1x4x512x8xf32>
  %r = loom.kv_cache_read %c[%len] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
  return %r : tensor<1x4x?x8xf32>
}

// -----

// A transpose becomes linalg.transpose into an empty tensor of the permuted
// sizes.
// CHECK-LABEL: func.func @transpose
//       CHECK:   %[[E:.+]] = tensor.empty(%{{.+}}) : tensor<1x8x?x8xf32>
//       CHECK:   linalg.transpose ins(%{{.+}} : tensor<1x?x8x8xf32>) outs(%[[E]] : tensor<1x8x?x8xf32>) permutation = [0, 2, 1, 3]
func.func @transpose(%x: tensor<1x?x8x8xf32>) -> tensor<1x8x?x8xf32> {
  %0 = loom.transpose %x [0, 2, 1, 3] : tensor<1x?x8x8xf32> -> tensor<1x8x?x8xf32>
  return %0 : tensor<1x8x?x8xf32>
}

// -----

// Where only dimensions of size 1 move (decode's one token), the elements
// keep their order: a reshape (a view once bufferized), not a copy.
// CHECK-LABEL: func.func @transpose_unit_dims
//  CHECK-SAME:   %[[X:[a-z0-9]+]]: tensor<1x1x4x8xf32>
//   CHECK-NOT:   linalg.transpose
//       CHECK:   %[[C:.+]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1, 2], [3]] : tensor<1x1x4x8xf32> into tensor<4x8xf32>
//       CHECK:   tensor.expand_shape %[[C]] {{\[}}[0, 1], [2, 3]] output_shape [1, 4, 1, 8] : tensor<4x8xf32> into tensor<1x4x1x8xf32>
// A dimension of unknown size counts as one that may not be 1.
// CHECK-LABEL: func.func @transpose_dynamic_dim
//       CHECK:   linalg.transpose
func.func @transpose_unit_dims(%x: tensor<1x1x4x8xf32>) -> tensor<1x4x1x8xf32> {
  %0 = loom.transpose %x [0, 2, 1, 3] : tensor<1x1x4x8xf32> -> tensor<1x4x1x8xf32>
  return %0 : tensor<1x4x1x8xf32>
}
func.func @transpose_dynamic_dim(%x: tensor<1x?x4x8xf32>) -> tensor<1x4x?x8xf32> {
  %0 = loom.transpose %x [0, 2, 1, 3] : tensor<1x?x4x8xf32> -> tensor<1x4x?x8xf32>
  return %0 : tensor<1x4x?x8xf32>
}

// -----

// repeat_interleave reads slice i / repeats along the axis.
//   CHECK-DAG: #[[IN:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 floordiv 2, d2, d3)>
// CHECK-LABEL: func.func @repeat
//       CHECK:   tensor.empty(%{{.+}}) : tensor<1x8x?x8xf32>
//       CHECK:   linalg.generic {indexing_maps = [#[[IN]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
func.func @repeat(%k: tensor<1x4x?x8xf32>) -> tensor<1x8x?x8xf32> {
  %0 = loom.repeat_interleave %k axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
  return %0 : tensor<1x8x?x8xf32>
}

// -----

// Weights stay: they are bound by name after lowering.
// CHECK-LABEL: func.func @weight
//       CHECK:   loom.weight "w"
func.func @weight() -> tensor<4x4xf32> {
  %w = loom.weight "w" : tensor<4x4xf32>
  return %w : tensor<4x4xf32>
}
