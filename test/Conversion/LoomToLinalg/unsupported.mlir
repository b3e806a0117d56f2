// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --verify-diagnostics

// The Mixture-of-Experts ops are not lowered yet; the conversion names the op
// it could not handle instead of producing anything.
func.func @moe(%l: tensor<4x8xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{failed to legalize operation 'loom.moe_router'}}
  %w, %e = loom.moe_router %l top_k = 2 : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi32>)
  return %w : tensor<4x2xf32>
}
