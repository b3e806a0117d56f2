// RUN: loom-opt %s --split-input-file --loom-reduce-across-gpu-threads | FileCheck %s
// RUN: loom-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(loom-reduce-across-gpu-threads,convert-linalg-to-parallel-loops,loom-tile-parallel-loops-for-gpu,gpu-map-parallel-loops,convert-parallel-loops-to-gpu,loom-uniform-gpu-reductions),gpu-kernel-outlining,canonicalize)" | FileCheck %s --check-prefix=LAUNCH

// Decode's matrix-vector product: 64 outputs of 1024 products each. One
// block per output (the grid's x), 256 threads taking every 256th product,
// the block's partial sums combined by scf.reduce; the old output is read
// before the reduction and old + total stored after it.
// CHECK-LABEL: func.func @gemv
//   CHECK-DAG:   %[[C64:.+]] = arith.constant 64 : index
//   CHECK-DAG:   %[[C256:.+]] = arith.constant 256 : index
//   CHECK-DAG:   %[[C1024:.+]] = arith.constant 1024 : index
//   CHECK-DAG:   %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
//       CHECK:   scf.parallel (%[[O:.+]]) = (%{{.+}}) to (%[[C64]]) step
//       CHECK:     %[[OLD:.+]] = memref.load %arg2[%{{.+}}, %[[O]]]
//       CHECK:     %[[SUM:.+]] = scf.parallel (%[[T:.+]]) = (%{{.+}}) to (%[[C256]]) step (%{{.+}}) init (%[[ZERO]]) -> f32 {
//       CHECK:       %[[P:.+]] = scf.for %[[R:.+]] = %[[T]] to %[[C1024]] step %[[C256]] iter_args(%[[A:.+]] = %[[ZERO]]) -> (f32) {
//       CHECK:         memref.load %arg0[%{{.+}}, %[[R]]]
//       CHECK:         memref.load %arg1[%[[O]], %[[R]]]
//       CHECK:         arith.mulf
//       CHECK:         arith.addf %[[A]], %{{.+}} fastmath<reassoc,contract> : f32
//       CHECK:       scf.reduce(%[[P]] : f32) {
//       CHECK:         arith.addf
//       CHECK:     } {mapping = [#gpu.loop_dim_map<processor = thread_x
//       CHECK:     %[[NEW:.+]] = arith.addf %[[OLD]], %[[SUM]]
//       CHECK:     memref.store %[[NEW]], %arg2[%{{.+}}, %[[O]]]
//       CHECK:   } {mapping = [#gpu.loop_dim_map<processor = block_x
//   CHECK-NOT:   linalg.generic
// On the GPU: 64 blocks of 256 threads and a uniform gpu.all_reduce.
// LAUNCH-LABEL: func.func @gemv
//       LAUNCH:   gpu.launch_func @gemv_kernel::@gemv_kernel blocks in (%c64, %c1, %c1) threads in (%c256, %c1, %c1)
//       LAUNCH: gpu.func @gemv_kernel
//       LAUNCH:   memref.load
//       LAUNCH:   scf.for
//       LAUNCH:   gpu.all_reduce %{{.+}} uniform {
//       LAUNCH:     arith.addf
//       LAUNCH:   memref.store
func.func @gemv(%x: memref<1x1024xf32>, %w: memref<64x1024xf32>, %y: memref<1x64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x1024xf32>, memref<64x1024xf32>) outs(%y : memref<1x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Two reduction dimensions (q8_0 blocks of 32) linearized: neighbouring
// threads read neighbouring bytes; a short reduction (2 x 32) gets 64
// threads. The max keeps its -inf start.
// CHECK-LABEL: func.func @blocks_max
//   CHECK-DAG:   %[[C64:.+]] = arith.constant 64 : index
//   CHECK-DAG:   %[[NINF:.+]] = arith.constant 0xFF800000 : f32
//       CHECK:   scf.parallel (%{{.+}}) = (%{{.+}}) to (%{{.+}}) step
//       CHECK:     scf.parallel (%[[T:.+]]) = (%{{.+}}) to (%[[C64]]) step (%{{.+}}) init (%[[NINF]]) -> f32 {
//       CHECK:       scf.for %[[R:.+]] = %[[T]] to %{{.+}} step %[[C64]]
//       CHECK:         %[[J:.+]] = arith.remui %[[R]], %c32
//       CHECK:         %[[B:.+]] = arith.divui %[[R]], %c32
//       CHECK:         memref.load %arg0[%{{.+}}, %[[B]], %[[J]]]
//       CHECK:         arith.maximumf
func.func @blocks_max(%x: memref<8x2x32xf32>, %y: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(n, b, j) -> (n, b, j)>,
                                   affine_map<(n, b, j) -> (n)>],
                  iterator_types = ["parallel", "reduction", "reduction"]}
      ins(%x : memref<8x2x32xf32>) outs(%y : memref<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %acc, %a : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// Left alone: outputs over a dynamic number of tokens (prefill), a short
// reduction, a payload that is not combine(%out, value).
// CHECK-LABEL: func.func @left_alone
//   CHECK-NOT:   scf.parallel
//       CHECK:   linalg.generic
//       CHECK:   linalg.generic
//       CHECK:   linalg.generic
func.func @left_alone(%x: memref<?x1024xf32>, %w: memref<64x1024xf32>, %y: memref<?x64xf32>,
                      %s: memref<4x16xf32>, %t: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x1024xf32>, memref<64x1024xf32>) outs(%y : memref<?x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                   affine_map<(i, j) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%s : memref<4x16xf32>) outs(%t : memref<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  }
  %w2 = memref.alloc() : memref<4x64xf32>
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                   affine_map<(i, j) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%w2 : memref<4x64xf32>) outs(%t : memref<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    %h = arith.mulf %r, %r : f32
    linalg.yield %h : f32
  }
  return
}

// -----

// An output filled right before (decode's zeros) starts from the fill's
// value: no load of the old output, and no fill kernel.
// CHECK-LABEL: func.func @filled
//   CHECK-DAG:   %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
//   CHECK-NOT:   linalg.fill
//       CHECK:   scf.parallel (%[[O:.+]]) =
//   CHECK-NOT:     memref.load %arg2
//       CHECK:     %[[SUM:.+]] = scf.parallel
//       CHECK:     %[[NEW:.+]] = arith.addf %[[ZERO]], %[[SUM]]
//       CHECK:     memref.store %[[NEW]], %arg2[%{{.+}}, %[[O]]]
func.func @filled(%x: memref<1x1024xf32>, %w: memref<64x1024xf32>, %y: memref<1x64xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<1x64xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                   affine_map<(m, n, k) -> (n, k)>,
                                   affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x1024xf32>, memref<64x1024xf32>) outs(%y : memref<1x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A fill that is not right before the reduction stays, and the old output
// is read.
// CHECK-LABEL: func.func @fill_kept
//       CHECK:   linalg.fill
//       CHECK:   memref.load %arg2
func.func @fill_kept(%x: memref<1x1024xf32>, %y: memref<1x1024xf32>, %t: memref<1xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%t : memref<1xf32>)
  linalg.copy ins(%x : memref<1x1024xf32>) outs(%y : memref<1x1024xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, k) -> (m, k)>,
                                   affine_map<(m, k) -> (m)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%y : memref<1x1024xf32>) outs(%t : memref<1xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  return
}
