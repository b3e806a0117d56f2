//===- ModelBuilder.h - model files into loom IR ----------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A builder per architecture family turns a `ModelFile` into a module of
// `loom` IR that reads like the model: weights by name, attention written out
// as matmul, scale, mask, softmax, matmul, and grouped-query attention as a
// repeat of the key/value heads.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_FRONTEND_MODELBUILDER_H
#define LOOM_FRONTEND_MODELBUILDER_H

#include "loom/Frontend/ModelFile.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

namespace loom {

/// What a user can change about the emitted program.
struct BuildOptions {
  /// The KV cache capacity in positions; 0 takes the model's context
  /// length, capped at kDefaultContextCap (chooseContextLength).
  int64_t contextLength = 0;
};

/// The KV cache capacity taken when none is asked for, if the model allows
/// more: a cache for Llama 3.1's 131072 positions would take tens of GB that
/// a chat of a few thousand tokens never touches. (llama.cpp does the same.)
constexpr int64_t kDefaultContextCap = 4096;

/// The KV cache capacity `buildModel` gives `config` when asked for
/// `requested` positions (0: the model's context length, at most
/// kDefaultContextCap). An error, naming `file` and the size, when the model
/// declares none and none was asked for, or when the caches of that many
/// positions would not fit in memory (more than 1 TiB, or overflowing).
llvm::Expected<int64_t> chooseContextLength(const ModelConfig &config,
                                            int64_t requested,
                                            llvm::StringRef file);

/// Emits the module of `model`: two entry points sharing one KV cache layout.
///
///   func.func @prefill(%tokens: tensor<1x?xi32>, %pos: index,
///                      %k_cache.0, %v_cache.0, ...) -> (logits, caches...)
///   func.func @decode(%token: tensor<1x1xi32>, %pos: index,
///                     %k_cache.0, %v_cache.0, ...) -> (logits, caches...)
///
/// `%pos` is the number of positions already in the cache. Each cache is
/// `[1, kv_heads, context_length, head_dim]`, one key and one value cache
/// per layer; the functions return the updated caches after the logits
/// (`[1, n, vocab]`, one row per input token). The module carries the model's
/// configuration as a `loom.model` dictionary attribute.
///
/// Errors (an architecture no builder handles, a missing or misshapen
/// weight) name the model file and the tensor.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildModel(mlir::MLIRContext &context, const ModelFile &model,
           const BuildOptions &options = {});

} // namespace loom

#endif // LOOM_FRONTEND_MODELBUILDER_H
