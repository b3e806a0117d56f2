//===- CudaDevice.cpp - running schedules on an NVIDIA GPU ----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A `Device` over the CUDA driver API (CudaDriver.h): device memory from
// cuMemAlloc, copies in and out for the session, and an entry point run on
// the device's stream.
//
// The host code of an artifact compiled with --target=cuda is MLIR's
// lowering of `gpu.launch_func` and `gpu.binary` (gpu-to-llvm and the GPU
// dialect's LLVM translation): it calls a small C ABI, `mgpuModuleLoad`,
// `mgpuModuleGetFunction`, `mgpuLaunchKernel`, `mgpuStreamCreate` and
// the like. The runtime defines these functions (as it defines
// `loom_parallel_for` for CPU code), so an artifact links no library: a
// kernel module is loaded into the device's context when a kernel of it
// is first asked for, and every launch goes on the stream of the entry
// point being run. Launches on one stream run in order; the stream is
// synchronized once when the entry point returns, not after every launch (the
// host code never reads device memory, so the per-launch synchronization the
// lowering asks for would only stall the CPU).
//
// The ABI has no error results: a failed call is recorded, the rest of the
// step's launches are skipped, and the executable's `run` returns the first
// failure, naming the call and the kernel.
//
// An entry point whose schedule lists its kernels runs them on several
// streams (ScheduleMode::Graph, the default): each kernel on one stream,
// after events its dependencies on other streams recorded, so that
// independent kernels (a layer's Q, K and V projections) can run at the
// same time; ScheduleMode::Sequential runs the entry point on one stream.
//
// While profiling is on (Profile.h), the entry point's schedule kernels are
// called one by one (the order the entry point calls them in), each launch
// goes between two CUDA events recorded on the stream, and the elapsed
// times are added to the profile once the stream is synchronized, each as
// the op of the schedule kernel that launched it (the manifest's `op`).
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

#include "loom/Runtime/Device.h"
#include "loom/Runtime/Profile.h"
#include "loom/Support/Identifier.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

using namespace llvm;
using namespace loom::cuda;

namespace loom {
namespace {

/// What the launch ABI below works on: the device whose context modules
/// load into (the last CUDA device created), and the failures of calls
/// made outside an entry point (module loads from an artifact's
/// constructors), reported by the next `run`.
struct Process {
  std::mutex lock;
  const Driver *driver = nullptr;
  CUcontext context = nullptr;
  std::string pendingError;
  std::unordered_map<CUfunction, std::string> kernelNames;
};

Process &process() {
  static Process p;
  return p;
}

/// The kernels a profiled step launched, each between a pair of events
/// (`events[2i]`, `events[2i + 1]`); the events are kept for the next step.
struct Timing {
  std::vector<CUevent> events;
  /// Each launch's kernel and the schedule kernel that made it.
  std::vector<std::pair<CUfunction, size_t>> launched;
  size_t scheduleKernel = 0; ///< the one running
};

/// The entry point running on this thread, while it runs.
struct Launching {
  const Driver *driver;
  CUstream stream;
  std::string error;        ///< the first failure
  Timing *timing = nullptr; ///< where the step is profiled
};
thread_local Launching *launching = nullptr;

/// Records the first failure of the step (or of the process, outside one).
void fail(const std::string &what) {
  if (launching) {
    if (launching->error.empty())
      launching->error = what;
    return;
  }
  Process &p = process();
  std::lock_guard<std::mutex> guard(p.lock);
  if (p.pendingError.empty())
    p.pendingError = what;
}

/// Whether `result` of the driver's `call` is success; a failure is
/// recorded ("call: CUDA_ERROR_... (...)").
bool succeeded(const cuda::Driver &d, CUresult result, const char *call) {
  if (result == CUDA_SUCCESS)
    return true;
  fail(formatv("{0}: {1}", call, d.describe(result)).str());
  return false;
}

/// The driver with the device's context current on this thread, or null
/// (recorded) where no CUDA device was created.
const Driver *current(const char *call) {
  Process &p = process();
  const Driver *d;
  CUcontext context;
  {
    std::lock_guard<std::mutex> guard(p.lock);
    d = p.driver;
    context = p.context;
  }
  if (!d) {
    fail(formatv("{0}: code compiled for CUDA ran without a CUDA device "
                 "(load the artifact with --device=cuda)",
                 call)
             .str());
    return nullptr;
  }
  if (CUresult r = d->cuCtxSetCurrent(context); r != CUDA_SUCCESS) {
    fail(formatv("{0}: cuCtxSetCurrent: {1}", call, d->describe(r)).str());
    return nullptr;
  }
  return d;
}

/// A kernel module of an artifact: its image, loaded into the device's
/// context when a kernel of it is first asked for. (The artifact's
/// constructors register it at dlopen, perhaps before any CUDA device
/// exists: the C API loads artifacts before sessions choose devices.)
struct LazyModule {
  const void *image;
  const char *loader; ///< mgpuModuleLoad or mgpuModuleLoadJIT
  CUmodule module = nullptr;
  CUcontext context = nullptr; ///< the context `module` is loaded in
  /// The kernels of `module` asked for so far, by the address of the name
  /// the artifact passes (a constant of its own): every launch asks again,
  /// and the answer is then a lookup here, not a driver call.
  std::unordered_map<const char *, CUfunction> functions;
};

/// The module of `lazy` in the device's context, loading it if needed;
/// null (recorded) on failure.
CUmodule moduleOf(const Driver &d, LazyModule &lazy, const char *kernel) {
  Process &p = process();
  std::lock_guard<std::mutex> guard(p.lock);
  if (lazy.module && lazy.context == p.context)
    return lazy.module;
  CUmodule module = nullptr;
  if (CUresult r = d.cuModuleLoadData(&module, lazy.image); r != CUDA_SUCCESS) {
    std::string what = formatv("the module of kernel '{0}' ({1}): "
                               "cuModuleLoadData: {2}",
                               kernel, lazy.loader, d.describe(r))
                           .str();
    // (fail() takes the lock itself.)
    if (launching && launching->error.empty())
      launching->error = what;
    else if (!launching && p.pendingError.empty())
      p.pendingError = what;
    return nullptr;
  }
  lazy.module = module;
  lazy.context = p.context;
  lazy.functions.clear();
  return module;
}

} // namespace
} // namespace loom

