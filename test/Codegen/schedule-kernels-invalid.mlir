// RUN: loom-opt %s --loom-schedule-kernels -split-input-file -verify-diagnostics

// A size the compiler cannot bound: the arena is planned at compile time.
module {
  func.func @unbounded(%x: memref<?xf32>, %out: memref<?xf32> {loom.name = "logits"}) {
    %c0 = arith.constant 0 : index
    %n = memref.dim %x, %c0 : memref<?xf32>
    // expected-error @below {{'memref.alloc' op has a size the compiler cannot bound}}
    %t = memref.alloc(%n) : memref<?xf32>
    linalg.copy ins(%x : memref<?xf32>) outs(%t : memref<?xf32>)
    linalg.copy ins(%t : memref<?xf32>) outs(%out : memref<?xf32>)
    return
  }
}

// -----

// Deallocations are for the pipeline to insert afterwards, in the kernels.
module {
  func.func @freed(%x: memref<4xf32>, %out: memref<4xf32> {loom.name = "logits"}) {
    %t = memref.alloc() : memref<4xf32>
    linalg.copy ins(%x : memref<4xf32>) outs(%t : memref<4xf32>)
    linalg.copy ins(%t : memref<4xf32>) outs(%out : memref<4xf32>)
    // expected-error @below {{'memref.dealloc' op frees a buffer: schedule kernels before inserting deallocations}}
    memref.dealloc %t : memref<4xf32>
    return
  }
}

// -----

// Elements that are not whole bytes cannot be laid out in the arena (i1, a
// boolean, takes a byte; i4 has no byte of its own).
module {
  func.func @bits(%x: memref<8xi4>, %out: memref<8xi4> {loom.name = "logits"}) {
    // expected-error @below {{'memref.alloc' op cannot be placed in the activation arena}}
    %t = memref.alloc() : memref<8xi4>
    linalg.copy ins(%x : memref<8xi4>) outs(%t : memref<8xi4>)
    linalg.copy ins(%t : memref<8xi4>) outs(%out : memref<8xi4>)
    return
  }
}
