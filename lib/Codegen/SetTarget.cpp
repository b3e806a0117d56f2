//===- SetTarget.cpp - the target CPU's description into the module -------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"
#include "loom/Codegen/Target.h"
#include "loom/Target/TargetSpec.h"

#include "mlir/Dialect/DLTI/DLTI.h"
#include "llvm/Support/DebugLog.h"
#include "llvm/Support/Error.h"

#define DEBUG_TYPE "loom-set-target"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMSETTARGETPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

namespace mlir::loom {
namespace {
struct LoomSetTargetPass : impl::LoomSetTargetPassBase<LoomSetTargetPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // A description made earlier (by the driver, or written in the IR)
    // stands unless a CPU is named.
    if (!cpu.empty() || !getTargetSpec(module)) {
      llvm::Expected<TargetDescription> target = ::loom::describeTarget(cpu);
      if (!target) {
        module.emitError() << "loom-set-target: "
                           << llvm::toString(target.takeError());
        return signalPassFailure();
      }
      LDBG() << "target " << target->cpu << ": " << target->vectorBits
             << "-bit vectors, L1d " << target->l1d << ", L2 " << target->l2
             << " (" << target->cacheSource << ")";
      setTargetSpec(module, *target);
    }
    // The GPU next to it.
    if (gpu.empty())
      return;
    std::optional<GpuDescription> described = describeGpu(gpu);
    if (!described) {
      module.emitError() << "loom-set-target: gpu takes a compute "
                            "capability such as sm_80 or sm_90a, not '"
                         << gpu << "'";
      return signalPassFailure();
    }
    setGpuTargetSpec(module, *described);
  }
};
} // namespace
} // namespace mlir::loom
