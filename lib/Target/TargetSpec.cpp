//===- TargetSpec.cpp - the target CPU as the IR carries it ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Target/TargetSpec.h"

#include "mlir/Dialect/DLTI/DLTI.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

void mlir::loom::TargetDescription::deriveFeatureFlags() {
  auto has = [&](llvm::StringRef f) {
    return llvm::is_contained(isaFeatures, f);
  };
  fma = has("fma");
  avx2 = has("avx2");
  avx512f = has("avx512f");
  avx512bf16 = has("avx512bf16");
  avx512fp16 = has("avx512fp16");
  avx512vnni = has("avx512vnni");
  avx512vl = has("avx512vl");
  avx512bw = has("avx512bw");
  avxvnni = has("avxvnni");
  f16c = has("f16c");
  amxTile = has("amx-tile");
  amxBf16 = has("amx-bf16");
  amxInt8 = has("amx-int8");
}

namespace {
// The entries of the CPU's device spec.
constexpr llvm::StringLiteral kCpu = "cpu", kTriple = "triple", kHost = "host",
                              kLLVMFeatures = "llvm_features",
                              kIsaFeatures = "isa_features",
                              kVectorBits = "vector_bits",
                              kVectorRegisters = "vector_registers",
                              kL1 = "l1d_cache_bytes", kL2 = "l2_cache_bytes",
                              kL3 = "l3_cache_bytes",
                              kCacheSource = "cache_source";

// The entries of the GPU's device spec.
constexpr llvm::StringLiteral kChip = "chip", kWarpSize = "warp_size",
                              kMaxThreads = "max_threads_per_block",
                              kMaxRegisters = "max_registers_per_thread",
                              kSharedMemory = "shared_memory_per_block_bytes";

/// The device specs of the target system spec on `op` or its closest
/// ancestor, by device id; empty where none has one.
SmallVector<DataLayoutEntryInterface> systemEntries(Operation *op) {
  for (Operation *p = op; p; p = p->getParentOp())
    if (auto system = p->getAttrOfType<TargetSystemSpecAttr>(
            DLTIDialect::kTargetSystemDescAttrName))
      return SmallVector<DataLayoutEntryInterface>(system.getEntries());
  return {};
}

/// `module`'s target system spec with the device `id` set to `device`.
void setDevice(ModuleOp module, llvm::StringRef id,
               TargetDeviceSpecAttr device) {
  MLIRContext *ctx = module.getContext();
  StringAttr key = StringAttr::get(ctx, id);
  SmallVector<DataLayoutEntryInterface> entries;
  if (auto system = module->getAttrOfType<TargetSystemSpecAttr>(
          DLTIDialect::kTargetSystemDescAttrName))
    for (DataLayoutEntryInterface e : system.getEntries())
      if (e.getKey() != DataLayoutEntryKey(key))
        entries.push_back(e);
  entries.push_back(DataLayoutEntryAttr::get(key, device));
  module->setAttr(DLTIDialect::kTargetSystemDescAttrName,
                  TargetSystemSpecAttr::get(ctx, entries));
}
} // namespace

void mlir::loom::setTargetSpec(ModuleOp module, const TargetDescription &t) {
  MLIRContext *ctx = module.getContext();
  ctx->getOrLoadDialect<DLTIDialect>();
  Builder b(ctx);
  SmallVector<DataLayoutEntryInterface> entries;
  auto add = [&](llvm::StringRef key, Attribute value) {
    entries.push_back(DataLayoutEntryAttr::get(b.getStringAttr(key), value));
  };
  add(kCpu, b.getStringAttr(t.cpu));
  add(kTriple, b.getStringAttr(t.triple));
  if (t.isHost)
    add(kHost, b.getBoolAttr(true));
  if (!t.llvmFeatures.empty())
    add(kLLVMFeatures, b.getStringAttr(t.llvmFeatures));
  SmallVector<Attribute> features;
  for (const std::string &f : t.isaFeatures)
    features.push_back(b.getStringAttr(f));
  add(kIsaFeatures, b.getArrayAttr(features));
  add(kVectorBits, b.getI64IntegerAttr(t.vectorBits));
  add(kVectorRegisters, b.getI64IntegerAttr(t.vectorRegisters));
  add(kL1, b.getI64IntegerAttr(t.l1d));
  add(kL2, b.getI64IntegerAttr(t.l2));
  add(kL3, b.getI64IntegerAttr(t.l3));
  add(kCacheSource, b.getStringAttr(t.cacheSource));
  setDevice(module, kCpuDeviceId, TargetDeviceSpecAttr::get(ctx, entries));
}

