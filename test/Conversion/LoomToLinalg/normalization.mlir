// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg | FileCheck %s

// RMSNorm: a sum of squares over the last dimension, then
// w * ((1 / sqrt(ss / D + eps)) * x), in llama2.c's order.
// CHECK-LABEL: func.func @rms_norm
//       CHECK:   %[[SS:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]
//       CHECK:     %[[SQ:.+]] = arith.mulf %[[IN:.+]], %[[IN]] : f32
//       CHECK:     arith.addf %{{.+}}, %[[SQ]] : f32
//   CHECK-DAG:   %[[D:.+]] = arith.constant 6.400000e+01 : f32
//   CHECK-DAG:   %[[EPS:.+]] = arith.constant 9.99999974E-6 : f32
//       CHECK:   linalg.generic {{.+}} ins(%{{.+}}, %[[SS]], %{{.+}} : tensor<4x64xf32>, tensor<4xf32>, tensor<64xf32>)
//       CHECK:   ^bb0(%[[X:.+]]: f32, %[[S:.+]]: f32, %[[W:.+]]: f32, %{{.+}}: f32):
//       CHECK:     %[[MEAN:.+]] = arith.divf %[[S]], %[[D]] : f32
//       CHECK:     %[[SUM:.+]] = arith.addf %[[MEAN]], %[[EPS]] : f32
//       CHECK:     %[[ROOT:.+]] = math.sqrt %[[SUM]] : f32
//       CHECK:     %[[INV:.+]] = arith.divf %{{.+}}, %[[ROOT]] : f32
//       CHECK:     %[[SX:.+]] = arith.mulf %[[INV]], %[[X]] : f32
//       CHECK:     arith.mulf %[[W]], %[[SX]] : f32
func.func @rms_norm(%x: tensor<4x64xf32>, %w: tensor<64xf32>) -> tensor<4x64xf32> {
  %0 = loom.rms_norm %x, %w : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

// LayerNorm: mean, centered values, variance, then normalize, scale, shift.
// CHECK-LABEL: func.func @layer_norm
//       CHECK:   linalg.generic {{.+}}["parallel", "reduction"]
//       CHECK:   linalg.generic {{.+}}["parallel", "parallel"]
//       CHECK:     arith.subf
//       CHECK:   linalg.generic {{.+}}["parallel", "reduction"]
//       CHECK:   linalg.generic {{.+}}["parallel", "parallel"]
//       CHECK:     math.sqrt
//       CHECK:     arith.divf
//       CHECK:     arith.mulf
//       CHECK:     arith.addf
func.func @layer_norm(%x: tensor<4x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<4x64xf32> {
  %0 = loom.layer_norm %x, %w, %b : (tensor<4x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %0 : tensor<4x64xf32>
}

// -----

// Softmax along axis 1 of a rank-3 tensor: the reductions iterate that axis
// innermost; max, exp(x - max), sum, divide.
//   CHECK-DAG: #[[IN:.+]] = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
//   CHECK-DAG: #[[RED:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
//   CHECK-DAG: #[[ROW:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @softmax_middle_axis
//       CHECK:   arith.constant 0xFF800000 : f32
//       CHECK:   %[[MAX:.+]] = linalg.generic {indexing_maps = [#[[IN]], #[[RED]]], iterator_types = ["parallel", "parallel", "reduction"]}
//       CHECK:     arith.maximumf
//       CHECK:   %[[E:.+]] = linalg.generic {{.+}}#[[ROW]]{{.+}} ins(%{{.+}}, %[[MAX]] :
//       CHECK:     arith.subf
//       CHECK:     math.exp
//       CHECK:   %[[SUM:.+]] = linalg.generic {indexing_maps = [#[[IN]], #[[RED]]]{{.+}} ins(%[[E]] :
//       CHECK:     arith.addf
//       CHECK:   linalg.generic {{.+}} ins(%[[E]], %[[SUM]] :
//       CHECK:     arith.divf
func.func @softmax_middle_axis(%x: tensor<2x5x3xf32>) -> tensor<2x5x3xf32> {
  %0 = loom.softmax %x axis = 1 : tensor<2x5x3xf32>
  return %0 : tensor<2x5x3xf32>
}

// -----

// SiLU as x * (1 / (1 + exp(-x))).
// CHECK-LABEL: func.func @silu
//       CHECK:   ^bb0(%[[X:.+]]: f32, %{{.+}}: f32):
//       CHECK:     %[[NEG:.+]] = arith.negf %[[X]] : f32
//       CHECK:     %[[E:.+]] = math.exp %[[NEG]] : f32
//       CHECK:     %[[D:.+]] = arith.addf %{{.+}}, %[[E]] : f32
//       CHECK:     %[[SIG:.+]] = arith.divf %{{.+}}, %[[D]] : f32
//       CHECK:     arith.mulf %[[X]], %[[SIG]] : f32
func.func @silu(%x: tensor<4x172xf32>) -> tensor<4x172xf32> {
  %0 = loom.silu %x : tensor<4x172xf32>
  return %0 : tensor<4x172xf32>
}

// -----

// GELU: erf form and tanh form.
// CHECK-LABEL: func.func @gelu
//       CHECK:   math.erf
//   CHECK-NOT:   math.tanh
//       CHECK:   linalg.generic
//       CHECK:   math.tanh
func.func @gelu(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = loom.gelu %x : tensor<4x8xf32>
  %1 = loom.gelu %x approximation = tanh : tensor<4x8xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}
