//===- Threads.h - the TBB arena compiled code runs in ----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiled code runs in one `tbb::task_arena`, whose size the user sets with
// `loom-run --threads N`: the flow graph of an entry point's kernels (see
// Device.h) and, nested in its nodes, the kernels' parallel loops, which the
// compiler lowers to calls of `loom_parallel_for` (lib/Runtime/Parallel.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_THREADS_H
#define LOOM_RUNTIME_THREADS_H

#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstdint>

namespace loom {

/// The most threads `setThreadCount` accepts: 8 per hardware thread (more
/// only oversubscribes the cores; oneTBB fails on absurd counts).
int maxThreadCount();

/// Sizes the arena compiled code runs its tasks in: `threads` worker
/// threads (at most maxThreadCount()), or one per hardware thread when
/// `threads <= 0`. Call it before running a model; it replaces the arena
/// (not thread-safe against running models).
void setThreadCount(int threads);

/// The number of threads tasks run on.
int threadCount();

/// Runs `body` inside the arena (on the calling thread, which joins it).
void runInArena(llvm::function_ref<void()> body);

/// Changes whenever `setThreadCount` replaces the arena, so that objects
/// bound to the old one (flow graphs) know to rebuild.
uint64_t arenaGeneration();

} // namespace loom

#endif // LOOM_RUNTIME_THREADS_H
