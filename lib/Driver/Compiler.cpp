//===- Compiler.cpp - model file to executable code -----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Driver/Compiler.h"

#include "loom/Artifact/ArtifactFile.h"
#include "loom/Codegen/Passes.h"
#include "loom/Codegen/Pipelines.h"
#include "loom/Codegen/Target.h"
#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "loom/InitAllDialects.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace llvm;

namespace loom {

/// Runs a pipeline, turning its diagnostics into an Error. The context gets
/// every upstream dialect and extension first: bufferization and the LLVM
/// conversions find their interface implementations there.
static Error runPipeline(mlir::ModuleOp module, StringRef what,
                         function_ref<void(mlir::OpPassManager &)> build,
                         mlir::TimingScope &timing) {
  mlir::DialectRegistry registry;
  mlir::loom::registerLoomToolDialects(registry);
  module.getContext()->appendDialectRegistry(registry);
  mlir::PassManager pm(module.getContext());
  build(pm);
  if (timing)
    pm.enableTiming(timing);
  std::string diagnostics;
  raw_string_ostream os(diagnostics);
  mlir::ScopedDiagnosticHandler handler(
      module.getContext(), [&](mlir::Diagnostic &d) {
        os << d.getLocation() << ": " << d.str() << "\n";
        return mlir::success();
      });
  if (mlir::failed(pm.run(module)))
    return createStringError(Twine("lowering to ") + what + " failed:\n" +
                             diagnostics);
  return Error::success();
}

Error lowerToLinalg(mlir::ModuleOp module, const CompileOptions &options,
                    mlir::TimingScope timing) {
  mlir::TimingScope scope = timing.nest("loom to linalg");
  return runPipeline(
      module, "linalg",
      [&](mlir::OpPassManager &pm) {
        mlir::loom::buildLoomToLinalgPipeline(pm, options);
      },
      scope);
}

Error lowerToGpuKernels(mlir::ModuleOp module, const CompileOptions &options,
                        mlir::TimingScope timing) {
  mlir::TimingScope scope = timing.nest("linalg to GPU kernels");
  return runPipeline(
      module, "GPU kernels",
      [&](mlir::OpPassManager &pm) {
        mlir::loom::buildGpuKernelsPipeline(pm, options);
      },
      scope);
}

Expected<std::vector<GpuKernelCode>> lowerToPTX(mlir::ModuleOp module,
                                                const CompileOptions &options,
                                                mlir::TimingScope timing) {
  mlir::TimingScope scope = timing.nest("GPU kernels to PTX");
  if (Error e = runPipeline(
          module, "PTX",
          [&](mlir::OpPassManager &pm) {
            mlir::loom::buildGpuToBinaryPipeline(pm, options);
          },
          scope))
    return std::move(e);
  std::vector<GpuKernelCode> kernels;
  for (auto binary : module.getOps<mlir::gpu::BinaryOp>())
    for (mlir::Attribute a : binary.getObjects())
      if (auto object = dyn_cast<mlir::gpu::ObjectAttr>(a))
        kernels.push_back(
            {binary.getSymName().str(), object.getObject().getValue().str()});
  return kernels;
}

Error checkArtifactTarget(const CompileOptions &options) {
  if (options.cuda() && options.expertRanks > 1)
    return createStringError("--target=cuda does not take --expert-ranks "
                             "(MPI ranks run on CPUs)");
  return Error::success();
}

/// --target=cuda: the host code may only pass device memory along and
/// launch kernels. A load, store, allocation or copy left outside the
/// kernels would touch device memory from the CPU: an error naming it.
static Error checkHostCode(mlir::ModuleOp module) {
  std::string found;
  module.walk([&](mlir::Operation *op) {
    if (!found.empty() || op->getParentOfType<mlir::gpu::GPUModuleOp>())
      return;
    if (isa<mlir::memref::LoadOp, mlir::memref::StoreOp, mlir::memref::AllocOp,
            mlir::memref::CopyOp>(op)) {
      auto func = op->getParentOfType<mlir::func::FuncOp>();
      found = formatv("--target=cuda: '{0}' in the host code of '{1}' would "
                      "touch device memory from the CPU (no GPU kernel of "
                      "it was made)",
                      op->getName().getStringRef(),
                      func ? func.getSymName() : StringRef("?"))
                  .str();
    }
  });
  return found.empty() ? Error::success() : createStringError(found);
}

Error lowerFunctionsToLLVM(mlir::ModuleOp module,
                           const CompileOptions &options) {
  mlir::TimingScope none;
  return runPipeline(
      module, "the LLVM dialect",
      [&](mlir::OpPassManager &pm) {
        mlir::loom::buildLoomToLLVMPipeline(pm, options);
      },
      none);
}

Error lowerFunctionsToLLVM(mlir::ModuleOp module) {
  return lowerFunctionsToLLVM(module, CompileOptions());
}

Expected<TargetDescription> moduleTarget(mlir::ModuleOp module) {
  if (std::optional<TargetDescription> target =
          mlir::loom::getTargetSpec(module))
    return *target;
  return createStringError("the module names no target CPU (no "
                           "dlti.target_system_spec with a \"CPU\" device; "
                           "loom-set-target writes one)");
}

std::string weightsFingerprint(const ModelFile &model) {
  std::string text;
  raw_string_ostream os(text);
  for (const WeightInfo &w : model.weights) {
    os << w.name << ':' << storageTypeName(w.storage);
    for (int64_t d : w.shape)
      os << 'x' << d;
    // Stored transposed (GPT-2's Conv1D): the artifact reads it otherwise.
    if (w.transposed)
      os << 'T';
    os << ';';
  }
  return utohexstr(xxh3_64bits(text), /*LowerCase=*/true);
}

/// Reads the calling convention of the bufferized entry points.
static Expected<Manifest> readManifest(mlir::ModuleOp module,
                                       const ModelFile &model) {
  Manifest m;
  auto config =
      module->getAttrOfType<mlir::DictionaryAttr>(mlir::loom::kModelAttr);
  if (!config)
    return createStringError("the module has no loom.model attribute: it was "
                             "not built from a model file");
  auto get = [&](StringRef key) -> int64_t {
    auto a = config.getAs<mlir::IntegerAttr>(key);
    return a ? a.getInt() : 0;
  };
  if (auto arch = config.getAs<mlir::StringAttr>("architecture"))
    m.architecture = arch.str();
  m.dim = get("dim");
  m.layers = get("layers");
  m.heads = get("heads");
  m.kvHeads = get("kv_heads");
  m.headDim = get("head_dim");
  m.vocab = get("vocab");
  m.contextLength = get("context_length");
  SmallString<256> absolute(model.path);
  sys::fs::make_absolute(absolute);
  m.modelPath = absolute.str().str();
  m.weightsFingerprint = weightsFingerprint(model);

  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal() ||
        func->hasAttr(mlir::loom::kKernelOfAttr))
      continue;
    if (func->hasAttr(mlir::loom::kRuntimeHelperAttr))
      continue;
    EntryInfo entry;
    entry.name = func.getName().str();
    if (auto schedule = func->getAttrOfType<mlir::loom::ScheduleAttr>(
            mlir::loom::kScheduleAttr)) {
      entry.arenaBytes = schedule.getArenaBytes();
      entry.maxTokens = schedule.getMaxTokens();
      for (mlir::loom::KernelAttr k : schedule.getKernelList()) {
        KernelInfo info;
        info.name = k.getName().str();
        if (k.getCode())
          info.code = k.getCode().str();
        if (k.getOp())
          info.op = k.getOp().str();
        llvm::append_range(info.deps, k.getDeps().asArrayRef());
        llvm::append_range(info.params, k.getParams().asArrayRef());
        for (auto n : k.getReads().getAsRange<mlir::StringAttr>())
          info.reads.push_back(n.str());
        for (auto n : k.getWrites().getAsRange<mlir::StringAttr>())
          info.writes.push_back(n.str());
        entry.kernels.push_back(std::move(info));
      }
    }
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      ParamInfo p;
      mlir::Type type = func.getArgument(i).getType();
      if (auto memref = dyn_cast<mlir::MemRefType>(type)) {
        for (int64_t d : memref.getShape())
          p.shape.push_back(mlir::ShapedType::isDynamic(d) ? -1 : d);
        mlir::Type elt = memref.getElementType();
        p.elementType = elt.isF32()         ? "f32"
                        : elt.isF16()       ? "f16"
                        : elt.isBF16()      ? "bf16"
                        : elt.isInteger(32) ? "i32"
                        : elt.isInteger(8)  ? "i8"
                                            : "?";
      } else if (type.isIndex()) {
        p.elementType = "index";
      } else {
        return createStringError(
            formatv("entry '{0}': parameter {1} has an unsupported type",
                    entry.name, i)
                .str());
      }
      auto weight = func.getArgAttrOfType<mlir::StringAttr>(
          i, mlir::loom::kWeightArgAttr);
      auto name =
          func.getArgAttrOfType<mlir::StringAttr>(i, mlir::loom::kNameAttr);
      std::optional<mlir::loom::ParamRole> role =
          mlir::loom::getArgRole(func, i);
      if (weight) {
        p.kind = ParamInfo::Kind::Weight;
        p.name = weight.str();
        // The storage follows from the type the frontend read it as (i8
        // blocks: their loom.block_format, or the format whose blocks have
        // that many bytes where only one does), or from
        // what a repacking pass recorded it was made from at load
        // (loom-narrow-weights, loom-interleave-weights).
        std::optional<StorageType> storage = storageTypeNamed(p.elementType);
        if (p.elementType == "i8" && !p.shape.empty())
          if (std::optional<blocks::Format> f =
                  blocks::plainWithBytes(p.shape.back()))
            storage = blocks::info(*f).storage;
        if (auto format = func.getArgAttrOfType<mlir::StringAttr>(
                i, mlir::loom::kBlockFormatAttr))
          if (std::optional<blocks::Format> f =
                  blocks::named(format.getValue()))
            storage = blocks::info(*f).storage;
        if (auto from = func.getArgAttrOfType<mlir::StringAttr>(
                i, mlir::loom::kPackedFromAttr))
          storage = storageTypeNamed(from.getValue());
        p.transposed =
            func.getArgAttr(i, mlir::loom::kStoredTransposedAttr) != nullptr;
        if (!storage)
          return createStringError(
              formatv("entry '{0}': weight '{1}' of type {2} [{3}] has no "
                      "storage type the runtime knows",
                      entry.name, p.name, p.elementType,
                      make_range(p.shape.begin(), p.shape.end()))
                  .str());
        p.storage = *storage;
        if (auto shards = func.getArgAttrOfType<mlir::IntegerAttr>(
                i, mlir::loom::kShardArgAttr))
          p.shards = shards.getInt();
      } else if (role) {
        // The roles map one to one onto the manifest's kinds.
        using mlir::loom::ParamRole;
        switch (*role) {
        case ParamRole::tokens:
          p.kind = ParamInfo::Kind::Tokens;
          break;
        case ParamRole::position:
          p.kind = ParamInfo::Kind::Position;
          break;
        case ParamRole::logits_from:
          p.kind = ParamInfo::Kind::LogitsFrom;
          break;
        case ParamRole::logits:
          p.kind = ParamInfo::Kind::Logits;
          break;
        case ParamRole::arena:
          p.kind = ParamInfo::Kind::Arena;
          break;
        case ParamRole::token_types:
          p.kind = ParamInfo::Kind::TokenTypes;
          break;
        case ParamRole::positions:
          p.kind = ParamInfo::Kind::Positions;
          break;
        case ParamRole::sequences:
          p.kind = ParamInfo::Kind::Sequences;
          break;
        case ParamRole::sequence_lengths:
          p.kind = ParamInfo::Kind::SequenceLengths;
          break;
        case ParamRole::cache:
          if (!func.getArgAttr(i, mlir::loom::kInPlaceResultAttr))
            return createStringError(
                formatv("entry '{0}': cache '{1}' was not updated in place; "
                        "the runtime cannot bind it",
                        entry.name, name ? name.getValue() : "?")
                    .str());
          p.kind = ParamInfo::Kind::Cache;
          break;
        }
        p.name = p.kind == ParamInfo::Kind::Cache && name
                     ? name.str()
                     : mlir::loom::stringifyParamRole(*role).str();
      } else if (none_of(entry.params, [](const ParamInfo &q) {
                   return q.kind == ParamInfo::Kind::Logits;
                 })) {
        // The logits result (`loom.role = #loom.role<logits>`), now an
        // out-parameter: bufferization does not carry result attributes
        // over to the argument it makes.
        p.kind = ParamInfo::Kind::Logits;
        p.name = "logits";
      } else {
        return createStringError(
            formatv("entry '{0}': parameter {1} has no loom.role or "
                    "loom.weight; the runtime cannot bind it",
                    entry.name, i)
                .str());
      }
      entry.params.push_back(std::move(p));
    }
    if (func.getNumResults() != 0)
      return createStringError(
          formatv("entry '{0}' still returns {1} values after bufferization",
                  entry.name, func.getNumResults())
              .str());
    m.entries.push_back(std::move(entry));
  }
  return m;
}

