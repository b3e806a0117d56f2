//===- KernelScheduleAnalysis.h - kernels and arena of an entry -*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Internal to lib/Codegen: what loom-schedule-kernels decides for one entry
// point before it rewrites anything (KernelScheduleAnalysis.cpp): its
// buffers and their places in the activation arena, the top-level ops with
// effects (anchors), and their grouping into kernels with the dependencies
// between the kernels. ScheduleKernels.cpp materializes it.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_CODEGEN_KERNELSCHEDULEANALYSIS_H
#define LOOM_LIB_CODEGEN_KERNELSCHEDULEANALYSIS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SmallVector.h"

#include <climits>
#include <string>

namespace mlir::loom::detail {

/// A memref the entry point's top level holds: one of its arguments, or an
/// allocation that becomes a slice of the arena.
struct Buffer {
  Value root;
  Operation *alloc = nullptr; ///< memref.alloc; null for an argument
  std::string name;
  int64_t bytes = 0;  ///< arena buffers: the size at the largest call
  int64_t offset = 0; ///< arena buffers: the byte offset in the arena
  int first = INT_MAX, last = -1; ///< the first and last kernel using it
  bool isArena() const { return alloc != nullptr; }
};

/// One top-level op with effects: the unit kernels are made of.
struct Anchor {
  Operation *op;
  /// Buffer index -> written (true) or only read (false).
  llvm::MapVector<unsigned, bool> accesses;
  void access(unsigned buffer, bool write) {
    auto [it, inserted] = accesses.try_emplace(buffer, write);
    if (!inserted)
      it->second |= write;
  }
};

/// The kernels of one entry point, as groups of anchors, with the
/// dependencies between them, and the places of its buffers in the arena.
struct KernelSchedule {
  SmallVector<Buffer> buffers;
  SmallVector<Anchor> anchors;
  int64_t arenaBytes = 0;

  /// Kernels: anchors in program order, in a dependency order of kernels.
  SmallVector<SmallVector<unsigned>> groups;
  /// Per kernel, the earlier kernels it waits for (the transitive
  /// reduction of the dependencies).
  SmallVector<SmallVector<unsigned>> groupDeps;
};

/// The schedule of entry point `func`: its buffers (arena allocations sized
/// for calls of at most `maxTokens` tokens at positions below
/// `contextLength`) placed in the arena, reusing memory where `reuseMemory`,
/// and its anchors grouped into kernels, chains of them merged where
/// `merge`. Rewrites nothing; fails with a diagnostic where `func` cannot be
/// scheduled.
FailureOr<KernelSchedule> analyzeKernelSchedule(func::FuncOp func,
                                                int64_t maxTokens,
                                                int64_t contextLength,
                                                bool reuseMemory, bool merge);

} // namespace mlir::loom::detail

#endif // LOOM_LIB_CODEGEN_KERNELSCHEDULEANALYSIS_H
