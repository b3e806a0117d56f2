// RUN: loom-opt %s --loom-schedule-kernels -split-input-file | FileCheck %s
// RUN: loom-opt %s --loom-schedule-kernels="reuse-memory=false merge-kernels=false" -split-input-file | FileCheck %s --check-prefix=PLAIN

// Two independent products feed a sum: the products are kernels with no
// dependencies, the sum waits for both. The fill of the sum's output has one
// consumer and joins it; the chain after the sum (exp, the last add) merges
// into the same kernel. %d reuses the memory of %a, dead by then.

// CHECK-LABEL: func.func @step(
//  CHECK-SAME:   %[[ARENA:arg[0-9]+]]: memref<?xi8> {loom.role = #loom.role<arena>})
//  CHECK-SAME:   loom.schedule = #loom.schedule<arena_bytes = 192, max_tokens = 8, kernels = [
//  CHECK-SAME:     #loom.kernel<name = "step__k0", deps = [], params = [0, 1, 4], reads = ["x", "w1"], writes = ["arena[0, 64)"]>,
//  CHECK-SAME:     #loom.kernel<name = "step__k1", deps = [], params = [0, 2, 4], reads = ["x", "w2"], writes = ["arena[64, 128)"]>,
//  CHECK-SAME:     #loom.kernel<name = "step__k2", deps = [0, 1], params = [0, 3, 4], reads = ["arena[0, 64)", "arena[64, 128)", "x"], writes = ["arena[128, 192)", "arena[0, 64)", "logits"]>
//  CHECK-SAME:   ]>
//       CHECK:   call @step__k0(%arg0, %arg1, %[[ARENA]])
//       CHECK:   call @step__k1(%arg0, %arg2, %[[ARENA]])
//       CHECK:   call @step__k2(%arg0, %arg3, %[[ARENA]])
//  CHECK-NEXT:   return

// CHECK-LABEL: func.func @step__k0(
//  CHECK-SAME:   attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 0, 1, 4>}
//       CHECK:   %[[A:.*]] = memref.view %{{.*}}[%c0][] : memref<?xi8> to memref<16xf32>
//       CHECK:   linalg.mul ins(%arg0, %arg1 : {{.*}}) outs(%[[A]] : memref<16xf32>)
//   CHECK-NOT:   linalg
//       CHECK:   return

// CHECK-LABEL: func.func @step__k2(
//       CHECK:   linalg.fill
//       CHECK:   linalg.add
//       CHECK:   linalg.exp
//       CHECK:   linalg.add
//       CHECK:   return

// Without reuse and merging: four buffers side by side, one kernel per op.
// PLAIN-LABEL: func.func @step(
//  PLAIN-SAME:   arena_bytes = 256
//  PLAIN-COUNT-6: call @step__k
//  PLAIN-NOT:    call @step__k

