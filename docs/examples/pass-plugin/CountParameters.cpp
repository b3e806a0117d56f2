//===- CountParameters.cpp - an example out-of-tree Loom pass -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A pass plugin for loom-opt: `loom-example-count-parameters` counts the
// parameters each function reads through `loom.weight` (each distinct name
// once) and records the total as a `count.num_parameters` attribute on the
// function. It shows what a plugin needs: a pass declared in Passes.td that
// uses loom ops, and the `mlirGetPassPluginInfo` entry point registering it.
// (Its attribute has a prefix of its own: the `loom.` ones are the
// dialect's, and the verifier rejects names it does not know.)
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/IR/LoomDialect.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Config/llvm-config.h"

namespace loom_example {
#define GEN_PASS_DECL
#define GEN_PASS_DEF_COUNTPARAMETERSPASS
#define GEN_PASS_REGISTRATION
#include "Passes.h.inc"
} // namespace loom_example

using namespace mlir;

namespace {

struct CountParametersPass
    : loom_example::impl::CountParametersPassBase<CountParametersPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    llvm::StringSet<> seen;
    int64_t total = 0;
    func.walk([&](loom::WeightOp weight) {
      if (seen.insert(weight.getName()).second)
        total += weight.getNumParameters();
    });
    func->setAttr("count.num_parameters",
                  OpBuilder(func).getI64IntegerAttr(total));
  }
};

} // namespace

/// The entry point loom-opt looks up after dlopen.
extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "LoomExamplePlugin", LLVM_VERSION_STRING,
          [] { loom_example::registerCountParametersPass(); }};
}
