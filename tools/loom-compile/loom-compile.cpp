//===- loom-compile.cpp - the Loom model compiler driver ------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Model file in, a stage of the compiler out:
//
//   loom-compile model.gguf --emit=loom -o model.mlir
//   loom-compile model.gguf --print-config
//
// The stage names of --emit are shared by every stage of the pipeline; the
// ones after `loom` come with the code generator.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/CompileOptions.h"
#include "loom/Codegen/Target.h"
#include "loom/Driver/CompileCache.h"
#include "loom/Driver/Compiler.h"
#include "loom/Frontend/ModelBuilder.h"
#include "loom/Frontend/ModelFile.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

using namespace llvm;

namespace {

using loom::Stage;

cl::OptionCategory category("loom-compile options");

cl::opt<std::string> inputPath(cl::Positional, cl::desc("<model file>"),
                               cl::cat(category));

cl::opt<Stage> emit(
    "emit", cl::desc("The stage to print or write (default: loom)"),
    cl::init(Stage::Loom),
    cl::values(
        clEnumValN(Stage::Loom, "loom",
                   "loom dialect IR, as the frontend builds it"),
        clEnumValN(Stage::Linalg, "linalg",
                   "linalg/tensor IR with the weights as function arguments"),
        clEnumValN(Stage::LLVM, "llvm",
                   "LLVM IR, with the entry wrappers and the manifest"),
        clEnumValN(Stage::Asm, "asm", "assembly for the target CPU"),
        clEnumValN(Stage::Obj, "obj", "an object file for the target CPU"),
        clEnumValN(Stage::Artifact, "artifact",
                   "a shared object loom-run loads (the default when -o "
                   "names a .so file)"),
        clEnumValN(Stage::Gpu, "gpu",
                   "with --target=cuda: the GPU kernels (gpu dialect), "
                   "launched by the entry points"),
        clEnumValN(Stage::Ptx, "ptx",
                   "with --target=cuda: the kernels' PTX for --gpu, one "
                   "module after another")),
    cl::cat(category));

cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                cl::value_desc("file"), cl::init("-"),
                                cl::cat(category));

cl::opt<bool> printConfig(
    "print-config",
    cl::desc("Print what the reader understood of the model file (config, "
             "weights, tokenizer) as a table, and stop"),
    cl::cat(category));

cl::opt<bool> printSchedule(
    "print-schedule",
    cl::desc("Print each entry point's schedule (its kernels, what each "
             "waits for, reads and writes, and the activation arena the "
             "compiler planned) as a table, and stop"),
    cl::cat(category));

cl::opt<bool> printTargetFlag(
    "print-target",
    cl::desc("Print what the code generator knows of the CPU (this machine's, "
             "or --cpu's): vector units, caches, and the matrix tile sizes "
             "derived from them; no model file needed"),
    cl::cat(category));

cl::opt<std::string> cacheDir(
    "cache-dir",
    cl::desc("Where the object files of compiled units of code (each "
             "kernel's code, each entry point) are kept, by a hash of their "
             "code and the target: a unit whose code did not change is not "
             "compiled again, whatever other option or model changed "
             "(default: the objects folder of loom-run's cache, "
             "$XDG_CACHE_HOME/loom or ~/.cache/loom)"),
    cl::value_desc("dir"), cl::cat(category));
cl::opt<bool> noCache("no-cache",
                      cl::desc("Compile every unit of code; keep no object "
                               "files"),
                      cl::cat(category));

cl::opt<bool> timing(
    "timing",
    cl::desc("Print where the compile time went (to stderr, when done): "
             "each stage, and inside the MLIR pipelines each pass, as a "
             "tree of wall and user times; -mlir-timing-display=list sums "
             "the passes instead"),
    cl::cat(category));

/// The compile options (--cpu, --max-tokens, ...): those of
/// loom-codegen-pipeline, bound to flags in main.
mlir::loom::CompileOptions options;

