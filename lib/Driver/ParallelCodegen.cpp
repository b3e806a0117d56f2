//===- ParallelCodegen.cpp - machine code in units, on all cores ----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An artifact's LLVM module splits into units that compile apart: each
// kernel's code (with the code it alone reaches: its parallel bodies, its
// C-interface wrapper, and the kernels that share it), each entry point's
// sequential schedule, and what is left. Each unit becomes a module of its
// own, is serialized, and is optimized and compiled into an object file on
// the TBB threads, each in an LLVMContext of its own. The object of a unit
// is cached by the hash of its bitcode and the target: a unit whose code
// did not change (same IR, same target, same compiler) is not compiled
// again when another option or another part of the model changes.
//
//===----------------------------------------------------------------------===//

#include "loom/Driver/CompileCache.h"
#include "loom/Driver/Compiler.h"

#include "llvm/ADT/EquivalenceClasses.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Transforms/Utils/Cloning.h"

#include <tbb/parallel_for_each.h>

#include <atomic>
#include <mutex>

using namespace llvm;

namespace loom {
namespace {

/// The global values `c` refers to, through constant expressions and
/// aggregates.
void collectGlobals(const Constant *c, SmallPtrSetImpl<const Constant *> &seen,
                    SmallVectorImpl<const GlobalValue *> &out) {
  if (!seen.insert(c).second)
    return;
  if (auto *gv = dyn_cast<GlobalValue>(c)) {
    out.push_back(gv);
    return;
  }
  for (const Use &op : c->operands())
    if (auto *inner = dyn_cast<Constant>(op.get()))
      collectGlobals(inner, seen, out);
}

SmallVector<const GlobalValue *> referencedGlobals(const GlobalValue &gv) {
  SmallVector<const GlobalValue *> out;
  SmallPtrSet<const Constant *, 16> seen;
  if (auto *f = dyn_cast<Function>(&gv)) {
    for (const Instruction &inst : instructions(*f))
      for (const Use &op : inst.operands())
        if (auto *c = dyn_cast<Constant>(op.get()))
          collectGlobals(c, seen, out);
  } else if (auto *var = dyn_cast<GlobalVariable>(&gv)) {
    if (var->hasInitializer())
      collectGlobals(var->getInitializer(), seen, out);
  }
  return out;
}

/// One unit of code: what goes into one module and one object file.
struct Unit {
  std::string name; // its first function's, for messages and file names
  SmallVector<char> bitcode;
  std::string key; // the object cache's key
  std::string objectPath;
  bool cached = false;
  Error error = Error::success();
};

/// Splits the definitions of `module` into units. A definition joins the
/// definitions it refers to, except that an entry point's functions (the
/// entry, its C interface and its `loom_entry_` wrapper: the sequential
/// schedule, calling every kernel) do not pull in the kernels they call:
/// those link across units. Definitions with local linkage always stay
/// with the ones that refer to them.
std::vector<std::vector<const GlobalValue *>>
partitionIntoUnits(const Module &module, const Manifest &manifest) {
  StringSet<> entrySide;
  for (const EntryInfo &e : manifest.entries)
    for (const char *prefix : {"", "_mlir_ciface_", "loom_entry_"})
      entrySide.insert((prefix + e.name));
  EquivalenceClasses<const GlobalValue *> classes;
  SmallVector<const GlobalValue *> order;
  auto definitions = [&](auto &&fn) {
    for (const Function &f : module.functions())
      if (!f.isDeclaration())
        fn(f);
    for (const GlobalVariable &v : module.globals())
      if (!v.isDeclaration())
        fn(v);
  };
  definitions([&](const GlobalValue &gv) {
    classes.insert(&gv);
    order.push_back(&gv);
  });
  definitions([&](const GlobalValue &gv) {
    bool entry = entrySide.contains(gv.getName());
    for (const GlobalValue *ref : referencedGlobals(gv)) {
      if (ref->isDeclaration())
        continue;
      bool refEntry = entrySide.contains(ref->getName());
      if (ref->hasLocalLinkage() || (!entry && !refEntry) ||
          (entry && refEntry))
        classes.unionSets(&gv, ref);
    }
  });
  std::vector<std::vector<const GlobalValue *>> units;
  DenseMap<const GlobalValue *, size_t> unitOf;
  for (const GlobalValue *gv : order) {
    const GlobalValue *leader = classes.getLeaderValue(gv);
    auto [it, fresh] = unitOf.try_emplace(leader, units.size());
    if (fresh)
      units.emplace_back();
    units[it->second].push_back(gv);
  }
  return units;
}

/// The module of one unit: its definitions, and declarations of what it
/// uses from other units (nothing else, so that its bitcode, and its cache
/// key, depend on its own code only).
std::unique_ptr<Module> extractUnit(const Module &module,
                                    ArrayRef<const GlobalValue *> unit) {
  SmallPtrSet<const GlobalValue *, 16> members(unit.begin(), unit.end());
  ValueToValueMapTy map;
  std::unique_ptr<Module> part = CloneModule(
      module, map, [&](const GlobalValue *gv) { return members.contains(gv); });
  bool changed = true;
  while (changed) {
    changed = false;
    for (Function &f : make_early_inc_range(part->functions()))
      if (f.isDeclaration() && f.use_empty()) {
        f.eraseFromParent();
        changed = true;
      }
    for (GlobalVariable &v : make_early_inc_range(part->globals()))
      if (v.isDeclaration() && v.use_empty()) {
        v.eraseFromParent();
        changed = true;
      }
  }
  return part;
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// a concurrent reader of the cache never sees half an object.
Error writeAtomically(StringRef path, ArrayRef<char> bytes) {
  SmallString<256> partial(path);
  partial += ".partial." + std::to_string(sys::Process::getProcessId());
  {
    std::error_code ec;
    raw_fd_ostream os(partial, ec);
    if (ec)
      return createStringError(ec, "cannot write " + partial);
    os.write(bytes.data(), bytes.size());
    os.close();
    if (os.has_error())
      return createStringError(os.error(), "cannot write " + partial);
  }
  if (std::error_code ec = sys::fs::rename(partial, path)) {
    sys::fs::remove(partial);
    return createStringError(ec, "cannot move an object file to " + path);
  }
  return Error::success();
}

} // namespace

Expected<std::vector<std::string>>
emitObjectFiles(Module &module, const Manifest &manifest,
                const mlir::loom::TargetDescription &target, unsigned optLevel,
                StringRef folder, StringRef objectCache, CodegenStats &stats,
                mlir::TimingScope timing) {
  // Registering the targets is not thread-safe the first time: done here,
  // before the workers create their target machines.
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();

  std::vector<Unit> units;
  {
    mlir::TimingScope split = timing.nest("split into units");
    for (const std::vector<const GlobalValue *> &members :
         partitionIntoUnits(module, manifest)) {
      std::unique_ptr<Module> part = extractUnit(module, members);
      Unit &unit = units.emplace_back();
      unit.name = members.front()->getName().str();
      raw_svector_ostream os(unit.bitcode);
      WriteBitcodeToFile(*part, os);
    }
  }

  // The cache key: the unit's code, the target, the optimization level and
  // the build of the compiler (which decides what the code becomes).
  std::string stamp = formatv("{0}|{1}|{2}|O{3}|{4}", target.triple, target.cpu,
                              target.llvmFeatures, optLevel, compilerStamp())
                          .str();
  for (auto [i, unit] : enumerate(units)) {
    uint64_t hash = xxh3_64bits(ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(unit.bitcode.data()),
        unit.bitcode.size()));
    unit.key = utohexstr(hash ^ xxh3_64bits(stamp), /*LowerCase=*/true);
    SmallString<256> path;
    if (!objectCache.empty()) {
      path = objectCache;
      sys::path::append(path, unit.key + ".o");
      // An object that is there was renamed into place whole.
      unit.cached = sys::fs::exists(path);
    } else {
      path = folder;
      sys::path::append(path, formatv("unit{0}.o", i).str());
    }
    unit.objectPath = std::string(path);
  }

