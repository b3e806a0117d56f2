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

#ifndef LOOM_CODEGEN_COMPILER_H
#define LOOM_CODEGEN_COMPILER_H

#include "loom/Frontend/ModelBuilder.h"
#include "loom/Runtime/Manifest.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>

namespace loom {

/// The stages of compilation, as `--emit=` names them.
enum class Stage { Loom, Linalg, LLVM, Asm, Obj, Artifact };

/// Options of the whole compilation.
struct CompileOptions {
  BuildOptions build;
  /// The CPU to generate code for (`-mcpu` spelling); empty: the host's.
  std::string cpu;
  /// LLVM optimization level, 0 to 3.
  unsigned optLevel = 2;
  /// Keys per block of tiled attention (0: from the L1 cache; -1: direct).
  int64_t attentionKeyBlock = 0;
  /// Recognise attention written out (loom-fuse-attention).
  bool fuseAttention = true;
  /// Tokens per prefill call the activation arena is planned for (0: the
  /// context length); the runtime splits longer prompts.
  int64_t maxTokens = 0;
  /// Expert shards of every MoE layer, run side by side (1: unsharded).
  int64_t expertShards = 1;
  /// MPI ranks the experts of every MoE layer are split over; the artifact
  /// runs under `mpirun -np N` (1: a single process).
  int64_t expertRanks = 1;
  /// Chunk the tokens of register-blocked contractions for the target's L2
  /// (off: one chunk; for measuring what the chunks gain).
  bool cacheTiling = true;
  /// Linear layers with q8_0/q4_0 weights quantize their input to 8-bit
  /// blocks and multiply in integers (off: f32 input, weights decoded).
  bool int8Activations = true;
  /// With int8Activations, q4_0 and q8_0 matrices of linear layers are read
  /// with the blocks of 8 rows interleaved (loom-interleave-weights; the
  /// runtime repacks them at load).
  bool interleaveWeights = true;
  /// Linear layers with bf16 weights round their input to bf16 and
  /// multiply bf16 by bf16 (off: f32 input, weights widened).
  bool bf16Activations = true;
  /// "bf16": the compute mode for f32 checkpoints (loom-narrow-weights);
  /// empty or "f32": weights as stored.
  std::string dtype;
};

/// Lowers a module of loom IR in place to linalg on tensors.
llvm::Error lowerToLinalg(mlir::ModuleOp module,
                          const CompileOptions &options = {});

/// Lowers a module of linalg IR in place to the LLVM dialect and returns the
/// manifest of its entry points, read off the bufferized signatures.
llvm::Expected<Manifest> lowerToLLVMDialect(mlir::ModuleOp module,
                                            const ModelFile &model,
                                            const CompileOptions &options = {});

/// Lowers any module of loom IR (no model needed) all the way to the LLVM
/// dialect; public functions get C-interface wrappers. For tests and tools
/// that JIT single functions.
llvm::Error lowerFunctionsToLLVM(mlir::ModuleOp module,
                                 const CompileOptions &options = {});

/// Translates an LLVM-dialect module to LLVM IR and adds what the runtime
/// calls: a `loom_entry_<name>(void **args)` wrapper per entry point and the
/// manifest as the global string `loom_manifest`.
llvm::Expected<std::unique_ptr<llvm::Module>>
translateToLLVMIR(mlir::ModuleOp module, const Manifest &manifest,
                  llvm::LLVMContext &context);

/// Optimizes `module` for the target and writes assembly or an object file.
llvm::Error emitMachineCode(llvm::Module &module, const CompileOptions &options,
                            bool assembly, llvm::raw_pwrite_stream &os);

/// Links an object file into a shared object loom-run can load; `mpi`
/// links the MPI library too (artifacts for expert ranks).
llvm::Error linkArtifact(llvm::StringRef objectPath, llvm::StringRef outputPath,
                         bool mpi = false);

/// Checks that `options` make sense for `model` (expert ranks ask for
/// experts), naming the flag; compileArtifact calls it first.
llvm::Error checkOptionsForModel(const ModelFile &model,
                                 const CompileOptions &options);

/// The whole way from a model file to a shared object at `outputPath`.
llvm::Error compileArtifact(const ModelFile &model,
                            const CompileOptions &options,
                            llvm::StringRef outputPath);

/// A fingerprint of the weights a model file holds (names, shapes, storage
/// types), to tell an artifact built for another model.
std::string weightsFingerprint(const ModelFile &model);

} // namespace loom

#endif // LOOM_CODEGEN_COMPILER_H
