// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions | FileCheck %s --check-prefix=PAR
// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions --loom-outline-parallel-loops | FileCheck %s --check-prefix=OUTLINE
// RUN: loom-opt %s --split-input-file --loom-parallelize-contractions --loom-outline-parallel-loops \
// RUN:   --convert-scf-to-cf --finalize-memref-to-llvm --convert-arith-to-llvm --convert-func-to-llvm \
// RUN:   --loom-lower-parallel-dispatch --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// A contraction becomes a parallel loop over its output rows with the
// reduction inside; its body is outlined and dispatched through the runtime.
#id = affine_map<(n, k) -> (n, k)>
#row = affine_map<(n, k) -> (n)>
func.func @row_sums(%x: memref<256x64xf32>, %y: memref<256xf32>) {
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<256x64xf32>) outs(%y : memref<256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %out, %in : f32
    linalg.yield %s : f32
  }
  return
}
// PAR-LABEL: func.func @row_sums
//       PAR:   scf.parallel (%[[N:.+]]) = (%{{.+}}) to (%{{.+}}) step (%{{.+}}) {
//       PAR:     scf.for %[[K:.+]] = %{{.+}} to %{{.+}} step %{{.+}} {
//       PAR:       memref.load %{{.+}}[%{{.+}}, %{{.+}}] : memref<256x64xf32>
//   PAR-NOT:   linalg.generic

// The grain is min-work (32768) over the 64 inner iterations: 512 rows.
// OUTLINE-LABEL: func.func @row_sums
//  OUTLINE-SAME:   (%[[X:[[:alnum:]_]+]]: memref<256x64xf32>, %[[Y:[[:alnum:]_]+]]: memref<256xf32>)
//       OUTLINE:   %[[GRAIN:.+]] = arith.constant 512 : index
//       OUTLINE:   call @__loom_parallel_dispatch_0(%{{.+}}, %{{.+}}, %[[GRAIN]], {{.*}}%[[X]]{{.*}}%[[Y]]
//   OUTLINE-NOT:   scf.parallel
//       OUTLINE: func.func private @__loom_parallel_body_0(%[[LO:[[:alnum:]_]+]]: index, %[[HI:[[:alnum:]_]+]]: index,
//       OUTLINE:   scf.parallel (%{{.+}}) = (%[[LO]]) to (%[[HI]])
//       OUTLINE: func.func private @__loom_parallel_dispatch_0(index, index, index,

// LLVM-LABEL: llvm.func @row_sums
//       LLVM:   %[[FN:.+]] = llvm.mlir.addressof @__loom_parallel_packed_0 : !llvm.ptr
//       LLVM:   llvm.call @loom_parallel_for(%[[FN]], %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}) : (!llvm.ptr, !llvm.ptr, i64, i64, i64) -> ()
//   LLVM-NOT:   __loom_parallel_dispatch
//       LLVM: llvm.func internal @__loom_parallel_body_0(
//       LLVM: llvm.func @loom_parallel_for(!llvm.ptr, !llvm.ptr, i64, i64, i64)
//       LLVM: llvm.func internal @__loom_parallel_packed_0(%{{.+}}: !llvm.ptr, %{{.+}}: i64, %{{.+}}: i64)
//       LLVM:   llvm.call @__loom_parallel_body_0(

// -----

