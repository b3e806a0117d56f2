// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg=int8-activations=false --canonicalize | FileCheck %s

// A q8_0 linear layer: one contraction over (tokens, n, block, value) that
// reads the weight's bytes: the values at bytes 2..34 of each block, the f16
// scale from bytes 0 and 1. No tensor of decoded weights exists.
//   CHECK-DAG: #[[X:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
//   CHECK-DAG: #[[Q:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4)>
//   CHECK-DAG: #[[S:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3)>
//   CHECK-DAG: #[[Y:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @linear_q8
//       CHECK:   %[[RAW:.+]] = loom.weight "w" : tensor<8x2x34xi8>
//       CHECK:   %[[XB:.+]] = tensor.expand_shape %{{.+}} {{\[}}[0], [1], [2, 3]] output_shape [1, 4, 2, 32] : tensor<1x4x64xf32> into tensor<1x4x2x32xf32>
//       CHECK:   %[[VALS:.+]] = tensor.extract_slice %[[RAW]][0, 0, 2] [8, 2, 32] [1, 1, 1] : tensor<8x2x34xi8> to tensor<8x2x32xi8>
//       CHECK:   %[[LO:.+]] = tensor.extract_slice %[[RAW]][0, 0, 0] [8, 2, 1] [1, 1, 1] : tensor<8x2x34xi8> to tensor<8x2xi8>
//       CHECK:   %[[HI:.+]] = tensor.extract_slice %[[RAW]][0, 0, 1] [8, 2, 1] [1, 1, 1] : tensor<8x2x34xi8> to tensor<8x2xi8>
//       CHECK:   linalg.generic {indexing_maps = [#[[X]], #[[Q]], #[[S]], #[[S]], #[[Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
//  CHECK-SAME:     ins(%[[XB]], %[[VALS]], %[[LO]], %[[HI]] :
//       CHECK:   ^bb0(%[[XV:.+]]: f32, %[[QV:.+]]: i8, %[[L:.+]]: i8, %[[H:.+]]: i8, %[[ACC:.+]]: f32):
//       CHECK:     %[[L16:.+]] = arith.extui %[[L]] : i8 to i16
//       CHECK:     %[[H16:.+]] = arith.extui %[[H]] : i8 to i16
//       CHECK:     %[[SH:.+]] = arith.shli %[[H16]], %{{.+}} : i16
//       CHECK:     %[[BITS:.+]] = arith.ori %[[L16]], %[[SH]] : i16
//       CHECK:     %[[HALF:.+]] = arith.bitcast %[[BITS]] : i16 to f16
//       CHECK:     %[[SCALE:.+]] = arith.extf %[[HALF]] : f16 to f32
//       CHECK:     %[[Q:.+]] = arith.sitofp %[[QV]] : i8 to f32
//       CHECK:     %[[W:.+]] = arith.mulf %[[Q]], %[[SCALE]] : f32
//       CHECK:     %[[P:.+]] = arith.mulf %[[XV]], %[[W]] fastmath<reassoc,contract> : f32
//       CHECK:     arith.addf %[[ACC]], %[[P]] fastmath<reassoc,contract> : f32
//   CHECK-NOT:   linalg.generic
func.func @linear_q8(%x: tensor<1x4x64xf32>) -> tensor<1x4x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x34xi8>
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x4x64xf32>, tensor<8x64xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// -----

// q4_0: a block's 16 bytes hold values 0-15 in their low nibbles and 16-31
// in their high ones; the loops split the block into (half, byte), and the
// half picks the nibble. value = d * (nibble - 8).
//   CHECK-DAG: #[[X:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3, d4, d5)>
//   CHECK-DAG: #[[Q:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d2, d3, d5)>
// CHECK-LABEL: func.func @linear_q4
//       CHECK:   tensor.expand_shape %{{.+}} {{\[}}[0], [1], [2, 3, 4]] output_shape [1, %{{.+}}, 2, 2, 16] : tensor<1x?x64xf32> into tensor<1x?x2x2x16xf32>
//       CHECK:   tensor.extract_slice %{{.+}}[0, 0, 2] [8, 2, 16] [1, 1, 1] : tensor<8x2x18xi8> to tensor<8x2x16xi8>
//       CHECK:   linalg.generic {indexing_maps = [#[[X]], #[[Q]], {{.+}}], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
//       CHECK:     %[[HALF:.+]] = linalg.index 4 : index
//       CHECK:     %[[HIGH:.+]] = arith.cmpi ne, %[[HALF]], %{{.+}} : index
//       CHECK:     %[[B:.+]] = arith.extui %{{.+}} : i8 to i32
//       CHECK:     %[[LO:.+]] = arith.andi %[[B]], %{{.+}} : i32
//       CHECK:     %[[HI:.+]] = arith.shrui %[[B]], %{{.+}} : i32
//       CHECK:     %[[NIB:.+]] = arith.select %[[HIGH]], %[[HI]], %[[LO]] : i32
//       CHECK:     arith.subi %[[NIB]], %{{.+}} : i32
func.func @linear_q4(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x18xi8>
  %w = loom.dequantize %raw format = q4_0 : tensor<8x2x18xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}

// -----

// An embedding decodes the rows it gathers: block k / 32, value k % 32.
// CHECK-LABEL: func.func @embedding_q8
//       CHECK:   %[[T:.+]] = loom.weight "t" : tensor<16x2x34xi8>
//       CHECK:   linalg.generic
//       CHECK:     %[[ROW:.+]] = arith.index_cast %{{.+}} : i32 to index
//       CHECK:     %[[K:.+]] = linalg.index 2 : index
//       CHECK:     %[[BLK:.+]] = arith.divui %[[K]], %c32 : index
//       CHECK:     %[[J:.+]] = arith.remui %[[K]], %c32 : index
//       CHECK:     tensor.extract %[[T]][%[[ROW]], %[[BLK]], %c0] : tensor<16x2x34xi8>
//       CHECK:     tensor.extract %[[T]][%[[ROW]], %[[BLK]], %c1] : tensor<16x2x34xi8>
//       CHECK:     %[[AT:.+]] = arith.addi %[[J]], %c2 : index
//       CHECK:     tensor.extract %[[T]][%[[ROW]], %[[BLK]], %[[AT]]] : tensor<16x2x34xi8>
//   CHECK-NOT:   linalg.generic
func.func @embedding_q8(%ids: tensor<1x4xi32>) -> tensor<1x4x64xf32> {
  %raw = loom.weight "t" : tensor<16x2x34xi8>
  %t = loom.dequantize %raw format = q8_0 : tensor<16x2x34xi8> -> tensor<16x64xf32>
  %e = loom.embedding %t, %ids : (tensor<16x64xf32>, tensor<1x4xi32>) -> tensor<1x4x64xf32>
  return %e : tensor<1x4x64xf32>
}

// -----

// Anywhere else, the decoded values as a tensor.
// CHECK-LABEL: func.func @decoded
//       CHECK:   linalg.generic {{.+}} outs(%{{.+}} : tensor<4x32xf32>)
//       CHECK:     tensor.extract %{{.+}} : tensor<4x1x34xi8>
func.func @decoded(%raw: tensor<4x1x34xi8>) -> tensor<4x32xf32> {
  %w = loom.dequantize %raw format = q8_0 : tensor<4x1x34xi8> -> tensor<4x32xf32>
  return %w : tensor<4x32xf32>
}
