//===- Profile.cpp - where a model's time goes, kernel by kernel ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Runtime/Profile.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

using namespace llvm;

namespace loom {
namespace {

struct Recorded {
  std::mutex lock;
  std::atomic<bool> on{false};
  std::vector<KernelTime> kernels;
  /// (entry, kernel, op) -> index in `kernels`.
  std::map<std::tuple<std::string, std::string, std::string>, size_t> index;
};

Recorded &recorded() {
  static Recorded r;
  return r;
}

} // namespace

void setProfiling(bool on) { recorded().on = on; }
bool profiling() { return recorded().on.load(std::memory_order_relaxed); }

void resetProfile() {
  Recorded &r = recorded();
  std::lock_guard<std::mutex> guard(r.lock);
  r.kernels.clear();
  r.index.clear();
}

void recordKernelTime(StringRef entry, StringRef kernel, StringRef op,
                      double seconds) {
  Recorded &r = recorded();
  std::lock_guard<std::mutex> guard(r.lock);
  auto [it, inserted] = r.index.try_emplace(
      {entry.str(), kernel.str(), op.str()}, r.kernels.size());
  if (inserted)
    r.kernels.push_back({entry.str(), kernel.str(), op.str(), 1, 0, 0});
  KernelTime &k = r.kernels[it->second];
  ++k.calls;
  k.seconds += seconds;
}

std::vector<KernelTime> kernelTimes() {
  Recorded &r = recorded();
  std::lock_guard<std::mutex> guard(r.lock);
  return r.kernels;
}

std::string foldLayers(StringRef op) {
  std::string out;
  size_t i = 0;
  while (i < op.size()) {
    if (!isDigit(op[i])) {
      out += op[i++];
      continue;
    }
    size_t end = i;
    while (end < op.size() && isDigit(op[end]))
      ++end;
    bool alone = (i == 0 || !isAlnum(op[i - 1])) &&
                 (end == op.size() || !isAlnum(op[end]));
    out += alone ? StringRef("*") : op.slice(i, end);
    i = end;
  }
  return out;
}

std::vector<KernelTime> opTimes() {
  std::vector<KernelTime> ops;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const KernelTime &k : kernelTimes()) {
    std::string op = foldLayers(k.op.empty() ? k.kernel : k.op);
    auto [it, inserted] = index.try_emplace({k.entry, op}, ops.size());
    if (inserted)
      ops.push_back({k.entry, "", op, 0, 0, 0});
    KernelTime &o = ops[it->second];
    ++o.kernels;
    o.calls += k.calls;
    o.seconds += k.seconds;
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const KernelTime &a, const KernelTime &b) {
                     return a.seconds > b.seconds;
                   });
  return ops;
}

std::string opTimesJson() {
  json::Array ops;
  for (const KernelTime &o : opTimes())
    ops.push_back(json::Object{{"entry", o.entry},
                               {"op", o.op},
                               {"kernels", int64_t(o.kernels)},
                               {"runs", int64_t(o.calls)},
                               {"seconds", o.seconds}});
  std::string out;
  raw_string_ostream os(out);
  os << json::Value(std::move(ops));
  return out;
}

} // namespace loom
