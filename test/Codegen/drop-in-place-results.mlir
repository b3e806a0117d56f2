// RUN: loom-opt %s --split-input-file --loom-drop-in-place-results | FileCheck %s

// A cache returned as the argument it came in as is no result any more; the
// argument records the result index it stood for.
// CHECK-LABEL: func.func @step
//  CHECK-SAME:   (%[[C:.+]]: memref<4xf32> {loom.in_place_result = 1 : i64}) -> memref<2xf32>
//       CHECK:   %[[L:.+]] = memref.alloc() : memref<2xf32>
//       CHECK:   return %[[L]] : memref<2xf32>
func.func @step(%cache: memref<4xf32>) -> (memref<2xf32>, memref<4xf32>) {
  %logits = memref.alloc() : memref<2xf32>
  return %logits, %cache : memref<2xf32>, memref<4xf32>
}

// -----

// A result that is a new buffer stays a result.
// CHECK-LABEL: func.func @copy
//  CHECK-SAME:   -> memref<4xf32>
//   CHECK-NOT:   loom.in_place_result
func.func @copy(%a: memref<4xf32>) -> memref<4xf32> {
  %x = memref.alloc() : memref<4xf32>
  memref.copy %a, %x : memref<4xf32> to memref<4xf32>
  return %x : memref<4xf32>
}