// The C ABI of MLIR's GPU lowering (the declarations its LLVM translation
// emits, MLIR 22), called by artifacts compiled with --target=cuda.
extern "C" {

/// A cubin or fatbin image of `size` bytes, loaded when first used.
__attribute__((visibility("default"))) void *mgpuModuleLoad(void *data,
                                                            size_t size) {
  (void)size; // the driver reads the image's own headers
  return new loom::LazyModule{data, "mgpuModuleLoad"};
}

/// NUL-terminated PTX, compiled for the device by the driver's JIT when
/// first used.
__attribute__((visibility("default"))) void *mgpuModuleLoadJIT(void *data,
                                                               int optLevel) {
  (void)optLevel; // the driver's default (the highest)
  return new loom::LazyModule{data, "mgpuModuleLoadJIT"};
}

__attribute__((visibility("default"))) void mgpuModuleUnload(void *module) {
  auto *lazy = static_cast<loom::LazyModule *>(module);
  if (!lazy)
    return;
  {
    // A module of the device still open is unloaded; one of a context
    // gone went with it.
    loom::Process &p = loom::process();
    std::lock_guard<std::mutex> guard(p.lock);
    if (lazy->module && p.driver && lazy->context == p.context &&
        p.driver->cuCtxSetCurrent(p.context) == CUDA_SUCCESS)
      p.driver->cuModuleUnload(lazy->module);
  }
  delete lazy;
}

__attribute__((visibility("default"))) void *
mgpuModuleGetFunction(void *module, const char *name) {
  auto *lazy = static_cast<loom::LazyModule *>(module);
  loom::Process &p = loom::process();
  // Within an entry point (its context current on this thread), a kernel
  // asked for before is found without the driver.
  if (loom::launching && lazy) {
    std::lock_guard<std::mutex> guard(p.lock);
    if (lazy->module && lazy->context == p.context)
      if (auto it = lazy->functions.find(name); it != lazy->functions.end())
        return it->second;
  }
  const loom::cuda::Driver *d = loom::current("mgpuModuleGetFunction");
  if (!d || !module)
    return nullptr;
  CUmodule loaded = loom::moduleOf(*d, *lazy, name);
  if (!loaded)
    return nullptr;
  CUfunction function = nullptr;
  if (CUresult r = d->cuModuleGetFunction(&function, loaded, name);
      r != CUDA_SUCCESS) {
    loom::fail(
        formatv("kernel '{0}': cuModuleGetFunction: {1}", name, d->describe(r))
            .str());
    return nullptr;
  }
  std::lock_guard<std::mutex> guard(p.lock);
  p.kernelNames.try_emplace(function, name);
  if (lazy->module == loaded)
    lazy->functions.try_emplace(name, function);
  return function;
}

__attribute__((visibility("default"))) void *mgpuStreamCreate() {
  // Every launch of an entry point goes on its executable's stream.
  if (loom::launching)
    return loom::launching->stream;
  loom::fail("mgpuStreamCreate: a kernel launched outside an entry point");
  return nullptr;
}

__attribute__((visibility("default"))) void mgpuStreamDestroy(void *stream) {
  (void)stream; // the executable's own, destroyed with it
}

__attribute__((visibility("default"))) void
mgpuStreamSynchronize(void *stream) {
  (void)stream; // once, when the entry point returns (see above)
}

__attribute__((visibility("default"))) void
mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                 intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                 int32_t sharedBytes, void *stream, void **params, void **extra,
                 size_t paramCount) {
  (void)paramCount; // the kernel's signature says how many
  loom::Launching *l = loom::launching;
  if (!l) {
    loom::fail("mgpuLaunchKernel: a kernel launched outside an entry point");
    return;
  }
  // After a failure (a function not found is one) the step's remaining
  // launches are skipped.
  if (!function || !l->error.empty())
    return;
  const loom::cuda::Driver &d = *l->driver;
  loom::Timing *t = l->timing;
  size_t n = t ? t->launched.size() : 0;
  if (t) {
    while (t->events.size() < 2 * n + 2) {
      CUevent event = nullptr;
      if (!loom::succeeded(d, d.cuEventCreate(&event, 0), "cuEventCreate"))
        return;
      t->events.push_back(event);
    }
    if (!loom::succeeded(
            d, d.cuEventRecord(t->events[2 * n], static_cast<CUstream>(stream)),
            "cuEventRecord"))
      return;
  }
  CUresult r = d.cuLaunchKernel(
      static_cast<CUfunction>(function), unsigned(gridX), unsigned(gridY),
      unsigned(gridZ), unsigned(blockX), unsigned(blockY), unsigned(blockZ),
      unsigned(sharedBytes), static_cast<CUstream>(stream), params, extra);
  if (r == CUDA_SUCCESS && t) {
    t->launched.push_back(
        {static_cast<CUfunction>(function), t->scheduleKernel});
    loom::succeeded(
        d, d.cuEventRecord(t->events[2 * n + 1], static_cast<CUstream>(stream)),
        "cuEventRecord");
  }
  if (r == CUDA_SUCCESS)
    return;
  loom::Process &p = loom::process();
  std::string name;
  {
    std::lock_guard<std::mutex> guard(p.lock);
    name = p.kernelNames[static_cast<CUfunction>(function)];
  }
  loom::fail(formatv("kernel '{0}' (grid {1}x{2}x{3}, block {4}x{5}x{6}): "
                     "cuLaunchKernel: {7}",
                     name, gridX, gridY, gridZ, blockX, blockY, blockZ,
                     l->driver->describe(r))
                 .str());
}

} // extern "C"