module attributes {loom.model = {context_length = 8 : i64}} {
  func.func @step(%x: memref<16xf32> {loom.weight = "x"},
                  %w1: memref<16xf32> {loom.weight = "w1"},
                  %w2: memref<16xf32> {loom.weight = "w2"},
                  %out: memref<16xf32> {loom.name = "logits"}) {
    %cst = arith.constant 0.0 : f32
    %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    %c = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    linalg.fill ins(%cst : f32) outs(%c : memref<16xf32>)
    linalg.mul ins(%x, %w1 : memref<16xf32>, memref<16xf32>) outs(%a : memref<16xf32>)
    linalg.mul ins(%x, %w2 : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
    linalg.add ins(%a, %b : memref<16xf32>, memref<16xf32>) outs(%c : memref<16xf32>)
    %d = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    linalg.exp ins(%c : memref<16xf32>) outs(%d : memref<16xf32>)
    linalg.add ins(%d, %x : memref<16xf32>, memref<16xf32>) outs(%out : memref<16xf32>)
    return
  }
}

// -----

// Sizes that depend on the token count are planned for the largest call
// (max-tokens, by default the context length: 8 tokens x 32 floats = 1 KiB),
// and the views keep the call's own size. The cache written first and read
// next orders the kernels; merged, the chain is one kernel.

// CHECK-LABEL: func.func @prefill(
//  CHECK-SAME:   arena_bytes = 1024, max_tokens = {{[0-9]+}}, kernels = [#loom.kernel<name = "prefill__k0", deps = [], params = [0, 1, 3, 4], reads = ["tokens"], writes = ["k_cache", "arena[0, 1024)", "logits"]>]
// CHECK-LABEL: func.func @prefill__k0(
//       CHECK:   %[[N:.*]] = memref.dim %arg0, %c1 : memref<1x?xi32>
//       CHECK:   memref.view %arg3[%c0][%[[N]]] : memref<?xi8> to memref<?x32xf32>

// PLAIN-LABEL: func.func @prefill(
//  PLAIN-SAME:   arena_bytes = 1024, max_tokens = {{[0-9]+}}, kernels = [
//  PLAIN-SAME:     #loom.kernel<name = "prefill__k0", deps = [], params = [0, 1], reads = ["tokens"], writes = ["k_cache"]>,
//  PLAIN-SAME:     #loom.kernel<name = "prefill__k1", deps = [0], params = [0, 1, 4], reads = ["k_cache"], writes = ["arena[0, 1024)"]>,
//  PLAIN-SAME:     #loom.kernel<name = "prefill__k2", deps = [1], params = [0, 3, 4], reads = ["arena[0, 1024)"], writes = ["logits"]>]

module attributes {loom.model = {context_length = 8 : i64}} {
  func.func @prefill(%tokens: memref<1x?xi32> {loom.role = #loom.role<tokens>},
                     %cache: memref<8x32xf32> {loom.name = "k_cache"},
                     %pos: index {loom.role = #loom.role<position>},
                     %out: memref<?x32xf32> {loom.name = "logits"}) {
    %c1 = arith.constant 1 : index
    %n = memref.dim %tokens, %c1 : memref<1x?xi32>
    linalg.generic {indexing_maps = [affine_map<(i, j) -> (0, i)>, affine_map<(i, j) -> (i, j)>],
                    iterator_types = ["parallel", "parallel"]}
        ins(%tokens : memref<1x?xi32>) outs(%cache : memref<8x32xf32>) {
    ^bb0(%t: i32, %o: f32):
      %f = arith.sitofp %t : i32 to f32
      linalg.yield %f : f32
    }
    %h = memref.alloc(%n) {alignment = 64 : i64} : memref<?x32xf32>
    %rows = memref.subview %cache[0, 0] [%n, 32] [1, 1] : memref<8x32xf32> to memref<?x32xf32, strided<[32, 1]>>
    linalg.copy ins(%rows : memref<?x32xf32, strided<[32, 1]>>) outs(%h : memref<?x32xf32>)
    linalg.copy ins(%h : memref<?x32xf32>) outs(%out : memref<?x32xf32>)
    return
  }
}

// -----

// A loop that yields a value a later op uses: both stay in one kernel.

// CHECK-LABEL: func.func @carried(
//  CHECK-SAME:   kernels = [#loom.kernel<name = "carried__k0", deps = []
//   CHECK-NOT:   name = "carried__k1"
// CHECK-LABEL: func.func @carried__k0(
//       CHECK:   %[[SUM:.*]] = scf.for
//       CHECK:   linalg.fill ins(%[[SUM]] : f32)

module {
  func.func @carried(%x: memref<16xf32> {loom.weight = "x"},
                     %out: memref<16xf32> {loom.name = "logits"}) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c16 = arith.constant 16 : index
    %zero = arith.constant 0.0 : f32
    %sum = scf.for %i = %c0 to %c16 step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %x[%i] : memref<16xf32>
      %s = arith.addf %acc, %v : f32
      scf.yield %s : f32
    }
    linalg.fill ins(%sum : f32) outs(%out : memref<16xf32>)
    return
  }
}

// -----

// Memory is shared only along dependencies the program already has: %b
// could take %a's memory by liveness (%a is dead once copied out), but
// nothing orders the two chains, so each keeps its own memory and they stay
// two kernels that may run at the same time.

// CHECK-LABEL: func.func @independent(
//  CHECK-SAME:   loom.schedule = #loom.schedule<arena_bytes = 128, max_tokens = {{[0-9]+}}, kernels = [
//  CHECK-SAME:     #loom.kernel<name = "independent__k0", deps = [], {{.*}}, reads = ["x", "w1"], writes = ["arena[0, 64)", "o1"]>,
//  CHECK-SAME:     #loom.kernel<name = "independent__k1", deps = [], {{.*}}, reads = ["x", "w2"], writes = ["arena[64, 128)", "o2"]>

module attributes {loom.model = {context_length = 8 : i64}} {
  func.func @independent(%x: memref<16xf32> {loom.weight = "x"},
                         %w1: memref<16xf32> {loom.weight = "w1"},
                         %w2: memref<16xf32> {loom.weight = "w2"},
                         %o1: memref<16xf32> {loom.name = "o1"},
                         %o2: memref<16xf32> {loom.name = "o2"}) {
    %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    linalg.mul ins(%x, %w1 : memref<16xf32>, memref<16xf32>) outs(%a : memref<16xf32>)
    linalg.copy ins(%a : memref<16xf32>) outs(%o1 : memref<16xf32>)
    %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    linalg.mul ins(%x, %w2 : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
    linalg.copy ins(%b : memref<16xf32>) outs(%o2 : memref<16xf32>)
    return
  }
}

// -----

// A group of rows found at run time (an expert's rows): the offsets are
// loaded at the top level and the views start at them. Every anchor the
// index math comes from joins the kernel that uses it, the first load too.

// CHECK-LABEL: func.func @rows(
//  CHECK-SAME:   kernels = [#loom.kernel<name = "rows__k0", deps = [], params = [0, 1, 2], reads = ["offsets", "x"], writes = ["logits"]>]
//       CHECK:   call @rows__k0(%arg0, %arg1, %arg2)
//  CHECK-NEXT:   return
// CHECK-LABEL: func.func @rows__k0(
//       CHECK:   %[[LO:.*]] = memref.load %arg0[%c0]
//       CHECK:   %[[HI:.*]] = memref.load %arg0[%c1]
//       CHECK:   memref.subview %arg1[%{{.*}}, 0] [%{{.*}}, 16] [1, 1]
//       CHECK:   linalg.copy

module attributes {loom.model = {context_length = 8 : i64}} {
  func.func @rows(%offsets: memref<3xi32> {loom.name = "offsets"},
                  %x: memref<8x16xf32> {loom.weight = "x"},
                  %out: memref<8x16xf32> {loom.name = "logits"}) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %lo32 = memref.load %offsets[%c0] : memref<3xi32>
    %hi32 = memref.load %offsets[%c1] : memref<3xi32>
    %lo = arith.index_cast %lo32 : i32 to index
    %hi = arith.index_cast %hi32 : i32 to index
    %n = arith.subi %hi, %lo : index
    %src = memref.subview %x[%lo, 0] [%n, 16] [1, 1] : memref<8x16xf32> to memref<?x16xf32, strided<[16, 1], offset: ?>>
    %dst = memref.subview %out[%lo, 0] [%n, 16] [1, 1] : memref<8x16xf32> to memref<?x16xf32, strided<[16, 1], offset: ?>>
    linalg.copy ins(%src : memref<?x16xf32, strided<[16, 1], offset: ?>>) outs(%dst : memref<?x16xf32, strided<[16, 1], offset: ?>>)
    return
  }
}
