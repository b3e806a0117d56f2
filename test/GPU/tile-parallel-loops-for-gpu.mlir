// RUN: loom-opt %s --split-input-file --loom-tile-parallel-loops-for-gpu | FileCheck %s
// RUN: loom-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(loom-tile-parallel-loops-for-gpu,gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,canonicalize)" | FileCheck %s --check-prefix=LAUNCH

// Rows of 768 features over a dynamic number of tokens: the features (the
// innermost dimension) are moved first and tiled by 128 threads, the tokens
// by 1. The inner loop (the threads) has constant bounds; the iterations
// past the end are guarded.
// CHECK-LABEL: func.func @rows
//       CHECK:   %[[C128:.+]] = arith.constant 128 : index
//       CHECK:   %[[T:.+]] = arith.muli %c1, %[[C128]] : index
//       CHECK:   scf.parallel (%{{.+}}, %{{.+}}) = (%c0, %c0) to (%c768, %dim) step (%[[T]], %{{.+}}) {
//       CHECK:     scf.parallel (%{{.+}}, %{{.+}}) = (%{{.+}}, %{{.+}}) to (%[[T]], %{{.+}}) step (%c1, %c1) {
//       CHECK:       scf.if
//       CHECK:         memref.load %arg0[%{{.+}}, %{{.+}}]
// Upstream then maps the features to x: 6 blocks of 128 threads per token.
// LAUNCH-LABEL: func.func @rows
//       LAUNCH:   gpu.launch_func @rows_kernel::@rows_kernel blocks in (%c6, %{{.+}}, %c1) threads in (%c128, %c1, %c1)
func.func @rows(%x: memref<?x768xf32>, %y: memref<?x768xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c768 = arith.constant 768 : index
  %s = memref.dim %x, %c0 : memref<?x768xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%s, %c768) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<?x768xf32>
    memref.store %v, %y[%i, %j] : memref<?x768xf32>
  }
  return
}

// -----

// A reduced dimension of 1 innermost (a norm's sum of squares per token,
// y[1, s, 1]): the threads take the tokens, the next dimension in; a short
// dimension (8) is a block of its own size.
// LAUNCH-LABEL: func.func @sums
//       LAUNCH:   gpu.launch_func @sums_kernel::@sums_kernel blocks in (%c1, %c1, %c1) threads in (%c8, %c1, %c1)
func.func @sums(%x: memref<1x8x64xf32>, %y: memref<1x8x1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%b, %s, %o) = (%c0, %c0, %c0) to (%c1, %c8, %c1) step (%c1, %c1, %c1) {
    scf.for %k = %c0 to %c64 step %c1 {
      %v = memref.load %x[%b, %s, %k] : memref<1x8x64xf32>
      %a = memref.load %y[%b, %s, %o] : memref<1x8x1xf32>
      %r = arith.addf %a, %v : f32
      memref.store %r, %y[%b, %s, %o] : memref<1x8x1xf32>
    }
  }
  return
}

// -----

// Four dimensions (batch, heads, tokens, head dimension): the leading two
// are collapsed into one, so that the grid and the block have 3 each.
// CHECK-LABEL: func.func @heads
//       CHECK:   scf.parallel ({{%[a-z0-9_]+, %[a-z0-9_]+, %[a-z0-9_]+}}) =
//   CHECK-NOT:   scf.parallel ({{%[a-z0-9_]+, %[a-z0-9_]+, %[a-z0-9_]+, %[a-z0-9_]+}})
// LAUNCH-LABEL: func.func @heads
//       LAUNCH:   blocks in (%c1, %c8, %dim) threads in (%c64, %c1, %c1)
func.func @heads(%x: memref<1x8x?x64xf32>, %y: memref<1x8x?x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %s = memref.dim %x, %c2 : memref<1x8x?x64xf32>
  scf.parallel (%b, %h, %t, %d) = (%c0, %c0, %c0, %c0) to (%c1, %c8, %s, %c64) step (%c1, %c1, %c1, %c1) {
    %v = memref.load %x[%b, %h, %t, %d] : memref<1x8x?x64xf32>
    memref.store %v, %y[%b, %h, %t, %d] : memref<1x8x?x64xf32>
  }
  return
}
