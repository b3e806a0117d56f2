// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize --loom-weights-to-arguments \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --loom-set-target=cpu=cooperlake --loom-parallelize-contractions="block-rows=2 block-cols=2 cache-bytes=0" --canonicalize | FileCheck %s --check-prefix=VNNI
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize --loom-weights-to-arguments \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --loom-parallelize-contractions="block-rows=2 block-cols=2" --canonicalize | FileCheck %s --check-prefix=WIDE
// The dot product follows the target: an AVX2 CPU without VNNI gets
// vpmaddubsw and vpmaddwd (llama.cpp's AVX2 form).
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize --loom-weights-to-arguments \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --loom-set-target=cpu=x86-64-v3 --loom-parallelize-contractions="block-rows=2 block-cols=2 cache-bytes=0" --canonicalize | FileCheck %s --check-prefix=AVX2

// A q8_0 linear layer whose input was quantized to 8-bit blocks, on
// buffers: blocks of 2 tokens x 2 output features, 4 accumulators of 8 f32.
// Per block of 32 values: each token's 32 bytes and scale (f16(its max |x|
// / 127)); each feature's
// scale and 32 bytes, a prefetch of the same block 2 rows (one block of
// features) further on, and -128 * sum(w.q) (vpdpbusd of 0x80 bytes); x.q
// + 128 (xor 0x80) is the unsigned operand. Then one vpdpbusd per (token,
// feature), converted to f32 and scaled by w.d, then x.d (each scale
// broadcast once per block).
// VNNI-LABEL: func.func @linear_q8
//       VNNI:   scf.parallel
//       VNNI:     scf.for %[[BLK:.+]] = %c0 to %c2 step %c1 iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
//       VNNI:       memref.load %{{.+}}[%c0, %{{.+}}, %[[BLK]]] : memref<1x?x2xf32>
//       VNNI:       %[[X0:.+]] = vector.load %{{.+}}[%c0, %{{.+}}, %[[BLK]], %c0] : memref<1x?x2x32xi8>, vector<32xi8>
//       VNNI:       %[[X1:.+]] = vector.load %{{.+}}[%c0, %{{.+}}, %[[BLK]], %c0] : memref<1x?x2x32xi8>, vector<32xi8>
//       VNNI:       %[[AHEAD:.+]] = arith.minui %{{.+}}, %c7 : index
//       VNNI:       memref.prefetch %{{.+}}[%[[AHEAD]], %[[BLK]], %c0], read, locality<3>, data : memref<8x2x32xi8, strided<[68, 34, 1], offset: 2>>
//       VNNI:       vector.load %{{.+}}[%{{.+}}, %[[BLK]], %c0] : memref<8x2x2xi8, strided<[68, 34, 1]>>, vector<2xi8>
//       VNNI:       vector.bitcast %{{.+}} : vector<2xi8> to vector<1xf16>
//       VNNI:       %[[W0:.+]] = vector.load %{{.+}}[%{{.+}}, %[[BLK]], %c0] : memref<8x2x32xi8, strided<[68, 34, 1], offset: 2>>, vector<32xi8>
//       VNNI:       %[[SUM0:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%{{.+}}, %{{.+}}, %[[W0]]) : (vector<8xi32>, vector<32xi8>, vector<32xi8>) -> vector<8xi32>
//       VNNI:       %[[START0:.+]] = arith.subi %{{.+}}, %[[SUM0]] : vector<8xi32>
//       VNNI:       memref.prefetch
//       VNNI:       %[[W1:.+]] = vector.load
//       VNNI:       llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:       %[[U0:.+]] = arith.xori %[[X0]], %{{.+}} : vector<32xi8>
//       VNNI:       arith.xori %[[X1]], %{{.+}} : vector<32xi8>
//       VNNI:       %[[XS:.+]] = vector.broadcast %{{.+}} : f32 to vector<8xf32>
//       VNNI:       vector.broadcast %{{.+}} : f32 to vector<8xf32>
//       VNNI:       %[[WS:.+]] = vector.broadcast %{{.+}} : f32 to vector<8xf32>
//       VNNI:       vector.broadcast %{{.+}} : f32 to vector<8xf32>
//       VNNI:       %[[D:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%[[START0]], %[[U0]], %[[W0]])
//       VNNI:       %[[F:.+]] = arith.sitofp %[[D]] : vector<8xi32> to vector<8xf32>
//       VNNI:       %[[M:.+]] = arith.mulf %[[F]], %[[WS]] : vector<8xf32>
//       VNNI:       vector.fma %[[M]], %[[XS]], %{{.+}} : vector<8xf32>
//  VNNI-COUNT-3:     vector.fma
//       VNNI:     }
//  VNNI-COUNT-4:   vector.reduction <add>
//
// Without AVX2 the same dot products widen to i32: 32 products, each
// lane summing 4 of them, gathered by shuffles.
// WIDE-LABEL: func.func @linear_q8
//   WIDE-NOT:   llvm.call_intrinsic
//       WIDE:   scf.for
//       WIDE:     arith.extui %{{.+}} : vector<32xi8> to vector<32xi32>
//       WIDE:     arith.extsi %{{.+}} : vector<32xi8> to vector<32xi32>
//       WIDE:     arith.muli %{{.+}}, %{{.+}} : vector<32xi32>
//       WIDE:     vector.shuffle %{{.+}}, %{{.+}} [0, 4, 8, 12, 16, 20, 24, 28] : vector<32xi32>, vector<32xi32>
// With AVX2, q8_0's unsigned side (x.q + 128) takes all 8 bits: each nibble
// goes through vpmaddubsw (pairs at most 2 x 15 x 128) and vpmaddwd, the
// high one's by 16.
// AVX2-LABEL: func.func @linear_q8
//       AVX2:   scf.for
//       AVX2:     %[[LO:.+]] = arith.andi %{{.+}}, %{{.+}} : vector<32xi8>
//       AVX2:     %[[HI:.+]] = arith.shrui %{{.+}}, %{{.+}} : vector<32xi8>
//       AVX2:     %[[PL:.+]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%[[LO]], %{{.+}})
//       AVX2:     llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%[[PL]], %{{.+}})
//       AVX2:     %[[PH:.+]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%[[HI]], %{{.+}})
//       AVX2:     llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%[[PH]], %{{.+}})
//   AVX2-NOT:     arith.extui %{{.+}} : vector<32xi8> to vector<32xi32>
func.func @linear_q8(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x34xi8>
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}