/// -O2 for --opt-level=2.
cl::opt<unsigned> optLevelAlias("O", cl::desc("The same as --opt-level"),
                                cl::value_desc("N"), cl::Prefix,
                                cl::cat(category),
                                cl::callback([](const unsigned &level) {
                                  options.optLevel = level;
                                }));

int fail(const Twine &message) {
  fmt::print(stderr, "loom-compile: error: {}\n", message.str());
  return 1;
}

void printConfigTable(const loom::ModelFile &m) {
  const loom::ModelConfig &c = m.config;
  auto row = [](StringRef key, const std::string &value) {
    fmt::print("{:<22} {}\n", key.str(), value);
  };
  row("file", fmt::format("{} ({})", m.path, m.format));
  row("architecture", c.architecture);
  row("dim", std::to_string(c.dim));
  row("hidden_dim", std::to_string(c.hiddenDim));
  row("layers", std::to_string(c.numLayers));
  row("heads", std::to_string(c.numHeads));
  row("kv_heads", std::to_string(c.numKVHeads));
  row("head_dim", std::to_string(c.headDim));
  row("vocab", std::to_string(c.vocabSize));
  row("context_length", std::to_string(c.contextLength));
  // The KV cache the artifact gets with the --context-length given.
  Expected<int64_t> positions =
      loom::chooseContextLength(c, options.contextLength, m.path);
  if (!positions)
    row("kv_cache", toString(positions.takeError()));
  else if (options.contextLength > 0)
    row("kv_cache", fmt::format("{} positions (--context-length)", *positions));
  else if (*positions < c.contextLength)
    row("kv_cache", fmt::format("{} positions (the model's {}, capped; "
                                "--context-length to change)",
                                *positions, c.contextLength));
  else
    row("kv_cache", fmt::format("{} positions (the model's)", *positions));
  // The blocks the family is built from.
  const loom::ModelBlocks &b = c.blocks;
  row("norm",
      fmt::format("{} (eps {:g})", loom::blockName(b.norm).str(), c.normEps));
  row("positions", loom::blockName(b.positions).str());
  if (b.positions == loom::PositionKind::Rotary) {
    row("rope_theta", fmt::format("{:g}", c.ropeTheta));
    row("rope_style",
        c.ropeStyle == loom::RopeStyle::Half ? "half (NeoX)" : "interleaved");
  }
  row("attention", fmt::format("{}, {} QKV projections",
                               b.causal ? "causal" : "bidirectional",
                               loom::blockName(b.qkv).str()));
  row("feed_forward", loom::blockName(b.feedForward).str());
  row("wiring", loom::blockName(b.wiring).str());
  if (b.tokenTypes)
    row("token_types", std::to_string(c.numTokenTypes));
  if (!b.causal)
    row("pooling",
        c.pooling == loom::Pooling::None
            ? std::string("none (no sentence embedding)")
            : fmt::format("{}{}", loom::blockName(c.pooling).str(),
                          c.normalizeEmbedding ? ", normalized" : ""));
  if (b.embeddingNorm || !b.outputNorm)
    row("norms",
        fmt::format("embedding {}, output {}", b.embeddingNorm ? "yes" : "no",
                    b.outputNorm ? "yes" : "no"));
  row("tied_embeddings", c.tiedEmbeddings ? "yes" : "no");
  row("attention_bias", c.attentionBias ? "yes" : "no");
  row("projection_bias", b.projectionBias ? "yes" : "no");
  row("sliding_window",
      c.slidingWindow ? std::to_string(*c.slidingWindow) : "none");
  row("experts", c.numExperts ? fmt::format("{} (top {})", c.numExperts,
                                            c.numExpertsPerToken)
                              : "none (dense)");
  int64_t params = 0;
  std::map<std::string, int> byType;
  for (const loom::WeightInfo &w : m.weights) {
    params += w.numElements();
    ++byType[loom::storageTypeName(w.storage).str()];
  }
  std::string types;
  for (auto &[name, n] : byType)
    types += fmt::format("{}{} {}", types.empty() ? "" : ", ", n, name);
  row("weights", fmt::format("{} tensors, {} parameters ({})", m.weights.size(),
                             params, types));
  row("tokenizer", m.tokenizer.empty()
                       ? "none in the file"
                       : fmt::format("{}, {} pieces", m.tokenizer.model,
                                     m.tokenizer.pieces.size()));
}

