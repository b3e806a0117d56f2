//===- GemmBench.cpp - Loom's matmul against the machine's FMA peak -------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//   build/bin/loom-bench-gemm                 M = 512, K = N = 768 .. 2048
//   build/bin/loom-bench-gemm -m 128 -k 4096 -n 4096 -j 1
//
// Measures the machine's fused multiply-add peak and the throughput of the
// matrix product Loom generates for `loom.linear` (y = x · wᵀ, f32), both in
// GFLOP/s, with the same threads. The peak is measured, not looked up: a
// loop of independent vector FMAs, written in MLIR (vector.fma on the widest
// vector the target has, 12 accumulators, enough to cover the FMA latency)
// and compiled by the same LLVM, run on every thread at once. The product
// is checked against a plain reference on a few rows.
//
//===----------------------------------------------------------------------===//

#include "MemRefDescriptor.h"

#include "loom/Codegen/Target.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Driver/Compiler.h"
#include "loom/Runtime/Threads.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>

using namespace mlir;
using llvm::formatv;

static llvm::cl::list<int64_t> ms("m", llvm::cl::desc("Rows of x (tokens)"));
static llvm::cl::list<int64_t> ks("k", llvm::cl::desc("Inner dimension"));
static llvm::cl::list<int64_t> ns("n", llvm::cl::desc("Rows of w (outputs)"));
static llvm::cl::opt<int> repeats("repeats",
                                  llvm::cl::desc("Timed runs (median)"),
                                  llvm::cl::init(5));
static llvm::cl::opt<int> jobs("j", llvm::cl::desc("Threads (0: all)"),
                               llvm::cl::init(0));
static llvm::cl::opt<bool> compare(
    "compare-chunks",
    llvm::cl::desc("Also time each product compiled without the L2 chunks of "
                   "tokens (the baseline), alternating"));
static llvm::cl::opt<bool> comparePacking(
    "compare-packing",
    llvm::cl::desc("Also time each product compiled as register-blocked dot "
                   "products instead of packed outer products (the "
                   "baseline), alternating"));

namespace {

using Descriptor = ::loom::testing::MemRefDescriptor;

/// Compiles `ir` (a module of functions on tensors) with Loom's pipeline
/// and JITs it. `arenaBytes` receives the activation arena the compiler
/// planned for `function`.
llvm::Expected<std::unique_ptr<ExecutionEngine>>
compile(MLIRContext &ctx, const std::string &ir, llvm::StringRef function,
        int64_t &arenaBytes, bool baseline = false) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &ctx);
  if (!module)
    return llvm::createStringError("cannot parse the benchmark's IR");
  ::loom::CompileOptions options;
  if (baseline && compare)
    options.cacheTiling = false;
  if (baseline && comparePacking)
    options.packWeights = false;
  if (llvm::Error e = ::loom::lowerFunctionsToLLVM(*module, options))
    return std::move(e);
  arenaBytes = 0;
  module->walk([&](LLVM::LLVMFuncOp f) {
    if (f.getName() != function)
      return;
    if (auto schedule = f->getAttrOfType<mlir::loom::ScheduleAttr>(
            mlir::loom::kScheduleAttr))
      arenaBytes = schedule.getArenaBytes();
  });
  registerBuiltinDialectTranslation(ctx);
  registerLLVMDialectTranslation(ctx);
  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(3, 0, nullptr);
  engineOptions.transformer = transformer;
  return ExecutionEngine::create(*module, engineOptions);
}

