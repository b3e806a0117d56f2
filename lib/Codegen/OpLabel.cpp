//===- OpLabel.cpp - what a kernel computes, in the model's words ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "OpLabel.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;

std::string mlir::loom::detail::opLabel(ArrayRef<Operation *> ops,
                                        unsigned most) {
  llvm::SetVector<StringRef> names;
  for (Operation *op : ops)
    op->getLoc()->walk([&](Location loc) {
      if (auto name = dyn_cast<NameLoc>(loc))
        if (!name.getName().getValue().empty())
          names.insert(name.getName().getValue());
      return WalkResult::advance();
    });
  std::string label;
  for (auto [i, name] : llvm::enumerate(names)) {
    if (i == most)
      return label + "+...";
    if (i)
      label += '+';
    label += name;
  }
  return label;
}