Expected<Manifest> lowerToLLVMDialect(mlir::ModuleOp module,
                                      const ModelFile &model,
                                      const CompileOptions &options,
                                      mlir::TimingScope timing) {
  {
    mlir::TimingScope scope = timing.nest("bufferization and schedule");
    if (Error e = runPipeline(
            module, "memrefs",
            [&](mlir::OpPassManager &pm) {
              mlir::loom::buildBufferizationPipeline(pm, options);
            },
            scope))
      return std::move(e);
  }
  Expected<Manifest> manifest = readManifest(module, model);
  if (!manifest)
    return manifest.takeError();
  manifest->mpiRanks = std::max<int64_t>(options.expertRanks, 1);
  manifest->modelConfig = describeConfig(model.config);
  Expected<TargetDescription> target = moduleTarget(module);
  if (!target)
    return target.takeError();
  manifest->cpu = target->cpu;
  manifest->cpuFeatures = target->isaFeatures;
  if (options.emulateGpu) {
    // The GPU kernels' loops, blocks and threads, run by this CPU: the
    // artifact is the CPU's (its manifest names no GPU).
    mlir::TimingScope scope = timing.nest("GPU loops for this CPU");
    if (Error e = runPipeline(
            module, "the LLVM dialect",
            [&](mlir::OpPassManager &pm) {
              mlir::loom::addGpuLoops(pm, options);
              mlir::loom::buildMemRefToLLVMPipeline(pm, options);
            },
            scope))
      return std::move(e);
    return manifest;
  }
  if (options.cuda()) {
    // Every linalg op a kernel in a cubin (or PTX); the host code launches
    // them.
    std::optional<mlir::loom::GpuDescription> gpu =
        mlir::loom::getGpuTargetSpec(module);
    if (!gpu)
      return createStringError("--target=cuda: the module's target spec "
                               "describes no GPU");
    manifest->gpu = gpu->chip;
    Expected<std::string> binaryKind = mlir::loom::resolveGpuBinary(options);
    if (!binaryKind)
      return binaryKind.takeError();
    manifest->gpuBinary = *binaryKind;
    mlir::TimingScope scope = timing.nest("GPU kernels and host code");
    if (Error e = runPipeline(
            module, "GPU kernels",
            [&](mlir::OpPassManager &pm) {
              mlir::loom::addGpuLaunches(pm, options);
            },
            scope))
      return std::move(e);
    if (Error e = checkHostCode(module))
      return std::move(e);
    if (Error e = runPipeline(
            module, "the LLVM dialect",
            [&](mlir::OpPassManager &pm) {
              mlir::loom::buildGpuToBinaryPipeline(pm, options,
                                                   manifest->gpuBinary);
              mlir::loom::buildGpuHostToLLVMPipeline(pm);
            },
            scope))
      return std::move(e);
    return manifest;
  }
  mlir::TimingScope scope = timing.nest("memrefs to the LLVM dialect");
  if (Error e = runPipeline(
          module, "the LLVM dialect",
          [&](mlir::OpPassManager &pm) {
            mlir::loom::buildMemRefToLLVMPipeline(pm, options);
          },
          scope))
    return std::move(e);
  return manifest;
}

