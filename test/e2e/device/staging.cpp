//===- staging.cpp - a session on memory the host does not address --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// usage: loom-device-staging ARTIFACT.so [STEPS]
//
// Runs a compiled model twice, greedily from token 1 for STEPS decode steps
// after a 4-token prefill: on the CPU device, and on a device that says the
// host cannot address its memory (as a GPU's), whose memory is in fact host
// memory, so the CPU code still runs. Through that device the session must
// copy every weight in once, stage tokens in and logits out through
// copyToDevice / copyToHost, and pass the compiled code nothing but the
// device's memory. The device checks this at every call: each memref
// argument of an entry point, and each copy, must lie inside one of its
// allocations. Prints what was copied, and fails (exit 1) on any argument
// or copy outside the device's memory, or any logit that differs from the
// CPU device's run (the same code on the same values: bit for bit).
//
//===----------------------------------------------------------------------===//

#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Device.h"
#include "loom/Runtime/Session.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace loom;
using namespace llvm;

namespace {

/// Host memory presented as a device's.
class SeparateMemoryDevice final : public Device {
public:
  StringRef name() const override { return "separate-memory"; }

  Expected<void *> allocate(size_t bytes) override {
    Expected<void *> memory = host->allocate(bytes);
    if (memory) {
      std::lock_guard<std::mutex> guard(lock);
      ranges[static_cast<char *>(*memory)] = std::max<size_t>(bytes, 1);
    }
    return memory;
  }
  void deallocate(void *memory) override {
    {
      std::lock_guard<std::mutex> guard(lock);
      ranges.erase(static_cast<char *>(memory));
    }
    host->deallocate(memory);
  }
  void zero(void *memory, size_t bytes) override {
    check(memory, bytes, "zero");
    host->zero(memory, bytes);
  }
  bool hostAddressable() const override { return false; }
  Error copyToDevice(void *to, const void *from, size_t bytes) override {
    check(to, bytes, "copyToDevice");
    bytesIn += bytes;
    ++copiesIn;
    return host->copyToDevice(to, from, bytes);
  }
  Error copyToHost(void *to, const void *from, size_t bytes) override {
    check(from, bytes, "copyToHost");
    bytesOut += bytes;
    ++copiesOut;
    return host->copyToHost(to, from, bytes);
  }

  Expected<std::unique_ptr<Executable>> prepare(const EntryInfo &entry,
                                                ArrayRef<EntryFunction> kernels,
                                                EntryFunction whole,
                                                ScheduleMode mode) override;

  /// Whether [at, at + bytes) lies inside one allocation; records a
  /// violation naming `what` if not.
  void check(const void *at, size_t bytes, const std::string &what) {
    std::lock_guard<std::mutex> guard(lock);
    const char *p = static_cast<const char *>(at);
    auto it = ranges.upper_bound(const_cast<char *>(p));
    if (it != ranges.begin()) {
      --it;
      if (p >= it->first && p + bytes <= it->first + it->second)
        return;
    }
    violations.push_back(what);
  }

  std::unique_ptr<Device> host = createCpuDevice();
  std::mutex lock;
  std::map<char *, size_t> ranges;
  std::vector<std::string> violations;
  size_t bytesIn = 0, bytesOut = 0, copiesIn = 0, copiesOut = 0;
  size_t calls = 0;
};

/// Checks every memref argument before running the CPU code.
class CheckedExecutable final : public Executable {
public:
  CheckedExecutable(SeparateMemoryDevice &device, const EntryInfo &entry,
                    std::unique_ptr<Executable> inner)
      : device(device), entry(entry), inner(std::move(inner)) {}

