// RUN: loom-opt %s --split-input-file --loom-interleave-weights | FileCheck %s
// RUN: loom-opt %s --split-input-file --loom-interleave-weights --loom-weights-to-arguments | FileCheck %s --check-prefix=ARGS

// A q4_0 matrix only linear layers read, 16 rows: read as 2 groups of 8
// rows, 144 bytes per group and block (the same bytes), marked with what
// the file stores. The same name read twice: both reads change. q8_0: 272
// bytes per group and block.
// CHECK-LABEL: func.func @layer
//       CHECK:   %[[R:.+]] = loom.weight "w" {loom.packed_from = "q4_0"} : tensor<2x2x144xi8>
//       CHECK:   %[[W:.+]] = loom.dequantize %[[R]] format = q4_0x8 : tensor<2x2x144xi8> -> tensor<16x64xf32>
//       CHECK:   loom.linear %{{.+}}, %[[W]]
//       CHECK:   loom.weight "w" {loom.packed_from = "q4_0"} : tensor<2x2x144xi8>
//       CHECK:   format = q4_0x8
//       CHECK:   %[[R8:.+]] = loom.weight "w8" {loom.packed_from = "q8_0"} : tensor<2x2x272xi8>
//       CHECK:   loom.dequantize %[[R8]] format = q8_0x8 : tensor<2x2x272xi8> -> tensor<16x64xf32>
// The marker travels to the argument (and from there to the manifest).
// ARGS-LABEL: func.func @layer
//  ARGS-SAME:   %{{.+}}: tensor<2x2x144xi8> {loom.packed_from = "q4_0", loom.weight = "w"}
func.func @layer(%x: tensor<4x64xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) {
  %raw = loom.weight "w" : tensor<16x2x18xi8>
  %w = loom.dequantize %raw format = q4_0 : tensor<16x2x18xi8> -> tensor<16x64xf32>
  %y = loom.linear %x, %w : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
  %raw2 = loom.weight "w" : tensor<16x2x18xi8>
  %w2 = loom.dequantize %raw2 format = q4_0 : tensor<16x2x18xi8> -> tensor<16x64xf32>
  %z = loom.linear %x, %w2 : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
  %raw8 = loom.weight "w8" : tensor<16x2x34xi8>
  %w8 = loom.dequantize %raw8 format = q8_0 : tensor<16x2x34xi8> -> tensor<16x64xf32>
  %u = loom.linear %x, %w8 : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
  return %y, %z, %u : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
}

// -----

// Left as stored: rows not a multiple of 8 (q4_0 and q8_0); a table an
// embedding
// reads (also through a linear layer: one buffer per name); a weight read
// by a linear layer and anything else.
// CHECK-LABEL: func.func @kept
//   CHECK-NOT:   q4_0x8
//   CHECK-NOT:   packed_from
func.func @kept(%x: tensor<4x64xf32>, %ids: tensor<1x4xi32>) -> (tensor<4x12xf32>, tensor<4x12xf32>, tensor<1x4x64xf32>, tensor<4x16xf32>, tensor<16x64xf32>) {
  %r1 = loom.weight "rows12" : tensor<12x2x18xi8>
  %w1 = loom.dequantize %r1 format = q4_0 : tensor<12x2x18xi8> -> tensor<12x64xf32>
  %y1 = loom.linear %x, %w1 : (tensor<4x64xf32>, tensor<12x64xf32>) -> tensor<4x12xf32>
  %r2 = loom.weight "q8" : tensor<12x2x34xi8>
  %w2 = loom.dequantize %r2 format = q8_0 : tensor<12x2x34xi8> -> tensor<12x64xf32>
  %y2 = loom.linear %x, %w2 : (tensor<4x64xf32>, tensor<12x64xf32>) -> tensor<4x12xf32>
  %r3 = loom.weight "table" : tensor<16x2x18xi8>
  %w3 = loom.dequantize %r3 format = q4_0 : tensor<16x2x18xi8> -> tensor<16x64xf32>
  %e = loom.embedding %w3, %ids : (tensor<16x64xf32>, tensor<1x4xi32>) -> tensor<1x4x64xf32>
  %r4 = loom.weight "table" : tensor<16x2x18xi8>
  %w4 = loom.dequantize %r4 format = q4_0 : tensor<16x2x18xi8> -> tensor<16x64xf32>
  %y4 = loom.linear %x, %w4 : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
  %r5 = loom.weight "other" : tensor<16x2x18xi8>
  %w5 = loom.dequantize %r5 format = q4_0 : tensor<16x2x18xi8> -> tensor<16x64xf32>
  %y5 = loom.linear %x, %w5 : (tensor<4x64xf32>, tensor<16x64xf32>) -> tensor<4x16xf32>
  return %y1, %y2, %e, %y4, %w5 : tensor<4x12xf32>, tensor<4x12xf32>, tensor<1x4x64xf32>, tensor<4x16xf32>, tensor<16x64xf32>
}