std::optional<mlir::loom::GpuDescription>
mlir::loom::describeGpu(llvm::StringRef chip) {
  llvm::StringRef digits = chip;
  if (!digits.consume_front("sm_"))
    return std::nullopt;
  digits.consume_back("a");
  unsigned capability = 0;
  if (digits.size() < 2 || digits.size() > 3 ||
      !llvm::all_of(digits, llvm::isDigit) ||
      digits.getAsInteger(10, capability))
    return std::nullopt;
  GpuDescription gpu;
  gpu.chip = chip.str();
  // The most shared memory a block may ask for (CUDA's programming guide,
  // "technical specifications per compute capability").
  if (capability >= 90)
    gpu.sharedMemoryPerBlock = 227 * 1024;
  else if (capability == 80 || capability == 87)
    gpu.sharedMemoryPerBlock = 163 * 1024;
  else if (capability == 86 || capability == 89)
    gpu.sharedMemoryPerBlock = 99 * 1024;
  else if (capability == 70)
    gpu.sharedMemoryPerBlock = 96 * 1024;
  else if (capability == 75)
    gpu.sharedMemoryPerBlock = 64 * 1024;
  return gpu;
}

void mlir::loom::setGpuTargetSpec(ModuleOp module, const GpuDescription &g) {
  MLIRContext *ctx = module.getContext();
  ctx->getOrLoadDialect<DLTIDialect>();
  Builder b(ctx);
  auto entry = [&](llvm::StringRef key, Attribute value) {
    return DataLayoutEntryAttr::get(b.getStringAttr(key), value);
  };
  SmallVector<DataLayoutEntryInterface> entries = {
      entry(kChip, b.getStringAttr(g.chip)),
      entry(kWarpSize, b.getI64IntegerAttr(g.warpSize)),
      entry(kMaxThreads, b.getI64IntegerAttr(g.maxThreadsPerBlock)),
      entry(kMaxRegisters, b.getI64IntegerAttr(g.maxRegistersPerThread)),
      entry(kSharedMemory, b.getI64IntegerAttr(g.sharedMemoryPerBlock))};
  setDevice(module, kGpuDeviceId, TargetDeviceSpecAttr::get(ctx, entries));
}

std::optional<mlir::loom::GpuDescription>
mlir::loom::getGpuTargetSpec(Operation *op) {
  MLIRContext *ctx = op->getContext();
  for (DataLayoutEntryInterface e : systemEntries(op)) {
    if (e.getKey() != DataLayoutEntryKey(StringAttr::get(ctx, kGpuDeviceId)))
      continue;
    auto device = dyn_cast<TargetDeviceSpecInterface>(e.getValue());
    if (!device)
      return std::nullopt;
    auto entry = [&](llvm::StringRef key) -> Attribute {
      DataLayoutEntryInterface d =
          device.getSpecForIdentifier(StringAttr::get(ctx, key));
      return d ? d.getValue() : Attribute();
    };
    GpuDescription g;
    if (auto chip = dyn_cast_or_null<StringAttr>(entry(kChip)))
      g.chip = chip.str();
    auto integer = [&](llvm::StringRef key, int64_t &out) {
      if (auto i = dyn_cast_or_null<IntegerAttr>(entry(key)))
        out = i.getInt();
    };
    integer(kWarpSize, g.warpSize);
    integer(kMaxThreads, g.maxThreadsPerBlock);
    integer(kMaxRegisters, g.maxRegistersPerThread);
    integer(kSharedMemory, g.sharedMemoryPerBlock);
    return g;
  }
  return std::nullopt;
}

std::optional<mlir::loom::TargetDescription>
mlir::loom::getTargetSpec(Operation *op) {
  TargetSystemSpecInterface system;
  for (Operation *p = op; p && !system; p = p->getParentOp())
    system = p->getAttrOfType<TargetSystemSpecInterface>(
        DLTIDialect::kTargetSystemDescAttrName);
  if (!system)
    return std::nullopt;
  std::optional<TargetDeviceSpecInterface> device =
      system.getDeviceSpecForDeviceID(
          StringAttr::get(op->getContext(), kCpuDeviceId));
  if (!device)
    return std::nullopt;
  TargetDescription t;
  t.l1d = kAssumedL1Bytes;
  auto entry = [&](llvm::StringRef key) -> Attribute {
    DataLayoutEntryInterface e =
        device->getSpecForIdentifier(StringAttr::get(op->getContext(), key));
    return e ? e.getValue() : Attribute();
  };
  auto str = [&](llvm::StringRef key, std::string &out) {
    if (auto s = llvm::dyn_cast_or_null<StringAttr>(entry(key)))
      out = s.str();
  };
  auto integer = [&](llvm::StringRef key, auto &out) {
    if (auto i = llvm::dyn_cast_or_null<IntegerAttr>(entry(key)))
      out = i.getInt();
  };
  str(kCpu, t.cpu);
  str(kTriple, t.triple);
  if (auto host = llvm::dyn_cast_or_null<BoolAttr>(entry(kHost)))
    t.isHost = host.getValue();
  str(kLLVMFeatures, t.llvmFeatures);
  if (auto list = llvm::dyn_cast_or_null<ArrayAttr>(entry(kIsaFeatures)))
    for (auto s : list.getAsRange<StringAttr>())
      if (s)
        t.isaFeatures.push_back(s.str());
  t.deriveFeatureFlags();
  integer(kVectorBits, t.vectorBits);
  integer(kVectorRegisters, t.vectorRegisters);
  integer(kL1, t.l1d);
  integer(kL2, t.l2);
  integer(kL3, t.l3);
  str(kCacheSource, t.cacheSource);
  return t;
}
