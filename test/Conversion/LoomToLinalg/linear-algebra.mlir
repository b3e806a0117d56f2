// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg | FileCheck %s

// A linear layer is a contraction over the last input dimension against the
// weight's rows, accumulated from zero, then the bias added per feature.
//   CHECK-DAG: #[[X:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
//   CHECK-DAG: #[[W:.+]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
//   CHECK-DAG: #[[Y:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
//   CHECK-DAG: #[[B:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @linear
//  CHECK-SAME:   %[[XA:.+]]: tensor<2x?x64xf32>, %[[WA:.+]]: tensor<32x64xf32>, %[[BA:.+]]: tensor<32xf32>
//       CHECK:   %[[DIM:.+]] = tensor.dim %[[XA]], %{{.+}} : tensor<2x?x64xf32>
//       CHECK:   %[[EMPTY:.+]] = tensor.empty(%[[DIM]]) : tensor<2x?x32xf32>
//       CHECK:   %[[ZERO:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%[[EMPTY]] : tensor<2x?x32xf32>)
//       CHECK:   %[[ACC:.+]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
//  CHECK-SAME:     ins(%[[XA]], %[[WA]] : tensor<2x?x64xf32>, tensor<32x64xf32>) outs(%[[ZERO]] : tensor<2x?x32xf32>)
//       CHECK:     arith.mulf
//       CHECK:     arith.addf
//       CHECK:   linalg.generic {{.+}} ins(%[[ACC]], %[[BA]] : tensor<2x?x32xf32>, tensor<32xf32>)
//       CHECK:     arith.addf
//   CHECK-NOT:   loom.linear
func.func @linear(%x: tensor<2x?x64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<2x?x32xf32> {
  %0 = loom.linear %x, %w, %b : (tensor<2x?x64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<2x?x32xf32>
  return %0 : tensor<2x?x32xf32>
}

// -----

// A batched matmul reading its right operand transposed: K is indexed
// (batch, n, k) instead of (batch, k, n).
//   CHECK-DAG: #[[L:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
//   CHECK-DAG: #[[R:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
//   CHECK-DAG: #[[O:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @matmul_transpose_rhs
//       CHECK:   linalg.generic {indexing_maps = [#[[L]], #[[R]], #[[O]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
func.func @matmul_transpose_rhs(%q: tensor<1x8x16x8xf32>, %k: tensor<1x8x24x8xf32>) -> tensor<1x8x16x24xf32> {
  %0 = loom.matmul %q, %k transpose_rhs : (tensor<1x8x16x8xf32>, tensor<1x8x24x8xf32>) -> tensor<1x8x16x24xf32>
  return %0 : tensor<1x8x16x24xf32>
}

// -----

// Without flags the right operand is (batch, k, n); with transpose_lhs the
// left one is (batch, k, m).
//   CHECK-DAG: #[[L:.+]] = affine_map<(d0, d1, d2) -> (d2, d0)>
//   CHECK-DAG: #[[R:.+]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @matmul_transpose_lhs
//       CHECK:   linalg.generic {indexing_maps = [#[[L]], #[[R]], #{{.+}}], iterator_types = ["parallel", "parallel", "reduction"]}
func.func @matmul_transpose_lhs(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) -> tensor<3x5xf32> {
  %0 = loom.matmul %a, %b transpose_lhs : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  return %0 : tensor<3x5xf32>
}

// -----

// An embedding lookup gathers table rows by id inside the generic body.
//   CHECK-DAG: #[[IDS:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @embedding
//  CHECK-SAME:   %[[T:.+]]: tensor<512x64xf32>
//       CHECK:   linalg.generic {indexing_maps = [#[[IDS]], #{{.+}}], iterator_types = ["parallel", "parallel", "parallel"]}
//       CHECK:   ^bb0(%[[ID:.+]]: i32, %{{.+}}: f32):
//       CHECK:     %[[ROW:.+]] = arith.index_cast %[[ID]] : i32 to index
//       CHECK:     %[[COL:.+]] = linalg.index 2 : index
//       CHECK:     %[[V:.+]] = tensor.extract %[[T]][%[[ROW]], %[[COL]]] : tensor<512x64xf32>
//       CHECK:     linalg.yield %[[V]]
func.func @embedding(%t: tensor<512x64xf32>, %ids: tensor<1x?xi32>) -> tensor<1x?x64xf32> {
  %0 = loom.embedding %t, %ids : (tensor<512x64xf32>, tensor<1x?xi32>) -> tensor<1x?x64xf32>
  return %0 : tensor<1x?x64xf32>
}