namespace loom {
namespace {

/// Which stream runs each kernel of a schedule, and the events between
/// streams its dependencies need.
struct StreamPlan {
  std::vector<size_t> streamOf;           ///< per kernel
  std::vector<std::vector<size_t>> waits; ///< per kernel: kernels on others
  std::vector<bool> signals;              ///< per kernel: others wait for it
  size_t streams = 1;
};

/// Kernels in order, each on the stream of a dependency it follows
/// directly (the stream's last kernel, the latest such), else on the
/// stream whose last kernel is oldest (a new one while fewer than
/// `most`). A dependency on another stream is an event to wait for, unless
/// the stream already waited for that kernel or a later one of its stream
/// (a stream runs its kernels in order): one wait per other stream at most.
StreamPlan planStreams(ArrayRef<KernelInfo> kernels, size_t most) {
  StreamPlan plan;
  plan.streamOf.resize(kernels.size());
  plan.waits.resize(kernels.size());
  plan.signals.assign(kernels.size(), false);
  std::vector<int64_t> tail; // each stream's last kernel
  // synced[s][t]: the latest kernel of stream t that stream s waited for.
  std::vector<std::vector<int64_t>> synced;
  for (auto [i, k] : llvm::enumerate(kernels)) {
    std::optional<size_t> chosen;
    for (auto [s, t] : llvm::enumerate(tail))
      if (llvm::is_contained(k.deps, t) && (!chosen || t > tail[*chosen]))
        chosen = s;
    if (!chosen && tail.size() < most) {
      chosen = tail.size();
      tail.push_back(-1);
      for (std::vector<int64_t> &row : synced)
        row.push_back(-1);
      synced.emplace_back(tail.size(), -1);
    }
    if (!chosen)
      chosen =
          size_t(std::min_element(tail.begin(), tail.end()) - tail.begin());
    size_t s = *chosen;
    plan.streamOf[i] = s;
    tail[s] = int64_t(i);
    // The latest dependency on each other stream.
    std::vector<int64_t> latest(tail.size(), -1);
    for (int64_t d : k.deps)
      if (d >= 0 && size_t(d) < i && plan.streamOf[d] != s)
        latest[plan.streamOf[d]] = std::max(latest[plan.streamOf[d]], d);
    for (auto [t, d] : llvm::enumerate(latest))
      if (d > synced[s][t]) {
        plan.waits[i].push_back(size_t(d));
        plan.signals[d] = true;
        synced[s][t] = d;
      }
  }
  plan.streams = std::max<size_t>(tail.size(), 1);
  return plan;
}

class CudaExecutable final : public Executable {
public:
  /// `streams[0]` runs the entry point whole; with a plan (`streams` as
  /// many as it uses) the kernels run on theirs.
  CudaExecutable(const Driver &driver, CUcontext context,
                 std::vector<CUstream> streams, EntryFunction whole,
                 const EntryInfo &entry, ArrayRef<EntryFunction> kernels,
                 std::optional<StreamPlan> plan)
      : driver(driver), context(context), stream(streams.front()),
        streams(std::move(streams)), whole(whole), name(entry.name),
        kernels(kernels.begin(), kernels.end()), info(entry.kernels),
        plan(std::move(plan)) {}

