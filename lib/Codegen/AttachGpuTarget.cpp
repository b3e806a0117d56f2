//===- AttachGpuTarget.cpp - the GPU of the target spec onto the kernels --===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-attach-gpu-target: upstream's nvvm-attach-target for the chip that
// the module's target system spec describes (see the pass description in
// Passes.td).
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"
#include "loom/Target/TargetSpec.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMATTACHGPUTARGETPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

struct AttachGpuTarget
    : loom::impl::LoomAttachGpuTargetPassBase<AttachGpuTarget> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string target = chip;
    if (std::optional<loom::GpuDescription> gpu =
            loom::getGpuTargetSpec(module))
      target = gpu->chip;
    if (target.empty()) {
      if (!module.getOps<gpu::GPUModuleOp>().empty()) {
        module.emitError("loom-attach-gpu-target: the module's target "
                         "system spec describes no GPU (loom-set-target "
                         "gpu=...) and no chip is given");
        signalPassFailure();
      }
      return;
    }
    GpuNVVMAttachTargetOptions options;
    options.chip = target;
    OpPassManager attach(ModuleOp::getOperationName());
    attach.addPass(createGpuNVVMAttachTarget(options));
    if (failed(runPipeline(attach, module)))
      signalPassFailure();
  }
};

} // namespace