// -----

// q4_0: a token's two halves of 16 bytes make its 32; the dot products
// start at -8 * sum(x.q) (vpdpbusd of 8s), once per token; a feature's 16
// bytes become 32 unsigned nibbles (low ones first) that meet x.q directly.
// VNNI-LABEL: func.func @linear_q4
//       VNNI:   scf.for %[[BLK:.+]] = %c0 to %c2 step %c1 iter_args
//       VNNI:     %[[LO:.+]] = vector.load %{{.+}}[%c0, %{{.+}}, %[[BLK]], %c0, %c0] : memref<1x?x2x2x16xi8>, vector<16xi8>
//       VNNI:     %[[HI:.+]] = vector.load %{{.+}}[%c0, %{{.+}}, %[[BLK]], %c1, %c0] : memref<1x?x2x2x16xi8>, vector<16xi8>
//       VNNI:     %[[X:.+]] = vector.shuffle %[[LO]], %[[HI]] [0, 1, {{.+}}, 31] : vector<16xi8>, vector<16xi8>
//       VNNI:     %[[EIGHTS:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%{{.+}}, %{{.+}}, %[[X]])
//       VNNI:     %[[START:.+]] = arith.subi %{{.+}}, %[[EIGHTS]] : vector<8xi32>
//       VNNI:     %[[B:.+]] = vector.load %{{.+}}[%{{.+}}, %[[BLK]], %c0] : memref<8x2x16xi8, {{.+}}>, vector<16xi8>
//       VNNI:     %[[NL:.+]] = arith.andi %[[B]], %{{.+}} : vector<16xi8>
//       VNNI:     %[[NH:.+]] = arith.shrui %[[B]], %{{.+}} : vector<16xi8>
//       VNNI:     %[[N:.+]] = vector.shuffle %[[NL]], %[[NH]] [0, 1, {{.+}}, 31] : vector<16xi8>, vector<16xi8>
//       VNNI:     llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%[[START]], %[[N]], %[[X]])
func.func @linear_q4(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x2x18xi8>
  %w = loom.dequantize %raw format = q4_0 : tensor<8x2x18xi8> -> tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}

// -----

