//===- loom-opt.cpp - the optimizer driver of Loom ------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// `mlir-opt` with the loom dialects and passes registered next to all of
// upstream MLIR's: the tool of lit tests and pass authors. Out-of-tree passes
// load with --load-pass-plugin=<plugin>.so (see docs/WritingAPassPlugin.md).
//
//===----------------------------------------------------------------------===//

#include "loom/InitAllDialects.h"
#include "loom/InitAllPasses.h"
#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::loom::registerAllLoomPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::loom::registerAllLoomDialects(registry);
  // loom.moe_expert_ffn and the weight-decoding ops partition under
  // upstream shard-partition, also when run on its own.
  mlir::loom::registerShardingInterfaceModels(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Loom optimizer driver: the loom dialect and passes, plus "
                  "all of upstream MLIR\n",
      registry));
}
