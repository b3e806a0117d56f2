//===- CompileFlags.h - compile options shared by the tools -----*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The command-line options that change what a model compiles to, declared
// once for every tool that compiles a model file: loom-compile, and
// loom-run (which compiles into its cache and keys the cache on them).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_COMPILEFLAGS_H
#define LOOM_CODEGEN_COMPILEFLAGS_H

#include "loom/Codegen/Compiler.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace loom {

/// Registers the options when constructed (one instance per tool, alive
/// while the command line is parsed and used).
class CompileFlags {
public:
  /// `prefix` starts every option's description (loom-run: "With a model
  /// file: ").
  CompileFlags(llvm::cl::OptionCategory &category, llvm::StringRef prefix = "");

  /// An error naming the flag whose value is out of range.
  llvm::Error validate() const;
  /// Sets the fields of `options` these flags decide.
  void apply(CompileOptions &options) const;
  /// Every value, in a fixed order: for a cache key.
  std::string key() const;

private:
  // The descriptions, which the options refer to (declared first: built
  // before them).
  std::string contextLengthDesc, maxTokensDesc, expertShardsDesc,
      expertRanksDesc, dtypeDesc, int8Desc, interleaveDesc, bf16Desc;

public:
  llvm::cl::opt<int64_t> contextLength;
  llvm::cl::opt<int64_t> maxTokens;
  llvm::cl::opt<int64_t> expertShards;
  llvm::cl::opt<int64_t> expertRanks;
  llvm::cl::opt<std::string> dtype;
  llvm::cl::opt<bool> int8Activations;
  llvm::cl::opt<bool> interleaveWeights;
  llvm::cl::opt<bool> bf16Activations;
};

} // namespace loom

#endif // LOOM_CODEGEN_COMPILEFLAGS_H