/// The longest chain of kernels and the most kernels that can run at once
/// by level (kernels whose longest chain of predecessors has one length).
void printScheduleTable(const loom::Manifest &m) {
  for (const loom::EntryInfo &e : m.entries) {
    std::vector<int64_t> level(e.kernels.size(), 0);
    std::map<int64_t, int> width;
    for (size_t k = 0; k < e.kernels.size(); ++k) {
      for (int64_t d : e.kernels[k].deps)
        level[k] = std::max(level[k], level[d] + 1);
      ++width[level[k]];
    }
    int widest = 0;
    for (auto &[l, w] : width)
      widest = std::max(widest, w);
    // Kernels that run shared code, by the code's name.
    std::map<std::string, int> sharing;
    for (const loom::KernelInfo &k : e.kernels)
      if (!k.code.empty())
        ++sharing[k.code];
    fmt::print("entry {}: {} kernels, {} levels, up to {} at once; arena {} "
               "bytes (planned for {} tokens)\n",
               e.name, e.kernels.size(), width.size(), widest, e.arenaBytes,
               e.maxTokens);
    size_t own = llvm::count_if(
        e.kernels, [](const loom::KernelInfo &k) { return k.code.empty(); });
    fmt::print("  code: {} functions ({} kernels with code of their own, {} "
               "shared by {} kernels)\n",
               own + sharing.size(), own, sharing.size(),
               e.kernels.size() - own);
    auto join = [](const auto &items) {
      std::string out;
      for (const auto &item : items)
        out += fmt::format("{}{}", out.empty() ? "" : " ", item);
      return out.empty() ? std::string("-") : out;
    };
    for (size_t k = 0; k < e.kernels.size(); ++k) {
      const loom::KernelInfo &info = e.kernels[k];
      fmt::print("  {:<4} {:<14} level {:<3} after {}\n", k, info.name,
                 level[k], join(info.deps));
      fmt::print("       reads  {}\n       writes {}\n", join(info.reads),
                 join(info.writes));
      if (!info.code.empty())
        fmt::print("       code   {} (shared by {} kernels)\n", info.code,
                   sharing[info.code]);
      if (!info.op.empty())
        fmt::print("       op     {}\n", info.op);
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  mlir::loom::bindCompileFlags(options, category);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "Loom model compiler\n\n"
      "Reads a model file (GGUF, llama2.c .bin, safetensors + config.json)\n"
      "and writes the requested stage of its compilation.\n");

  if (printTargetFlag) {
    Expected<loom::TargetDescription> target =
        loom::describeTarget(options.cpu);
    if (!target)
      return fail(toString(target.takeError()));
    loom::printTarget(*target, outs());
    return 0;
  }
  if (inputPath.empty())
    return fail("no model file given (see --help)");

  Expected<std::unique_ptr<loom::ModelFile>> model =
      loom::readModelFile(inputPath);
  if (!model)
    return fail(toString(model.takeError()));
  if (printConfig) {
    printConfigTable(**model);
    return 0;
  }
  if (Error err = loom::validateModel(**model))
    return fail(toString(std::move(err)));
  Stage stage = emit;
  if (emit.getNumOccurrences() == 0 && StringRef(outputPath).ends_with(".so"))
    stage = Stage::Artifact;
  if (printSchedule)
    stage = Stage::LLVM; // the schedule is made with the memrefs

  if (Error e = options.validate())
    return fail(toString(std::move(e)));
  if (Error e = loom::checkOptionsForModel(**model, options))
    return fail(toString(std::move(e)));
  // An unknown CPU would make LLVM warn and generate generic code, or abort.
  if (!options.cpu.empty())
    if (Expected<loom::TargetDescription> known =
            loom::describeTarget(options.cpu);
        !known)
      return fail(toString(known.takeError()));

  // The NVIDIA target stops at its kernels' PTX: nothing runs them yet.
  bool gpuStage = stage == Stage::Gpu || stage == Stage::Ptx;
  if (gpuStage && !options.cuda())
    return fail("--emit=gpu and --emit=ptx need --target=cuda");
  if (gpuStage && options.emulateGpu)
    return fail("--emit=gpu and --emit=ptx show GPU kernels; --emulate-gpu "
                "compiles their loops for the CPU instead");
  if (!gpuStage && stage != Stage::Loom && stage != Stage::Linalg)
    if (Error e = loom::checkArtifactTarget(options))
      return fail(toString(std::move(e)));

  // The report prints when the manager goes, after the last stage's scope.
  mlir::DefaultTimingManager timingManager;
  mlir::applyDefaultTimingManagerCLOptions(timingManager);
  if (timing)
    timingManager.setEnabled(true);
  mlir::TimingScope root = timingManager.getRootScope();

  if (stage == Stage::Artifact) {
    if (outputPath == "-")
      return fail("--emit=artifact writes a shared object: name it with -o");
    SmallString<256> objects;
    if (!noCache) {
      loom::CacheOptions cache;
      cache.dir = cacheDir;
      objects = loom::cacheFolder(cache);
      sys::path::append(objects, "objects");
    }
    if (Error err = loom::compileArtifact(**model, options, outputPath, objects,
                                          std::move(root)))
      return fail(toString(std::move(err)));
    return 0;
  }

  mlir::MLIRContext context;
  mlir::TimingScope frontend = root.nest("frontend (loom IR)");
  auto module = loom::buildModel(context, **model, loom::buildOptions(options));
  if (!module)
    return fail(toString(module.takeError()));
  frontend.stop();
  std::string errorMessage;
  std::unique_ptr<ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &errorMessage);
  if (!output)
    return fail(errorMessage);

  if (stage != Stage::Loom)
    if (Error err =
            loom::lowerToLinalg(**module, options, root.nest("lowering")))
      return fail(toString(std::move(err)));
  if (stage == Stage::Loom || stage == Stage::Linalg) {
    (*module)->print(output->os());
    output->os() << "\n";
    output->keep();
    return 0;
  }
  if (gpuStage) {
    if (Error err =
            loom::lowerToGpuKernels(**module, options, root.nest("lowering")))
      return fail(toString(std::move(err)));
    if (stage == Stage::Gpu) {
      (*module)->print(output->os());
      output->os() << "\n";
      output->keep();
      return 0;
    }
    Expected<std::vector<loom::GpuKernelCode>> kernels =
        loom::lowerToPTX(**module, options, root.nest("lowering"));
    if (!kernels)
      return fail(toString(kernels.takeError()));
    for (const loom::GpuKernelCode &kernel : *kernels)
      output->os() << "// ---- kernel module " << kernel.name << " ("
                   << options.gpu << ")\n"
                   << kernel.ptx << "\n";
    output->keep();
    return 0;
  }
  Expected<loom::Manifest> manifest = loom::lowerToLLVMDialect(
      **module, **model, options, root.nest("lowering"));
  if (!manifest)
    return fail(toString(manifest.takeError()));
  if (printSchedule) {
    printScheduleTable(*manifest);
    output->keep();
    return 0;
  }
  LLVMContext llvmContext;
  auto llvmModule = loom::translateToLLVMIR(**module, *manifest, llvmContext,
                                            root.nest("LLVM"));
  if (!llvmModule)
    return fail(toString(llvmModule.takeError()));
  if (stage == Stage::LLVM) {
    (*llvmModule)->print(output->os(), nullptr);
  } else {
    Expected<loom::TargetDescription> target = loom::moduleTarget(**module);
    if (!target)
      return fail(toString(target.takeError()));
    if (Error err = loom::emitMachineCode(**llvmModule, *target,
                                          options.optLevel, stage == Stage::Asm,
                                          output->os(), root.nest("LLVM")))
      return fail(toString(std::move(err)));
  }
  output->keep();
  return 0;
}
