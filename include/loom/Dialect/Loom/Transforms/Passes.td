//===- Passes.td - loom dialect passes ---------------------*- tablegen -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD
#define LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Binding model parameters
//===----------------------------------------------------------------------===//

def LoomWeightsToArgumentsPass
    : Pass<"loom-weights-to-arguments", "::mlir::func::FuncOp"> {
  let summary = "Turn the named weights a function reads into its leading arguments";
  let description = [{
    Code generation needs every buffer a function reads to come from its
    caller. This pass gives each distinct `loom.weight` name of a function one
    leading argument, marked with a `loom.weight` argument attribute holding
    the name, and replaces the ops by it. The runtime binds each such argument
    to the weight's bytes in the model file.

    Before:

    ```mlir
    func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %w = loom.weight "w" : tensor<4x4xf32>
      %y = loom.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
      return %y : tensor<2x4xf32>
    }
    ```

    After:

    ```mlir
    func.func @f(%w: tensor<4x4xf32> {loom.weight = "w"}, %x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %y = loom.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
      return %y : tensor<2x4xf32>
    }
    ```
  }];
}

#endif // LOOM_DIALECT_LOOM_TRANSFORMS_PASSES_TD
