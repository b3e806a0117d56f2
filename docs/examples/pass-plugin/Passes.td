//===- Passes.td - the example plugin's passes -------------*- tablegen -*-===//

#ifndef LOOM_EXAMPLE_PLUGIN_PASSES_TD
#define LOOM_EXAMPLE_PLUGIN_PASSES_TD

include "mlir/Pass/PassBase.td"

def CountParametersPass
    : Pass<"loom-example-count-parameters", "::mlir::func::FuncOp"> {
  let summary = "Record the number of model parameters a function reads";
  let description = [{
    Counts the elements of every distinct `loom.weight` a function reads and
    records the total as the function's `loom.num_parameters` attribute.

    Before:

    ```mlir
    func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
      %w = loom.weight "w" : tensor<4x4xf32>
      ...
    ```

    After:

    ```mlir
    func.func @f(%x: tensor<2x4xf32>) -> tensor<2x4xf32> attributes {loom.num_parameters = 16 : i64} {
    ```
  }];
  let dependentDialects = ["::mlir::loom::LoomDialect"];
}

#endif // LOOM_EXAMPLE_PLUGIN_PASSES_TD
