//===- OpLabel.h - what a kernel computes, in the model's words -*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The frontend gives every op it builds a location naming what it computes
// in the model file's terms (`blk.0.attn_q`, `output_norm`). Those names
// survive lowering and fusion (a fused op's location holds its parts'), so
// a kernel made of ops can say what it is: loom-schedule-kernels records it
// in the schedule (`op`, for the manifest and `loom-run --profile`), and
// loom-merge-gpu-modules names GPU kernels after it (what a GPU profiler
// shows).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_CODEGEN_OPLABEL_H
#define LOOM_LIB_CODEGEN_OPLABEL_H

#include "mlir/IR/Location.h"
#include "mlir/IR/Operation.h"

#include <string>

namespace mlir::loom::detail {

/// The names of the locations of `ops` (NameLocs, looked for inside fused
/// and call-site locations), each once, in order of appearance, joined by
/// '+': at most `most` of them, then "+...". Empty where none has a name.
std::string opLabel(ArrayRef<Operation *> ops, unsigned most = 6);

} // namespace mlir::loom::detail

#endif // LOOM_LIB_CODEGEN_OPLABEL_H
