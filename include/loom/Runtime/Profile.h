//===- Profile.h - where a model's time goes, kernel by kernel --*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// While profiling is on (`loom-run --profile`), the devices time every
// kernel they run and add the time here: the CPU device each node of an
// entry point's flow graph with the host's steady clock (kernels that run
// side by side each count their own time, so the sum can pass the wall
// time), the CUDA device each launch with a pair of CUDA events around it
// on the stream (the GPU's own time; where the host launches more slowly
// than the GPU runs, as in decode's small kernels, a kernel's time includes
// the wait for its launch). Off, nothing is timed and nothing is recorded.
//
// A kernel says what it computes in the model file's names (`op`: the
// schedule's `op` of the kernel, "blk.0.attn_q"; for an artifact without
// them, the GPU kernel's name after its entry point, "blk_0_attn_q");
// `opTimes` adds the layers of one op together ("blk.*.attn_q").
//
// Thread safety: every function may be called from any thread.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_PROFILE_H
#define LOOM_RUNTIME_PROFILE_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace loom {

/// Turns profiling on or off (off at start).
void setProfiling(bool on);
bool profiling();

/// Forgets every time recorded (a benchmark's warm-up).
void resetProfile();

/// Adds `seconds` of one run of `kernel` of entry point `entry` computing
/// `op` (a GPU kernel whose code several ops share runs for each of them).
void recordKernelTime(llvm::StringRef entry, llvm::StringRef kernel,
                      llvm::StringRef op, double seconds);

/// One kernel, or one op of an entry point, over the runs recorded.
struct KernelTime {
  std::string entry;
  /// The kernel's name; in opTimes(), empty.
  std::string kernel;
  /// What it computes; in opTimes(), with layer numbers folded.
  std::string op;
  /// Kernels added together (1 for one kernel), and how often they ran.
  uint64_t kernels = 1, calls = 0;
  double seconds = 0;
};

/// Every kernel recorded, in the order each was first recorded.
std::vector<KernelTime> kernelTimes();

/// The kernels added up by entry point and op, the numbers in the op that
/// stand alone between separators (a layer's) folded into '*', most time
/// first.
std::vector<KernelTime> opTimes();

/// opTimes() as JSON: an array of {"entry", "op", "kernels", "runs",
/// "seconds"}, most time first (loom-run --bench --profile, the C API).
std::string opTimesJson();

/// `op` with every number that stands between separators (not letters or
/// digits, or an end) as '*': "blk.12.attn_q" -> "blk.*.attn_q",
/// "blk_3_ffn_down" -> "blk_*_ffn_down"; "q8_0" stays as it is.
std::string foldLayers(llvm::StringRef op);

} // namespace loom

#endif // LOOM_RUNTIME_PROFILE_H