double medianSeconds(int runs, llvm::function_ref<void()> body) {
  std::vector<double> times;
  for (int i = 0; i <= runs; ++i) { // the first run warms up
    auto start = std::chrono::steady_clock::now();
    body();
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (i > 0)
      times.push_back(s);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(argc, argv, "Loom GEMM benchmark\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  ::loom::setThreadCount(jobs);
  int threads = ::loom::threadCount();

  DialectRegistry registry;
  registerAllDialects(registry);
  registry.insert<mlir::loom::LoomDialect>();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  // The FMA peak: every thread runs `iterations` rounds of 12 independent
  // vector FMAs on the target's widest vectors.
  llvm::Expected<::loom::TargetDescription> target = ::loom::describeTarget("");
  if (!target) {
    std::fprintf(stderr, "error: %s\n",
                 llvm::toString(target.takeError()).c_str());
    return 1;
  }
  int64_t lanes = std::max<int64_t>(target->vectorBits / 32, 4);
  constexpr int kAccumulators = 12;
  std::string peakIR = formatv(
      R"(
func.func @peak(%n: index, %out: memref<{0}xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a = arith.constant dense<1.0000001> : vector<{0}xf32>
  %b = arith.constant dense<0.9999999> : vector<{0}xf32>
  %z = arith.constant dense<0.5> : vector<{0}xf32>
  %r:{1} = scf.for %i = %c0 to %n step %c1 iter_args({2}) -> ({3}) {{
{4}    scf.yield {5} : {3}
  }
{6}  vector.store %s{7}, %out[%c0] : memref<{0}xf32>, vector<{0}xf32>
  return
}
)",
      lanes, kAccumulators,
      [&] {
        std::string s;
        for (int i = 0; i < kAccumulators; ++i)
          s += formatv("{0}%acc{1} = %z", i ? ", " : "", i);
        return s;
      }(),
      [&] {
        std::string s;
        for (int i = 0; i < kAccumulators; ++i)
          s += formatv("{0}vector<{1}xf32>", i ? ", " : "", lanes);
        return s;
      }(),
      [&] {
        std::string s;
        for (int i = 0; i < kAccumulators; ++i)
          s += formatv(
              "    %f{0} = vector.fma %a, %acc{0}, %b : vector<{1}xf32>\n", i,
              lanes);
        return s;
      }(),
      [&] {
        std::string s;
        for (int i = 0; i < kAccumulators; ++i)
          s += formatv("{0}%f{1}", i ? ", " : "", i);
        return s;
      }(),
      [&] {
        std::string s = "  %s0 = arith.addf %r#0, %r#1 : vector<" +
                        std::to_string(lanes) + "xf32>\n";
        for (int i = 2; i < kAccumulators; ++i)
          s += formatv("  %s{0} = arith.addf %s{1}, %r#{2} : vector<{3}xf32>\n",
                       i - 1, i - 2, i, lanes);
        return s;
      }(),
      kAccumulators - 2);
  int64_t peakArena = 0;
  auto peakEngine = compile(ctx, peakIR, "peak", peakArena);
  if (!peakEngine) {
    std::fprintf(stderr, "error: %s\n",
                 llvm::toString(peakEngine.takeError()).c_str());
    return 1;
  }
  auto peakFn = (*peakEngine)->lookupPacked("_mlir_ciface_peak");
  if (!peakFn) {
    std::fprintf(stderr, "error: %s\n",
                 llvm::toString(peakFn.takeError()).c_str());
    return 1;
  }
  const int64_t iterations = 20'000'000;
  auto runPeak = [&] {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        std::vector<float> sink(lanes);
        Descriptor out(sink.data(), {lanes});
        int64_t n = iterations;
        void *args[] = {&n, &out.pointer};
        (*peakFn)(args);
      });
    for (std::thread &t : pool)
      t.join();
  };
  double peakSeconds = medianSeconds(3, runPeak);
  double peakGflops =
      2.0 * kAccumulators * lanes * iterations * threads / peakSeconds / 1e9;
  std::printf("target: %s, %lld-bit vectors; threads: %d\n",
              target->cpu.c_str(), (long long)target->vectorBits, threads);
  std::printf("measured FMA peak: %.1f GFLOP/s (%d x %lld-lane FMAs in flight "
              "per thread)\n\n",
              peakGflops, kAccumulators, (long long)lanes);

  std::vector<int64_t> mList(ms.begin(), ms.end()), kList(ks.begin(), ks.end()),
      nList(ns.begin(), ns.end());
  if (mList.empty())
    mList = {512};
  if (kList.empty())
    kList = {768, 2048};
  if (nList.empty())
    nList = {768, 2048};
  std::printf("%6s %6s %6s | %10s %10s %8s | %10s", "M", "K", "N", "ms",
              "GFLOP/s", "of peak", "max |err|");
  if (compare || comparePacking)
    std::printf(" | %10s %8s %7s", comparePacking ? "dot form" : "no chunks",
                "of peak", "gain");
  std::printf("\n");
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t m : mList)
    for (int64_t k : kList)
      for (int64_t n : nList) {
        std::string ir = formatv(R"(
func.func @gemm(%x: tensor<{0}x{1}xf32>, %w: tensor<{2}x{1}xf32>) -> tensor<{0}x{2}xf32> {{
  %y = loom.linear %x, %w : (tensor<{0}x{1}xf32>, tensor<{2}x{1}xf32>) -> tensor<{0}x{2}xf32>
  return %y : tensor<{0}x{2}xf32>
}
)",
                                 m, k, n);
        std::vector<float> x(m * k), w(n * k), y(m * n, 0.0f);
        for (float &v : x)
          v = dist(rng);
        for (float &v : w)
          v = dist(rng);
        // One compiled product, ready to run on x, w into y.
        struct Runner {
          std::unique_ptr<ExecutionEngine> engine;
          std::vector<uint8_t> arena;
          std::deque<Descriptor> ds;
          llvm::SmallVector<void *> args;
          std::vector<double> times;
        };
        auto prepare = [&](bool baseline) -> std::unique_ptr<Runner> {
          int64_t arenaBytes = 0;
          auto engine = compile(ctx, ir, "gemm", arenaBytes, baseline);
          if (!engine) {
            std::fprintf(stderr, "error: %s\n",
                         llvm::toString(engine.takeError()).c_str());
            return nullptr;
          }
          auto r = std::make_unique<Runner>();
          r->engine = std::move(*engine);
          int64_t bytes = std::max<int64_t>(arenaBytes, 64);
          r->arena.resize(bytes + 64);
          void *arenaPtr = reinterpret_cast<void *>(
              (reinterpret_cast<uintptr_t>(r->arena.data()) + 63) &
              ~uintptr_t(63));
          r->ds.emplace_back(x.data(), std::vector<int64_t>{m, k});
          r->ds.emplace_back(w.data(), std::vector<int64_t>{n, k});
          r->ds.emplace_back(y.data(), std::vector<int64_t>{m, n});
          r->ds.emplace_back(arenaPtr, std::vector<int64_t>{bytes});
          for (Descriptor &d : r->ds)
            r->args.push_back(&d.pointer);
          return r;
        };
        std::vector<std::unique_ptr<Runner>> runners;
        runners.push_back(prepare(false));
        if (compare || comparePacking)
          runners.push_back(prepare(true));
        for (auto &r : runners)
          if (!r)
            return 1;
        // Alternating, so that both see the same machine.
        for (int i = 0; i <= repeats; ++i)
          for (auto &r : runners) {
            auto start = std::chrono::steady_clock::now();
            if (llvm::Error e =
                    r->engine->invokePacked("_mlir_ciface_gemm", r->args)) {
              std::fprintf(stderr, "error: %s\n",
                           llvm::toString(std::move(e)).c_str());
              return 1;
            }
            if (i > 0) // the first run warms up
              r->times.push_back(std::chrono::duration<double>(
                                     std::chrono::steady_clock::now() - start)
                                     .count());
          }
        auto median = [](std::vector<double> t) {
          std::sort(t.begin(), t.end());
          return t[t.size() / 2];
        };
        double seconds = median(runners[0]->times);
        // A plain double-precision reference on rows spread over x.
        double err = 0;
        for (int64_t i = 0; i < m; i += std::max<int64_t>(m / 7, 1))
          for (int64_t j = 0; j < n; ++j) {
            double ref = 0;
            for (int64_t c = 0; c < k; ++c)
              ref += double(x[i * k + c]) * double(w[j * k + c]);
            err = std::max(err, std::abs(ref - double(y[i * n + j])));
          }
        double gflops = 2.0 * m * n * k / seconds / 1e9;
        std::printf("%6lld %6lld %6lld | %10.2f %10.1f %7.0f%% | %10.2g",
                    (long long)m, (long long)k, (long long)n, seconds * 1e3,
                    gflops, 100.0 * gflops / peakGflops, err);
        if (compare || comparePacking) {
          double base = 2.0 * m * n * k / median(runners[1]->times) / 1e9;
          std::printf(" | %10.1f %7.0f%% %6.2fx", base,
                      100.0 * base / peakGflops, gflops / base);
        }
        std::printf("\n");
        std::fflush(stdout);
      }
  return 0;
}