  ~CudaExecutable() override {
    // (In a context already released they went with it.)
    if ((timing.events.empty() && done.empty()) ||
        driver.cuCtxSetCurrent(context) != CUDA_SUCCESS)
      return;
    for (CUevent event : timing.events)
      driver.cuEventDestroy(event);
    for (CUevent event : done)
      if (event)
        driver.cuEventDestroy(event);
  }

  /// Whether `kernels` can be called one by one for `entry` (the manifest
  /// lists them, each with code).
  static bool callable(const EntryInfo &entry,
                       ArrayRef<EntryFunction> kernels) {
    return !kernels.empty() && kernels.size() == entry.kernels.size() &&
           !llvm::is_contained(kernels, nullptr);
  }

  Error run(void **args) override {
    {
      Process &p = process();
      std::lock_guard<std::mutex> guard(p.lock);
      if (!p.pendingError.empty())
        return createStringError("entry point '" + name +
                                 "': " + std::exchange(p.pendingError, ""));
    }
    if (Error e =
            driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent"))
      return e;
    Launching l{&driver, stream, {}};
    timing.launched.clear();
    if (profiling())
      l.timing = &timing;
    launching = &l;
    // Profiled, the kernels one by one (on one stream without a plan), so
    // that each launch is known to come from its schedule kernel.
    if (plan || (l.timing && !kernels.empty())) {
      runKernels(l, args);
    } else {
      timing.scheduleKernel = SIZE_MAX;
      whole(args);
    }
    launching = nullptr;
    CUresult r = CUDA_SUCCESS;
    for (CUstream s : streams)
      if (CUresult e = driver.cuStreamSynchronize(s); r == CUDA_SUCCESS)
        r = e;
    if (!l.error.empty())
      return createStringError("entry point '" + name + "': " + l.error);
    // A kernel's fault surfaces here.
    if (Error e =
            driver.check(r, "entry point '" + name + "': cuStreamSynchronize"))
      return e;
    return l.timing ? recordTimes() : Error::success();
  }

private:
  /// The schedule's kernels one by one: on the plan's streams, or without
  /// a plan all on the entry point's stream.
  void runKernels(Launching &l, void **args) {
    if (plan && done.empty())
      done.assign(kernels.size(), nullptr);
    for (size_t i = 0; i < kernels.size() && l.error.empty(); ++i) {
      timing.scheduleKernel = i;
      if (!plan) {
        kernels[i](args);
        continue;
      }
      CUstream s = streams[plan->streamOf[i]];
      for (size_t d : plan->waits[i])
        if (!succeeded(driver, driver.cuStreamWaitEvent(s, done[d], 0),
                       "cuStreamWaitEvent"))
          return;
      l.stream = s;
      kernels[i](args);
      if (!plan->signals[i])
        continue;
      // Events only order streams: no timing.
      if (!done[i] &&
          !succeeded(driver,
                     driver.cuEventCreate(&done[i], kEventDisableTiming),
                     "cuEventCreate"))
        return;
      if (!succeeded(driver, driver.cuEventRecord(done[i], s), "cuEventRecord"))
        return;
    }
  }

  /// What GPU kernel `kernel` of this entry point computes, launched by a
  /// schedule kernel computing `scheduled` (its `op`: names joined by '+',
  /// or empty). The kernel's name says it, `<entry>_<op>_<n>`
  /// (loom-merge-gpu-modules), but where several ops share the kernel's
  /// code (loom-share-kernel-code: the layers' kernels, and ops alike, such
  /// as the gate and up projections) the name is that of the first of them.
  /// So the op is the name of `scheduled` that the kernel's name starts
  /// with (a fused kernel's name goes on with the other ops' names), the
  /// longest, layers aside; else `scheduled` (a kernel shared with another
  /// op); else the name's op, or the name.
  std::string opOf(StringRef kernel, StringRef scheduled) const {
    StringRef op = kernel;
    if (op.consume_front(name) && op.consume_front("_")) {
      auto [rest, count] = op.rsplit('_');
      op = !rest.empty() && !count.empty() && llvm::all_of(count, llvm::isDigit)
               ? rest
               : kernel;
    } else {
      op = kernel;
    }
    if (scheduled.empty())
      return op.str();
    std::string folded = foldLayers(op);
    SmallVector<StringRef> names;
    scheduled.split(names, '+');
    StringRef best;
    size_t bestLength = 0;
    for (StringRef n : names) {
      std::string id = foldLayers(identifierOf(n));
      if (StringRef(folded).starts_with(id) &&
          (folded.size() == id.size() || folded[id.size()] == '_') &&
          id.size() > bestLength) {
        best = n;
        bestLength = id.size();
      }
    }
    return (best.empty() ? scheduled : best).str();
  }

  /// Adds the step's kernel times to the profile, each as the op of the
  /// schedule kernel that launched it, or where that is not known (an
  /// artifact without ops, the entry point run whole) as the op the
  /// kernel's name says (loom-merge-gpu-modules names kernels
  /// `<entry>_<op>_<n>`; another name stands for itself).
  Error recordTimes() {
    std::vector<std::string> names;
    {
      Process &p = process();
      std::lock_guard<std::mutex> guard(p.lock);
      for (auto [f, k] : timing.launched)
        names.push_back(p.kernelNames[f]);
    }
    for (auto [i, kernel] : llvm::enumerate(names)) {
      float ms = 0;
      if (Error e =
              driver.check(driver.cuEventElapsedTime(&ms, timing.events[2 * i],
                                                     timing.events[2 * i + 1]),
                           "entry point '" + name + "': cuEventElapsedTime"))
        return e;
      size_t k = timing.launched[i].second;
      recordKernelTime(name, kernel,
                       opOf(kernel, k < info.size() ? info[k].op : ""),
                       ms / 1e3);
    }
    return Error::success();
  }

  const Driver &driver;
  CUcontext context;
  CUstream stream;
  std::vector<CUstream> streams;
  EntryFunction whole;
  std::string name;
  /// The schedule's kernels (empty where the artifact lists none).
  std::vector<EntryFunction> kernels;
  std::vector<KernelInfo> info;
  std::optional<StreamPlan> plan;
  /// Each kernel's event for the kernels on other streams that wait for it.
  std::vector<CUevent> done;
  Timing timing;
};

class CudaDevice final : public Device {
public:
  /// The most streams one entry point's kernels run on.
  static constexpr size_t kMaxStreams = 4;

