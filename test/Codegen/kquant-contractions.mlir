// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize --loom-weights-to-arguments \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --loom-set-target=cpu=znver4 --loom-parallelize-contractions="cache-bytes=0" --canonicalize | FileCheck %s --check-prefix=ZMM
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize --loom-weights-to-arguments \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --loom-set-target=cpu=x86-64-v3 --loom-parallelize-contractions="cache-bytes=0" --canonicalize | FileCheck %s --check-prefix=YMM

// A Q6_K linear layer over 16 tokens with 8-bit activations (llama.cpp's
// q8_K: one scale per super-block of 256), summed per super-block in
// integers.
//
// On 512-bit vectors, fewer than 32 tokens: blocks of 8 tokens x 8 weight
// rows. The rows take
// their turn in a loop, each an 8 x 1 register block (vpmaddubsw and
// vpdpwssd on 64 bytes); each row's 8 accumulators are summed into one
// vector (lane t: token t's sum), passed down a queue of 8 registers. After
// the loop the 8 x 8 sums are transposed, and y is read and written a
// token's 8 outputs at a time. Edge blocks (none here) sum one output at a
// time.
// ZMM-LABEL: func.func @linear_q6k
//       ZMM:   scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c2, %c2)
//       ZMM:     scf.if
//       ZMM:       %{{.+}}:8 = scf.for %{{.+}} = %c0 to %c8 step %c1 iter_args(%[[Q0:[^ ]+]] = %{{.+}}, %[[Q1:[^ ]+]] = %{{.+}}, %[[Q2:[^ ]+]] = %{{.+}}, %[[Q3:[^ ]+]] = %{{.+}}, %[[Q4:[^ ]+]] = %{{.+}}, %[[Q5:[^ ]+]] = %{{.+}}, %[[Q6:[^ ]+]] = %{{.+}}, %[[Q7:[^ ]+]] = %{{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
//   ZMM-COUNT-8:     llvm.call_intrinsic "llvm.x86.avx512.vpdpwssd.512"
//   ZMM-NOT:         vector.reduction
//       ZMM:         scf.yield %[[Q1]], %[[Q2]], %[[Q3]], %[[Q4]], %[[Q5]], %[[Q6]], %[[Q7]], %{{.+}} : vector<8xf32>
//   ZMM-NOT:       vector.reduction
//   ZMM-COUNT-8:   vector.store %{{.+}} : memref<1x16x16xf32>, vector<8xf32>
//       ZMM:     } else {
//       ZMM:       vector.reduction <add>
//
// On 256-bit vectors (16 registers): blocks of 2 tokens x 2 rows, each
// output's lanes reduced and added to y on its own.
// YMM-LABEL: func.func @linear_q6k
//       YMM:   scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c8, %c8)
//       YMM:     scf.if
//       YMM:       llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"
//   YMM-COUNT-4:   vector.reduction <add>
//   YMM-NOT:   scf.for {{.+}} iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
func.func @linear_q6k(%x: tensor<1x16x256xf32>) -> tensor<1x16x16xf32> {
  %raw = loom.weight "w" : tensor<16x1x210xi8>
  %w = loom.dequantize %raw format = q6_k : tensor<16x1x210xi8> -> tensor<16x256xf32>
  %y = loom.linear %x, %w : (tensor<1x16x256xf32>, tensor<16x256xf32>) -> tensor<1x16x16xf32>
  return %y : tensor<1x16x16xf32>
}

// -----

