//===- Target.cpp - CPU description and GEMM tiles
//-------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Target.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <unistd.h>

using namespace llvm;

namespace loom {

namespace {

struct KnownCaches {
  int64_t l1d, l2, l3;
};

constexpr int64_t KiB = 1024, MiB = 1024 * 1024;

/// Data caches of CPUs LLVM names, from their vendors' specifications. L3 is
/// the share of one core (the part a core's blocks should stay within).
std::optional<KnownCaches> knownCaches(StringRef cpu) {
  return StringSwitch<std::optional<KnownCaches>>(cpu)
      .Cases({"sapphirerapids", "emeraldrapids", "graniterapids"},
             KnownCaches{48 * KiB, 2 * MiB, 1920 * KiB})
      .Cases({"icelake-server", "icelake-client", "tigerlake"},
             KnownCaches{48 * KiB, 1280 * KiB, 1536 * KiB})
      .Cases({"skylake-avx512", "cascadelake", "cooperlake"},
             KnownCaches{32 * KiB, 1 * MiB, 1408 * KiB})
      .Cases({"haswell", "broadwell", "skylake"},
             KnownCaches{32 * KiB, 256 * KiB, 2 * MiB})
      .Cases({"znver3", "znver4", "znver5"},
             KnownCaches{32 * KiB, 1 * MiB, 4 * MiB})
      .Default(std::nullopt);
}

int64_t sysconfOr(int name, int64_t fallback) {
  long v = sysconf(name);
  return v > 0 ? v : fallback;
}

Expected<TargetDescription> computeTarget(StringRef cpu) {
  InitializeNativeTarget();
  TargetDescription t;
  Triple triple(sys::getDefaultTargetTriple());
  t.triple = triple.str();
  t.isHost = cpu.empty();
  t.cpu = cpu.empty() ? sys::getHostCPUName().str() : cpu.str();

  std::string error;
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError("no target for " + triple.str() + ": " + error);
  // Ask a generic subtarget first: LLVM warns on stderr when made for an
  // unknown CPU.
  std::unique_ptr<MCSubtargetInfo> generic(
      target->createMCSubtargetInfo(triple, "", ""));
  std::unique_ptr<MCSubtargetInfo> sti;
  if (generic && generic->isCPUStringValid(t.cpu))
    sti.reset(target->createMCSubtargetInfo(triple, t.cpu, ""));
  if (!sti)
    return createStringError("unknown CPU '" + t.cpu +
                             "' (LLVM's names: x86-64-v3, skylake-avx512, "
                             "sapphirerapids, znver4, ...)");
  auto implied = [&](StringRef f) {
    return sti->checkFeatures(("+" + f).str());
  };
  StringSet<> known;
  for (const SubtargetFeatureKV &f : sti->getAllProcessorFeatures())
    known.insert(f.Key);
  // The features the host detection can see are the ones a machine can be
  // checked for at load time.
  StringMap<bool> detectable = sys::getHostCPUFeatures();
  std::function<bool(StringRef)> has = implied;
  if (t.isHost) {
    has = [&](StringRef f) { return detectable.lookup(f); };
    // Where this machine differs from its model (a virtual machine hiding
    // AVX-512, say): what the LLVM target machine is told beyond the name.
    SmallVector<std::string> diff;
    for (const auto &entry : detectable)
      if (known.contains(entry.getKey()) &&
          entry.getValue() != implied(entry.getKey()))
        diff.push_back((entry.getValue() ? "+" : "-") + entry.getKey().str());
    llvm::sort(diff);
    t.llvmFeatures = join(diff, ",");
  }
  // Only instruction sets ordinary code generation may use (not OS features
  // such as pku, or instructions reached only through intrinsics).
  auto generated = [](StringRef f) {
    return f.starts_with("sse") || f.starts_with("avx") ||
           f.starts_with("amx") || f.starts_with("bmi") ||
           is_contained({"ssse3", "fma", "f16c", "lzcnt", "popcnt", "movbe",
                         "cx16", "sahf", "gfni", "vaes", "vpclmulqdq"},
                        f);
  };
  for (const auto &entry : detectable)
    if (generated(entry.getKey()) &&
        (t.isHost || known.contains(entry.getKey())) && has(entry.getKey()))
      t.isaFeatures.push_back(entry.getKey().str());
  llvm::sort(t.isaFeatures);
  t.deriveFeatureFlags();
  t.vectorBits = t.avx512f ? 512 : has("avx") ? 256 : 128;
  t.vectorRegisters = t.avx512f ? 32 : 16;

  if (t.isHost) {
    t.l1d = sysconfOr(_SC_LEVEL1_DCACHE_SIZE, 32 * KiB);
    t.l2 = sysconfOr(_SC_LEVEL2_CACHE_SIZE, 1 * MiB);
    t.l3 = sysconfOr(_SC_LEVEL3_CACHE_SIZE, 8 * MiB);
    t.cacheSource = "host";
  } else if (std::optional<KnownCaches> c = knownCaches(t.cpu)) {
    t.l1d = c->l1d;
    t.l2 = c->l2;
    t.l3 = c->l3;
    t.cacheSource = "table";
  } else {
    t.l1d = 32 * KiB;
    t.l2 = 1 * MiB;
    t.l3 = 8 * MiB;
    t.cacheSource = "assumed";
  }
  return t;
}

} // namespace

Expected<TargetDescription> describeTarget(StringRef cpu) {
  // A compilation asks once per pipeline stage; the host's features and a
  // named CPU's subtarget are looked up once per process.
  static std::mutex mutex;
  static StringMap<TargetDescription> known;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = known.find(cpu);
  if (it != known.end())
    return it->second;
  Expected<TargetDescription> t = computeTarget(cpu);
  if (t)
    known.insert({cpu, *t});
  return t;
}

GemmTiles gemmTiles(const TargetDescription &t) {
  GemmTiles g;
  const int64_t f32 = 4;
  int64_t v = t.vectorFloats();
  // Registers: mr x (2 vectors) accumulators, 2 vectors of B, 1 broadcast
  // of A.
  int64_t nrVectors = 2;
  g.nr = nrVectors * v;
  g.mr = (t.vectorRegisters - nrVectors - 1) / nrVectors;
  // An mr x kc sliver of A and a kc x nr sliver of B in half of L1.
  g.kc = std::max<int64_t>(16, (t.l1d / 2) / (f32 * (g.mr + g.nr)) / 16 * 16);
  // An mc x kc block of A in half of L2, whole register tiles.
  g.mc = std::max(g.mr, (t.l2 / 2) / (f32 * g.kc) / g.mr * g.mr);
  // A kc x nc panel of B in half of the core's L3, at most 4096 columns.
  g.nc = std::clamp<int64_t>((t.l3 / 2) / (f32 * g.kc) / g.nr * g.nr, g.nr,
                             4096 / g.nr * g.nr);
  return g;
}

void printTarget(const TargetDescription &t, raw_ostream &os) {
  auto row = [&](StringRef key, const Twine &value) {
    os << formatv("{0,-22} ", key) << value << "\n";
  };
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  auto size = [](int64_t bytes) {
    return bytes % MiB == 0 ? formatv("{0} MiB", bytes / MiB).str()
                            : formatv("{0} KiB", bytes / KiB).str();
  };
  row("cpu", t.cpu + (t.isHost ? " (this machine)" : ""));
  row("triple", t.triple);
  row("vector registers", formatv("{0} x {1} bits ({2} f32)", t.vectorRegisters,
                                  t.vectorBits, t.vectorFloats()));
  row("fma", yes(t.fma));
  row("avx2", yes(t.avx2));
  row("avx512f", yes(t.avx512f));
  row("avx512bf16", yes(t.avx512bf16));
  row("avx512fp16", yes(t.avx512fp16));
  row("vnni", formatv("avx512vnni {0}, avxvnni {1}, avx512vl {2}: 8-bit dot "
                      "products {3}",
                      yes(t.avx512vnni), yes(t.avxvnni), yes(t.avx512vl),
                      t.hasVNNI() ? "with vpdpbusd" : "with widened vectors"));
  row("amx", formatv("tile {0}, bf16 {1}, int8 {2}", yes(t.amxTile),
                     yes(t.amxBf16), yes(t.amxInt8)));
  std::string source = t.cacheSource == "host"    ? "from the operating system"
                       : t.cacheSource == "table" ? "from Loom's table of CPUs"
                                                  : "assumed: unknown CPU";
  row("caches", formatv("L1d {0}, L2 {1}, L3 {2} ({3})", size(t.l1d),
                        size(t.l2), size(t.l3), source));
  GemmTiles g = gemmTiles(t);
  row("f32 gemm tiles",
      formatv("register {0} x {1}, kc {2}, mc {3}, nc {4} (docs/Tiling.md)",
              g.mr, g.nr, g.kc, g.mc, g.nc));
}

} // namespace loom