  CudaDevice(const Driver &driver, CUdevice device, CUcontext context,
             std::string label)
      : driver(driver), device(device), context(context),
        label(std::move(label)) {}

  ~CudaDevice() override {
    driver.cuCtxSetCurrent(context);
    for (CUstream s : streams)
      driver.cuStreamDestroy(s);
    // Modules still loaded go with the context; an artifact unloaded after
    // the device (its destructors call mgpuModuleUnload) finds none.
    {
      Process &p = process();
      std::lock_guard<std::mutex> guard(p.lock);
      if (p.context == context) {
        p.driver = nullptr;
        p.context = nullptr;
      }
    }
    driver.cuDevicePrimaryCtxRelease(device);
  }

  StringRef name() const override { return label; }

  Expected<void *> allocate(size_t bytes) override {
    if (Error e = makeCurrent())
      return std::move(e);
    CUdeviceptr memory = 0;
    size_t size = std::max<size_t>(bytes, 1);
    if (Error e = driver.check(
            driver.cuMemAlloc(&memory, size),
            formatv("{0}: allocating {1} bytes of device memory", label, size)
                .str()))
      return std::move(e);
    if (Error e = driver.check(driver.cuMemsetD8(memory, 0, size),
                               label + ": cuMemsetD8")) {
      driver.cuMemFree(memory);
      return std::move(e);
    }
    return reinterpret_cast<void *>(memory);
  }

