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
  /// all have finished.
  virtual void run(void **args) = 0;
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

  /// Prepares `entry` to run: `kernels[i]` is the code of
  /// `entry.kernels[i]`, `whole` the entry point that calls them in order.
  virtual llvm::Expected<std::unique_ptr<Executable>>
  prepare(const EntryInfo &entry, llvm::ArrayRef<EntryFunction> kernels,
          EntryFunction whole, ScheduleMode mode) = 0;
};

/// The host CPU, on oneTBB.
std::unique_ptr<Device> createCpuDevice();

} // namespace loom

#endif // LOOM_RUNTIME_DEVICE_H
