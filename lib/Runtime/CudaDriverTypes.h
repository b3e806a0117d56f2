//===- CudaDriverTypes.h - the CUDA driver API's types ----------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The types of the CUDA driver's ABI that the runtime calls it with
// (CudaDriver.h), declared here rather than taken from cuda.h, which Loom
// builds without; the tests' stand-in driver defines its functions with
// the same types. No LLVM here: the stand-in links nothing.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_CUDADRIVERTYPES_H
#define LOOM_RUNTIME_CUDADRIVERTYPES_H

namespace loom::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

constexpr CUresult CUDA_SUCCESS = 0;
/// cuEventCreate's flag for events that only order streams.
constexpr unsigned kEventDisableTiming = 2;
/// cuDeviceGetAttribute's compute capability (major, minor) and SM count.
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

} // namespace loom::cuda

#endif // LOOM_RUNTIME_CUDADRIVERTYPES_H
