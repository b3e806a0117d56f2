// RUN: loom-opt %s --split-input-file --loom-register-tile-gpu-reductions="tile-rows=2 tile-cols=2" --canonicalize | FileCheck %s
// RUN: loom-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(loom-reduce-across-gpu-threads,loom-register-tile-gpu-reductions,convert-linalg-to-parallel-loops,loom-tile-parallel-loops-for-gpu,gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,canonicalize)" | FileCheck %s --check-prefix=LAUNCH

// Prefill's projection over a dynamic number of tokens: a 2 x 2 tile of
// outputs per iteration of the loop over tiles (rows: tokens, columns:
// features; the loop steps by 1 over ceil(tokens / 2) x 16 tiles). The
// reduction runs in order with the four accumulators as iter_args; each
// element reads its own operands (LLVM merges the equal loads). A row past
// the tokens is read on the last one (minui) and not stored; the columns
// divide by 2, so theirs need no guard.
// CHECK-LABEL: func.func @prefill
//   CHECK-DAG:   %[[C2:.+]] = arith.constant 2 : index
//   CHECK-DAG:   %[[C16:.+]] = arith.constant 16 : index
//       CHECK:   %[[TOKENS:.+]] = memref.dim %arg0
//       CHECK:   %[[ROWTILES:.+]] = arith.ceildivui %[[TOKENS]], %[[C2]] : index
//       CHECK:   scf.parallel (%[[TR:.+]], %[[TC:.+]]) = (%{{.+}}, %{{.+}}) to (%[[ROWTILES]], %[[C16]]) step
//       CHECK:     %[[R0:.+]] = arith.muli %[[TR]], %[[C2]] : index
//       CHECK:     %[[C0:.+]] = arith.muli %[[TC]], %[[C2]] : index
//       CHECK:     arith.minui
//       CHECK:     %[[ACC:.+]]:4 = scf.for %[[K:.+]] = {{.+}} iter_args({{.+}}) -> (f32, f32, f32, f32) {
//       CHECK:       memref.load %arg0[%{{.+}}, %[[R0]], %[[K]]]
//       CHECK:       memref.load %arg1[%[[C0]], %[[K]]]
//       CHECK:       arith.addf
//       CHECK:       scf.yield
//       CHECK:     memref.store %[[ACC]]#0, %arg2
//       CHECK:     memref.store %[[ACC]]#1, %arg2
//       CHECK:     scf.if
//       CHECK:       memref.store %[[ACC]]#2, %arg2
//       CHECK:     scf.if
//       CHECK:       memref.store %[[ACC]]#3, %arg2
// On the GPU (4 x 4 tiles by default): each thread carries 16 sums.
// LAUNCH-LABEL: func.func @prefill
//       LAUNCH:   gpu.launch_func @prefill_kernel::@prefill_kernel
//       LAUNCH: gpu.func @prefill_kernel
//       LAUNCH:   scf.for {{.+}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
func.func @prefill(%x: memref<1x?x32xf32>, %w: memref<32x32xf32>, %y: memref<1x?x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                                   affine_map<(b, m, n, k) -> (n, k)>,
                                   affine_map<(b, m, n, k) -> (b, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x32xf32>, memref<32x32xf32>) outs(%y : memref<1x?x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// One wide parallel dimension (a norm's sum of squares over a dynamic
// number of tokens): nothing to tile in two, left alone.
// CHECK-LABEL: func.func @one_wide
//       CHECK:   linalg.generic
func.func @one_wide(%x: memref<1x?x32xf32>, %y: memref<1x?xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, m, k) -> (b, m, k)>,
                                   affine_map<(b, m, k) -> (b, m)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : memref<1x?x32xf32>) outs(%y : memref<1x?xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %p = arith.mulf %a, %a : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A zero fill right before goes: the accumulators start at its value.
// CHECK-LABEL: func.func @filled
//   CHECK-NOT:   linalg.fill
//       CHECK:   %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
//   CHECK-NOT:   memref.load %arg2
//       CHECK:   scf.for {{.+}} iter_args(%{{.+}} = %[[ZERO]], %{{.+}} = %[[ZERO]], %{{.+}} = %[[ZERO]], %{{.+}} = %[[ZERO]])
func.func @filled(%x: memref<1x?x32xf32>, %w: memref<32x32xf32>, %y: memref<1x?x32xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<1x?x32xf32>)
  linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>,
                                   affine_map<(b, m, n, k) -> (n, k)>,
                                   affine_map<(b, m, n, k) -> (b, m, n)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x32xf32>, memref<32x32xf32>) outs(%y : memref<1x?x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
