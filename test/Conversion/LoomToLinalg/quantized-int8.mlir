// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize | FileCheck %s

// With int8-activations (the default), a q8_0 linear layer quantizes its
// input to 8-bit blocks of 32 first, as llama.cpp's x86 code makes its
// q8_0 blocks: per block, amax = max |x| (one reduction); then, in one
// elementwise op, 127 / amax (0 where amax is 0) and q = roundeven(x *
// (127 / amax)) clamped to [-127, 127]. The contraction multiplies the two
// blocks' bytes as integers and scales the products by x.d * w.d, x.d =
// amax / 127 rounded to f16 (llama.cpp stores it so).
//   CHECK-DAG: #[[ID4:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
//   CHECK-DAG: #[[BLK4:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
//   CHECK-DAG: #[[QX:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
//   CHECK-DAG: #[[DX:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3)>
//   CHECK-DAG: #[[QW:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4)>
//   CHECK-DAG: #[[DW:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3)>
// CHECK-LABEL: func.func @linear_q8
//       CHECK:   %[[XB:.+]] = tensor.expand_shape %{{.+}} {{\[}}[0], [1], [2, 3]] output_shape [1, 4, 2, 32] : tensor<1x4x64xf32> into tensor<1x4x2x32xf32>
//       CHECK:   %[[AMAX:.+]] = linalg.generic {indexing_maps = [#[[ID4]], #[[BLK4]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[XB]] : tensor<1x4x2x32xf32>)
//       CHECK:     math.absf
//       CHECK:     arith.maximumf
//       CHECK:   %[[XQ:.+]] = linalg.generic {{.+}} ins(%[[XB]], %[[AMAX]] : tensor<1x4x2x32xf32>, tensor<1x4x2xf32>) outs(%{{.+}} : tensor<1x4x2x32xi8>) attrs = {loom.activation_blocks = 1 : i64}
//       CHECK:   ^bb0(%{{.+}}: f32, %[[AM:.+]]: f32, %{{.+}}: i8):
//       CHECK:     %[[INV:.+]] = arith.divf %{{.+}}, %[[AM]] : f32
//       CHECK:     %[[ZERO:.+]] = arith.cmpf oeq, %[[AM]], %{{.+}} : f32
//       CHECK:     %[[SEL:.+]] = arith.select %[[ZERO]], %{{.+}}, %[[INV]] : f32
//       CHECK:     arith.mulf %{{.+}}, %[[SEL]] : f32
//       CHECK:     math.roundeven
//       CHECK:     arith.maximumf
//       CHECK:     arith.minimumf
//       CHECK:     arith.fptosi %{{.+}} : f32 to i8
//       CHECK:   linalg.generic {indexing_maps = [#[[QX]], #[[DX]], #[[QW]], #[[DW]], #[[DW]], {{.+}}], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
//  CHECK-SAME:     ins(%[[XQ]], %[[AMAX]], %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x4x2x32xi8>, tensor<1x4x2xf32>, tensor<8x2x32xi8>, tensor<8x2xi8>, tensor<8x2xi8>)
//       CHECK:   ^bb0(%[[XV:.+]]: i8, %[[XM:.+]]: f32, %[[WV:.+]]: i8, %{{.+}}: i8, %{{.+}}: i8, %[[ACC:.+]]: f32):
//       CHECK:     %[[WD:.+]] = arith.extf %{{.+}} : f16 to f32
//       CHECK:     %[[W:.+]] = arith.extsi %[[WV]] : i8 to i32
//       CHECK:     %[[X:.+]] = arith.extsi %[[XV]] : i8 to i32
//       CHECK:     %[[P:.+]] = arith.muli %[[X]], %[[W]] : i32
//       CHECK:     %[[PF:.+]] = arith.sitofp %[[P]] : i32 to f32
//       CHECK:     %[[XD32:.+]] = arith.divf %[[XM]], %{{.+}} : f32
//       CHECK:     %[[XD16:.+]] = arith.truncf %[[XD32]] : f32 to f16
//       CHECK:     %[[XD:.+]] = arith.extf %[[XD16]] : f16 to f32
//       CHECK:     %[[S:.+]] = arith.mulf %[[XD]], %[[WD]] : f32
//       CHECK:     %[[T:.+]] = arith.mulf %[[PF]], %[[S]] fastmath<reassoc,contract> : f32
//       CHECK:     arith.addf %[[ACC]], %[[T]] fastmath<reassoc,contract> : f32
func.func @linear_q8(%x: tensor<1x4x64xf32>) -> tensor<1x4x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x34xi8>
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x4x64xf32>, tensor<8x64xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// -----

