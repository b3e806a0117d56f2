//===- BoundedJSON.h - JSON parsing with a nesting limit -------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// llvm::json::parse recurses once per nesting level: 100,000 `[` in a
// safetensors header, a config.json or a tokenizer.json would overflow the
// stack. Every JSON Loom reads from a file goes through parseBoundedJSON,
// which measures the nesting first (strings skipped) and refuses more than
// kMaxJSONDepth levels; real files nest fewer than ten.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_SUPPORT_BOUNDEDJSON_H
#define LOOM_SUPPORT_BOUNDEDJSON_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace loom {

constexpr int kMaxJSONDepth = 256;

/// json::parse, after checking that arrays and objects nest at most
/// kMaxJSONDepth deep; the error says where the limit was passed.
llvm::Expected<llvm::json::Value> parseBoundedJSON(llvm::StringRef text);

} // namespace loom

#endif // LOOM_SUPPORT_BOUNDEDJSON_H
