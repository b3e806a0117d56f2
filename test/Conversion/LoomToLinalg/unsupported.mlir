// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --verify-diagnostics

// A router over a dynamic number of experts is not lowered; the conversion
// names the op it could not handle instead of producing anything.
func.func @router_dynamic_experts(%l: tensor<4x?xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{failed to legalize operation 'loom.moe_router'}}
  %w, %e = loom.moe_router %l top_k = 2 : (tensor<4x?xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return %w : tensor<4x2xf32>
}
