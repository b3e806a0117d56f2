// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-key-block=-1" | FileCheck %s

// Causal GQA attention over a cache at an offset: K and V are read through
// head h floordiv 2 (no copies), keys after the query's position get -inf,
// then softmax over the keys and the weighted sum of values.
//   CHECK-DAG: #[[Q:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
//   CHECK-DAG: #[[K:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d3, d4)>
//   CHECK-DAG: #[[S:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
//   CHECK-DAG: #[[V:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 floordiv 2, d4, d3)>
// CHECK-LABEL: func.func @causal_gqa
//  CHECK-SAME:   %[[POS:[a-z0-9]+]]: index
//       CHECK:   %[[SCORES:.+]] = linalg.generic {indexing_maps = [#[[Q]], #[[K]], #[[S]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
//       CHECK:   %[[SCALE:.+]] = arith.constant 0.353553385 : f32
//       CHECK:   linalg.generic {{.+}} ins(%[[SCORES]] :
//       CHECK:     %[[SC:.+]] = arith.mulf %{{.+}}, %[[SCALE]] : f32
//       CHECK:     %[[I:.+]] = linalg.index 2 : index
//       CHECK:     %[[J:.+]] = linalg.index 3 : index
//       CHECK:     %[[QPOS:.+]] = arith.addi %[[POS]], %[[I]] : index
//       CHECK:     %[[HIDDEN:.+]] = arith.cmpi ugt, %[[J]], %[[QPOS]] : index
//       CHECK:     arith.select %[[HIDDEN]], %{{.+}}, %[[SC]] : f32
//       CHECK:     math.exp
//       CHECK:   linalg.generic {indexing_maps = [#[[Q]], #[[V]], #[[S]]]
func.func @causal_gqa(%q: tensor<1x8x4x8xf32>, %k: tensor<1x4x?x8xf32>, %v: tensor<1x4x?x8xf32>, %pos: index) -> tensor<1x8x4x8xf32> {
  %0 = loom.attention %q, %k, %v offset(%pos) causal : tensor<1x8x4x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32> -> tensor<1x8x4x8xf32>
  return %0 : tensor<1x8x4x8xf32>
}

// -----

// A sliding window also hides keys W or more positions back; an explicit
// mask broadcast over heads is added to the scaled scores.
//   CHECK-DAG: #[[M:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
// CHECK-LABEL: func.func @window_and_mask
//       CHECK:   linalg.generic {indexing_maps = [#{{.+}}, #[[M]], #{{.+}}]
//       CHECK:     arith.mulf
//       CHECK:     arith.addf
//       CHECK:     arith.cmpi ugt
//       CHECK:     %[[C4:.+]] = arith.constant 4 : index
//       CHECK:     arith.cmpi ule
//       CHECK:     arith.ori
func.func @window_and_mask(%q: tensor<1x2x6x8xf32>, %m: tensor<1x1x6x6xf32>) -> tensor<1x2x6x8xf32> {
  %0 = loom.attention %q, %q, %q mask(%m : tensor<1x1x6x6xf32>) causal window = 4 : tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32>, tensor<1x2x6x8xf32> -> tensor<1x2x6x8xf32>
  return %0 : tensor<1x2x6x8xf32>
}
