//===- Threads.h - the TBB arena compiled code runs in ----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Compiled kernels split their parallel loops into tasks through the runtime
// (the compiler lowers `scf.parallel` to the async runtime calls that
// lib/Runtime/AsyncRuntime.cpp implements on oneTBB). All of them run in one
// `tbb::task_arena`, whose size the user sets with `loom-run --threads N`.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_THREADS_H
#define LOOM_RUNTIME_THREADS_H

namespace loom {

/// Sizes the arena compiled code runs its tasks in: `threads` worker
/// threads, or one per hardware thread when `threads <= 0`. Call it before
/// running a model; it replaces the arena (not thread-safe against running
/// models).
void setThreadCount(int threads);

/// The number of threads tasks run on.
int threadCount();

} // namespace loom

#endif // LOOM_RUNTIME_THREADS_H
