//===- CudaDeviceTest.cpp - the CUDA device against a stand-in driver -----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The CUDA device (lib/Runtime/CudaDevice.cpp) with FakeCudaDriver.cpp as
// its driver: no GPU is needed. What runs is the runtime's own code: loading
// the driver and what it says when there is none, device memory and
// copies, and the launch ABI that host code compiled with --target=cuda
// calls (mgpuModuleLoadJIT, mgpuModuleGetFunction, mgpuStreamCreate,
// mgpuLaunchKernel, ...) as MLIR's lowering emits the calls, with the
// step's failures reported by `run`, naming the kernel.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Device.h"
#include "loom/Runtime/Profile.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using namespace loom;

extern "C" {
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t sharedBytes, void *stream,
                      void **params, void **extra, size_t paramCount);
}

namespace {

std::string errorText(llvm::Error e) { return llvm::toString(std::move(e)); }

class CudaDeviceTest : public ::testing::Test {
protected:
  void SetUp() override { setenv("LOOM_CUDA_DRIVER", LOOM_FAKE_CUDA, 1); }
};

TEST(CudaDriverTest, MissingDriverIsNamed) {
  setenv("LOOM_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  auto device = createCudaDevice(0);
  ASSERT_FALSE(bool(device));
  std::string text = errorText(device.takeError());
  EXPECT_NE(text.find("no CUDA driver found"), std::string::npos) << text;
  EXPECT_NE(text.find("/nonexistent/libcuda.so.1"), std::string::npos) << text;
  auto list = describeCudaDevices();
  ASSERT_FALSE(bool(list));
  EXPECT_NE(errorText(list.takeError()).find("no CUDA driver found"),
            std::string::npos);
}

TEST(CudaDriverTest, NotADriver) {
  // A shared library without the driver's entry points.
  setenv("LOOM_CUDA_DRIVER", "libm.so.6", 1);
  auto device = createCudaDevice(0);
  ASSERT_FALSE(bool(device));
  std::string text = errorText(device.takeError());
  EXPECT_NE(text.find("libm.so.6 is not a CUDA driver Loom can use: it has "
                      "no cuInit"),
            std::string::npos)
      << text;
}

TEST_F(CudaDeviceTest, DescribesDevices) {
  auto list = describeCudaDevices();
  ASSERT_TRUE(bool(list)) << errorText(list.takeError());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0], "cuda:0: Loom test GPU, sm_90, 132 SMs, 1.0 GiB");
  auto none = createCudaDevice(1);
  ASSERT_FALSE(bool(none));
  EXPECT_NE(errorText(none.takeError()).find("no CUDA device 1"),
            std::string::npos);
}

TEST_F(CudaDeviceTest, MemoryIsZeroedAndCopies) {
  auto device = createCudaDevice(0);
  ASSERT_TRUE(bool(device)) << errorText(device.takeError());
  Device &d = **device;
  EXPECT_FALSE(d.hostAddressable());
  EXPECT_FALSE(d.runsCpuCode());
  EXPECT_EQ(d.name(), "cuda:0: Loom test GPU, sm_90, 132 SMs, 1.0 GiB");
  auto memory = d.allocate(64 * sizeof(float));
  ASSERT_TRUE(bool(memory)) << errorText(memory.takeError());
  std::vector<float> back(64, -1.0f);
  ASSERT_FALSE(bool(d.copyToHost(back.data(), *memory, 64 * sizeof(float))));
  EXPECT_EQ(back, std::vector<float>(64, 0.0f));
  std::vector<float> values(64);
  for (int i = 0; i < 64; ++i)
    values[i] = float(i) / 4;
  ASSERT_FALSE(
      bool(d.copyToDevice(*memory, values.data(), 64 * sizeof(float))));
  ASSERT_FALSE(bool(d.copyToHost(back.data(), *memory, 64 * sizeof(float))));
  EXPECT_EQ(back, values);
  d.zero(*memory, 64 * sizeof(float));
  ASSERT_FALSE(bool(d.copyToHost(back.data(), *memory, 64 * sizeof(float))));
  EXPECT_EQ(back, std::vector<float>(64, 0.0f));
  d.deallocate(*memory);
  // More than the device has: the error names the device and the size.
  auto huge = d.allocate(size_t(2) << 30);
  ASSERT_FALSE(bool(huge));
  std::string text = errorText(huge.takeError());
  EXPECT_NE(text.find("allocating 2147483648 bytes of device memory: "
                      "CUDA_ERROR_OUT_OF_MEMORY"),
            std::string::npos)
      << text;
}

