//===- AttentionBench.cpp - fused against unfused attention ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//   build/bin/loom-bench-attention          a quick set (seq 512 and 2048)
//   build/bin/loom-bench-attention --full   seq 512/2048/8192, d 64/128, 8/32
//   heads
//
// For each shape, causal attention with 4 query heads per key/value head is
// compiled twice with Loom's pipeline: written out (scores, mask, softmax,
// matmul; fusion off) and as loom.attention lowered FlashAttention-style
// (block size from the L1 cache). Both run on the same random inputs; the
// table gives the median time of the runs and the peak bytes the compiled
// code held in its own buffers (counted through its malloc), and checks that
// the two outputs agree.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"

#include "loom/Runtime/Threads.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

using namespace loom::testing;

static llvm::cl::opt<bool>
    full("full", llvm::cl::desc("Run every shape of the issue "
                                "(seq up to 8192, d 128, 32 heads)"));
static llvm::cl::opt<int>
    repeats("repeats", llvm::cl::desc("Timed runs per kernel (median)"),
            llvm::cl::init(3));
static llvm::cl::opt<int> jobs("j", llvm::cl::desc("Threads (0: all)"),
                               llvm::cl::init(0));
static llvm::cl::opt<double> maxGiB(
    "max-gib",
    llvm::cl::desc("Skip an unfused kernel whose score matrices would need "
                   "more than this many GiB"),
    llvm::cl::init(6.0));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(argc, argv, "Loom attention benchmark\n");
  loom::setThreadCount(jobs);

  std::vector<AttentionConfig> configs;
  std::vector<int64_t> seqs = full ? std::vector<int64_t>{512, 2048, 8192}
                                   : std::vector<int64_t>{512, 2048};
  std::vector<int64_t> dims =
      full ? std::vector<int64_t>{64, 128} : std::vector<int64_t>{64};
  std::vector<int64_t> heads =
      full ? std::vector<int64_t>{8, 32} : std::vector<int64_t>{8};
  for (int64_t s : seqs)
    for (int64_t d : dims)
      for (int64_t h : heads)
        configs.push_back({"bench", s, s, h, h / 4, d, /*causal=*/true});

  std::printf("threads: %d, runs per kernel: %d (median), causal, GQA 4\n",
              loom::threadCount(), int(repeats));
  std::printf("%6s %5s %4s | %12s %12s | %12s %12s | %7s %10s\n", "seq",
              "heads", "d", "unfused ms", "unfused MiB", "fused ms",
              "fused MiB", "speedup", "max |diff|");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const AttentionConfig &c : configs) {
    auto random = [&](size_t n) {
      std::vector<float> x(n);
      for (float &f : x)
        f = dist(rng);
      return x;
    };
    auto q = random(c.qHeads * c.queries * c.headDim);
    auto k = random(c.kvHeads * c.keys * c.headDim);
    auto v = random(c.kvHeads * c.keys * c.headDim);
    std::vector<float> mask(1); // unused: the attention is causal
    struct Result {
      double ms = NAN;
      double mib = NAN;
      std::vector<float> out;
    };
    auto measure = [&](const std::string &ir, bool fuse) -> Result {
      Result r;
      auto kernel = AttentionKernel::compile(ir, fuse, /*keyBlock=*/0);
      if (!kernel) {
        std::fprintf(stderr, "error: %s\n",
                     llvm::toString(kernel.takeError()).c_str());
        return r;
      }
      std::vector<double> times;
      for (int i = 0; i <= repeats; ++i) { // the first run warms up
        resetPeakKernelBytes();
        int64_t before = currentKernelBytes();
        auto start = std::chrono::steady_clock::now();
        if (llvm::Error e = (*kernel)->run(c, q, k, v, mask, r.out)) {
          std::fprintf(stderr, "error: %s\n",
                       llvm::toString(std::move(e)).c_str());
          return r;
        }
        double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
        if (i > 0)
          times.push_back(ms);
        r.mib = double(peakKernelBytes() - before) / (1 << 20);
      }
      std::sort(times.begin(), times.end());
      r.ms = times[times.size() / 2];
      return r;
    };
    // The written-out form holds a few [heads, seq, seq] f32 matrices.
    double scoresGiB =
        3.0 * c.qHeads * c.queries * c.keys * 4 / double(1 << 30);
    Result unfused;
    if (scoresGiB <= maxGiB) {
      // The unfused kernel needs the mask operand shaped like the scores.
      std::vector<float> fullMask(c.qHeads * c.queries * c.keys, 0.0f);
      mask.swap(fullMask);
      unfused = measure(unfusedAttentionIR(c), false);
      mask.swap(fullMask);
    }
    Result fused = measure(fusedAttentionIR(c), true);
    double diff = NAN;
    if (!unfused.out.empty() && unfused.out.size() == fused.out.size()) {
      diff = 0;
      for (size_t i = 0; i < fused.out.size(); ++i)
        diff = std::max(diff, double(std::abs(fused.out[i] - unfused.out[i])));
    }
    std::printf(
        "%6lld %5lld %4lld | %12.1f %12.1f | %12.1f %12.1f | %7.2f %10.2g%s\n",
        (long long)c.queries, (long long)c.qHeads, (long long)c.headDim,
        unfused.ms, unfused.mib, fused.ms, fused.mib, unfused.ms / fused.ms,
        diff, scoresGiB > maxGiB ? "  (unfused skipped: too much memory)" : "");
    std::fflush(stdout);
  }
  return 0;
}