  void deallocate(void *memory) override {
    if (!memory)
      return;
    if (Error e = makeCurrent()) {
      consumeError(std::move(e));
      return;
    }
    driver.cuMemFree(reinterpret_cast<CUdeviceptr>(memory));
  }

  void zero(void *memory, size_t bytes) override {
    if (Error e = makeCurrent()) {
      consumeError(std::move(e));
      return;
    }
    driver.cuMemsetD8(reinterpret_cast<CUdeviceptr>(memory), 0, bytes);
  }

  bool runsCpuCode() const override { return false; }
  bool hostAddressable() const override { return false; }

  Error copyToDevice(void *to, const void *from, size_t bytes) override {
    if (Error e = makeCurrent())
      return e;
    return driver.check(
        driver.cuMemcpyHtoD(reinterpret_cast<CUdeviceptr>(to), from, bytes),
        formatv("{0}: copying {1} bytes to the device", label, bytes).str());
  }

  Error copyToHost(void *to, const void *from, size_t bytes) override {
    if (Error e = makeCurrent())
      return e;
    return driver.check(
        driver.cuMemcpyDtoH(to, reinterpret_cast<CUdeviceptr>(from), bytes),
        formatv("{0}: copying {1} bytes from the device", label, bytes).str());
  }

  /// Graph: the schedule's kernels on up to kMaxStreams streams
  /// (planStreams); Sequential, or an entry point without a kernel list:
  /// one stream, the entry point whole.
  Expected<std::unique_ptr<Executable>> prepare(const EntryInfo &entry,
                                                ArrayRef<EntryFunction> kernels,
                                                EntryFunction whole,
                                                ScheduleMode mode) override {
    if (!whole)
      return createStringError("entry point '" + entry.name + "' has no code");
    if (Error e = makeCurrent())
      return std::move(e);
    std::optional<StreamPlan> plan;
    if (mode == ScheduleMode::Graph && CudaExecutable::callable(entry, kernels))
      plan = planStreams(entry.kernels, kMaxStreams);
    std::vector<CUstream> mine;
    for (size_t i = 0; i < (plan ? plan->streams : 1); ++i) {
      CUstream stream = nullptr;
      if (Error e = driver.check(driver.cuStreamCreate(&stream, 0),
                                 label + ": cuStreamCreate"))
        return std::move(e);
      streams.push_back(stream);
      mine.push_back(stream);
    }
    if (!CudaExecutable::callable(entry, kernels))
      kernels = {};
    return std::make_unique<CudaExecutable>(driver, context, std::move(mine),
                                            whole, entry, kernels,
                                            std::move(plan));
  }

private:
  Error makeCurrent() {
    return driver.check(driver.cuCtxSetCurrent(context),
                        label + ": cuCtxSetCurrent");
  }