// One token (decode): the token's side of every dot product is computed
// once, before the parallel loop, into stack buffers at the function's
// entry: per block its scale (f16(max |x| / 127)) and x.q + 128. Then each
// weight row is read through in order, one row after another (two rows per
// parallel iteration here), its blocks alternating between two
// accumulators (5 blocks: two pairs and a last one).
// VNNI-LABEL: func.func @decode_q8
//       VNNI:   %[[XD:.+]] = memref.alloca() : memref<5xf32>
//       VNNI:   %[[XU:.+]] = memref.alloca() {alignment = 32 : i64} : memref<5x32xi8>
//       VNNI:   scf.for %[[B:.+]] = %c0 to %c5 step %c1 {
//       VNNI:     arith.divf
//       VNNI:     arith.truncf %{{.+}} : f32 to f16
//       VNNI:     memref.store %{{.+}}, %[[XD]][%[[B]]] : memref<5xf32>
//       VNNI:     arith.xori
//       VNNI:     vector.store %{{.+}}, %[[XU]][%[[B]], %c0] : memref<5x32xi8>, vector<32xi8>
//       VNNI:   }
//       VNNI:   scf.parallel
//       VNNI:     scf.if
//       VNNI:       %[[ROW0:.+]]:2 = scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args(%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) -> (vector<8xf32>, vector<8xf32>) {
//       VNNI:         memref.load %[[XD]]
//       VNNI:         vector.load %[[XU]]
//       VNNI:         llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:         llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:         vector.fma
//       VNNI:         vector.fma
//       VNNI:         scf.yield
//       VNNI:       %[[BOTH:.+]] = arith.addf %[[ROW0]]#0, %[[ROW0]]#1 : vector<8xf32>
//       VNNI:       memref.load %[[XD]][%c4] : memref<5xf32>
//       VNNI:       vector.fma %{{.+}}, %{{.+}}, %[[BOTH]] : vector<8xf32>
//       VNNI:       vector.reduction <add>
//       VNNI:       scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args
//       VNNI:       vector.reduction <add>
//       VNNI:     } else {
func.func @decode_q8(%x: tensor<1x1x160xf32>) -> tensor<1x1x32xf32> {
  %raw = loom.weight "w" : tensor<32x5x34xi8>
  %w = loom.dequantize %raw format = q8_0 : tensor<32x5x34xi8> -> tensor<32x160xf32>
  %y = loom.linear %x, %w : (tensor<1x1x160xf32>, tensor<32x160xf32>) -> tensor<1x1x32xf32>
  return %y : tensor<1x1x32xf32>
}

// -----

// q4_0, one token: the token's bytes (low-nibble values first) and its
// starts -8 * sum(x.q) are computed once; per weight block only the
// nibbles are split and one vpdpbusd starts from the stored sum.
// VNNI-LABEL: func.func @decode_q4
//       VNNI:   memref.alloca() : memref<5xf32>
//       VNNI:   %[[XB:.+]] = memref.alloca() {alignment = 32 : i64} : memref<5x32xi8>
//       VNNI:   %[[XS:.+]] = memref.alloca() {alignment = 32 : i64} : memref<5x8xi32>
//       VNNI:   scf.for %[[B:.+]] = %c0 to %c5 step %c1 {
//       VNNI:     vector.shuffle
//       VNNI:     llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:     vector.store %{{.+}}, %[[XS]][%[[B]], %c0] : memref<5x8xi32>, vector<8xi32>
//       VNNI:     vector.store %{{.+}}, %[[XB]][%[[B]], %c0] : memref<5x32xi8>, vector<32xi8>
//       VNNI:   }
//       VNNI:   scf.parallel
//       VNNI:     scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args
//       VNNI:       vector.load %[[XB]]
//       VNNI:       arith.andi
//       VNNI:       arith.shrui
//       VNNI:       vector.shuffle
//       VNNI:       %[[START:.+]] = vector.load %[[XS]]
//       VNNI:       llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%[[START]], %{{.+}}, %{{.+}})
//       VNNI:       scf.yield
func.func @decode_q4(%x: tensor<1x1x160xf32>) -> tensor<1x1x32xf32> {
  %raw = loom.weight "w" : tensor<32x5x18xi8>
  %w = loom.dequantize %raw format = q4_0 : tensor<32x5x18xi8> -> tensor<32x160xf32>
  %y = loom.linear %x, %w : (tensor<1x1x160xf32>, tensor<32x160xf32>) -> tensor<1x1x32xf32>
  return %y : tensor<1x1x32xf32>
}

// -----

