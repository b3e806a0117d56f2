// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --verify-diagnostics | FileCheck %s

// Interleaved RoPE: the pair of feature d is d / 2, its elements 2p and
// 2p + 1; freq = 1 / powf(theta, 2p / rotary_dim); angle = (offset + s) * freq.
// cos and sin are computed once per (position, pair), in a [seq, pairs]
// table, and read by the rotation for every head and both elements.
// CHECK-LABEL: func.func @rope_interleaved
//  CHECK-SAME:   %[[X:.+]]: tensor<1x?x8x8xf32>, %[[POS:.+]]: index
//       CHECK:   %[[THETA:.+]] = arith.constant 1.000000e+04 : f32
//       CHECK:   %[[TABLE:.+]]:2 = linalg.generic {{.+}} outs(%{{.+}}, %{{.+}} : tensor<?x4xf32>, tensor<?x4xf32>)
//       CHECK:     %[[S:.+]] = linalg.index 0 : index
//       CHECK:     %[[POW:.+]] = math.powf %[[THETA]], %{{.+}} : f32
//       CHECK:     %[[FREQ:.+]] = arith.divf %{{.+}}, %[[POW]] : f32
//       CHECK:     %[[P:.+]] = arith.addi %[[POS]], %[[S]] : index
//       CHECK:     %[[ANGLE:.+]] = arith.mulf %{{.+}}, %[[FREQ]] : f32
//       CHECK:     %[[COS:.+]] = math.cos %[[ANGLE]]
//       CHECK:     %[[SIN:.+]] = math.sin %[[ANGLE]]
//       CHECK:     linalg.yield %[[COS]], %[[SIN]]
//       CHECK:   linalg.generic
//       CHECK:     %[[S2:.+]] = linalg.index 1 : index
//       CHECK:     %[[D:.+]] = linalg.index 3 : index
//       CHECK:     %[[PAIR:.+]] = arith.divui %[[D]], %{{.+}} : index
//       CHECK:     arith.remui %[[D]]
//       CHECK:     tensor.extract %[[X]]
//       CHECK:     tensor.extract %[[X]]
//       CHECK:     tensor.extract %[[TABLE]]#0[%[[S2]], %{{.+}}] : tensor<?x4xf32>
//       CHECK:     tensor.extract %[[TABLE]]#1[%[[S2]], %{{.+}}] : tensor<?x4xf32>
//   CHECK-NOT:     math.cos
func.func @rope_interleaved(%x: tensor<1x?x8x8xf32>, %pos: index) -> tensor<1x?x8x8xf32> {
  %0 = loom.rope %x, %pos : tensor<1x?x8x8xf32>
  return %0 : tensor<1x?x8x8xf32>
}

// -----

// Rotate-half RoPE over the first 4 of 8 features: pairs (d, d + 2) for
// d < 2; features from 4 on pass through.
// CHECK-LABEL: func.func @rope_half_partial
//       CHECK:   linalg.generic
//       CHECK:     %[[D:.+]] = linalg.index 3 : index
//       CHECK:     %[[C2:.+]] = arith.constant 2 : index
//       CHECK:     %[[FIRST:.+]] = arith.cmpi ult, %[[D]], %[[C2]] : index
//       CHECK:     %[[SECOND:.+]] = arith.subi %[[D]], %{{.+}} : index
//       CHECK:     %[[PAIR:.+]] = arith.select %[[FIRST]], %[[D]], %[[SECOND]] : index
//       CHECK:     %[[C4:.+]] = arith.constant 4 : index
//       CHECK:     %[[ROTATED:.+]] = arith.cmpi ult, %[[D]], %[[C4]] : index
//       CHECK:     %[[R:.+]] = arith.select %[[FIRST]]
//       CHECK:     arith.select %[[ROTATED]], %[[R]], %{{.+}} : f32
func.func @rope_half_partial(%x: tensor<1x3x2x8xf32>, %pos: index) -> tensor<1x3x2x8xf32> {
  %0 = loom.rope %x, %pos style = half rotary_dim = 4 : tensor<1x3x2x8xf32>
  return %0 : tensor<1x3x2x8xf32>
}

// -----

// The sinusoidal table: sin on even features, cos on odd ones.
// CHECK-LABEL: func.func @positional_encoding
//       CHECK:   linalg.generic {{.+}} outs(%{{.+}} : tensor<16x64xf32>)
//       CHECK:     math.powf
//       CHECK:     math.sin
//       CHECK:     math.cos
func.func @positional_encoding(%pos: index) -> tensor<16x64xf32> {
  %0 = loom.positional_encoding %pos : tensor<16x64xf32>
  return %0 : tensor<16x64xf32>
}

// -----

// A table of unknown length cannot be lowered: the op stays and the
// conversion reports it.
func.func @positional_encoding_dynamic(%pos: index) -> tensor<?x64xf32> {
  // expected-error @+1 {{failed to legalize operation 'loom.positional_encoding'}}
  %0 = loom.positional_encoding %pos : tensor<?x64xf32>
  return %0 : tensor<?x64xf32>
}
