//===- CudaDriver.h - the CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The runtime reaches NVIDIA GPUs through the CUDA driver API, loaded with
// dlopen when a CUDA device is first asked for: Loom builds and runs
// without the CUDA toolkit or a driver, and a machine without one gets a
// diagnostic instead of a loader error. Only the entry points the runtime
// calls are declared, with the types of the driver's ABI (cuda.h is not
// needed to build this).
//
// `LOOM_CUDA_DRIVER` names another library to load instead of
// `libcuda.so.1` (the tests load a stand-in driver that keeps "device"
// memory in host memory).
//
// Thread safety: the driver is loaded once per process, under a lock; the
// table is immutable afterwards.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_CUDADRIVER_H
#define LOOM_RUNTIME_CUDADRIVER_H

#include "CudaDriverTypes.h"

#include "llvm/Support/Error.h"

#include <cstddef>
#include <string>

namespace loom::cuda {

/// The driver entry points the runtime uses (the `_v2` symbols where the
/// driver versions them, as cuda.h maps the names).
struct Driver {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuDriverGetVersion)(int *version);
  CUresult (*cuDeviceGetCount)(int *count);
  CUresult (*cuDeviceGet)(CUdevice *device, int ordinal);
  CUresult (*cuDeviceGetName)(char *name, int length, CUdevice device);
  CUresult (*cuDeviceGetAttribute)(int *value, int attribute, CUdevice device);
  CUresult (*cuDeviceTotalMem)(size_t *bytes, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *context, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice device);
  CUresult (*cuCtxSetCurrent)(CUcontext context);
  CUresult (*cuMemAlloc)(CUdeviceptr *pointer, size_t bytes);
  CUresult (*cuMemFree)(CUdeviceptr pointer);
  CUresult (*cuMemsetD8)(CUdeviceptr pointer, unsigned char value,
                         size_t count);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr to, const void *from, size_t bytes);
  CUresult (*cuMemcpyDtoH)(void *to, CUdeviceptr from, size_t bytes);
  CUresult (*cuModuleLoadData)(CUmodule *module, const void *image);
  CUresult (*cuModuleUnload)(CUmodule module);
  CUresult (*cuModuleGetFunction)(CUfunction *function, CUmodule module,
                                  const char *name);
  CUresult (*cuLaunchKernel)(CUfunction function, unsigned gridX,
                             unsigned gridY, unsigned gridZ, unsigned blockX,
                             unsigned blockY, unsigned blockZ,
                             unsigned sharedBytes, CUstream stream,
                             void **params, void **extra);
  CUresult (*cuStreamCreate)(CUstream *stream, unsigned flags);
  CUresult (*cuStreamDestroy)(CUstream stream);
  CUresult (*cuStreamSynchronize)(CUstream stream);
  CUresult (*cuStreamWaitEvent)(CUstream stream, CUevent event, unsigned flags);
  CUresult (*cuEventCreate)(CUevent *event, unsigned flags);
  CUresult (*cuEventRecord)(CUevent event, CUstream stream);
  CUresult (*cuEventElapsedTime)(float *milliseconds, CUevent start,
                                 CUevent end);
  CUresult (*cuEventDestroy)(CUevent event);
  CUresult (*cuGetErrorName)(CUresult result, const char **name);
  CUresult (*cuGetErrorString)(CUresult result, const char **text);

  /// The library loaded (`libcuda.so.1` or $LOOM_CUDA_DRIVER).
  std::string path;

  /// "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" for `result`.
  std::string describe(CUresult result) const;
  /// An error "`what`: <describe(result)>", or success for CUDA_SUCCESS.
  llvm::Error check(CUresult result, const llvm::Twine &what) const;
};

/// The driver, loaded and initialized (cuInit) on the first call. Errors
/// say what is missing: "no CUDA driver found (libcuda.so.1: cannot open
/// shared object file ...)", a library without an entry point the runtime
/// needs, or cuInit's failure (no device, a driver older than the
/// library's).
llvm::Expected<const Driver &> loadDriver();

} // namespace loom::cuda

#endif // LOOM_RUNTIME_CUDADRIVER_H
