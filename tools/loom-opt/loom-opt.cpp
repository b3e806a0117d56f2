//===- loom-opt.cpp - the optimizer driver of Loom ------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// `mlir-opt` with the loom dialects and passes registered next to all of
// upstream MLIR's: the tool of lit tests and pass authors. Out-of-tree passes
// load with --load-pass-plugin=<plugin>.so (see docs/WritingAPassPlugin.md).
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/Passes.h"
#include "loom/InitAllDialects.h"
#include "loom/InitAllPasses.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::loom::registerAllLoomPasses();

  // The same dialects and extensions as the compiler driver: loom ops
  // partition under upstream shard-partition also when run on its own.
  mlir::DialectRegistry registry;
  mlir::loom::registerLoomToolDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv,
      "Loom optimizer driver: the loom dialect and passes, plus "
      "all of upstream MLIR\n",
      registry));
}
