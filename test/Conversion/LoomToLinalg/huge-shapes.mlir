// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg | FileCheck %s
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-key-block=0" | FileCheck %s

// Shapes that verify but whose products overflow once a lowering multiplies
// them (2 * head_dim * bytes per value reaches 2^62 here) must not crash it: the
// tiled attention's key block is computed by division, not by a product.
// CHECK-LABEL: func.func @attention_huge_head
//   CHECK-NOT:   loom.attention
func.func @attention_huge_head(%q: tensor<1x1x2x576460752303423488xf32>, %k: tensor<1x1x2x576460752303423488xf32>, %v: tensor<1x1x2x576460752303423488xf32>) -> tensor<1x1x2x576460752303423488xf32> {
  %0 = loom.attention %q, %k, %v causal : tensor<1x1x2x576460752303423488xf32>, tensor<1x1x2x576460752303423488xf32>, tensor<1x1x2x576460752303423488xf32> -> tensor<1x1x2x576460752303423488xf32>
  return %0 : tensor<1x1x2x576460752303423488xf32>
}
