//===- Device.h - where compiled kernels run --------------------*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A `Device` owns the memory compiled kernels address (the activation arena,
// the KV caches) and runs an entry point's schedule: the kernels the
// compiler split it into, each after the kernels it depends on. The CPU
// device builds one `tbb::flow::graph` per schedule and runs it in the
// runtime's task arena (see Threads.h); the kernels' parallel loops nest
// inside it through `loom_parallel_for`. A GPU device implements the same
// interface with device memory and kernels launched on streams ordered by
// the same dependencies.
//
// Thread safety: a Device may be shared; an Executable runs one step at a
// time.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_RUNTIME_DEVICE_H
#define LOOM_RUNTIME_DEVICE_H

#include "loom/Artifact/Manifest.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace loom {

/// The signature of every compiled entry point and kernel: args[i] points
/// to the i-th parameter (a memref descriptor pointer, or an int64).
using EntryFunction = void (*)(void **args);

/// How an entry point's kernels are run.
enum class ScheduleMode {
  Graph,      ///< as a dependency graph: independent kernels concurrently
  Sequential, ///< one after the other, through the entry point itself
};

/// One entry point, ready to run on a device.
class Executable {
public:
  virtual ~Executable();
  /// Runs every kernel once with the packed arguments `args`; returns when
  /// all have finished, or with what went wrong on the device (a GPU's
  /// failed launch, named).
  virtual llvm::Error run(void **args) = 0;
};

class Device {
public:
  virtual ~Device();
  virtual llvm::StringRef name() const = 0;

  /// `bytes` of zeroed memory the device's kernels can address, aligned to
  /// 64 bytes. On the CPU the host addresses it too.
  virtual llvm::Expected<void *> allocate(size_t bytes) = 0;
  virtual void deallocate(void *memory) = 0;
  virtual void zero(void *memory, size_t bytes) = 0;

  /// Whether entry points compiled for the CPU run here (their kernels
  /// are host code); otherwise the device runs artifacts whose kernels
  /// were compiled for it (a CUDA device: --target=cuda).
  virtual bool runsCpuCode() const { return true; }

  /// Whether the host reads and writes the device's memory directly (the
  /// CPU). Otherwise the session copies weights, tokens and logits in and
  /// out with the two calls below.
  virtual bool hostAddressable() const { return true; }
  virtual llvm::Error copyToDevice(void *to, const void *from,
                                   size_t bytes) = 0;
  virtual llvm::Error copyToHost(void *to, const void *from, size_t bytes) = 0;

  /// Prepares `entry` to run: `kernels[i]` is the code of
  /// `entry.kernels[i]`, `whole` the entry point that calls them in order.
  virtual llvm::Expected<std::unique_ptr<Executable>>
  prepare(const EntryInfo &entry, llvm::ArrayRef<EntryFunction> kernels,
          EntryFunction whole, ScheduleMode mode) = 0;
};

/// The host CPU, on oneTBB.
std::unique_ptr<Device> createCpuDevice();

/// NVIDIA GPU `ordinal` through the CUDA driver API (libcuda.so.1, loaded
/// at run time: see CudaDriver.h). Errors say why there is none: no driver
/// found, no such device.
llvm::Expected<std::unique_ptr<Device>> createCudaDevice(int ordinal = 0);

/// The device named `name`, as loom-run's --device and the C API take it:
/// `cpu`, `cuda` (GPU 0) or `cuda:N`. An error says which names there are,
/// or why the GPU cannot be opened.
llvm::Expected<std::shared_ptr<Device>> openDevice(llvm::StringRef name);

/// One line per CUDA device ("cuda:0: NVIDIA H200, sm_90, 132 SMs, 139.8
/// GiB"), or why there are none.
llvm::Expected<std::vector<std::string>> describeCudaDevices();

} // namespace loom

#endif // LOOM_RUNTIME_DEVICE_H
