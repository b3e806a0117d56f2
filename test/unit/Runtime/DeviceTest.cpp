//===- DeviceTest.cpp - tests of the CPU device's schedules ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The CPU device runs a schedule as a tbb::flow::graph. Kernels here are
// plain functions that record what they saw, so the checks are about the
// executor alone: every kernel runs once per step, after all the kernels it
// depends on have finished; independent kernels do run at the same time;
// the sequential mode calls the entry point instead; and the graph survives
// a change of the thread count.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Device.h"
#include "loom/Runtime/Threads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace loom;

namespace {

/// The state kernels share, reached through args[0] as the compiled kernels
/// reach their buffers.
struct Trace {
  static constexpr int kKernels = 6;
  std::atomic<int> finished[kKernels];
  std::atomic<int> runs[kKernels];
  std::vector<std::vector<int64_t>> deps;
  std::atomic<int> violations{0};
  std::atomic<bool> metA{false}, metB{false};
  std::atomic<int> rendezvous{0};

  Trace() = default;
  /// Counters at zero, with the dependencies of `entry`'s kernels.
  explicit Trace(const EntryInfo &entry) {
    for (const KernelInfo &k : entry.kernels)
      deps.push_back(k.deps);
    for (int k = 0; k < kKernels; ++k)
      finished[k] = runs[k] = 0;
  }
};

Trace *traceOf(void **args) { return static_cast<Trace *>(args[0]); }

/// A kernel that checks its dependencies finished before it started.
template <int K> void kernel(void **args) {
  Trace *t = traceOf(args);
  for (int64_t d : t->deps[K])
    if (t->finished[d].load() <= t->finished[K].load())
      ++t->violations;
  ++t->runs[K];
  // Give independent kernels time to overlap or to race.
  std::this_thread::sleep_for(std::chrono::microseconds(50));
  ++t->finished[K];
}

/// Two kernels that each wait (up to 10 s) for the other to have started:
/// both finish quickly only when they run at the same time.
void waitForPartner(Trace *t, std::atomic<bool> &mine,
                    std::atomic<bool> &theirs) {
  mine = true;
  auto start = std::chrono::steady_clock::now();
  while (!theirs.load()) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(10))
      return;
    std::this_thread::yield();
  }
  ++t->rendezvous;
}
void kernelA(void **args) {
  waitForPartner(traceOf(args), traceOf(args)->metA, traceOf(args)->metB);
}
void kernelB(void **args) {
  waitForPartner(traceOf(args), traceOf(args)->metB, traceOf(args)->metA);
}

/// A diamond and a tail: 0 -> {1, 2, 3} -> 4 -> 5.
EntryInfo diamond() {
  EntryInfo e;
  e.name = "step";
  std::vector<std::vector<int64_t>> deps = {{}, {0}, {0}, {0}, {1, 2, 3}, {4}};
  for (size_t k = 0; k < deps.size(); ++k)
    e.kernels.push_back(
        {"step__k" + std::to_string(k), deps[k], {}, {}, {}, {}});
  return e;
}

std::vector<EntryFunction> diamondKernels() {
  return {kernel<0>, kernel<1>, kernel<2>, kernel<3>, kernel<4>, kernel<5>};
}

TEST(CpuDevice, GraphRunsEachKernelOnceAfterItsDependencies) {
  for (int threads : {1, 2, 4}) {
    setThreadCount(threads);
    std::unique_ptr<Device> device = createCpuDevice();
    EntryInfo entry = diamond();
    auto executable =
        device->prepare(entry, diamondKernels(), nullptr, ScheduleMode::Graph);
    ASSERT_TRUE(bool(executable)) << llvm::toString(executable.takeError());
    Trace trace(entry);
    void *args[] = {&trace};
    constexpr int kSteps = 200;
    for (int step = 0; step < kSteps; ++step)
      ASSERT_FALSE(bool((*executable)->run(args)));
    EXPECT_EQ(trace.violations.load(), 0) << "threads " << threads;
    for (int k = 0; k < Trace::kKernels; ++k)
      EXPECT_EQ(trace.runs[k].load(), kSteps) << "kernel " << k;
  }
}

TEST(CpuDevice, IndependentKernelsRunAtTheSameTime) {
  setThreadCount(2);
  std::unique_ptr<Device> device = createCpuDevice();
  EntryInfo entry;
  entry.name = "pair";
  entry.kernels = {{"pair__k0", {}, {}, {}, {}, {}},
                   {"pair__k1", {}, {}, {}, {}, {}}};
  auto executable =
      device->prepare(entry, {kernelA, kernelB}, nullptr, ScheduleMode::Graph);
  ASSERT_TRUE(bool(executable)) << llvm::toString(executable.takeError());
  Trace trace;
  void *args[] = {&trace};
  ASSERT_FALSE(bool((*executable)->run(args)));
  // Run one after the other, the first would give up waiting for the second.
  EXPECT_EQ(trace.rendezvous.load(), 2);
}

TEST(CpuDevice, SequentialModeCallsTheEntryPoint) {
  static std::atomic<int> calls{0};
  auto whole = [](void **) { ++calls; };
  std::unique_ptr<Device> device = createCpuDevice();
  EntryInfo entry = diamond();
  auto executable =
      device->prepare(entry, diamondKernels(), whole, ScheduleMode::Sequential);
  ASSERT_TRUE(bool(executable)) << llvm::toString(executable.takeError());
  void *args[] = {nullptr};
  ASSERT_FALSE(bool((*executable)->run(args)));
  ASSERT_FALSE(bool((*executable)->run(args)));
  EXPECT_EQ(calls.load(), 2);
}

TEST(CpuDevice, GraphIsRebuiltForANewArena) {
  setThreadCount(2);
  std::unique_ptr<Device> device = createCpuDevice();
  EntryInfo entry = diamond();
  auto executable =
      device->prepare(entry, diamondKernels(), nullptr, ScheduleMode::Graph);
  ASSERT_TRUE(bool(executable));
  Trace trace(entry);
  void *args[] = {&trace};
  ASSERT_FALSE(bool((*executable)->run(args)));
  setThreadCount(1); // replaces the arena the graph was built in
  ASSERT_FALSE(bool((*executable)->run(args)));
  setThreadCount(2);
  ASSERT_FALSE(bool((*executable)->run(args)));
  EXPECT_EQ(trace.violations.load(), 0);
  for (int k = 0; k < Trace::kKernels; ++k)
    EXPECT_EQ(trace.runs[k].load(), 3);
}

TEST(CpuDevice, RejectsAMismatchedKernelList) {
  std::unique_ptr<Device> device = createCpuDevice();
  EntryInfo entry = diamond();
  auto executable =
      device->prepare(entry, {kernel<0>}, nullptr, ScheduleMode::Graph);
  ASSERT_FALSE(bool(executable));
  EXPECT_EQ(llvm::toString(executable.takeError()),
            "entry point 'step' lists 6 kernels but 1 were given");
}

TEST(CpuDevice, AllocatesZeroedAlignedMemory) {
  std::unique_ptr<Device> device = createCpuDevice();
  for (size_t bytes : {size_t(0), size_t(1), size_t(100), size_t(1 << 20)}) {
    auto memory = device->allocate(bytes);
    ASSERT_TRUE(bool(memory));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*memory) % 64, 0u);
    auto *p = static_cast<unsigned char *>(*memory);
    for (size_t i = 0; i < bytes; ++i)
      ASSERT_EQ(p[i], 0) << "byte " << i << " of " << bytes;
    device->deallocate(*memory);
  }
}

} // namespace
