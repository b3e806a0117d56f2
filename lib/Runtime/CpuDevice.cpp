//===- CpuDevice.cpp - running schedules on the host's cores --------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An entry point's schedule becomes a `tbb::flow::graph`: one
// `continue_node` per kernel, an edge per dependency, a broadcast node that
// starts the kernels with none. The graph is built once and run once per
// step; it is rebuilt only when the task arena is replaced (`--threads`).
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Device.h"
#include "loom/Runtime/Profile.h"
#include "loom/Runtime/Threads.h"

#include "llvm/Support/FormatVariadic.h"

#include <tbb/flow_graph.h>

#include <chrono>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

using namespace llvm;

namespace loom {

Executable::~Executable() = default;
Device::~Device() = default;

namespace {

/// Runs `fn(args)`, timed for the profile where it is on.
void runTimed(EntryFunction fn, void **args, const std::string &entry,
              const std::string &kernel, const std::string &op) {
  if (!profiling()) {
    fn(args);
    return;
  }
  auto start = std::chrono::steady_clock::now();
  fn(args);
  recordKernelTime(
      entry, kernel, op,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count());
}

/// The entry point as compiled: its kernels called in order (one kernel
/// in a profile, named after the entry point).
class SequentialExecutable final : public Executable {
public:
  SequentialExecutable(EntryFunction whole, std::string name)
      : whole(whole), name(std::move(name)) {}
  Error run(void **args) override {
    runInArena([&] { runTimed(whole, args, name, name, "(all kernels)"); });
    return Error::success();
  }

private:
  EntryFunction whole;
  std::string name;
};

class GraphExecutable final : public Executable {
public:
  GraphExecutable(const EntryInfo &entry, ArrayRef<EntryFunction> kernels)
      : kernels(kernels.begin(), kernels.end()), entry(entry.name),
        info(entry.kernels) {
    for (const KernelInfo &k : entry.kernels)
      deps.push_back(k.deps);
  }

  Error run(void **args) override {
    this->args = args;
    runInArena([&] {
      if (!graph || builtFor != arenaGeneration())
        build();
      start->try_put(tbb::flow::continue_msg());
      graph->wait_for_all();
    });
    return Error::success();
  }

private:
  using Node = tbb::flow::continue_node<tbb::flow::continue_msg>;

  /// Builds the graph inside the task arena, so its tasks run there.
  void build() {
    nodes.clear();
    start.reset();
    graph = std::make_unique<tbb::flow::graph>();
    start =
        std::make_unique<tbb::flow::broadcast_node<tbb::flow::continue_msg>>(
            *graph);
    for (size_t i = 0; i < kernels.size(); ++i) {
      EntryFunction fn = kernels[i];
      const KernelInfo *k = &info[i];
      nodes.push_back(std::make_unique<Node>(
          *graph, [this, fn, k](const tbb::flow::continue_msg &) {
            runTimed(fn, args, entry, k->name, k->op);
            return tbb::flow::continue_msg();
          }));
      if (deps[i].empty())
        tbb::flow::make_edge(*start, *nodes.back());
      for (int64_t d : deps[i])
        tbb::flow::make_edge(*nodes[d], *nodes.back());
    }
    builtFor = arenaGeneration();
  }

  std::vector<EntryFunction> kernels;
  std::string entry;
  std::vector<KernelInfo> info;
  std::vector<std::vector<int64_t>> deps;
  void **args = nullptr;
  uint64_t builtFor = 0;
  // Destroyed in reverse: nodes, then the start node, then the graph.
  std::unique_ptr<tbb::flow::graph> graph;
  std::unique_ptr<tbb::flow::broadcast_node<tbb::flow::continue_msg>> start;
  std::vector<std::unique_ptr<Node>> nodes;
};

class CpuDevice final : public Device {
public:
  StringRef name() const override { return "cpu"; }

  /// Anonymous mappings: page-aligned and zero, and the kernel commits a
  /// page only when it is first written, so a KV cache for 4096 positions
  /// costs memory for the positions a run reaches.
  Expected<void *> allocate(size_t bytes) override {
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    if (bytes > std::numeric_limits<size_t>::max() - page)
      return createStringError(
          formatv("cannot allocate {0} bytes of host memory", bytes).str());
    size_t rounded = (std::max<size_t>(bytes, 1) + page - 1) / page * page;
    void *memory = mmap(nullptr, rounded, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
      return createStringError(
          formatv("cannot allocate {0} bytes of host memory: {1}", bytes,
                  std::strerror(errno))
              .str());
    std::lock_guard<std::mutex> lock(mutex);
    sizes[memory] = rounded;
    return memory;
  }
  void deallocate(void *memory) override {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = sizes.find(memory);
    if (it == sizes.end())
      return;
    munmap(memory, it->second);
    sizes.erase(it);
  }
  /// Whole pages are handed back (they read as zero again, and cost nothing
  /// until written); the partial pages at the ends are cleared.
  void zero(void *memory, size_t bytes) override {
    auto begin = reinterpret_cast<uintptr_t>(memory);
    uintptr_t end = begin + bytes;
    uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    uintptr_t first = (begin + page - 1) / page * page,
              last = end / page * page;
    if (last <= first || madvise(reinterpret_cast<void *>(first), last - first,
                                 MADV_DONTNEED) != 0) {
      std::memset(memory, 0, bytes);
      return;
    }
    std::memset(memory, 0, first - begin);
    std::memset(reinterpret_cast<void *>(last), 0, end - last);
  }

  Error copyToDevice(void *to, const void *from, size_t bytes) override {
    std::memcpy(to, from, bytes);
    return Error::success();
  }
  Error copyToHost(void *to, const void *from, size_t bytes) override {
    std::memcpy(to, from, bytes);
    return Error::success();
  }

private:
  std::mutex mutex;
  std::unordered_map<void *, size_t> sizes;

public:
  Expected<std::unique_ptr<Executable>> prepare(const EntryInfo &entry,
                                                ArrayRef<EntryFunction> kernels,
                                                EntryFunction whole,
                                                ScheduleMode mode) override {
    if (mode == ScheduleMode::Sequential || entry.kernels.empty()) {
      if (!whole)
        return createStringError("entry point '" + entry.name +
                                 "' has no code");
      return std::make_unique<SequentialExecutable>(whole, entry.name);
    }
    if (kernels.size() != entry.kernels.size())
      return createStringError(
          formatv("entry point '{0}' lists {1} kernels but {2} were given",
                  entry.name, entry.kernels.size(), kernels.size())
              .str());
    return std::make_unique<GraphExecutable>(entry, kernels);
  }
};

} // namespace

std::unique_ptr<Device> createCpuDevice() {
  return std::make_unique<CpuDevice>();
}

} // namespace loom