/// `void loom_entry_<name>(void **args)`: args[slot(i)] points to the i-th
/// argument of `_mlir_ciface_<name>` (a descriptor pointer or an i64), where
/// slot(i) is `params[i]`, or i when `params` is empty. A kernel thus reads
/// its parameters out of the entry point's packed arguments.
static Error addEntryWrapper(Module &module, StringRef entry,
                             ArrayRef<int64_t> params = {}) {
  Function *callee = module.getFunction(("_mlir_ciface_" + entry).str());
  if (!callee)
    return createStringError("no C interface for entry point '" + entry + "'");
  LLVMContext &ctx = module.getContext();
  auto *ptrTy = PointerType::get(ctx, 0);
  auto *type = FunctionType::get(Type::getVoidTy(ctx), {ptrTy}, false);
  Function *wrapper = Function::Create(type, GlobalValue::ExternalLinkage,
                                       "loom_entry_" + entry, module);
  IRBuilder<> b(BasicBlock::Create(ctx, "entry", wrapper));
  Value *args = wrapper->getArg(0);
  SmallVector<Value *> callArgs;
  if (!params.empty() && params.size() != callee->arg_size())
    return createStringError(
        "kernel '" + entry + "' takes " + Twine(callee->arg_size()) +
        " arguments, its manifest lists " + Twine(params.size()));
  for (auto [i, param] : enumerate(callee->args())) {
    Value *slot =
        b.CreateConstGEP1_64(ptrTy, args, params.empty() ? i : params[i]);
    Value *address = b.CreateLoad(ptrTy, slot);
    callArgs.push_back(b.CreateLoad(param.getType(), address));
  }
  b.CreateCall(callee, callArgs);
  b.CreateRetVoid();
  return Error::success();
}

