//===- CudaDriver.cpp - the CUDA driver API, loaded at run time -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

#include "llvm/Support/FormatVariadic.h"

#include <cstdlib>
#include <mutex>
#include <optional>

#include <dlfcn.h>

using namespace llvm;

namespace loom::cuda {

std::string Driver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    return formatv("CUDA error {0}", result).str();
  if (cuGetErrorString(result, &text) != CUDA_SUCCESS || !text)
    return name;
  return formatv("{0} ({1})", name, text).str();
}

Error Driver::check(CUresult result, const Twine &what) const {
  if (result == CUDA_SUCCESS)
    return Error::success();
  return createStringError(what + ": " + describe(result));
}

namespace {

/// Loads the library and resolves every entry point; an error names the
/// first one missing.
Expected<Driver> open() {
  Driver d{};
  const char *override = std::getenv("LOOM_CUDA_DRIVER");
  d.path = override && *override ? override : "libcuda.so.1";
  void *handle = dlopen(d.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return createStringError(
        formatv("no CUDA driver found ({0}): the NVIDIA driver's libcuda "
                "is needed to run on a GPU",
                why ? why : d.path.c_str())
            .str());
  }
  // The handle stays open for the life of the process: compiled code
  // holds the driver's module and function handles until exit.
  std::optional<std::string> missing;
  auto bind = [&](auto &slot, const char *symbol) {
    void *address = dlsym(handle, symbol);
    if (!address && !missing)
      missing = symbol;
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(address);
  };
  bind(d.cuInit, "cuInit");
  bind(d.cuDriverGetVersion, "cuDriverGetVersion");
  bind(d.cuDeviceGetCount, "cuDeviceGetCount");
  bind(d.cuDeviceGet, "cuDeviceGet");
  bind(d.cuDeviceGetName, "cuDeviceGetName");
  bind(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  bind(d.cuDeviceTotalMem, "cuDeviceTotalMem_v2");
  bind(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  bind(d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  bind(d.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(d.cuMemAlloc, "cuMemAlloc_v2");
  bind(d.cuMemFree, "cuMemFree_v2");
  bind(d.cuMemsetD8, "cuMemsetD8_v2");
  bind(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  bind(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  bind(d.cuModuleLoadData, "cuModuleLoadData");
  bind(d.cuModuleUnload, "cuModuleUnload");
  bind(d.cuModuleGetFunction, "cuModuleGetFunction");
  bind(d.cuLaunchKernel, "cuLaunchKernel");
  bind(d.cuStreamCreate, "cuStreamCreate");
  bind(d.cuStreamDestroy, "cuStreamDestroy_v2");
  bind(d.cuStreamSynchronize, "cuStreamSynchronize");
  bind(d.cuStreamWaitEvent, "cuStreamWaitEvent");
  bind(d.cuEventCreate, "cuEventCreate");
  bind(d.cuEventRecord, "cuEventRecord");
  // CUDA 12.8 versioned it (the same signature); older drivers have the
  // first version only.
  if (dlsym(handle, "cuEventElapsedTime_v2"))
    bind(d.cuEventElapsedTime, "cuEventElapsedTime_v2");
  else
    bind(d.cuEventElapsedTime, "cuEventElapsedTime");
  bind(d.cuEventDestroy, "cuEventDestroy_v2");
  bind(d.cuGetErrorName, "cuGetErrorName");
  bind(d.cuGetErrorString, "cuGetErrorString");
  if (missing)
    return createStringError(
        formatv("{0} is not a CUDA driver Loom can use: it has no {1}", d.path,
                *missing)
            .str());
  if (Error e = d.check(d.cuInit(0), d.path + ": cuInit"))
    return std::move(e);
  return d;
}

} // namespace

Expected<const Driver &> loadDriver() {
  // A driver once loaded stays; a failure is tried again next time.
  static std::mutex lock;
  static std::optional<Driver> driver;
  std::lock_guard<std::mutex> guard(lock);
  if (!driver) {
    Expected<Driver> d = open();
    if (!d)
      return d.takeError();
    driver = std::move(*d);
  }
  return *driver;
}

} // namespace loom::cuda
