//===- Passes.td - Loom code generation passes -------------*- tablegen -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_PASSES_TD
#define LOOM_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Function boundaries after bufferization
//===----------------------------------------------------------------------===//

def LoomDropInPlaceResultsPass
    : Pass<"loom-drop-in-place-results", "::mlir::func::FuncOp"> {
  let summary = "Drop memref results that are the function's own arguments";
  let description = [{
    After one-shot bufferization a KV cache updated in place is returned as
    the very argument it came in as. This pass removes such results from the
    function (upstream's `drop-equivalent-buffer-results` leaves public
    functions alone) and records on the argument which result it stood for,
    as `loom.in_place_result = <index>`, so the runtime knows the buffer it
    passed holds the result. A result that bufferization could not place in
    its argument stays a result.

    Before:

    ```mlir
    func.func @step(%cache: memref<4xf32>) -> (memref<2xf32>, memref<4xf32>) {
      ...
      return %logits, %cache : memref<2xf32>, memref<4xf32>
    }
    ```

    After:

    ```mlir
    func.func @step(%cache: memref<4xf32> {loom.in_place_result = 1 : i64}) -> memref<2xf32> {
      ...
      return %logits : memref<2xf32>
    }
    ```
  }];
}

#endif // LOOM_CODEGEN_PASSES_TD
