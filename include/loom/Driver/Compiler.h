//===- Compiler.h - model file to executable code ---------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The compiler driver behind loom-compile and loom-run: a model file through
// loom IR, linalg, bufferization and the LLVM dialect to LLVM IR, then an
// object file or a loadable artifact (a shared object holding the compiled
// entry points and the manifest that says how to call them).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DRIVER_COMPILER_H
#define LOOM_DRIVER_COMPILER_H

#include "loom/Artifact/Manifest.h"
#include "loom/Codegen/CompileOptions.h"
#include "loom/Frontend/ModelBuilder.h"
#include "loom/Target/TargetSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/Timing.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>
#include <vector>

namespace loom {

/// The stages of compilation, as `--emit=` names them.
enum class Stage { Loom, Linalg, LLVM, Asm, Obj, Artifact, Gpu, Ptx };

/// Every option of a compilation (CompileOptions.h).
using mlir::loom::CompileOptions;

/// What the frontend takes of the options.
inline BuildOptions buildOptions(const CompileOptions &options) {
  BuildOptions build;
  build.contextLength = options.contextLength;
  return build;
}

/// Every stage below takes a timing scope it nests its own under (each MLIR
/// pipeline's passes, LLVM's optimization and code generation): an inactive
/// scope (the default) times nothing. `loom-compile --timing` passes the
/// root of a DefaultTimingManager and prints the tree.

/// Lowers a module of loom IR in place to linalg on tensors.
llvm::Error lowerToLinalg(mlir::ModuleOp module, const CompileOptions &options,
                          mlir::TimingScope timing = {});

/// Lowers a module of linalg IR in place to the LLVM dialect and returns the
/// manifest of its entry points, read off the bufferized signatures.
llvm::Expected<Manifest> lowerToLLVMDialect(mlir::ModuleOp module,
                                            const ModelFile &model,
                                            const CompileOptions &options,
                                            mlir::TimingScope timing = {});

/// Lowers a module of linalg IR in place to NVIDIA GPU kernels
/// (--target=cuda): gpu.launch_func of outlined gpu.modules.
llvm::Error lowerToGpuKernels(mlir::ModuleOp module,
                              const CompileOptions &options,
                              mlir::TimingScope timing = {});

/// One GPU kernel module compiled for `options.gpu`.
struct GpuKernelCode {
  std::string name; ///< the gpu.module's (and its kernel's) name
  std::string ptx;
};

/// Lowers the kernels of lowerToGpuKernels in place to gpu.binary ops and
/// returns each one's PTX, in module order.
llvm::Expected<std::vector<GpuKernelCode>>
lowerToPTX(mlir::ModuleOp module, const CompileOptions &options,
           mlir::TimingScope timing = {});

/// An error for options whose code no artifact can hold (--target=cuda
/// with MPI ranks); success otherwise.
llvm::Error checkArtifactTarget(const CompileOptions &options);

/// Lowers any module of loom IR (no model needed) all the way to the LLVM
/// dialect; public functions get C-interface wrappers. For tests and tools
/// that JIT single functions.
llvm::Error lowerFunctionsToLLVM(mlir::ModuleOp module,
                                 const CompileOptions &options);
llvm::Error lowerFunctionsToLLVM(mlir::ModuleOp module);

/// The target CPU `module` was lowered for (its DLTI target spec, which
/// loom-set-target writes as the lowering starts): an error when it has none.
llvm::Expected<mlir::loom::TargetDescription>
moduleTarget(mlir::ModuleOp module);

/// Translates an LLVM-dialect module to LLVM IR and adds what the runtime
/// calls: a `loom_entry_<name>(void **args)` wrapper per entry point and the
/// manifest as the global string `loom_manifest`.
llvm::Expected<std::unique_ptr<llvm::Module>>
translateToLLVMIR(mlir::ModuleOp module, const Manifest &manifest,
                  llvm::LLVMContext &context, mlir::TimingScope timing = {});

/// Optimizes `module` for `target` at LLVM's `optLevel` and writes assembly
/// or an object file.
llvm::Error emitMachineCode(llvm::Module &module,
                            const mlir::loom::TargetDescription &target,
                            unsigned optLevel, bool assembly,
                            llvm::raw_pwrite_stream &os,
                            mlir::TimingScope timing = {});

/// What emitObjectFiles did.
struct CodegenStats {
  size_t units = 0;    // modules the LLVM module was split into
  size_t compiled = 0; // of them compiled (the rest came from the cache)
};

/// Splits `module` (translated with `manifest`) into units that compile
/// apart (each kernel's code with its wrappers and the kernels sharing it,
/// each entry point's sequential schedule), optimizes and compiles them on
/// the TBB threads, and returns their object files in link order. With an
/// `objectCache` folder the objects are kept there under a hash of their
/// unit's bitcode and the target, and a unit found there is not compiled
/// again; without one they go to `folder` (the caller removes them).
llvm::Expected<std::vector<std::string>>
emitObjectFiles(llvm::Module &module, const Manifest &manifest,
                const mlir::loom::TargetDescription &target, unsigned optLevel,
                llvm::StringRef folder, llvm::StringRef objectCache,
                CodegenStats &stats, mlir::TimingScope timing = {});

/// Links object files into a shared object loom-run can load; `mpi`
/// links the MPI library too (artifacts for expert ranks).
llvm::Error linkArtifact(llvm::ArrayRef<std::string> objectPaths,
                         llvm::StringRef outputPath, bool mpi = false);

/// Checks that `options` make sense for `model` (expert ranks ask for
/// experts), naming the flag; compileArtifact calls it first.
llvm::Error checkOptionsForModel(const ModelFile &model,
                                 const CompileOptions &options);

/// The whole way from a model file to a shared object at `outputPath`;
/// `objectCache` as for emitObjectFiles (empty: compile every unit).
llvm::Error compileArtifact(const ModelFile &model,
                            const CompileOptions &options,
                            llvm::StringRef outputPath,
                            llvm::StringRef objectCache = {},
                            mlir::TimingScope timing = {});

/// The way from a module of loom IR, as buildModel emits it for `model` and
/// perhaps transformed since (a pass author's experiment), to a shared
/// object at `outputPath`; the module is lowered in place. compileArtifact
/// is buildModel and then this.
llvm::Error compileModule(mlir::ModuleOp module, const ModelFile &model,
                          const CompileOptions &options,
                          llvm::StringRef outputPath,
                          llvm::StringRef objectCache = {},
                          mlir::TimingScope timing = {});

/// A fingerprint of the weights a model file holds (names, shapes, storage
/// types), to tell an artifact built for another model.
std::string weightsFingerprint(const ModelFile &model);

} // namespace loom

#endif // LOOM_DRIVER_COMPILER_H