Expected<std::unique_ptr<Module>> translateToLLVMIR(mlir::ModuleOp module,
                                                    const Manifest &manifest,
                                                    LLVMContext &context,
                                                    mlir::TimingScope timing) {
  mlir::TimingScope scope = timing.nest("translation to LLVM IR");
  mlir::registerBuiltinDialectTranslation(*module.getContext());
  mlir::registerLLVMDialectTranslation(*module.getContext());
  // --target=cuda: gpu.binary (the kernels' PTX, loaded by a constructor)
  // and the launches of its kernels.
  {
    mlir::DialectRegistry registry;
    mlir::registerGPUDialectTranslation(registry);
    mlir::gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(
        registry);
    module.getContext()->appendDialectRegistry(registry);
  }
  // The manifest has what the loom.* argument attributes said; LLVM IR has
  // no place for them (the translation would warn once per argument).
  for (auto func : module.getOps<mlir::LLVM::LLVMFuncOp>()) {
    auto fn = cast<mlir::FunctionOpInterface>(func.getOperation());
    for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i) {
      SmallVector<mlir::StringAttr> names;
      for (mlir::NamedAttribute a : fn.getArgAttrs(i))
        if (a.getName().strref().starts_with("loom."))
          names.push_back(a.getName());
      for (mlir::StringAttr name : names)
        fn.removeArgAttr(i, name);
    }
  }
  std::unique_ptr<Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, context, "loom");
  if (!llvmModule)
    return createStringError("translating the LLVM dialect to LLVM IR failed");
  for (const EntryInfo &e : manifest.entries) {
    if (Error err = addEntryWrapper(*llvmModule, e.name))
      return std::move(err);
    for (const KernelInfo &k : e.kernels)
      if (Error err = addEntryWrapper(*llvmModule, k.name, k.params))
        return std::move(err);
  }
  Constant *json = ConstantDataArray::getString(context, manifest.toJSON());
  new GlobalVariable(*llvmModule, json->getType(), /*isConstant=*/true,
                     GlobalValue::ExternalLinkage, json, "loom_manifest");
  return llvmModule;
}

