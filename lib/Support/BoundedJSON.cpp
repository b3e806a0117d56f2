//===- BoundedJSON.cpp - JSON parsing with a nesting limit ----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Support/BoundedJSON.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace loom {

Expected<json::Value> parseBoundedJSON(StringRef text) {
  int depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character cannot end the string
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJSONDepth)
        return createStringError(
            formatv("[offset {0}] arrays and objects nest more than {1} deep",
                    i, kMaxJSONDepth)
                .str());
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return json::parse(text);
}

} // namespace loom
