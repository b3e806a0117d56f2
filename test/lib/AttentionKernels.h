//===- AttentionKernels.h - attention test kernels, compiled and run -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Shared by the attention numerics test and the attention benchmark:
// attention of a given shape written out (as the frontend writes it) or as
// one loom.attention, compiled with Loom's pipeline and run in-process with
// MLIR's ExecutionEngine on caller-owned buffers.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TEST_LIB_ATTENTIONKERNELS_H
#define LOOM_TEST_LIB_ATTENTIONKERNELS_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loom::testing {

/// One attention problem: [1, heads, seq, head_dim] operands.
struct AttentionConfig {
  const char *name;
  int64_t queries, keys, qHeads, kvHeads, headDim;
  bool causal = false;
  int64_t window = 0; ///< 0: none
  bool mask = false;  ///< an explicit additive mask operand
  int64_t offset = 0; ///< position of the first query
};

/// `@attention(q, k, v, mask, pos) -> out` written out: matmul, scale,
/// mask, softmax, matmul, GQA as repeat_interleave.
std::string unfusedAttentionIR(const AttentionConfig &c);
/// The same as one `loom.attention`.
std::string fusedAttentionIR(const AttentionConfig &c);

/// A compiled `@attention`.
class AttentionKernel {
public:
  /// Compiles `ir` with Loom's pipeline (`fuse`: run attention fusion;
  /// `keyBlock`: the tiled lowering's block, -1 for the direct lowering).
  static llvm::Expected<std::unique_ptr<AttentionKernel>>
  compile(const std::string &ir, bool fuse, int64_t keyBlock);

  /// Runs it: out[1, qHeads, queries, headDim] from q, k, v, mask.
  llvm::Error run(const AttentionConfig &c, std::vector<float> &q,
                  std::vector<float> &k, std::vector<float> &v,
                  std::vector<float> &mask, std::vector<float> &out);

private:
  mlir::MLIRContext context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  int64_t arenaBytes = 0;
};

/// A JIT for `module`, already lowered to the LLVM dialect, whose heap
/// allocations the counters below see.
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
createEngine(mlir::ModuleOp module);

/// Bytes the compiled code holds in malloc'd buffers now and at most so far
/// (the JIT's malloc/free/aligned_alloc go through counting wrappers).
int64_t currentKernelBytes();
int64_t peakKernelBytes();
void resetPeakKernelBytes();

} // namespace loom::testing

#endif // LOOM_TEST_LIB_ATTENTIONKERNELS_H