  const Driver &driver;
  CUdevice device;
  CUcontext context;
  std::string label;
  std::vector<CUstream> streams;
};

/// Name, compute capability, SMs and memory of device `ordinal`.
Expected<std::string> describe(const Driver &d, int ordinal, CUdevice *handle) {
  CUdevice device;
  if (Error e = d.check(d.cuDeviceGet(&device, ordinal),
                        formatv("cuda:{0}: cuDeviceGet", ordinal).str()))
    return std::move(e);
  char name[256] = {};
  int major = 0, minor = 0, sms = 0;
  size_t bytes = 0;
  if (Error e = d.check(d.cuDeviceGetName(name, sizeof(name) - 1, device),
                        "cuDeviceGetName"))
    return std::move(e);
  if (Error e = d.check(
          d.cuDeviceGetAttribute(
              &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
          "cuDeviceGetAttribute"))
    return std::move(e);
  if (Error e = d.check(
          d.cuDeviceGetAttribute(
              &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
          "cuDeviceGetAttribute"))
    return std::move(e);
  if (Error e =
          d.check(d.cuDeviceGetAttribute(
                      &sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                  "cuDeviceGetAttribute"))
    return std::move(e);
  if (Error e = d.check(d.cuDeviceTotalMem(&bytes, device), "cuDeviceTotalMem"))
    return std::move(e);
  if (handle)
    *handle = device;
  return formatv("cuda:{0}: {1}, sm_{2}{3}, {4} SMs, {5:f1} GiB", ordinal, name,
                 major, minor, sms, double(bytes) / (1 << 30))
      .str();
}

/// The driver and how many devices it sees.
Expected<std::pair<const Driver *, int>> openDriver() {
  Expected<const Driver &> d = loadDriver();
  if (!d)
    return d.takeError();
  int count = 0;
  if (Error e = d->check(d->cuDeviceGetCount(&count), "cuDeviceGetCount"))
    return std::move(e);
  return std::make_pair(&*d, count);
}

} // namespace

Expected<std::unique_ptr<Device>> createCudaDevice(int ordinal) {
  Expected<std::pair<const Driver *, int>> opened = openDriver();
  if (!opened)
    return opened.takeError();
  auto [d, count] = *opened;
  if (ordinal < 0 || ordinal >= count)
    return createStringError(
        formatv("no CUDA device {0}: the driver ({1}) sees {2}", ordinal,
                d->path, count)
            .str());
  CUdevice device;
  Expected<std::string> label = describe(*d, ordinal, &device);
  if (!label)
    return label.takeError();
  CUcontext context = nullptr;
  if (Error e = d->check(d->cuDevicePrimaryCtxRetain(&context, device),
                         *label + ": cuDevicePrimaryCtxRetain"))
    return std::move(e);
  Process &p = process();
  {
    std::lock_guard<std::mutex> guard(p.lock);
    p.driver = d;
    p.context = context;
  }
  return std::make_unique<CudaDevice>(*d, device, context, std::move(*label));
}

Expected<std::shared_ptr<Device>> openDevice(StringRef name) {
  if (name == "cpu")
    return std::shared_ptr<Device>(createCpuDevice());
  auto [kind, number] = name.split(':');
  int ordinal = 0;
  if (kind != "cuda" ||
      (name.contains(':') && (number.getAsInteger(10, ordinal) || ordinal < 0)))
    return createStringError(
        "the devices are cpu, cuda and cuda:N (N a GPU's number, from 0)");
  Expected<std::unique_ptr<Device>> device = createCudaDevice(ordinal);
  if (!device)
    return device.takeError();
  return std::shared_ptr<Device>(std::move(*device));
}

Expected<std::vector<std::string>> describeCudaDevices() {
  Expected<std::pair<const Driver *, int>> opened = openDriver();
  if (!opened)
    return opened.takeError();
  auto [d, count] = *opened;
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) {
    Expected<std::string> line = describe(*d, i, nullptr);
    if (!line)
      return line.takeError();
    lines.push_back(std::move(*line));
  }
  return lines;
}

} // namespace loom
