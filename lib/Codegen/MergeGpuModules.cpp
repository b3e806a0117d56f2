//===- MergeGpuModules.cpp - all kernels in one gpu.module ----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-merge-gpu-modules: the step of the NVIDIA pipeline (addGpuLaunches)
// after upstream's outlining, which makes a gpu.module of every kernel: the
// kernels move into one module, so that the artifact carries one image,
// ptxas runs once, and the driver loads one module. Each is named after
// what it computes (OpLabel.h), which is what profilers (loom-run
// --profile, Nsight) show.
//
//===----------------------------------------------------------------------===//

#include "OpLabel.h"

#include "loom/Codegen/Passes.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Support/Identifier.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMMERGEGPUMODULESPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// The module's kernel, where it holds one gpu.func and nothing else (what
/// gpu-kernel-outlining makes of a launch).
gpu::GPUFuncOp soleKernel(gpu::GPUModuleOp module) {
  gpu::GPUFuncOp kernel;
  for (Operation &op : module.getBody()->getOperations()) {
    auto func = dyn_cast<gpu::GPUFuncOp>(op);
    if (!func || kernel)
      return {};
    kernel = func;
  }
  return kernel;
}

struct MergeGpuModules
    : mlir::loom::impl::LoomMergeGpuModulesPassBase<MergeGpuModules> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> mergeable;
    for (auto gpuModule : module.getOps<gpu::GPUModuleOp>())
      if (soleKernel(gpuModule))
        mergeable.push_back(gpuModule);
    if (mergeable.empty())
      return;
    SymbolTable top(module);
    // The launch of each kernel: its entry point and its location name it.
    DenseMap<Attribute, gpu::LaunchFuncOp> launchOf;
    module.walk([&](gpu::LaunchFuncOp launch) {
      launchOf.try_emplace(launch.getKernelAttr(), launch);
    });
    // At the end of the module, where outlining puts kernel modules.
    auto b = OpBuilder::atBlockEnd(module.getBody());
    auto merged =
        gpu::GPUModuleOp::create(b, mergeable.front().getLoc(), moduleName,
                                 mergeable.front().getTargetsAttr());
    top.insert(merged); // renamed where the name is taken
    SymbolTable kernels(merged);
    // Each kernel is named `<entry>_<what it computes>_<n>`: the entry
    // point (`prefill`, where the launch is in a kernel of its schedule),
    // its launch's location as an identifier ("kernel" where it has none),
    // and a count of the kernels so named, so
    // `@prefill__k3_kernel::@prefill__k3_kernel` becomes
    // `@kernels::@prefill_blk_0_attn_q_0`.
    DenseMap<Attribute, SymbolRefAttr> renamed;
    llvm::StringMap<unsigned> named;
    for (gpu::GPUModuleOp old : mergeable) {
      gpu::GPUFuncOp kernel = soleKernel(old);
      auto from = SymbolRefAttr::get(
          old.getNameAttr(), {FlatSymbolRefAttr::get(kernel.getNameAttr())});
      std::string entry = old.getName().str(), label = "kernel";
      if (gpu::LaunchFuncOp launch = launchOf.lookup(from)) {
        if (auto func = launch->getParentOfType<func::FuncOp>()) {
          // A schedule's kernel says its entry point; the code kernels
          // share (loom-share-kernel-code) is named after one of them,
          // `<entry>__k<N>__code`.
          auto of = func->getAttrOfType<StringAttr>(mlir::loom::kKernelOfAttr);
          entry = of ? of.str() : func.getSymName().split("__k").first.str();
        }
        if (std::string what = mlir::loom::detail::opLabel({launch});
            !what.empty())
          label = ::loom::identifierOf(what);
      }
      std::string base = entry + "_" + label;
      kernel->moveBefore(merged.getBody(), merged.getBody()->end());
      kernel.setName(base + "_" + std::to_string(named[base]++));
      kernels.insert(kernel); // renamed where the name is taken
      renamed[from] = SymbolRefAttr::get(
          merged.getNameAttr(), {FlatSymbolRefAttr::get(kernel.getNameAttr())});
      old->erase();
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      if (SymbolRefAttr to = renamed.lookup(launch.getKernelAttr()))
        launch.setKernelAttr(to);
    });
  }
};

} // namespace