// q4_0x8, one token: per block the token's scale, -8 * sum(x.q) and its 32
// bytes as 8 i32 words are computed once, before the loops over the
// weight. Each group of 8 rows is then read in order, one block (144
// bytes) at a time: the 8 scales as one vector<8xf16>, 4 chunks of 32
// bytes split into low and high nibbles, and 8 vpdpbusd, each against one
// token word broadcast to every lane (lane r is row r), in two chains (low
// and high nibbles) added at the end; one accumulator of 8 outputs, stored
// as one vector: no reduction across lanes.
// VNNI-LABEL: func.func @decode_q4x8
//       VNNI:   %[[XD:.+]] = memref.alloca() : memref<3xf32>
//       VNNI:   %[[XW:.+]] = memref.alloca() {alignment = 32 : i64} : memref<3x8xi32>
//       VNNI:   %[[XS:.+]] = memref.alloca() : memref<3xi32>
//       VNNI:   %[[RAW:.+]] = memref.reinterpret_cast %{{.+}} to offset: [0], sizes: [2, 3, 144], strides: [432, 144, 1]
//       VNNI:   scf.for %[[B:.+]] = %c0 to %c3 step %c1 {
//       VNNI:     memref.store %{{.+}}, %[[XD]][%[[B]]] : memref<3xf32>
//       VNNI:     vector.reduction <add>, %{{.+}} : vector<32xi32> into i32
//       VNNI:     memref.store %{{.+}}, %[[XS]][%[[B]]] : memref<3xi32>
//       VNNI:     vector.bitcast %{{.+}} : vector<32xi8> to vector<8xi32>
//       VNNI:     vector.store %{{.+}}, %[[XW]][%[[B]], %c0] : memref<3x8xi32>, vector<8xi32>
//       VNNI:   }
//       VNNI:   scf.for %[[G:.+]] = %c0 to %c2 step %c1 {
//       VNNI:     %[[ACC:.+]] = scf.for %[[BLK:.+]] = %c0 to %c3 step %c1 iter_args(%{{.+}} = %{{.+}}) -> (vector<8xf32>) {
//       VNNI:       %[[SB:.+]] = vector.load %[[RAW]][%[[G]], %[[BLK]], %c0] : {{.+}}, vector<16xi8>
//       VNNI:       %[[SH:.+]] = vector.bitcast %[[SB]] : vector<16xi8> to vector<8xf16>
//       VNNI:       %[[WD:.+]] = arith.extf %[[SH]] : vector<8xf16> to vector<8xf32>
//       VNNI:       %[[C0:.+]] = vector.load %[[RAW]][%[[G]], %[[BLK]], %c16] : {{.+}}, vector<32xi8>
//       VNNI:       %[[L0:.+]] = arith.andi %[[C0]], %{{.+}} : vector<32xi8>
//       VNNI:       %[[H0:.+]] = arith.shrui %[[C0]], %{{.+}} : vector<32xi8>
//       VNNI:       vector.load %[[RAW]][%[[G]], %[[BLK]], %c48]
//       VNNI:       vector.load %[[RAW]][%[[G]], %[[BLK]], %c80]
//       VNNI:       vector.load %[[RAW]][%[[G]], %[[BLK]], %c112]
//       VNNI:       %[[S:.+]] = memref.load %[[XS]][%[[BLK]]] : memref<3xi32>
//       VNNI:       %[[START:.+]] = vector.broadcast %[[S]] : i32 to vector<8xi32>
//       VNNI:       %[[W0:.+]] = memref.load %[[XW]][%[[BLK]], %c0] : memref<3x8xi32>
//       VNNI:       %[[W0V:.+]] = vector.broadcast %[[W0]] : i32 to vector<8xi32>
//       VNNI:       %[[W0B:.+]] = vector.bitcast %[[W0V]] : vector<8xi32> to vector<32xi8>
//       VNNI:       %[[LOW:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%[[START]], %[[L0]], %[[W0B]])
//       VNNI:       memref.load %[[XW]][%[[BLK]], %c4] : memref<3x8xi32>
//       VNNI:       %[[HIGH:.+]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%{{.+}}, %[[H0]], %{{.+}})
//  VNNI-COUNT-6:       llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:       %[[DOT:.+]] = arith.addi %{{.+}}, %{{.+}} : vector<8xi32>
//       VNNI:       memref.load %[[XD]][%[[BLK]]] : memref<3xf32>
//       VNNI:       %[[D:.+]] = arith.mulf %[[WD]], %{{.+}} : vector<8xf32>
//       VNNI:       %[[F:.+]] = arith.sitofp %[[DOT]] : vector<8xi32> to vector<8xf32>
//       VNNI:       vector.fma %[[F]], %[[D]], %{{.+}} : vector<8xf32>
//       VNNI:     }
//       VNNI:     %[[OLD:.+]] = vector.load %{{.+}}[%c0, %c0, %[[G]], %c0] : memref<1x1x2x8xf32>, vector<8xf32>
//       VNNI:     %[[NEW:.+]] = arith.addf %[[OLD]], %[[ACC]] : vector<8xf32>
//       VNNI:     vector.store %[[NEW]], %{{.+}}[%c0, %c0, %[[G]], %c0] : memref<1x1x2x8xf32>, vector<8xf32>
//   VNNI-NOT:   vector.reduction
//       VNNI:   return
func.func @decode_q4x8(%x: tensor<1x1x96xf32>) -> tensor<1x1x16xf32> {
  %raw = loom.weight "w" : tensor<2x3x144xi8>
  %w = loom.dequantize %raw format = q4_0x8 : tensor<2x3x144xi8> -> tensor<16x96xf32>
  %y = loom.linear %x, %w : (tensor<1x1x96xf32>, tensor<16x96xf32>) -> tensor<1x1x16xf32>
  return %y : tensor<1x1x16xf32>
}

