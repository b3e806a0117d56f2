//===- ProfileTest.cpp - tests of the kernel profile ----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The profile (Profile.h) adds kernel times up by op with the layer
// numbers folded; the CPU device times each kernel of its graph while
// profiling is on, and records nothing while it is off.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Profile.h"
#include "loom/Runtime/Device.h"
#include "loom/Runtime/Threads.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace loom;

namespace {

TEST(Profile, FoldsLayerNumbersOnly) {
  EXPECT_EQ(foldLayers("blk.12.attn_q"), "blk.*.attn_q");
  EXPECT_EQ(foldLayers("blk_3_ffn_down"), "blk_*_ffn_down");
  EXPECT_EQ(foldLayers("token_embd+blk.0.attn_norm"),
            "token_embd+blk.*.attn_norm");
  EXPECT_EQ(foldLayers("7"), "*");
  // Digits that are part of a word stay.
  EXPECT_EQ(foldLayers("q8_0.proj2"), "q8_*.proj2");
  EXPECT_EQ(foldLayers("layer10x"), "layer10x");
  EXPECT_EQ(foldLayers(""), "");
}

TEST(Profile, AddsKernelsUpByOpMostTimeFirst) {
  resetProfile();
  recordKernelTime("decode", "decode__k1", "blk.0.attn_q", 1e-3);
  recordKernelTime("decode", "decode__k5", "blk.1.attn_q", 2e-3);
  recordKernelTime("decode", "decode__k1", "blk.0.attn_q", 1e-3);
  recordKernelTime("decode", "decode__k9", "output", 5e-3);
  recordKernelTime("prefill", "prefill__k1", "blk.0.attn_q", 7e-3);
  // A kernel shared by two ops counts for each.
  recordKernelTime("decode", "decode_gate_0", "blk.0.ffn_up", 1e-4);
  recordKernelTime("decode", "decode_gate_0", "blk.0.ffn_gate", 2e-4);

  std::vector<KernelTime> kernels = kernelTimes();
  ASSERT_EQ(kernels.size(), 6u);
  EXPECT_EQ(kernels[0].kernel, "decode__k1");
  EXPECT_EQ(kernels[0].calls, 2u);
  EXPECT_DOUBLE_EQ(kernels[0].seconds, 2e-3);

  std::vector<KernelTime> ops = opTimes();
  ASSERT_EQ(ops.size(), 5u);
  EXPECT_EQ(ops[0].entry, "prefill");
  EXPECT_EQ(ops[1].op, "output");
  EXPECT_EQ(ops[2].entry, "decode");
  EXPECT_EQ(ops[2].op, "blk.*.attn_q");
  EXPECT_EQ(ops[2].kernels, 2u);
  EXPECT_EQ(ops[2].calls, 3u);
  EXPECT_DOUBLE_EQ(ops[2].seconds, 4e-3);
  EXPECT_EQ(ops[3].op, "blk.*.ffn_gate");
  EXPECT_EQ(ops[4].op, "blk.*.ffn_up");

  resetProfile();
  EXPECT_TRUE(kernelTimes().empty());
}

void sleepy(void **) {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
}
void quick(void **) {}

TEST(Profile, CpuDeviceTimesEachKernelWhileOn) {
  setThreadCount(2);
  std::unique_ptr<Device> device = createCpuDevice();
  EntryInfo entry;
  entry.name = "step";
  entry.kernels = {{"step__k0", {}, {}, {}, {}, {}, "blk.0.attn_q"},
                   {"step__k1", {0}, {}, {}, {}, {}, "blk.1.attn_q"},
                   {"step__k2", {1}, {}, {}, {}, {}, ""}};
  auto executable = device->prepare(entry, {quick, quick, sleepy}, nullptr,
                                    ScheduleMode::Graph);
  ASSERT_TRUE(bool(executable)) << llvm::toString(executable.takeError());
  void *args[] = {nullptr};

  resetProfile();
  setProfiling(false);
  ASSERT_FALSE(bool((*executable)->run(args)));
  EXPECT_TRUE(kernelTimes().empty());

  setProfiling(true);
  for (int step = 0; step < 3; ++step)
    ASSERT_FALSE(bool((*executable)->run(args)));
  setProfiling(false);
  std::vector<KernelTime> ops = opTimes();
  ASSERT_EQ(ops.size(), 2u);
  // The kernel without an op stands for itself, and took the most time.
  EXPECT_EQ(ops[0].op, "step__k2");
  EXPECT_EQ(ops[0].calls, 3u);
  EXPECT_GE(ops[0].seconds, 3 * 2e-3);
  EXPECT_EQ(ops[1].op, "blk.*.attn_q");
  EXPECT_EQ(ops[1].kernels, 2u);
  EXPECT_EQ(ops[1].calls, 6u);
  resetProfile();
}

} // namespace