  Error run(void **args) override {
    ++device.calls;
    for (auto [i, p] : enumerate(entry.params)) {
      if (p.kind == ParamInfo::Kind::Position ||
          p.kind == ParamInfo::Kind::LogitsFrom)
        continue; // scalars
      // args[i] -> the descriptor pointer -> {allocated, aligned, ...}.
      auto *descriptor = *static_cast<int64_t **>(args[i]);
      int64_t bytes = 1; // its first element, at least
      device.check(
          reinterpret_cast<void *>(descriptor[1]), bytes,
          formatv("entry '{0}' argument {1} ('{2}')", entry.name, i, p.name)
              .str());
    }
    return inner->run(args);
  }

private:
  SeparateMemoryDevice &device;
  const EntryInfo &entry;
  std::unique_ptr<Executable> inner;
};

Expected<std::unique_ptr<Executable>>
SeparateMemoryDevice::prepare(const EntryInfo &entry,
                              ArrayRef<EntryFunction> kernels,
                              EntryFunction whole, ScheduleMode mode) {
  Expected<std::unique_ptr<Executable>> inner =
      host->prepare(entry, kernels, whole, mode);
  if (!inner)
    return inner.takeError();
  return std::make_unique<CheckedExecutable>(*this, entry, std::move(*inner));
}

/// The logits of a 4-token prefill and `steps` greedy decode steps.
Expected<std::vector<float>> generate(std::shared_ptr<Artifact> artifact,
                                      std::shared_ptr<const ModelFile> model,
                                      std::shared_ptr<Device> device,
                                      int steps) {
  SessionOptions options;
  options.device = std::move(device);
  Expected<std::unique_ptr<Session>> session =
      Session::create(artifact, model, options);
  if (!session)
    return session.takeError();
  std::vector<int32_t> prompt = {1, 2, 3, 4};
  int32_t vocab = int32_t((*session)->vocab());
  for (int32_t &t : prompt)
    t %= vocab;
  std::vector<float> all;
  Expected<ArrayRef<float>> logits = (*session)->prefill(prompt, 0);
  if (!logits)
    return logits.takeError();
  all.insert(all.end(), logits->begin(), logits->end());
  int64_t position = prompt.size();
  for (int s = 0; s < steps; ++s) {
    ArrayRef<float> last = logits->take_back(vocab);
    int32_t next =
        int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    logits = (*session)->decode(next, position++);
    if (!logits)
      return logits.takeError();
    all.insert(all.end(), logits->begin(), logits->end());
  }
  return all;
}

int fail(const Twine &message) {
  std::fprintf(stderr, "error: %s\n", message.str().c_str());
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return fail("usage: loom-device-staging ARTIFACT.so [STEPS]");
  int steps = argc > 2 ? std::atoi(argv[2]) : 4;
  Expected<std::shared_ptr<Artifact>> artifact = Artifact::load(argv[1]);
  if (!artifact)
    return fail(toString(artifact.takeError()));
  Expected<std::unique_ptr<ModelFile>> opened =
      readModelFile((*artifact)->manifest().modelPath);
  if (!opened)
    return fail(toString(opened.takeError()));
  std::shared_ptr<const ModelFile> model = std::move(*opened);

  Expected<std::vector<float>> reference = generate(
      *artifact, model, std::shared_ptr<Device>(createCpuDevice()), steps);
  if (!reference)
    return fail("on the CPU device: " + toString(reference.takeError()));
  auto device = std::make_shared<SeparateMemoryDevice>();
  Expected<std::vector<float>> staged =
      generate(*artifact, model, device, steps);
  if (!staged)
    return fail("on the separate-memory device: " +
                toString(staged.takeError()));

  std::printf("calls: %zu\n", device->calls);
  std::printf("copies in: %zu (%zu bytes), out: %zu (%zu bytes)\n",
              device->copiesIn, device->bytesIn, device->copiesOut,
              device->bytesOut);
  for (const std::string &v : device->violations)
    std::printf("outside the device's memory: %s\n", v.c_str());
  size_t differ = 0;
  if (staged->size() != reference->size())
    return fail(formatv("{0} logits through the device, {1} on the CPU",
                        staged->size(), reference->size()));
  for (size_t i = 0; i < staged->size(); ++i)
    differ += std::memcmp(&(*staged)[i], &(*reference)[i], sizeof(float)) != 0;
  std::printf("logits: %zu, differing from the CPU device's: %zu\n",
              staged->size(), differ);
  return device->violations.empty() && differ == 0 ? 0 : 1;
}
