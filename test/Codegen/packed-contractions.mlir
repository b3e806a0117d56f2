// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions="vector-width=16" --canonicalize | FileCheck %s
// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions="vector-width=8" --canonicalize | FileCheck %s --check-prefix=YMM
// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions="vector-width=16 pack-weights=false" --canonicalize | FileCheck %s --check-prefix=DOT
// RUN: loom-opt %s --split-input-file --loom-set-target=cpu=cooperlake --loom-parallelize-contractions --canonicalize | FileCheck %s --check-prefix=BF16DOT

// An f32 linear layer over a prompt (dynamic tokens), n a multiple of 64:
// in parallel over panels of 64 features (128 / 64 = 2), each task packs
// its weights for 256 values of k at a time (512 = 2 panels deep) into a
// [256][64] buffer with 16 x 16 transposes, then runs the tokens through
// it 6 at a time: 24 accumulators loaded from y, per k 4 weight vectors and
// 6 broadcasts of x, 24 FMAs, two k per iteration, stored back to y. The
// tokens past the last whole block of 6 run one at a time.
// CHECK-LABEL: func.func @linear
//       CHECK:   %[[S:.+]] = memref.dim %arg2, %c1
//       CHECK:   scf.parallel (%[[P:.+]]) = (%c0) to (%c2) step (%c1) {
//       CHECK:     %[[PANEL:.+]] = memref.alloc() {alignment = 64 : i64} : memref<256x64xf32>
//       CHECK:     scf.for %[[K0:.+]] = %c0 to %c512 step %c256 {
//       CHECK:       scf.for %{{.+}} = %c0 to %c256 step %c16 {
//  CHECK-COUNT-16:     vector.load %arg1[{{.+}}] : memref<128x512xf32>, vector<16xf32>
//       CHECK:         vector.shuffle
//       CHECK:         vector.store %{{.+}}, %[[PANEL]]
//       CHECK:       scf.for %[[T:.+]] = %c0 to %{{.+}} step %c6 {
//  CHECK-COUNT-24:     vector.load %arg2
//       CHECK:         scf.for %{{.+}} = %c0 to %c256 step %c2 iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
//  CHECK-COUNT-4:        vector.load %[[PANEL]]
//       CHECK:           memref.load %arg0
//       CHECK:           vector.broadcast
//  CHECK-COUNT-4:        vector.fma
//       CHECK:         }
//  CHECK-COUNT-24:     vector.store %{{.+}}, %arg2
//       CHECK:       scf.for %{{.+}} = %{{.+}} to %[[S]] step %c1 {
//       CHECK:     memref.dealloc %[[PANEL]]
//   CHECK-NOT:   linalg.generic
// On 256-bit vectors: panels of 2 x 8 features (128 / 16 = 8), 8 x 8
// transposes, 12 accumulators.
// YMM-LABEL: func.func @linear
//       YMM:   scf.parallel (%{{.+}}) = (%c0) to (%c8) step (%c1) {
//       YMM:     memref.alloc() {alignment = 64 : i64} : memref<256x16xf32>
//       YMM:       scf.for %{{.+}} = %c0 to %{{.+}} step %c6 {
// YMM-COUNT-12:     vector.load %arg2{{.+}} vector<8xf32>
// Without pack-weights: the register-blocked dot products.
// DOT-LABEL: func.func @linear
//   DOT-NOT:   memref.alloc
//       DOT:   vector.reduction <add>
#x = affine_map<(b, s, n, k) -> (b, s, k)>
#w = affine_map<(b, s, n, k) -> (n, k)>
#y = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @linear(%x: memref<1x?x512xf32>, %w: memref<128x512xf32>, %y: memref<1x?x128xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x512xf32>, memref<128x512xf32>) outs(%y : memref<1x?x128xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Not packed: n not a multiple of the panel (96 = 1.5 x 64), k not of the
// vector (40), a static single token (decode).
// CHECK-LABEL: func.func @not_packed
//   CHECK-NOT:   memref.alloc
//       CHECK:   return
#x2 = affine_map<(b, s, n, k) -> (b, s, k)>
#w2 = affine_map<(b, s, n, k) -> (n, k)>
#y2 = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @not_packed(%x: memref<1x?x512xf32>, %w: memref<96x512xf32>, %y: memref<1x?x96xf32>,
                      %x2: memref<1x?x40xf32>, %w2: memref<64x40xf32>, %y2: memref<1x?x64xf32>,
                      %x3: memref<1x1x512xf32>, %w3: memref<64x512xf32>, %y3: memref<1x1x64xf32>) {
  linalg.generic {indexing_maps = [#x2, #w2, #y2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x512xf32>, memref<96x512xf32>) outs(%y : memref<1x?x96xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#x2, #w2, #y2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x2, %w2 : memref<1x?x40xf32>, memref<64x40xf32>) outs(%y2 : memref<1x?x64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#x2, #w2, #y2], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x3, %w3 : memref<1x1x512xf32>, memref<64x512xf32>) outs(%y3 : memref<1x1x64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// 16-bit weights are widened as they are packed, into the same f32 panel;
// the micro-kernel is the f32 one.
// CHECK-LABEL: func.func @f16_weights
//       CHECK:   memref.alloc() {alignment = 64 : i64} : memref<256x64xf32>
//   CHECK-NOT:   memref.alloc
//  CHECK-COUNT-16:     vector.load %arg1[{{.+}}] : memref<64x512xf16>, vector<16xf16>
//       CHECK:         arith.extf %{{.+}} : vector<16xf16> to vector<16xf32>
//       CHECK:         vector.shuffle
//       CHECK:         memref.load %arg0{{.+}} : memref<1x?x512xf32>
//       CHECK:         vector.fma
// YMM-LABEL: func.func @f16_weights
//       YMM:   memref.alloc() {alignment = 64 : i64} : memref<256x16xf32>
#x3 = affine_map<(b, s, n, k) -> (b, s, k)>
#w3 = affine_map<(b, s, n, k) -> (n, k)>
#y3 = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @f16_weights(%x: memref<1x?x512xf32>, %w: memref<64x512xf16>, %y: memref<1x?x64xf32>) {
  linalg.generic {indexing_maps = [#x3, #w3, #y3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x512xf32>, memref<64x512xf16>) outs(%y : memref<1x?x64xf32>) {
  ^bb0(%a: f32, %b: f16, %o: f32):
    %bf = arith.extf %b : f16 to f32
    %p = arith.mulf %a, %bf : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// bf16 x and w (x rounded to bf16, as llama.cpp computes bf16 layers)
// without AVX512-BF16: the weights widened into the panel, and each block
// of tokens' x widened into a task buffer [6][256] read by the broadcasts.
// CHECK-LABEL: func.func @bf16_both
//       CHECK:   %[[PANEL:.+]] = memref.alloc() {alignment = 64 : i64} : memref<256x64xf32>
//       CHECK:   %[[XS:.+]] = memref.alloc() {alignment = 64 : i64} : memref<6x256xf32>
//       CHECK:         arith.extf %{{.+}} : vector<16xbf16> to vector<16xf32>
//       CHECK:       scf.for %{{.+}} = %c0 to %{{.+}} step %c6 {
//       CHECK:         scf.for %{{.+}} = %c0 to %c256 step %c16 {
//  CHECK-COUNT-6:        vector.store %{{.+}}, %[[XS]]
//       CHECK:         scf.for
//       CHECK:           memref.load %[[XS]]
//       CHECK:           vector.broadcast
//       CHECK:     memref.dealloc %[[PANEL]]
//       CHECK:     memref.dealloc %[[XS]]
// With AVX512-BF16 (cooperlake) they stay bf16 pairs for vdpbf16ps.
// BF16DOT-LABEL: func.func @bf16_both
//   BF16DOT-NOT:   memref.alloc
//       BF16DOT:   x86vector.avx512.dot
#x4 = affine_map<(b, s, n, k) -> (b, s, k)>
#w4 = affine_map<(b, s, n, k) -> (n, k)>
#y4 = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @bf16_both(%x: memref<1x?x512xbf16>, %w: memref<64x512xbf16>, %y: memref<1x?x64xf32>) {
  linalg.generic {indexing_maps = [#x4, #w4, #y4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x512xbf16>, memref<64x512xbf16>) outs(%y : memref<1x?x64xf32>) {
  ^bb0(%a: bf16, %b: bf16, %o: f32):
    %af = arith.extf %a : bf16 to f32
    %bf = arith.extf %b : bf16 to f32
    %p = arith.mulf %af, %bf : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}
