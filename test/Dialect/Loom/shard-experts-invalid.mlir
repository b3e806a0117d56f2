// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=3" --verify-diagnostics
// RUN: not loom-opt %s --split-input-file --loom-shard-experts="grid=0" 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: error: loom-shard-experts: grid must be at least 1, got 0

func.func @indivisible(%rows: tensor<?x64xf32>, %offs: tensor<9xi32>, %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'loom.moe_expert_ffn' op has 8 experts, which a grid of 3 devices does not divide evenly}}
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// A device is handed its slice of the expert weights as arguments.
func.func @weights_inside(%rows: tensor<?x64xf32>, %offs: tensor<7xi32>) -> tensor<?x64xf32> {
  %wg = loom.weight "g" : tensor<6x128x64xf32>
  %wu = loom.weight "u" : tensor<6x128x64xf32>
  %wd = loom.weight "d" : tensor<6x64x128xf32>
  // expected-error @+1 {{expects its expert weights as function arguments (run loom-weights-to-arguments first); found one made by loom.weight}}
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<?x64xf32>, tensor<7xi32>, tensor<6x128x64xf32>, tensor<6x128x64xf32>, tensor<6x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
