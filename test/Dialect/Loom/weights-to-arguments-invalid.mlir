// RUN: loom-opt %s --loom-weights-to-arguments --verify-diagnostics

// One name read with two types cannot become one argument.
func.func @conflict() -> (tensor<4x4xf32>, tensor<2x8xf32>) {
  %a = loom.weight "w" : tensor<4x4xf32>
  // expected-error @+1 {{'loom.weight' op reads weight 'w' as 'tensor<2x8xf32>', but another read of it is 'tensor<4x4xf32>'}}
  %b = loom.weight "w" : tensor<2x8xf32>
  return %a, %b : tensor<4x4xf32>, tensor<2x8xf32>
}
