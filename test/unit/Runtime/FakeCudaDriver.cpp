//===- FakeCudaDriver.cpp - a CUDA driver stand-in for the tests ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The entry points of the CUDA driver API the runtime loads
// (lib/Runtime/CudaDriver.cpp), implemented on the host so that the CUDA
// device's code runs where there is no GPU: one device ("Loom test GPU",
// sm_90, 132 SMs, 1 GiB) whose memory is host memory, and modules whose
// image is PTX text naming its kernels (".entry NAME(") or an ELF cubin
// (its kernels found by name among its strings). Launching runs a host
// version of a few kernels the tests use:
//
//   iota(float *out):       out[i] = i for every thread i of the grid
//   scale(float *x, f32 a): x[i] *= a
//   fault:                  fails, as a kernel's illegal address would
//
// With LOOM_FAKE_CUDA_ANY_KERNEL=1 every other kernel runs as a no-op
// (compiled artifacts: their host code, arena and launches run, the math
// does not), and at exit the driver prints how many modules were loaded,
// kernels launched and kernels looked up, on how many streams the
// launches went, and how many waits for events streams made (a wait for
// an event never recorded is an error here: the runtime records an event
// before any stream waits for it). Launches are checked as a driver
// checks them: every grid and block dimension at least 1, at most 1024 threads
// per block (CUDA_ERROR_INVALID_VALUE otherwise).
//
// Events take the host's steady clock when recorded (launches run at once,
// so a kernel's time is the time its host version took).
//
// Built as its own shared library; a test points LOOM_CUDA_DRIVER at it.
// Its functions have the very types the runtime's table calls them
// through (CudaDriverTypes.h): UBSan's -fsanitize=function checks them.
//
//===----------------------------------------------------------------------===//

#include "CudaDriverTypes.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <set>
#include <string>