// Small elementwise ops and tiny contractions stay sequential: no task is
// worth it.
// PAR-LABEL: func.func @small_and_elementwise
//   PAR-NOT:   scf.parallel
//       PAR:   linalg.generic
//       PAR:   linalg.generic
#id2 = affine_map<(n, k) -> (n, k)>
#row2 = affine_map<(n, k) -> (n)>
#e = affine_map<(n) -> (n)>
func.func @small_and_elementwise(%x: memref<4x8xf32>, %y: memref<4xf32>, %z: memref<256xf32>) {
  linalg.generic {indexing_maps = [#id2, #row2], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %out, %in : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#e], iterator_types = ["parallel"]} outs(%z : memref<256xf32>) {
  ^bb0(%out: f32):
    %s = arith.addf %out, %out : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Elementwise ops over a prompt's tokens (a dynamic size) or over at least
// min-elementwise-iterations (65536) elements become parallel loops: a
// prefill's norms, residual adds and activations run on every thread.
// PAR-LABEL: func.func @large_elementwise
//       PAR:   scf.parallel (%{{.+}}, %{{.+}}) = (%{{.+}}, %{{.+}}) to (%dim, %c768)
//       PAR:   scf.parallel (%{{.+}}) = (%{{.+}}) to (%c65536)
//   PAR-NOT:   linalg.generic
#e2 = affine_map<(s, n) -> (s, n)>
#e1 = affine_map<(n) -> (n)>
func.func @large_elementwise(%x: memref<?x768xf32>, %z: memref<65536xf32>) {
  linalg.generic {indexing_maps = [#e2], iterator_types = ["parallel", "parallel"]} outs(%x : memref<?x768xf32>) {
  ^bb0(%out: f32):
    %s = arith.mulf %out, %out : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#e1], iterator_types = ["parallel"]} outs(%z : memref<65536xf32>) {
  ^bb0(%out: f32):
    %s = arith.addf %out, %out : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// With a batch of one, the loop is split along the next dimension: the
// tokens of a prefill, the heads of a decode step.
// OUTLINE-LABEL: func.func @batch_of_one
//       OUTLINE:   call @__loom_parallel_dispatch_0(%{{.+}}, %[[N:.+]], %{{.+}},
//       OUTLINE: func.func private @__loom_parallel_body_0(%[[LO:[[:alnum:]_]+]]: index, %[[HI:[[:alnum:]_]+]]: index,
//       OUTLINE:   scf.parallel (%{{.+}}, %{{.+}}) = (%{{.+}}, %[[LO]]) to (%{{.+}}, %[[HI]])
#x3 = affine_map<(b, n, k) -> (b, n, k)>
#y3 = affine_map<(b, n, k) -> (b, n)>
func.func @batch_of_one(%x: memref<1x256x64xf32>, %y: memref<1x256xf32>) {
  linalg.generic {indexing_maps = [#x3, #y3], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : memref<1x256x64xf32>) outs(%y : memref<1x256xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %out, %in : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Work is counted saturating: a body with loops side by side (one per row
// of a register block) multiplies their trip counts (64^11 = 2^66 here),
// which wrapped to 0 and gave a grain of min-work: one thread. Now the
// grain is 1.
// OUTLINE-LABEL: func.func @many_loops
//       OUTLINE:   %c256 = arith.constant 256 : index
//  OUTLINE-NEXT:   %[[GRAIN:.+]] = arith.constant 1 : index
//  OUTLINE-NEXT:   call @__loom_parallel_dispatch_{{[0-9]+}}(%{{.+}}, %{{.+}}, %[[GRAIN]],
func.func @many_loops(%x: memref<256x64xf32>, %y: memref<256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c256 = arith.constant 256 : index
  scf.parallel (%i) = (%c0) to (%c256) step (%c1) {
    scf.for %k0 = %c0 to %c64 step %c1 {
      %v0 = memref.load %x[%i, %k0] : memref<256x64xf32>
      memref.store %v0, %y[%i] : memref<256xf32>
    }
    scf.for %k1 = %c0 to %c64 step %c1 {
      %v1 = memref.load %x[%i, %k1] : memref<256x64xf32>
      memref.store %v1, %y[%i] : memref<256xf32>
    }
    scf.for %k2 = %c0 to %c64 step %c1 {
      %v2 = memref.load %x[%i, %k2] : memref<256x64xf32>
      memref.store %v2, %y[%i] : memref<256xf32>
    }
    scf.for %k3 = %c0 to %c64 step %c1 {
      %v3 = memref.load %x[%i, %k3] : memref<256x64xf32>
      memref.store %v3, %y[%i] : memref<256xf32>
    }
    scf.for %k4 = %c0 to %c64 step %c1 {
      %v4 = memref.load %x[%i, %k4] : memref<256x64xf32>
      memref.store %v4, %y[%i] : memref<256xf32>
    }
    scf.for %k5 = %c0 to %c64 step %c1 {
      %v5 = memref.load %x[%i, %k5] : memref<256x64xf32>
      memref.store %v5, %y[%i] : memref<256xf32>
    }
    scf.for %k6 = %c0 to %c64 step %c1 {
      %v6 = memref.load %x[%i, %k6] : memref<256x64xf32>
      memref.store %v6, %y[%i] : memref<256xf32>
    }
    scf.for %k7 = %c0 to %c64 step %c1 {
      %v7 = memref.load %x[%i, %k7] : memref<256x64xf32>
      memref.store %v7, %y[%i] : memref<256xf32>
    }
    scf.for %k8 = %c0 to %c64 step %c1 {
      %v8 = memref.load %x[%i, %k8] : memref<256x64xf32>
      memref.store %v8, %y[%i] : memref<256xf32>
    }
    scf.for %k9 = %c0 to %c64 step %c1 {
      %v9 = memref.load %x[%i, %k9] : memref<256x64xf32>
      memref.store %v9, %y[%i] : memref<256xf32>
    }
    scf.for %k10 = %c0 to %c64 step %c1 {
      %v10 = memref.load %x[%i, %k10] : memref<256x64xf32>
      memref.store %v10, %y[%i] : memref<256xf32>
    }
    scf.reduce
  }
  return
}
