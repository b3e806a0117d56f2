//===- CompiledFunction.h - one IR function, compiled and called -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Shared by the codegen numerics tests: `func.func @f` in textual IR,
// lowered with Loom's real pipeline and called in-process through MLIR's
// ExecutionEngine on caller-owned buffers.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TEST_LIB_COMPILEDFUNCTION_H
#define LOOM_TEST_LIB_COMPILEDFUNCTION_H

#include "MemRefDescriptor.h"

#include "loom/Driver/Compiler.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace loom::testing {

class CompiledFunction {
public:
  /// Parses `ir` (which defines `@f`) and lowers it with `options`.
  static llvm::Expected<std::unique_ptr<CompiledFunction>>
  compile(const std::string &ir, const CompileOptions &options);

  /// Calls @f(args..., out): memref descriptors, the results last; an arena
  /// the compiler may plan intermediate buffers into is appended here.
  llvm::Error call(std::deque<MemRefDescriptor> &args);

  /// The lowered module (LLVM dialect) as text, for checks on the code
  /// chosen (e.g. which intrinsics it calls).
  std::string lowered();

private:
  mlir::MLIRContext context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

/// Whether this machine has every instruction set code compiled for `cpu`
/// (LLVM's name; empty: the host) may use, as the runtime checks an
/// artifact's before it loads one.
bool hostRunsCodeFor(llvm::StringRef cpu);

/// The f32 value of the f16 with `bits` (normal numbers and zero only).
float halfToFloat(uint16_t bits);

/// x as the 8-bit blocks Loom and llama.cpp feed integer dot products, back
/// in f32 units, as llama.cpp's x86 code makes them: per 32 values d =
/// f16(max|x| / 127) and q = round-half-even(x * (127 / max|x|)) in f32 (as
/// reference_forward.py's int8_blocks does); with `perScale` 256, one d =
/// 1 / (127 / max|x|) in f32 per 256 values (a K-quant's super-block:
/// q8_K).
std::vector<double> int8Blocks(const std::vector<float> &x,
                               size_t perScale = 32);

} // namespace loom::testing

#endif // LOOM_TEST_LIB_COMPILEDFUNCTION_H