// A Q4_K layer over any number of tokens: 32 tokens or more take the
// rows-in-lanes kernel, fewer the blocks above. On AVX512-VNNI each task
// (2 here, 16 weight rows each) decodes its rows once into scratch
// buffers (values as 4-byte groups with the 16 rows side by side, the
// groups' scales and minimum pairs, d and dmin; each row staged whole,
// then 16 rows transposed); then blocks of 8 tokens (the rest one at a
// time) run the super-blocks (f32 accumulators, one lane per row) and their
// blocks of 32 values (i32 sums): per group of 16 values 4 vpdpbusd of the
// rows' bytes by a token's 4 bytes broadcast, times the groups' scales;
// per super-block the minimums by vpdpwssd, then
// acc += x.d * (d * sums - dmin * minimums); y is written 16 outputs of a
// token at a time.
// ZMM-LABEL: func.func @linear_q4k_many
//       ZMM:   %[[MANY:.+]] = arith.cmpi uge, %{{.+}}, %c32 : index
//       ZMM:   scf.if %[[MANY]] {
//       ZMM:     scf.parallel (%{{.+}}) = (%c0) to (%c2) step (%c1) {
//       ZMM:       %[[W:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x64x16xi32>
//       ZMM:       %[[SC:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x16x16xi32>
//       ZMM:       %[[MN:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x8x16xi32>
//       ZMM:       %[[D:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x2x16xf32>
//       ZMM:       scf.for %{{.+}} = %c0 to %c2 step %c1 {
//       ZMM:         scf.for %{{.+}} = %c0 to %c16 step %c1 {
//       ZMM:           vector.store %{{.+}} : memref<16x16xi32>, vector<16xi32>
//       ZMM:         }
//       ZMM:         vector.store %{{.+}}, %[[W]][%{{.+}}] : memref<2x64x16xi32>, vector<16xi32>
//       ZMM:       scf.for %[[T0:.+]] = %c0 to %{{.+}} step %c8 {
//       ZMM:         %{{.+}}:8 = scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
//       ZMM:           %{{.+}}:8 = scf.for %{{.+}} = %c0 to %c8 step %c1 iter_args({{.+}}) -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>) {
//       ZMM:             vector.load %[[W]]
//   ZMM-COUNT-8:         llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
//       ZMM:             vector.load %[[SC]]
//   ZMM-COUNT-8:         arith.muli {{.+}} : vector<16xi32>
//       ZMM:           vector.load %[[MN]]
//   ZMM-COUNT-8:       llvm.call_intrinsic "llvm.x86.avx512.vpdpwssd.512"
//       ZMM:           arith.negf
//       ZMM:           vector.fma
//   ZMM-COUNT-8:     vector.store %{{.+}} : memref<1x?x32xf32>, vector<16xf32>
//       ZMM:       scf.for %{{.+}} = %{{.+}} to %{{.+}} step %c1 {
//       ZMM:       memref.dealloc %[[W]]
//       ZMM:   } else {
//       ZMM:     scf.parallel
//
// With AVX2 alone (no VNNI): 8 rows in the lanes of 256-bit vectors (4
// tasks of 8), blocks of 4 tokens, and per two 4-byte groups of a group two
// vpmaddubsw added in i16 and one vpmaddwd against the scale held in both
// halves of each row's lane; the minimums by vpmaddwd.
// YMM-LABEL: func.func @linear_q4k_many
//       YMM:   %[[MANY:.+]] = arith.cmpi uge, %{{.+}}, %c32 : index
//       YMM:   scf.if %[[MANY]] {
//       YMM:     scf.parallel (%{{.+}}) = (%c0) to (%c4) step (%c1) {
//       YMM:       memref.alloc() {alignment = 64 : i64} : memref<2x64x8xi32>
//       YMM:       %{{.+}}:4 = scf.for %{{.+}} = %c0 to %c2 step %c1 iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>) {
//       YMM:         %{{.+}}:4 = scf.for %{{.+}} = %c0 to %c8 step %c1 iter_args({{.+}}) -> (vector<8xi32>, vector<8xi32>, vector<8xi32>, vector<8xi32>) {
//   YMM-COUNT-4:       llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"
//       YMM:           %[[P1:.+]] = llvm.call_intrinsic "llvm.x86.avx2.pmadd.ub.sw"
//       YMM:           %[[BOTH:.+]] = arith.addi %{{.+}}, %[[P1]] : vector<16xi16>
//       YMM:           llvm.call_intrinsic "llvm.x86.avx2.pmadd.wd"(%[[BOTH]], %{{.+}}) : (vector<16xi16>, vector<16xi16>) -> vector<8xi32>
//   YMM-NOT:   vpdpbusd
//       YMM:   } else {
func.func @linear_q4k_many(%x: tensor<1x?x512xf32>) -> tensor<1x?x32xf32> {
  %raw = loom.weight "w" : tensor<32x2x144xi8>
  %w = loom.dequantize %raw format = q4_k : tensor<32x2x144xi8> -> tensor<32x512xf32>
  %y = loom.linear %x, %w : (tensor<1x?x512xf32>, tensor<32x512xf32>) -> tensor<1x?x32xf32>
  return %y : tensor<1x?x32xf32>
}