// q4_0: x's blocks are split into halves like the weight's (value j of half
// h is x[.., 16 h + j]); the weight's value is its nibble - 8, as an integer.
// CHECK-LABEL: func.func @linear_q4
//       CHECK:   linalg.generic {{.+}} outs(%{{.+}} : tensor<1x?x2x2x16xi8>)
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]
//  CHECK-SAME:     ins(%{{.+}} : tensor<1x?x2x2x16xi8>, tensor<1x?x2xf32>, tensor<8x2x16xi8>, tensor<8x2xi8>, tensor<8x2xi8>)
//       CHECK:     arith.select %{{.+}}, %{{.+}}, %{{.+}} : i32
//       CHECK:     arith.subi %{{.+}}, %{{.+}} : i32
//       CHECK:     arith.muli %{{.+}}, %{{.+}} : i32
func.func @linear_q4(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x18xi8>
  %w = loom.dequantize %raw format = q4_0 : tensor<8x2x18xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}

// -----

// Two layers reading the same input (Q and K, gate and up) share one
// quantization of it: one reduction for the scales, one op writing the
// 8-bit blocks, two contractions reading them.
// CHECK-LABEL: func.func @shared_input
//       CHECK:   %[[AMAX:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
//       CHECK:   %[[XQ:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<4x2x32xi8>)
//       CHECK:     math.roundeven
//   CHECK-NOT:   math.roundeven
//       CHECK:   linalg.generic {{.+}} ins(%[[XQ]], %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x2x32xi8>
//       CHECK:   linalg.generic {{.+}} ins(%[[XQ]], %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<4x2x32xi8>
func.func @shared_input(%x: tensor<4x64xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %rq = loom.weight "q" : tensor<8x2x34xi8>
  %wq = loom.dequantize %rq format = q8_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  %rk = loom.weight "k" : tensor<8x2x34xi8>
  %wk = loom.dequantize %rk format = q8_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  %q = loom.linear %x, %wq : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
  %k = loom.linear %x, %wk : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
  return %q, %k : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// q4_0x8 (8 rows interleaved): loops (b, s, g, r, blk, half, c, t), output
// n = 8g + r as y [b, s, groups, 8]; value 16 half + 4c + t of row r is
// nibble byte 4c + t of the row, at 16 + 32c + 4r + t in the group's block
// (the nibbles viewed as [g, blk, c, r, t]); its scale at bytes 2r, 2r + 1.
// The body is q4_0's.
//   CHECK-DAG: #[[X8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d4, d5, d6, d7)>
//   CHECK-DAG: #[[D8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d4)>
//   CHECK-DAG: #[[Q8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d2, d4, d6, d3, d7)>
//   CHECK-DAG: #[[S8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d2, d4, d3)>
//   CHECK-DAG: #[[Y8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @linear_q4x8
//       CHECK:   tensor.extract_slice %[[W:.+]][0, 0, 16] [2, 2, 128] [1, 1, 1] : tensor<2x2x144xi8> to tensor<2x2x128xi8>
//       CHECK:   tensor.expand_shape %{{.+}} {{\[}}[0], [1], [2, 3, 4]] output_shape [2, 2, 4, 8, 4]
//       CHECK:   tensor.extract_slice %[[W]][0, 0, 0] [2, 2, 16] [1, 1, 1]
//       CHECK:   %[[Y:.+]] = linalg.generic {indexing_maps = [#[[X8]], #[[D8]], #[[Q8]], #[[S8]], #[[S8]], #[[Y8]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "reduction"]}
//  CHECK-SAME:     ins(%{{.+}} : tensor<1x?x2x2x4x4xi8>, tensor<1x?x2xf32>, tensor<2x2x4x8x4xi8>, tensor<2x2x8xi8>, tensor<2x2x8xi8>) outs(%{{.+}} : tensor<1x?x2x8xf32>)
//       CHECK:     linalg.index 5 : index
//       CHECK:     arith.select %{{.+}}, %{{.+}}, %{{.+}} : i32
//       CHECK:     arith.muli %{{.+}}, %{{.+}} : i32
//       CHECK:   tensor.collapse_shape %[[Y]] {{\[}}[0], [1], [2, 3]] : tensor<1x?x2x8xf32> into tensor<1x?x16xf32>
func.func @linear_q4x8(%x: tensor<1x?x64xf32>) -> tensor<1x?x16xf32> {
  %raw = loom.weight "w" : tensor<2x2x144xi8>
  %w = loom.dequantize %raw format = q4_0x8 : tensor<2x2x144xi8> -> tensor<16x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<16x64xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// q8_0x8: loops (b, s, g, r, blk, c, t), value 4c + t of the block at byte
// 16 + 32c + 4r + t (the values viewed as [g, blk, 8, 8, 4]); stored as q +
// 128, so the weight's integer is the byte (unsigned) - 128.
//   CHECK-DAG: #[[XQ8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d4, d5, d6)>
//   CHECK-DAG: #[[QQ8:.+]] = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d2, d4, d5, d3, d6)>
// CHECK-LABEL: func.func @linear_q8x8
//       CHECK:   tensor.extract_slice %{{.+}}[0, 0, 16] [2, 2, 256] [1, 1, 1] : tensor<2x2x272xi8> to tensor<2x2x256xi8>
//       CHECK:   linalg.generic {indexing_maps = [#[[XQ8]], #{{.+}}, #[[QQ8]], {{.+}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
//  CHECK-SAME:     ins(%{{.+}} : tensor<1x?x2x8x4xi8>, tensor<1x?x2xf32>, tensor<2x2x8x8x4xi8>, tensor<2x2x8xi8>, tensor<2x2x8xi8>)
//       CHECK:     %[[U:.+]] = arith.extui %{{.+}} : i8 to i32
//       CHECK:     arith.subi %[[U]], %c128_i32 : i32
func.func @linear_q8x8(%x: tensor<1x?x64xf32>) -> tensor<1x?x16xf32> {
  %raw = loom.weight "w" : tensor<2x2x272xi8>
  %w = loom.dequantize %raw format = q8_0x8 : tensor<2x2x272xi8> -> tensor<16x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<16x64xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}

// -----

// A K-quant takes x as llama.cpp's q8_K: the 8 blocks of 32 of a
// super-block share one scale, the largest of their max |x| (a reduction
// over the 8, written back to each block), and the quantizing op and the
// contraction both say so (loom.activation_blocks = 8), which lets the
// lowering accumulate a super-block in integers. q8_K keeps its scale in
// f32, as 1 / (127 / amax): no f16 rounding.
//   CHECK-DAG: #[[SB:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
//   CHECK-DAG: #[[SBOUT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @linear_q4_k
//       CHECK:   %[[AMAX:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<1x?x16x32xf32>) outs(%{{.+}} : tensor<1x?x16xf32>)
//       CHECK:   %[[GROUPS:.+]] = tensor.expand_shape %[[AMAX]] {{\[}}[0], [1], [2, 3]] {{.+}} : tensor<1x?x16xf32> into tensor<1x?x2x8xf32>
//       CHECK:   %[[SHARED:.+]] = linalg.generic {indexing_maps = [#[[SB]], #[[SBOUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[GROUPS]] : tensor<1x?x2x8xf32>)
//       CHECK:     arith.maximumf
//       CHECK:   %[[D:.+]] = tensor.collapse_shape %[[SHARED]] {{\[}}[0], [1], [2, 3]] : tensor<1x?x2x8xf32> into tensor<1x?x16xf32>
//       CHECK:   %[[XQ:.+]] = linalg.generic {{.+}} ins(%{{.+}}, %[[D]] : tensor<1x?x16x32xf32>, tensor<1x?x16xf32>) {{.+}} attrs = {loom.activation_blocks = 8 : i64}
//       CHECK:   linalg.generic {{.+}} ins(%[[XQ]], %[[D]] : tensor<1x?x16x32xi8>, tensor<1x?x16xf32>) {{.+}} attrs = {loom.activation_blocks = 8 : i64, loom.block_format = "q4_k"}
//       CHECK:     %[[INV:.+]] = arith.divf %{{.+}}, %{{.+}} : f32
//   CHECK-NOT:     arith.truncf
//       CHECK:     arith.divf %{{.+}}, %[[INV]] : f32
//   CHECK-NOT:     arith.truncf
//       CHECK:     linalg.yield
func.func @linear_q4_k(%x: tensor<1x?x512xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x144xi8>
  %w = loom.dequantize %raw format = q4_k : tensor<8x2x144xi8> -> tensor<8x512xf32>
  %y = loom.linear %x, %w : (tensor<1x?x512xf32>, tensor<8x512xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}