// -----

// q8_0x8, one token: 8 chunks of 32 bytes per block of 8 rows, each the
// unsigned operand as stored (q + 128), no nibbles to split; the start is
// -128 * sum(x.q), and token word k is bytes 4k..4k+3.
// VNNI-LABEL: func.func @decode_q8x8
//       VNNI:   %[[XW:.+]] = memref.alloca() {alignment = 32 : i64} : memref<3x8xi32>
//       VNNI:   %[[XS:.+]] = memref.alloca() : memref<3xi32>
//       VNNI:   %[[RAW:.+]] = memref.reinterpret_cast %{{.+}} to offset: [0], sizes: [2, 3, 272], strides: [816, 272, 1]
//       VNNI:   scf.for %[[B:.+]] = %c0 to %c3 step %c1 {
//       VNNI:     vector.reduction <add>, %{{.+}} : vector<32xi32> into i32
//       VNNI:     arith.muli %{{.+}}, %c-128_i32 : i32
//       VNNI:   scf.for %[[G:.+]] = %c0 to %c2 step %c1 {
//       VNNI:     scf.for %[[BLK:.+]] = %c0 to %c3 step %c1 iter_args
//       VNNI:       %[[C0:.+]] = vector.load %[[RAW]][%[[G]], %[[BLK]], %c16] : {{.+}}, vector<32xi8>
//       VNNI:       %[[C1:.+]] = vector.load %[[RAW]][%[[G]], %[[BLK]], %c48] : {{.+}}, vector<32xi8>
//       VNNI:       vector.load %[[RAW]][%[[G]], %[[BLK]], %c240] : {{.+}}, vector<32xi8>
//   VNNI-NOT:       arith.shrui
//       VNNI:       memref.load %[[XS]][%[[BLK]]]
//       VNNI:       memref.load %[[XW]][%[[BLK]], %c0]
//       VNNI:       llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%{{.+}}, %[[C0]], %{{.+}})
//       VNNI:       memref.load %[[XW]][%[[BLK]], %c1]
//       VNNI:       llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%{{.+}}, %[[C1]], %{{.+}})
//  VNNI-COUNT-6:       llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:       vector.fma
// With AVX2 alone, the stored bytes are made signed again (xor 128) and
// multiplied in the signs form: vpsignb(w, w) = |w| by vpsignb(x, w), one
// vpmaddubsw and one vpmaddwd per chunk, from 0 (the start is not used).
// AVX2-LABEL: func.func @decode_q8x8
//       AVX2:     scf.for %{{.+}} = %c0 to %c3 step %c1 iter_args
//       AVX2:       %[[C0:.+]] = vector.load %{{.+}} : {{.+}}, vector<32xi8>
//       AVX2:       %[[W:.+]] = arith.xori %[[C0]], %{{.+}} : vector<32xi8>
//       AVX2:       %[[ABS:.+]] = llvm.call_intrinsic "llvm.x86.avx2.psign.b"(%[[W]], %[[W]])
//       AVX2:       %[[SX:.+]] = llvm.call_intrinsic "llvm.x86.avx2.psign.b"(%{{.+}}, %[[W]])
//       AVX2:       %[[P:.+]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"(%[[ABS]], %[[SX]])
//       AVX2:       llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%[[P]], %{{.+}})
// AVX2-COUNT-7:       llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"
//   AVX2-NOT:       arith.shrui
//       AVX2:       vector.fma
func.func @decode_q8x8(%x: tensor<1x1x96xf32>) -> tensor<1x1x16xf32> {
  %raw = loom.weight "w" : tensor<2x3x272xi8>
  %w = loom.dequantize %raw format = q8_0x8 : tensor<2x3x272xi8> -> tensor<16x96xf32>
  %y = loom.linear %x, %w : (tensor<1x1x96xf32>, tensor<16x96xf32>) -> tensor<1x1x16xf32>
  return %y : tensor<1x1x16xf32>
}