namespace {

using namespace loom::cuda;

constexpr CUresult kSuccess = 0, kInvalidValue = 1, kOutOfMemory = 2,
                   kInvalidDevice = 101, kInvalidImage = 200, kNotFound = 500,
                   kLaunchFailed = 719;

struct Module {
  std::string text;
};
struct Function {
  std::string name;
};
struct Event {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
};

int context = 0;
std::deque<int> streams;
// Every module and function handle lives until exit, as a driver's do
// (owned here, so that leak checkers see no loss).
std::deque<Module> modules;
std::deque<Function> functions;
std::deque<Event> events;

/// LOOM_FAKE_CUDA_ANY_KERNEL: the counts printed at exit.
struct Counts {
  bool anyKernel = [] {
    const char *v = std::getenv("LOOM_FAKE_CUDA_ANY_KERNEL");
    return v && *v == '1';
  }();
  uint64_t loads = 0, launches = 0, lookups = 0, waits = 0;
  std::set<CUstream> launchedOn;
  ~Counts() {
    if (anyKernel)
      std::fprintf(stderr,
                   "fake CUDA driver: %llu modules loaded, %llu kernels "
                   "launched, %llu kernels looked up, launches on %zu "
                   "streams, %llu stream waits\n",
                   (unsigned long long)loads, (unsigned long long)launches,
                   (unsigned long long)lookups, launchedOn.size(),
                   (unsigned long long)waits);
  }
} counts;

/// The size of the 64-bit ELF image at `image`: the furthest end of its
/// section and program header tables and of its sections; 0 for none.
size_t elfSize(const unsigned char *image) {
  if (std::memcmp(image,
                  "\x7f"
                  "ELF",
                  4) != 0 ||
      image[4] != 2 /*64-bit*/)
    return 0;
  auto read = [&](size_t at, size_t bytes) {
    uint64_t v = 0;
    std::memcpy(&v, image + at, bytes); // little endian, as x86 is
    return v;
  };
  uint64_t phoff = read(0x20, 8), shoff = read(0x28, 8);
  uint64_t phentsize = read(0x36, 2), phnum = read(0x38, 2);
  uint64_t shentsize = read(0x3A, 2), shnum = read(0x3C, 2);
  uint64_t end = std::max(phoff + phnum * phentsize, shoff + shnum * shentsize);
  for (uint64_t i = 0; i < shnum; ++i) {
    uint64_t header = shoff + i * shentsize;
    uint64_t type = read(header + 0x04, 4);
    if (type != 8 /*SHT_NOBITS*/)
      end = std::max(end, read(header + 0x18, 8) + read(header + 0x20, 8));
  }
  return end;
}

} // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT CUresult cuInit(unsigned) { return kSuccess; }
EXPORT CUresult cuDriverGetVersion(int *version) {
  *version = 13000;
  return kSuccess;
}
EXPORT CUresult cuDeviceGetCount(int *count) {
  *count = 1;
  return kSuccess;
}
EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (ordinal != 0)
    return kInvalidDevice;
  *device = 0;
  return kSuccess;
}
EXPORT CUresult cuDeviceGetName(char *name, int length, CUdevice) {
  std::strncpy(name, "Loom test GPU", size_t(length));
  return kSuccess;
}
EXPORT CUresult cuDeviceGetAttribute(int *value, int attribute, CUdevice) {
  switch (attribute) {
  case 16: // multiprocessors
    *value = 132;
    return kSuccess;
  case 75: // compute capability
    *value = 9;
    return kSuccess;
  case 76:
    *value = 0;
    return kSuccess;
  default:
    return kInvalidValue;
  }
}
EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice) {
  *bytes = size_t(1) << 30;
  return kSuccess;
}
EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *out, CUdevice) {
  *out = reinterpret_cast<CUcontext>(&context);
  return kSuccess;
}
EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return kSuccess; }
EXPORT CUresult cuCtxSetCurrent(CUcontext c) {
  return reinterpret_cast<int *>(c) == &context ? kSuccess : kInvalidValue;
}
EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *out, size_t bytes) {
  // "Device" memory past 1 GiB in all is out of memory.
  if (bytes > (size_t(1) << 30))
    return kOutOfMemory;
  void *memory = std::malloc(bytes);
  if (!memory)
    return kOutOfMemory;
  *out = reinterpret_cast<CUdeviceptr>(memory);
  return kSuccess;
}
EXPORT CUresult cuMemFree_v2(CUdeviceptr p) {
  std::free(reinterpret_cast<void *>(p));
  return kSuccess;
}
EXPORT CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) {
  std::memset(reinterpret_cast<void *>(p), v, n);
  return kSuccess;
}
EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr to, const void *from, size_t n) {
  std::memcpy(reinterpret_cast<void *>(to), from, n);
  return kSuccess;
}
EXPORT CUresult cuMemcpyDtoH_v2(void *to, CUdeviceptr from, size_t n) {
  std::memcpy(to, reinterpret_cast<const void *>(from), n);
  return kSuccess;
}
EXPORT CUresult cuModuleLoadData(CUmodule *out, const void *image) {
  const char *text = static_cast<const char *>(image);
  if (!text)
    return kInvalidImage;
  std::string contents;
  if (size_t size = elfSize(static_cast<const unsigned char *>(image)))
    contents.assign(text, size);
  else if (std::strstr(text, ".entry "))
    contents = text;
  else
    return kInvalidImage;
  *out = reinterpret_cast<CUmodule>(
      &modules.emplace_back(Module{std::move(contents)}));
  ++counts.loads;
  return kSuccess;
}
EXPORT CUresult cuModuleUnload(CUmodule module) {
  reinterpret_cast<Module *>(module)->text.clear();
  return kSuccess;
}
EXPORT CUresult cuModuleGetFunction(CUfunction *out, CUmodule module,
                                    const char *name) {
  const std::string &image = reinterpret_cast<Module *>(module)->text;
  // PTX declares `.entry NAME(`; a cubin has NAME among its strings.
  std::string entry = image.rfind("\x7f"
                                  "ELF",
                                  0) == 0
                          ? std::string(1, '\0') + name + '\0'
                          : std::string(".entry ") + name + "(";
  ++counts.lookups;
  if (image.find(entry) == std::string::npos)
    return kNotFound;
  *out = reinterpret_cast<CUfunction>(&functions.emplace_back(Function{name}));
  return kSuccess;
}
EXPORT CUresult cuLaunchKernel(CUfunction function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned, CUstream stream,
                               void **params, void **) {
  const std::string &name = reinterpret_cast<Function *>(function)->name;
  uint64_t threads = uint64_t(gx) * gy * gz * bx * by * bz;
  if (!gx || !gy || !gz || !bx || !by || !bz || uint64_t(bx) * by * bz > 1024)
    return kInvalidValue;
  ++counts.launches;
  counts.launchedOn.insert(stream);
  if (name == "iota") {
    auto *out = *static_cast<float **>(params[0]);
    for (uint64_t i = 0; i < threads; ++i)
      out[i] = float(i);
    return kSuccess;
  }
  if (name == "scale") {
    auto *x = *static_cast<float **>(params[0]);
    float a = *static_cast<float *>(params[1]);
    for (uint64_t i = 0; i < threads; ++i)
      x[i] *= a;
    return kSuccess;
  }
  return counts.anyKernel && name != "fault" ? kSuccess : kLaunchFailed;
}
EXPORT CUresult cuStreamCreate(CUstream *out, unsigned) {
  *out = reinterpret_cast<CUstream>(&streams.emplace_back());
  return kSuccess;
}
EXPORT CUresult cuStreamDestroy_v2(CUstream) { return kSuccess; }
EXPORT CUresult cuStreamSynchronize(CUstream) { return kSuccess; }
EXPORT CUresult cuEventCreate(CUevent *out, unsigned) {
  *out = reinterpret_cast<CUevent>(&events.emplace_back());
  return kSuccess;
}
EXPORT CUresult cuEventRecord(CUevent event, CUstream) {
  auto *e = reinterpret_cast<Event *>(event);
  e->at = std::chrono::steady_clock::now();
  e->recorded = true;
  return kSuccess;
}
EXPORT CUresult cuEventElapsedTime_v2(float *ms, CUevent start, CUevent end) {
  auto *a = reinterpret_cast<Event *>(start),
       *b = reinterpret_cast<Event *>(end);
  if (!a->recorded || !b->recorded)
    return kInvalidValue;
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return kSuccess;
}
EXPORT CUresult cuEventDestroy_v2(CUevent) { return kSuccess; }
EXPORT CUresult cuStreamWaitEvent(CUstream, CUevent event, unsigned flags) {
  if (!event || !reinterpret_cast<Event *>(event)->recorded || flags != 0)
    return kInvalidValue;
  ++counts.waits;
  return kSuccess;
}
EXPORT CUresult cuGetErrorName(CUresult r, const char **name) {
  switch (r) {
  case kInvalidValue:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return kSuccess;
  case kOutOfMemory:
    *name = "CUDA_ERROR_OUT_OF_MEMORY";
    return kSuccess;
  case kInvalidDevice:
    *name = "CUDA_ERROR_INVALID_DEVICE";
    return kSuccess;
  case kInvalidImage:
    *name = "CUDA_ERROR_INVALID_IMAGE";
    return kSuccess;
  case kNotFound:
    *name = "CUDA_ERROR_NOT_FOUND";
    return kSuccess;
  case kLaunchFailed:
    *name = "CUDA_ERROR_LAUNCH_FAILED";
    return kSuccess;
  default:
    return kInvalidValue;
  }
}
EXPORT CUresult cuGetErrorString(CUresult r, const char **text) {
  const char *name;
  if (cuGetErrorName(r, &name) != kSuccess)
    return kInvalidValue;
  *text = r == kLaunchFailed ? "unspecified launch failure" : "test driver";
  return kSuccess;
}