/// LLVM's default pipeline at `optLevel`, without loop unrolling and
/// interleaving: the loop nests Loom emits have static trip counts, and
/// unrolling them all triples the compile time (stories260K: 31 s against
/// 9 s here) while the generated code runs as fast. Loop and SLP
/// vectorization stay on.
static void optimizeModule(Module &module, unsigned optLevel,
                           TargetMachine *tm) {
  PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  tuning.LoopInterleaving = false;
  tuning.LoopVectorization = optLevel >= 2;
  tuning.SLPVectorization = optLevel >= 2;
  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PassBuilder pb(tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  ModulePassManager mpm = optLevel == 0
                              ? pb.buildO0DefaultPipeline(OptimizationLevel::O0)
                              : pb.buildPerModuleDefaultPipeline(
                                    optLevel == 1   ? OptimizationLevel::O1
                                    : optLevel == 2 ? OptimizationLevel::O2
                                                    : OptimizationLevel::O3);
  mpm.run(module, mam);
}

static Expected<std::unique_ptr<TargetMachine>>
createTargetMachine(const TargetDescription &t, unsigned optLevel) {
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  Triple triple(t.triple.empty() ? sys::getDefaultTargetTriple() : t.triple);
  std::string error;
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError("no target for " + triple.str() + ": " + error);
  TargetOptions targetOptions;
  // Constructors (--target=cuda: each kernel module's load) in .init_array,
  // which glibc runs; it ignores the old .ctors.
  targetOptions.UseInitArray = true;
  std::unique_ptr<TargetMachine> tm(target->createTargetMachine(
      triple, t.cpu, t.llvmFeatures, targetOptions, Reloc::PIC_, std::nullopt,
      optLevel >= 2 ? CodeGenOptLevel::Aggressive : CodeGenOptLevel::Default));
  if (!tm)
    return createStringError("cannot create a target machine for CPU '" +
                             t.cpu + "'");
  return tm;
}

Error emitMachineCode(Module &module, const TargetDescription &target,
                      unsigned optLevel, bool assembly, raw_pwrite_stream &os,
                      mlir::TimingScope timing) {
  Expected<std::unique_ptr<TargetMachine>> tm =
      createTargetMachine(target, optLevel);
  if (!tm)
    return tm.takeError();
  module.setDataLayout((*tm)->createDataLayout());
  module.setTargetTriple((*tm)->getTargetTriple());
  {
    mlir::TimingScope scope = timing.nest("LLVM optimization");
    optimizeModule(module, optLevel, tm->get());
  }
  mlir::TimingScope scope = timing.nest("LLVM code generation");
  legacy::PassManager pm;
  if ((*tm)->addPassesToEmitFile(pm, os, nullptr,
                                 assembly ? CodeGenFileType::AssemblyFile
                                          : CodeGenFileType::ObjectFile))
    return createStringError("the target cannot emit this file type");
  pm.run(module);
  return Error::success();
}

Error linkArtifact(ArrayRef<std::string> objectPaths, StringRef outputPath,
                   bool mpi) {
  // The Debian clang of the LLVM Loom was built with links the object with
  // libm, and with compiler-rt's builtins, statically (conversions LLVM
  // emits as calls where the CPU lacks the instruction: __truncsfbf2 for
  // bf16 before AVX512-BF16). What else compiled code calls
  // (loom_parallel_for, memrefCopy) the runtime defines: an artifact needs
  // no MLIR library.
  std::string clang = LOOM_LLVM_TOOLS_DIR "/clang";
  if (!sys::fs::can_execute(clang)) {
    ErrorOr<std::string> found = sys::findProgramByName("clang-22");
    if (!found)
      return createStringError("cannot link the artifact: no clang at " +
                               clang + " or on PATH");
    clang = *found;
  }
  SmallVector<StringRef> args = {clang,          "-shared",
                                 "-fuse-ld=lld", "--rtlib=compiler-rt",
                                 "-o",           outputPath};
  for (const std::string &object : objectPaths)
    args.push_back(object);
  args.push_back("-lm");
  // Expert ranks call the MPI library (OpenMPI's, from Debian's
  // libopenmpi-dev).
  if (mpi)
    args.push_back("-lmpi");
  std::string error;
  int rc = sys::ExecuteAndWait(clang, args, std::nullopt, {}, 0, 0, &error);
  if (rc != 0)
    return createStringError(formatv("linking {0} failed (exit {1}){2}{3}",
                                     outputPath, rc, error.empty() ? "" : ": ",
                                     error)
                                 .str());
  return Error::success();
}

Error checkOptionsForModel(const ModelFile &model,
                           const CompileOptions &options) {
  StringRef file = sys::path::filename(model.path);
  const ModelConfig &c = model.config;
  // --expert-shards on a dense model changes nothing (expert-shards.test);
  // --expert-ranks would make an MPI program of one that has nothing to
  // distribute.
  if (options.expertRanks > 1 && c.numExperts == 0)
    return createStringError(
        formatv("--expert-ranks={0}: {1} is a dense model (no "
                "Mixture-of-Experts layers), so there are no experts to place "
                "on {0} ranks",
                int64_t(options.expertRanks), file)
            .str());
  if (options.expertRanks > 1 && options.expertRanks > c.numExperts)
    return createStringError(formatv("--expert-ranks={0}: {1} has only {2} "
                                     "experts per layer",
                                     int64_t(options.expertRanks), file,
                                     c.numExperts)
                                 .str());
  return Error::success();
}

Error compileArtifact(const ModelFile &model, const CompileOptions &options,
                      StringRef outputPath, StringRef objectCache,
                      mlir::TimingScope timing) {
  if (Error e = checkArtifactTarget(options))
    return e;
  if (Error e = checkOptionsForModel(model, options))
    return e;
  if (!options.cpu.empty())
    if (Expected<TargetDescription> known = describeTarget(options.cpu); !known)
      return known.takeError();
  mlir::MLIRContext context;
  mlir::TimingScope frontend = timing.nest("frontend (loom IR)");
  auto module = buildModel(context, model, buildOptions(options));
  if (!module)
    return module.takeError();
  frontend.stop();
  return compileModule(**module, model, options, outputPath, objectCache,
                       std::move(timing));
}

Error compileModule(mlir::ModuleOp module, const ModelFile &model,
                    const CompileOptions &options, StringRef outputPath,
                    StringRef objectCache, mlir::TimingScope timing) {
  if (Error e = checkArtifactTarget(options))
    return e;
  if (Error e = lowerToLinalg(module, options, timing.nest("lowering")))
    return e;
  Expected<Manifest> manifest =
      lowerToLLVMDialect(module, model, options, timing.nest("lowering"));
  if (!manifest)
    return manifest.takeError();
  Expected<TargetDescription> target = moduleTarget(module);
  if (!target)
    return target.takeError();
  LLVMContext llvmContext;
  auto llvmModule =
      translateToLLVMIR(module, *manifest, llvmContext, timing.nest("LLVM"));
  if (!llvmModule)
    return llvmModule.takeError();
  // The objects go to a temporary folder, or to the object cache.
  SmallString<128> folder;
  if (std::error_code ec =
          sys::fs::createUniqueDirectory("loom-artifact", folder))
    return createStringError(ec, "cannot create a temporary folder");
  scope_exit removeFolder([&] {
    std::error_code ec;
    for (sys::fs::directory_iterator it(folder, ec), end; it != end && !ec;
         it.increment(ec))
      sys::fs::remove(it->path());
    sys::fs::remove(folder);
  });
  if (!objectCache.empty())
    if (std::error_code ec = sys::fs::create_directories(objectCache))
      return createStringError(ec,
                               "cannot create the object cache " + objectCache);
  CodegenStats stats;
  Expected<std::vector<std::string>> objects =
      emitObjectFiles(**llvmModule, *manifest, *target, options.optLevel,
                      folder, objectCache, stats, timing.nest("LLVM"));
  if (!objects)
    return objects.takeError();
  mlir::TimingScope link = timing.nest("link and seal");
  if (Error e = linkArtifact(*objects, outputPath, manifest->mpiRanks > 1))
    return e;
  return sealArtifact(outputPath);
}

} // namespace loom
