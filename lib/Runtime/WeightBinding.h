//===- WeightBinding.h - binding a model file's weights ---------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Internal to lib/Runtime: what `Session::create` uses to bind a model file's
// weights to an artifact's weight parameters (WeightBinding.cpp): the checks
// of each weight against the artifact, the copies made once at load (bf16,
// q4_0x8 / q8_0x8), and the scan for NaN or infinite values.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_RUNTIME_WEIGHTBINDING_H
#define LOOM_LIB_RUNTIME_WEIGHTBINDING_H

#include "loom/Artifact/Manifest.h"
#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Device.h"
#include "loom/Runtime/Session.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace loom::detail {

/// The names of the weights among `weights` holding NaN or infinite values
/// (for block formats: in their scales).
std::vector<std::string>
nonFiniteWeights(const ModelFile &model,
                 llvm::ArrayRef<const WeightInfo *> weights);

/// Binds the weight parameter `p` of `artifact` to `model`: an error naming
/// `file` and the weight if the model has no such weight or holds it in
/// another shape or storage type. A weight the artifact reads in another
/// form than the file stores (f32 as bf16, q4_0 / q8_0 as q4_0x8 / q8_0x8)
/// is copied once into memory from `device`, kept in `packed` by name with
/// its size in bytes (and not copied again if already there). `device` must
/// be host-addressable.
llvm::Error bindWeight(const ParamInfo &p, const ModelFile &model,
                       const Artifact &artifact, Device &device,
                       llvm::StringMap<std::pair<void *, size_t>> &packed,
                       llvm::StringRef file);

} // namespace loom::detail

#endif // LOOM_LIB_RUNTIME_WEIGHTBINDING_H