// -----

// q4_0x8, several tokens: every token block's scale and start are computed
// once per call into heap buffers (freed after the loops); then blocks of
// 2 tokens x one group of 8 rows: each block of the group is loaded and
// split into nibbles once for both tokens; each token's 4-byte words are
// read where they are (one per vpdpbusd), one accumulator per token.
// VNNI-LABEL: func.func @prefill_q4x8
//       VNNI:   %[[SCALE:.+]] = memref.alloc(%{{.+}}) : memref<1x?x3xf32>
//       VNNI:   %[[STARTS:.+]] = memref.alloc(%{{.+}}) : memref<1x?x3xi32>
//       VNNI:   scf.for
//       VNNI:     scf.for
//       VNNI:       memref.store %{{.+}}, %[[SCALE]]
//       VNNI:       memref.store %{{.+}}, %[[STARTS]]
//       VNNI:   scf.parallel
//       VNNI:     scf.if
//       VNNI:       scf.for %{{.+}} = %c0 to %c3 step %c1 iter_args(%{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) -> (vector<8xf32>, vector<8xf32>) {
//       VNNI:         vector.bitcast %{{.+}} : vector<16xi8> to vector<8xf16>
//   VNNI-COUNT-4:     arith.shrui %{{.+}}, %{{.+}} : vector<32xi8>
//       VNNI:         memref.load %[[SCALE]]
//       VNNI:         memref.load %[[STARTS]]
//       VNNI:         vector.load %{{.+}} : memref<1x?x3x2x16xi8>, vector<4xi8>
//       VNNI:         vector.bitcast %{{.+}} : vector<4xi8> to vector<1xi32>
//  VNNI-COUNT-8:      llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:         vector.fma
//       VNNI:         memref.load %[[SCALE]]
//       VNNI:         memref.load %[[STARTS]]
//  VNNI-COUNT-8:      llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"
//       VNNI:         vector.fma
//       VNNI:         scf.yield
//       VNNI:   memref.dealloc %[[SCALE]]
//       VNNI:   memref.dealloc %[[STARTS]]
//
// Without AVX2, each lane's 4 products are summed from 4 shuffles.
// WIDE-LABEL: func.func @prefill_q4x8
//   WIDE-NOT:   llvm.call_intrinsic
//       WIDE:   arith.muli %{{.+}}, %{{.+}} : vector<32xi32>
//       WIDE:   vector.shuffle %{{.+}}, %{{.+}} [0, 4, 8, 12, 16, 20, 24, 28] : vector<32xi32>, vector<32xi32>
// With AVX2, q4_0's nibbles (below 128) take one vpmaddubsw and one
// vpmaddwd by ones per 32 bytes: the lanes vpdpbusd would give.
// AVX2-LABEL: func.func @prefill_q4x8
//       AVX2:   %[[P:.+]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"
//       AVX2:   llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%[[P]], %{{.+}}) : (vector<16xi16>, vector<16xi16>) -> vector<8xi32>
//   AVX2-NOT:   arith.muli %{{.+}}, %{{.+}} : vector<32xi32>
func.func @prefill_q4x8(%x: tensor<1x?x96xf32>) -> tensor<1x?x16xf32> {
  %raw = loom.weight "w" : tensor<2x3x144xi8>
  %w = loom.dequantize %raw format = q4_0x8 : tensor<2x3x144xi8> -> tensor<16x96xf32>
  %y = loom.linear %x, %w : (tensor<1x?x96xf32>, tensor<16x96xf32>) -> tensor<1x?x16xf32>
  return %y : tensor<1x?x16xf32>
}