/// What the artifact's constructor and host code hold.
void *gModule = nullptr;
const char *gKernel = "iota";

/// Registers a module of the stand-in driver's kernels in gModule: PTX,
/// NUL-terminated, as an artifact embeds it.
void loadTestKernels() {
  static const char ptx[] = ".version 8.0\n.target sm_90a\n"
                            ".visible .entry iota(\n.visible .entry scale(\n"
                            ".visible .entry fault(\n";
  gModule = mgpuModuleLoadJIT(const_cast<char *>(ptx), 0);
}

/// An entry point as the GPU lowering compiles one: per launch, the
/// function from the module, a stream, the launch, a synchronization.
/// args[0]: the buffer's device pointer; args[1]: a float.
void entryPoint(void **args) {
  void *function = mgpuModuleGetFunction(gModule, gKernel);
  void *stream = mgpuStreamCreate();
  void *params[] = {args[0], args[1]};
  mgpuLaunchKernel(function, 2, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  // A second kernel on the same stream, after the first.
  function = mgpuModuleGetFunction(gModule, "scale");
  stream = mgpuStreamCreate();
  mgpuLaunchKernel(function, 2, 1, 1, 32, 1, 1, 0, stream, params, nullptr, 2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}

TEST_F(CudaDeviceTest, RunsLaunchesOfCompiledHostCode) {
  auto device = createCudaDevice(0);
  ASSERT_TRUE(bool(device)) << errorText(device.takeError());
  Device &d = **device;
  loadTestKernels();
  ASSERT_NE(gModule, nullptr);

  EntryInfo entry;
  entry.name = "decode";
  auto executable = d.prepare(entry, {}, entryPoint, ScheduleMode::Graph);
  ASSERT_TRUE(bool(executable)) << errorText(executable.takeError());
  auto memory = d.allocate(64 * sizeof(float));
  ASSERT_TRUE(bool(memory));
  void *pointer = *memory;
  float factor = 0.5f;
  void *args[] = {&pointer, &factor};
  gKernel = "iota";
  llvm::Error ran = (*executable)->run(args);
  ASSERT_FALSE(bool(ran)) << errorText(std::move(ran));
  std::vector<float> back(64);
  ASSERT_FALSE(bool(d.copyToHost(back.data(), pointer, 64 * sizeof(float))));
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(back[i], float(i) * 0.5f) << i;

  // A kernel that faults: the step fails, naming it, its grid and the
  // driver's error; the launch after it is skipped.
  gKernel = "fault";
  ran = (*executable)->run(args);
  ASSERT_TRUE(bool(ran));
  std::string text = errorText(std::move(ran));
  EXPECT_EQ(text, "entry point 'decode': kernel 'fault' (grid 2x1x1, block "
                  "32x1x1): cuLaunchKernel: CUDA_ERROR_LAUNCH_FAILED "
                  "(unspecified launch failure)");
  ASSERT_FALSE(bool(d.copyToHost(back.data(), pointer, 64 * sizeof(float))));
  EXPECT_EQ(back[2], 1.0f) << "the launch after a failure ran";

  // A kernel the module does not have.
  gKernel = "missing";
  ran = (*executable)->run(args);
  ASSERT_TRUE(bool(ran));
  text = errorText(std::move(ran));
  EXPECT_NE(text.find("kernel 'missing': cuModuleGetFunction: "
                      "CUDA_ERROR_NOT_FOUND"),
            std::string::npos)
      << text;

  // The device runs again after a failed step.
  gKernel = "iota";
  ran = (*executable)->run(args);
  ASSERT_FALSE(bool(ran)) << errorText(std::move(ran));
  d.deallocate(pointer);
  mgpuModuleUnload(gModule);
}

/// Two schedule kernels: the first launches iota (op "blk.0.attn_q"), the
/// second scale twice (op "blk.0.ffn_gate+blk.0.ffn_up": scale's name says
/// neither, so both launches count for the whole op).
void launchIota(void **args) {
  void *params[] = {args[0], args[1]};
  mgpuLaunchKernel(mgpuModuleGetFunction(gModule, "iota"), 2, 1, 1, 32, 1, 1, 0,
                   mgpuStreamCreate(), params, nullptr, 2);
}
void launchScaleTwice(void **args) {
  void *params[] = {args[0], args[1]};
  for (int i = 0; i < 2; ++i)
    mgpuLaunchKernel(mgpuModuleGetFunction(gModule, "scale"), 2, 1, 1, 32, 1, 1,
                     0, mgpuStreamCreate(), params, nullptr, 2);
}
void launchAll(void **args) {
  launchIota(args);
  launchScaleTwice(args);
}

TEST_F(CudaDeviceTest, ProfilesEachLaunchUnderItsScheduleKernelsOp) {
  auto device = createCudaDevice(0);
  ASSERT_TRUE(bool(device)) << errorText(device.takeError());
  Device &d = **device;
  loadTestKernels();
  EntryInfo entry;
  entry.name = "decode";
  entry.kernels = {
      {"decode__k0", {}, {}, {}, {}, {}, "blk.0.attn_q"},
      {"decode__k1", {0}, {}, {}, {}, {}, "blk.0.ffn_gate+blk.0.ffn_up"}};
  auto executable = d.prepare(entry, {launchIota, launchScaleTwice}, launchAll,
                              ScheduleMode::Graph);
  ASSERT_TRUE(bool(executable)) << errorText(executable.takeError());
  auto memory = d.allocate(64 * sizeof(float));
  ASSERT_TRUE(bool(memory));
  void *pointer = *memory;
  float factor = 0.5f;
  void *args[] = {&pointer, &factor};

  // Off: nothing recorded.
  resetProfile();
  ASSERT_FALSE(bool((*executable)->run(args)));
  EXPECT_TRUE(kernelTimes().empty());

  setProfiling(true);
  for (int step = 0; step < 3; ++step) {
    llvm::Error ran = (*executable)->run(args);
    ASSERT_FALSE(bool(ran)) << errorText(std::move(ran));
  }
  setProfiling(false);
  // The kernels ran as before (the schedule's kernels one by one).
  std::vector<float> back(64);
  ASSERT_FALSE(bool(d.copyToHost(back.data(), pointer, 64 * sizeof(float))));
  EXPECT_EQ(back[3], 3 * 0.25f);
  std::vector<KernelTime> kernels = kernelTimes();
  ASSERT_EQ(kernels.size(), 2u);
  EXPECT_EQ(kernels[0].entry, "decode");
  EXPECT_EQ(kernels[0].kernel, "iota");
  EXPECT_EQ(kernels[0].op, "blk.0.attn_q");
  EXPECT_EQ(kernels[0].calls, 3u);
  EXPECT_EQ(kernels[1].kernel, "scale");
  EXPECT_EQ(kernels[1].op, "blk.0.ffn_gate+blk.0.ffn_up");
  EXPECT_EQ(kernels[1].calls, 6u);
  for (const KernelTime &k : kernels)
    EXPECT_GE(k.seconds, 0.0);
  resetProfile();
  d.deallocate(pointer);
  mgpuModuleUnload(gModule);
}

/// The stream each kernel of the diamond below launched on.
void *gStreamOf[4];
template <int K> void diamondKernel(void **args) {
  void *params[] = {args[0], args[1]};
  gStreamOf[K] = mgpuStreamCreate();
  mgpuLaunchKernel(mgpuModuleGetFunction(gModule, K == 0 ? "iota" : "scale"), 2,
                   1, 1, 32, 1, 1, 0, gStreamOf[K], params, nullptr, 2);
}
void diamondWhole(void **args) {
  diamondKernel<0>(args);
  diamondKernel<1>(args);
  diamondKernel<2>(args);
  diamondKernel<3>(args);
}

TEST_F(CudaDeviceTest, IndependentKernelsGoOnStreamsOfTheirOwn) {
  auto device = createCudaDevice(0);
  ASSERT_TRUE(bool(device)) << errorText(device.takeError());
  Device &d = **device;
  loadTestKernels();
  // 0 -> {1, 2} -> 3.
  EntryInfo entry;
  entry.name = "step";
  entry.kernels = {{"step__k0", {}, {}, {}, {}, {}, ""},
                   {"step__k1", {0}, {}, {}, {}, {}, ""},
                   {"step__k2", {0}, {}, {}, {}, {}, ""},
                   {"step__k3", {1, 2}, {}, {}, {}, {}, ""}};
  std::vector<EntryFunction> kernels = {diamondKernel<0>, diamondKernel<1>,
                                        diamondKernel<2>, diamondKernel<3>};
  auto memory = d.allocate(64 * sizeof(float));
  ASSERT_TRUE(bool(memory));
  void *pointer = *memory;
  float factor = 0.5f;
  void *args[] = {&pointer, &factor};
  std::vector<float> back(64);

  // The graph: 1 and 2 on streams of their own, 3 after both (the stand-in
  // driver refuses a wait for an event never recorded); the results as
  // one stream gives them.
  auto graph = d.prepare(entry, kernels, diamondWhole, ScheduleMode::Graph);
  ASSERT_TRUE(bool(graph)) << errorText(graph.takeError());
  llvm::Error ran = (*graph)->run(args);
  ASSERT_FALSE(bool(ran)) << errorText(std::move(ran));
  EXPECT_NE(gStreamOf[1], gStreamOf[2]);
  EXPECT_TRUE(gStreamOf[3] == gStreamOf[1] || gStreamOf[3] == gStreamOf[2]);
  ASSERT_FALSE(bool(d.copyToHost(back.data(), pointer, 64 * sizeof(float))));
  EXPECT_EQ(back[5], 5 * 0.125f);

  // Sequential: the entry point whole, on one stream.
  auto one = d.prepare(entry, kernels, diamondWhole, ScheduleMode::Sequential);
  ASSERT_TRUE(bool(one)) << errorText(one.takeError());
  ran = (*one)->run(args);
  ASSERT_FALSE(bool(ran)) << errorText(std::move(ran));
  for (int k = 1; k < 4; ++k)
    EXPECT_EQ(gStreamOf[k], gStreamOf[0]) << k;
  ASSERT_FALSE(bool(d.copyToHost(back.data(), pointer, 64 * sizeof(float))));
  EXPECT_EQ(back[5], 5 * 0.125f);
  d.deallocate(pointer);
  mgpuModuleUnload(gModule);
}

void *gJunk = nullptr;

TEST_F(CudaDeviceTest, ModulesLoadWhenFirstUsed) {
  // An artifact's constructors register its modules at dlopen, before any
  // device exists (the C API loads artifacts before sessions choose one):
  // nothing is loaded yet, and nothing fails yet.
  static const char ptx[] =
      ".version 8.0\n.visible .entry iota(\n.visible .entry scale(\n";
  void *early = mgpuModuleLoadJIT(const_cast<char *>(ptx), 0);
  static const char junk[] = "not a module";
  gJunk = mgpuModuleLoadJIT(const_cast<char *>(junk), 0);
  ASSERT_NE(early, nullptr);
  ASSERT_NE(gJunk, nullptr);
  auto device = createCudaDevice(0);
  ASSERT_TRUE(bool(device)) << errorText(device.takeError());
  gModule = early;
  gKernel = "iota";
  EntryInfo entry;
  entry.name = "prefill";
  auto executable =
      (*device)->prepare(entry, {}, entryPoint, ScheduleMode::Sequential);
  ASSERT_TRUE(bool(executable));
  auto memory = (*device)->allocate(64 * sizeof(float));
  ASSERT_TRUE(bool(memory));
  void *pointer = *memory;
  float factor = 2.0f;
  void *args[] = {&pointer, &factor};
  llvm::Error ran = (*executable)->run(args);
  ASSERT_FALSE(bool(ran)) << errorText(std::move(ran));
  float back[64];
  ASSERT_FALSE(bool((*device)->copyToHost(back, pointer, sizeof(back))));
  EXPECT_EQ(back[5], 10.0f);

  // A module the driver refuses: the step that first needs it fails,
  // naming the kernel and how the module came.
  auto bad = (*device)->prepare(
      entry, {}, [](void **) { mgpuModuleGetFunction(gJunk, "iota"); },
      ScheduleMode::Sequential);
  ASSERT_TRUE(bool(bad));
  ran = (*bad)->run(nullptr);
  ASSERT_TRUE(bool(ran));
  EXPECT_EQ(errorText(std::move(ran)),
            "entry point 'prefill': the module of kernel 'iota' "
            "(mgpuModuleLoadJIT): cuModuleLoadData: CUDA_ERROR_INVALID_IMAGE "
            "(test driver)");
  (*device)->deallocate(pointer);
  mgpuModuleUnload(early);
  mgpuModuleUnload(gJunk);
}

} // namespace