  // The largest units first, so that the last to finish are small.
  std::vector<Unit *> work;
  for (Unit &unit : units)
    if (!unit.cached)
      work.push_back(&unit);
  llvm::sort(work, [](const Unit *a, const Unit *b) {
    return a->bitcode.size() != b->bitcode.size()
               ? a->bitcode.size() > b->bitcode.size()
               : a->name < b->name;
  });
  stats.units = units.size();
  stats.compiled = work.size();
  std::mutex timingMutex;
  {
    mlir::TimingScope all = timing.nest(
        formatv("optimize and generate code ({0} of {1} units; on the TBB "
                "threads)",
                work.size(), units.size())
            .str());
    // Timers nested from the TBB threads (MLIR's timing manager keeps
    // them per thread and sums them in the report).
    auto nest = [&](StringRef what) {
      std::lock_guard<std::mutex> lock(timingMutex);
      return all.nest(what);
    };
    tbb::parallel_for_each(work.begin(), work.end(), [&](Unit *unit) {
      LLVMContext context;
      Expected<std::unique_ptr<Module>> part = parseBitcodeFile(
          MemoryBufferRef(StringRef(unit->bitcode.data(), unit->bitcode.size()),
                          unit->name),
          context);
      if (!part) {
        unit->error = part.takeError();
        return;
      }
      SmallVector<char> object;
      raw_svector_ostream os(object);
      if (Error e = emitMachineCode(**part, target, optLevel,
                                    /*assembly=*/false, os, nest("units")))
        unit->error = std::move(e);
      if (!unit->error)
        unit->error = writeAtomically(unit->objectPath, object);
    });
  }
  std::vector<std::string> paths;
  for (Unit &unit : units) {
    if (unit.error)
      return createStringError(formatv("compiling '{0}': {1}", unit.name,
                                       toString(std::move(unit.error)))
                                   .str());
    paths.push_back(unit.objectPath);
  }
  return paths;
}

} // namespace loom
