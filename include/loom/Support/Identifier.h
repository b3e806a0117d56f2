//===- Identifier.h - a name as a C identifier ------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The model's op names (`blk.0.attn_q`) become parts of GPU kernel names
// (loom-merge-gpu-modules), and the runtime's profile matches the kernels
// it times against the ops of the schedule: both spell a name as an
// identifier the same way, here.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_IDENTIFIER_H
#define LOOM_SUPPORT_IDENTIFIER_H

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace loom {

/// `name` as a C identifier: every character other than a letter, a digit
/// or '_' becomes '_' ("blk.0.attn_q" -> "blk_0_attn_q").
inline std::string identifierOf(llvm::StringRef name) {
  std::string id(name);
  for (char &c : id)
    if (!llvm::isAlnum(c) && c != '_')
      c = '_';
  return id;
}

} // namespace loom

#endif // LOOM_SUPPORT_IDENTIFIER_H
