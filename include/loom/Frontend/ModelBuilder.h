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
  /// The KV cache capacity in positions; 0 takes the model's context length.
  int64_t contextLength = 0;
};

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

/// The architectures `buildModel` accepts.
llvm::ArrayRef<llvm::StringRef> supportedArchitectures();

} // namespace loom

#endif // LOOM_FRONTEND_MODELBUILDER_H
