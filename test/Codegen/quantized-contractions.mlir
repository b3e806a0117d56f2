// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg=int8-activations=false --canonicalize --loom-weights-to-arguments \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --loom-parallelize-contractions="block-rows=2 block-cols=2" --canonicalize | FileCheck %s

// A q8_0 linear layer on buffers: blocks of 2 tokens x 2 output features.
// Per block of 32 weights (2 per row here), each feature's scale is
// decoded once (its two bytes, adjacent in the raw blocks, read as one f16)
// and its 32 bytes loaded as one vector, widened and scaled, then used for
// both tokens: 2 x 2 accumulators of 16 lanes, 2 FMAs each.
// CHECK-LABEL: func.func @linear_q8
//       CHECK:   scf.parallel
//       CHECK:     scf.if
//       CHECK:       %[[ACC:.+]]:4 = scf.for %[[BLK:.+]] = %c0 to %c2 step %c1 iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
//       CHECK:         %[[SB:.+]] = vector.load %{{.+}}[%{{.+}}, %[[BLK]], %c0] : memref<8x2x2xi8, strided<[68, 34, 1]>>, vector<2xi8>
//       CHECK:         vector.bitcast %[[SB]] : vector<2xi8> to vector<1xf16>
//       CHECK:         arith.extf %{{.+}} : f16 to f32
//       CHECK:         %[[S:.+]] = vector.broadcast %{{.+}} : f32 to vector<16xf32>
//       CHECK:         %[[Q:.+]] = vector.load %{{.+}}[%{{.+}}, %[[BLK]], %c0] : memref<8x2x32xi8, strided<[68, 34, 1], offset: 2>>, vector<32xi8>
//       CHECK:         %[[F:.+]] = arith.sitofp %[[Q]] : vector<32xi8> to vector<32xf32>
//       CHECK:         vector.extract_strided_slice %[[F]] {offsets = [0], sizes = [16], strides = [1]}
//       CHECK:         vector.extract_strided_slice %[[F]] {offsets = [16], sizes = [16], strides = [1]}
//   CHECK-COUNT-8:     vector.fma
//       CHECK:       }
//   CHECK-COUNT-4:   vector.reduction <add>
//       CHECK:     } else {
//   CHECK-NOT:   linalg.generic
func.func @linear_q8(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x34xi8>
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}

// -----

// q4_0: a row's 16 bytes widen to i32; the low nibbles are values 0-15,
// the high nibbles 16-31, each minus 8. x is read as [.., blocks, 2, 16].
// CHECK-LABEL: func.func @linear_q4
//       CHECK:   scf.for %[[BLK:.+]] = %c0 to %c2 step %c1 iter_args
//       CHECK:     %[[Q:.+]] = vector.load %{{.+}}[%{{.+}}, %[[BLK]], %c0] : memref<8x2x16xi8, {{.+}}>, vector<16xi8>
//       CHECK:     %[[W:.+]] = arith.extui %[[Q]] : vector<16xi8> to vector<16xi32>
//       CHECK:     arith.andi %[[W]], %{{.+}} : vector<16xi32>
//       CHECK:     arith.shrui %[[W]], %{{.+}} : vector<16xi32>
//       CHECK:     vector.load %{{.+}}[%c0, %{{.+}}, %[[BLK]], %c0, %c0] : memref<1x?x2x2x16xf32>, vector<16xf32>
//       CHECK:     vector.load %{{.+}}[%c0, %{{.+}}, %[[BLK]], %c1, %c0] : memref<1x?x2x2x16xf32>, vector<16xf32>
func.func @linear_q4(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x18xi8>
  %w = loom.dequantize %raw format = q4_0 : tensor<8x2x18xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}
