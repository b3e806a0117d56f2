// RUN: loom-opt %s --split-input-file --loom-weights-to-arguments | FileCheck %s

// Each distinct weight becomes one leading argument, in order of first use;
// two reads of one name share it.
// CHECK-LABEL: func.func @block
//  CHECK-SAME:   (%[[W:.+]]: tensor<4x4xf32> {loom.weight = "w"}, %[[G:.+]]: tensor<4xf32> {loom.weight = "g"}, %[[X:.+]]: tensor<2x4xf32>)
//   CHECK-NOT:   loom.weight
//       CHECK:   %[[N:.+]] = loom.rms_norm %[[X]], %[[G]]
//       CHECK:   %[[A:.+]] = loom.linear %[[N]], %[[W]]
//       CHECK:   loom.linear %[[A]], %[[W]]
func.func @block(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = loom.weight "w" : tensor<4x4xf32>
  %g = loom.weight "g" : tensor<4xf32>
  %n = loom.rms_norm %x, %g : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %a = loom.linear %n, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %w2 = loom.weight "w" : tensor<4x4xf32>
  %b = loom.linear %a, %w2 : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// -----

// A function without weights keeps its signature.
// CHECK-LABEL: func.func @no_weights(%{{.+}}: tensor<2xf32>) -> tensor<2xf32>
func.func @no_weights(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}

