//===- ConvertMPIToLLVM.cpp - the mpi dialect to MPI library calls --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Conversion/Passes.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MPIToLLVM/MPIToLLVM.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMCONVERTMPITOLLVMPASS
#include "loom/Conversion/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

struct LoomConvertMPIToLLVMPass
    : loom::impl::LoomConvertMPIToLLVMPassBase<LoomConvertMPIToLLVMPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool any = false;
    module.walk([&](Operation *op) {
      if (isa<mpi::MPIDialect>(op->getDialect()))
        any = true;
    });
    if (!any)
      return;
    LLVMTypeConverter converter(&getContext());
    RewritePatternSet patterns(&getContext());
    mpi::populateMPIToLLVMConversionPatterns(converter, patterns);
    ConversionTarget target(getContext());
    target.addIllegalDialect<mpi::MPIDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(module, target, std::move(patterns))))
      return signalPassFailure();
    module->removeAttr("dlti.map");
    // Upstream (LLVM 22) refers to OpenMPI's reduction operations as
    // `ompi_mpi_<op>`; the library exports them as `ompi_mpi_op_<op>`
    // (MPI_SUM is &ompi_mpi_op_sum).
    SymbolTable symbols(module);
    for (auto global :
         llvm::make_early_inc_range(module.getOps<LLVM::GlobalOp>())) {
      StringRef name = global.getSymName();
      static constexpr StringLiteral kOps[] = {
          "max", "min",  "sum",  "prod",   "land",   "band",   "lor",
          "bor", "lxor", "bxor", "minloc", "maxloc", "replace"};
      if (!name.consume_front("ompi_mpi_") || !llvm::is_contained(kOps, name))
        continue;
      std::string fixed = ("ompi_mpi_op_" + name).str();
      if (failed(symbols.rename(global, fixed)))
        return signalPassFailure();
    }
  }
};

} // namespace
