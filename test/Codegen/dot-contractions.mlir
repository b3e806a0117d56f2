// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions="block-rows=2 block-cols=2" --canonicalize | FileCheck %s
// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions="block-rows=2 block-cols=2 cache-bytes=4096" --canonicalize | FileCheck %s --check-prefix=CHUNK
// RUN: loom-opt %s --split-input-file --loom-set-target=cpu=cooperlake --loom-parallelize-contractions="block-rows=2 block-cols=2 cache-bytes=0" --canonicalize | FileCheck %s --check-prefix=PAIRS
// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions="block-rows=4 block-cols=2" --canonicalize | FileCheck %s --check-prefix=EIGHT

// A linear layer (k innermost in both operands) becomes a parallel loop
// over 2x2 blocks of outputs, weight-row blocks outermost (a block of
// weights stays in cache while every token passes by). A whole block keeps 4 vector accumulators:
// per step of 16 k values, 2 loads of x, 2 of w, 4 FMAs; then each
// accumulator is summed across lanes, k's last 8 values (40 = 2 x 16 + 8)
// added one by one, and the sum added to y. Edge blocks (an odd number of
// tokens) run the same code for one output at a time. (The batch loop of
// one iteration folds away.)
// CHECK-LABEL: func.func @linear
//       CHECK:   %[[SB:.+]] = arith.ceildivui %{{.+}}, %c2 : index
//       CHECK:   scf.parallel (%[[N:.+]], %[[S:.+]]) = (%c0, %c0) to (%c4, %[[SB]]) step (%c1, %c1) {
//       CHECK:     scf.if %{{.+}} {
//       CHECK:       %[[ACC:.+]]:4 = scf.for %[[K:.+]] = %c0 to %c32 step %c16 iter_args({{.+}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
//   CHECK-COUNT-2:     vector.load %arg0[%c0, %{{.+}}, %[[K]]] : memref<1x?x40xf32>, vector<16xf32>
//   CHECK-COUNT-2:     vector.load %arg1[%{{.+}}, %[[K]]] : memref<8x40xf32>, vector<16xf32>
//   CHECK-COUNT-4:     vector.fma
//       CHECK:       }
//       CHECK:       %[[R:.+]] = vector.reduction <add>, %[[ACC]]#0 fastmath<reassoc,contract> : vector<16xf32> into f32
//       CHECK:       %[[T:.+]] = scf.for %{{.+}} = %c32 to %c40 step %c1 iter_args(%{{.+}} = %[[R]]) -> (f32) {
//       CHECK:       %[[OLD:.+]] = memref.load %arg2
//       CHECK:       %[[NEW:.+]] = arith.addf %[[OLD]], %[[T]] : f32
//       CHECK:       memref.store %[[NEW]], %arg2
//       CHECK:     } else {
//       CHECK:       scf.for
//       CHECK:         scf.for
//       CHECK:           scf.for %{{.+}} = %c0 to %c32 step %c16 iter_args(%{{.+}}) -> (vector<16xf32>) {
//   CHECK-NOT:   linalg.generic
// A block of 4 x 2 outputs: its 8 accumulators are summed by one tree of
// shuffles (each folded from 16 lanes to 8, then halves, quarters and
// pairs of 8 accumulators at a time: the order vector.reduction's LLVM
// lowering sums them in), and each output takes its lane of the result.
// EIGHT-LABEL: func.func @linear
//       EIGHT:     scf.if %{{.+}} {
//       EIGHT:       %[[ACC:.+]]:8 = scf.for
//   EIGHT-NOT:       vector.reduction
//       EIGHT:       vector.shuffle %[[ACC]]#0, %[[ACC]]#0 [0, 1, 2, 3, 4, 5, 6, 7] : vector<16xf32>, vector<16xf32>
//       EIGHT:       vector.shuffle %[[ACC]]#0, %[[ACC]]#0 [8, 9, 10, 11, 12, 13, 14, 15] : vector<16xf32>, vector<16xf32>
//       EIGHT:       vector.shuffle %{{.+}}, %{{.+}} [0, 2, 4, 6, 8, 10, 12, 14] : vector<8xf32>, vector<8xf32>
//       EIGHT:       vector.shuffle %{{.+}}, %{{.+}} [1, 3, 5, 7, 9, 11, 13, 15] : vector<8xf32>, vector<8xf32>
//       EIGHT:       %[[SUMS:.+]] = arith.addf %{{.+}}, %{{.+}} : vector<8xf32>
//       EIGHT:       %[[S0:.+]] = vector.extract %[[SUMS]][0] : f32 from vector<8xf32>
//       EIGHT:       scf.for %{{.+}} = %c32 to %c40 step %c1 iter_args(%{{.+}} = %[[S0]]) -> (f32) {
//   EIGHT-NOT:       vector.reduction
//       EIGHT:     } else {
//       EIGHT:       vector.reduction <add>
// With a 4 KiB cache, the tokens go in chunks whose rows of x (40 floats,
// 160 bytes) fill at most half of it: 2048 / 160 = 12 rows, whole blocks of
// 2. The parallel loop covers one chunk's row blocks.
// CHUNK-LABEL: func.func @linear
//       CHUNK:   %[[S:.+]] = memref.dim %arg0, %c1
//       CHUNK:   scf.for %[[C:.+]] = %c0 to %[[S]] step %c12 {
//       CHUNK:     %[[END:.+]] = arith.minui %[[S]], %{{.+}}
//       CHUNK:     %[[ROWS:.+]] = arith.subi %[[END]], %[[C]]
//       CHUNK:     %[[SB:.+]] = arith.ceildivui %[[ROWS]], %c2 : index
//       CHUNK:     scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c4, %[[SB]]) step (%c1, %c1) {
//       CHUNK:       vector.fma
// Rows of bf16 activations take 2 bytes per value: 72 values, 144 bytes,
// chunks of 2048 / 144 = 14 rows.
// CHUNK-LABEL: func.func @linear_bf16_pairs
//       CHUNK:   scf.for %{{.+}} = %c0 to %{{.+}} step %c14 {
// CHUNK-LABEL: func.func @matvec
//   CHUNK-NOT:   step %c12
#x = affine_map<(b, s, n, k) -> (b, s, k)>
#w = affine_map<(b, s, n, k) -> (n, k)>
#y = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @linear(%x: memref<1x?x40xf32>, %w: memref<8x40xf32>, %y: memref<1x?x8xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x40xf32>, memref<8x40xf32>) outs(%y : memref<1x?x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A bf16 weight read in place (the widening fused into the contraction):
// the same blocks, each weight vector loaded as 16 bf16 and widened once
// for both tokens. The tail widens its scalars the same way.
// CHECK-LABEL: func.func @linear_bf16
//       CHECK:   scf.for {{.+}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
//       CHECK:     vector.load %arg0{{.+}} : memref<1x?x40xf32>, vector<16xf32>
//       CHECK:     vector.load %arg0{{.+}} : memref<1x?x40xf32>, vector<16xf32>
//       CHECK:     %[[W0:.+]] = vector.load %arg1{{.+}} : memref<8x40xbf16>, vector<16xbf16>
//       CHECK:     arith.extf %[[W0]] : vector<16xbf16> to vector<16xf32>
//       CHECK:     %[[W1:.+]] = vector.load %arg1{{.+}} : memref<8x40xbf16>, vector<16xbf16>
//       CHECK:     arith.extf %[[W1]] : vector<16xbf16> to vector<16xf32>
//  CHECK-COUNT-4:   vector.fma
//       CHECK:   memref.load %arg1{{.+}} : memref<8x40xbf16>
//       CHECK:   arith.extf %{{.+}} : bf16 to f32
//   CHECK-NOT:   linalg.generic
func.func @linear_bf16(%x: memref<1x?x40xf32>, %w: memref<8x40xbf16>, %y: memref<1x?x8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>,
                                   affine_map<(b, s, n, k) -> (n, k)>,
                                   affine_map<(b, s, n, k) -> (b, s, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x40xf32>, memref<8x40xbf16>) outs(%y : memref<1x?x8xf32>) {
  ^bb0(%a: f32, %b: bf16, %acc: f32):
    %wide = arith.extf %b : bf16 to f32
    %p = arith.mulf %a, %wide fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Both operands bf16 (bf16 activations): widened like a bf16 weight, or,
// with avx512bf16, 32 values of k per step taken as bf16 pairs into one
// x86vector.avx512.dot (vdpbf16ps) per output; k = 72: two steps of 32 and
// a tail of 8. One token (decode) is blocked too: each weight row is
// loaded once either way, but 16-bit rows need widening or pairing; the
// block's rows are read one after another (a loop with one accumulator
// each), not interleaved step by step.
// CHECK-LABEL: func.func @linear_bf16_pairs
//       CHECK:   scf.for
//       CHECK:     vector.load %arg0{{.+}} : memref<1x?x72xbf16>, vector<16xbf16>
//       CHECK:     arith.extf %{{.+}} : vector<16xbf16> to vector<16xf32>
// PAIRS-LABEL: func.func @linear_bf16_pairs
//       PAIRS:   scf.for %{{.+}} = %c0 to %c64 step %c32 iter_args
//       PAIRS:     %[[X0:.+]] = vector.load %arg0{{.+}} : memref<1x?x72xbf16>, vector<32xbf16>
//       PAIRS:     %[[X1:.+]] = vector.load %arg0{{.+}} : memref<1x?x72xbf16>, vector<32xbf16>
//       PAIRS:     %[[W0:.+]] = vector.load %arg1{{.+}} : memref<8x72xbf16>, vector<32xbf16>
//       PAIRS:     %[[W1:.+]] = vector.load %arg1{{.+}} : memref<8x72xbf16>, vector<32xbf16>
//       PAIRS:     x86vector.avx512.dot %{{.+}}, %[[X0]], %[[W0]] : vector<32xbf16> -> vector<16xf32>
//       PAIRS:     x86vector.avx512.dot %{{.+}}, %[[X0]], %[[W1]] : vector<32xbf16> -> vector<16xf32>
//       PAIRS:     x86vector.avx512.dot %{{.+}}, %[[X1]], %[[W0]] : vector<32xbf16> -> vector<16xf32>
//       PAIRS:     x86vector.avx512.dot %{{.+}}, %[[X1]], %[[W1]] : vector<32xbf16> -> vector<16xf32>
//       PAIRS:   scf.for %{{.+}} = %c64 to %c72 step %c1
//       PAIRS:     arith.extf %{{.+}} : bf16 to f32
// PAIRS-LABEL: func.func @matvec_bf16
//       PAIRS:   scf.parallel
//       PAIRS:     scf.for %{{.+}} = %c0 to %c64 step %c32 iter_args(%{{.+}} = %{{.+}}) -> (vector<16xf32>)
//       PAIRS:       x86vector.avx512.dot
//  PAIRS-NEXT:       scf.yield
//       PAIRS:     vector.reduction <add>
//       PAIRS:     scf.for %{{.+}} = %c0 to %c64 step %c32 iter_args(%{{.+}} = %{{.+}}) -> (vector<16xf32>)
//       PAIRS:       x86vector.avx512.dot
//  PAIRS-NEXT:       scf.yield
//       PAIRS:     vector.reduction <add>
func.func @linear_bf16_pairs(%x: memref<1x?x72xbf16>, %w: memref<8x72xbf16>, %y: memref<1x?x8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>,
                                   affine_map<(b, s, n, k) -> (n, k)>,
                                   affine_map<(b, s, n, k) -> (b, s, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x72xbf16>, memref<8x72xbf16>) outs(%y : memref<1x?x8xf32>) {
  ^bb0(%a: bf16, %b: bf16, %acc: f32):
    %wa = arith.extf %a : bf16 to f32
    %wb = arith.extf %b : bf16 to f32
    %p = arith.mulf %wa, %wb fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
func.func @matvec_bf16(%x: memref<1x1x64xbf16>, %w: memref<32x64xbf16>, %y: memref<1x1x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>,
                                   affine_map<(b, s, n, k) -> (n, k)>,
                                   affine_map<(b, s, n, k) -> (b, s, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x1x64xbf16>, memref<32x64xbf16>) outs(%y : memref<1x1x32xf32>) {
  ^bb0(%a: bf16, %b: bf16, %acc: f32):
    %wa = arith.extf %a : bf16 to f32
    %wb = arith.extf %b : bf16 to f32
    %p = arith.mulf %wa, %wb fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// One token (decode): a matrix-vector product takes the weight rows one
// after another, each a whole dot product of 16-wide FMAs summed across
// lanes once (LLVM's own vectorization of the plain loop kept one 8-wide
// accumulator, a latency chain).
// CHECK-LABEL: func.func @matvec
//       CHECK:   scf.parallel
//       CHECK:     scf.for {{.+}} -> (vector<16xf32>)
//       CHECK:       vector.load %arg1{{.+}} : memref<32x64xf32>, vector<16xf32>
//       CHECK:       vector.fma
//       CHECK:     vector.reduction <add>
#x = affine_map<(b, s, n, k) -> (b, s, k)>
#w = affine_map<(b, s, n, k) -> (n, k)>
#y = affine_map<(b, s, n, k) -> (b, s, n)>
func.func @matvec(%x: memref<1x1x64xf32>, %w: memref<32x64xf32>, %y: memref<1x1x32xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x1x64xf32>, memref<32x64xf32>) outs(%y : memref<1x1x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// k not innermost in the second operand (P.V in attention): not a dot
// product of rows; plain parallel loops.
// CHECK-LABEL: func.func @not_rows
//   CHECK-NOT:   vector.
//       CHECK:   scf.parallel
#p = affine_map<(i, e, j) -> (i, j)>
#v = affine_map<(i, e, j) -> (j, e)>
#o = affine_map<(i, e, j) -> (i, e)>
func.func @not_rows(%p: memref<32x64xf32>, %v: memref<64x16xf32>, %o: memref<32x16xf32>) {
  linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%p, %v : memref<32x64xf32>, memref<64x16xf32>) outs(%o : memref<32x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Attention's P·V with 2 query heads per value head: the output's last
// dimension (e, 32 values) is contiguous in v and absent from p. Each output
// row keeps its 32 values in two vector registers while the keys run: one
// broadcast of p, two loads of v, multiplies and adds in the op's order (no
// fused multiply-add: the op does not allow `contract`).
// CHECK-LABEL: func.func @value_rows
//       CHECK:   scf.parallel (%[[H:.+]], %[[I:.+]]) = (%c0, %c0) to (%c4, %c8) step (%c1, %c1) {
//       CHECK:     %[[Y0:.+]] = vector.load %arg2[%c0, %[[H]], %[[I]], %c0] : memref<1x4x8x32xf32>, vector<16xf32>
//       CHECK:     %[[Y1:.+]] = vector.load %arg2[%c0, %[[H]], %[[I]], %c16] : memref<1x4x8x32xf32>, vector<16xf32>
//       CHECK:     %[[ACC:.+]]:2 = scf.for %[[J:.+]] = %c0 to %c64 step %c1 iter_args(%[[A0:.+]] = %[[Y0]], %[[A1:.+]] = %[[Y1]])
//       CHECK:       %[[P:.+]] = memref.load %arg0[%c0, %[[H]], %[[I]], %[[J]]] : memref<1x4x8x64xf32>
//       CHECK:       %[[PV:.+]] = vector.broadcast %[[P]] : f32 to vector<16xf32>
//       CHECK:       %[[G:.+]] = affine.apply #{{.+}}(%[[H]])
//       CHECK:       %[[V0:.+]] = vector.load %arg1[%c0, %[[G]], %[[J]], %c0] : memref<1x2x64x32xf32>, vector<16xf32>
//       CHECK:       %[[M0:.+]] = arith.mulf %[[PV]], %[[V0]] : vector<16xf32>
//       CHECK:       arith.addf %[[A0]], %[[M0]] : vector<16xf32>
//   CHECK-NOT:       vector.fma
//       CHECK:       scf.yield
//       CHECK:     vector.store %[[ACC]]#0, %arg2[%c0, %[[H]], %[[I]], %c0]
//       CHECK:     vector.store %[[ACC]]#1, %arg2[%c0, %[[H]], %[[I]], %c16]
//   CHECK-NOT:   linalg.generic
func.func @value_rows(%p: memref<1x4x8x64xf32>, %v: memref<1x2x64x32xf32>, %o: memref<1x4x8x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, h, i, e, j) -> (b, h, i, j)>,
                                   affine_map<(b, h, i, e, j) -> (b, h floordiv 2, j, e)>,
                                   affine_map<(b, h, i, e, j) -> (b, h, i, e)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : memref<1x4x8x64xf32>, memref<1x2x64x32xf32>) outs(%o : memref<1x4x8x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  }
  return
}
