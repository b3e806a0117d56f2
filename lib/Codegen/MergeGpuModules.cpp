//===- MergeGpuModules.cpp - all kernels in one gpu.module ----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-merge-gpu-modules: the step of the NVIDIA pipeline (addGpuLaunches)
// after upstream's outlining, which makes a gpu.module of every kernel: the
// kernels move into one module, so that the artifact carries one image,
// ptxas runs once, and the driver loads one module.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

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
    : loom::impl::LoomMergeGpuModulesPassBase<MergeGpuModules> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> mergeable;
    for (auto gpuModule : module.getOps<gpu::GPUModuleOp>())
      if (soleKernel(gpuModule))
        mergeable.push_back(gpuModule);
    if (mergeable.size() < 2)
      return;
    SymbolTable top(module);
    // At the end of the module, where outlining puts kernel modules.
    auto b = OpBuilder::atBlockEnd(module.getBody());
    auto merged =
        gpu::GPUModuleOp::create(b, mergeable.front().getLoc(), moduleName,
                                 mergeable.front().getTargetsAttr());
    top.insert(merged); // renamed where the name is taken
    SymbolTable kernels(merged);
    // Each kernel takes its module's name (unique in the top module), so
    // `@prefill_kernel_3::@prefill_kernel` becomes
    // `@kernels::@prefill_kernel_3`.
    DenseMap<Attribute, SymbolRefAttr> renamed;
    for (gpu::GPUModuleOp old : mergeable) {
      gpu::GPUFuncOp kernel = soleKernel(old);
      auto from = SymbolRefAttr::get(
          old.getNameAttr(), {FlatSymbolRefAttr::get(kernel.getNameAttr())});
      kernel->moveBefore(merged.getBody(), merged.getBody()->end());
      kernel.setName(old.getName());
      kernels.insert(kernel);
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
