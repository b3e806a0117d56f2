//===- LoomPython.cpp - the loom._loom extension module -------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// nanobind bindings of Loom's C++ libraries: the compile driver with its
// cache, the runtime's sessions, generation and tokenizers, and MLIR text
// with the loom dialect and passes registered. The Python package `loom`
// (loom/__init__.py, loom/ir.py) is the public face; this module holds no
// logic of its own beyond converting arguments and errors. Every call into
// compiled code or the compiler releases the GIL.
//
//===----------------------------------------------------------------------===//

#include "loom/Artifact/ArtifactFile.h"
#include "loom/Driver/CompileCache.h"
#include "loom/Driver/Compiler.h"
#include "loom/Frontend/ModelBuilder.h"
#include "loom/Frontend/ModelFile.h"
#include "loom/InitAllDialects.h"
#include "loom/InitAllPasses.h"
#include "loom/Runtime/Generation.h"
#include "loom/Runtime/Profile.h"
#include "loom/Runtime/Sampler.h"
#include "loom/Runtime/Session.h"
#include "loom/Runtime/Threads.h"
#include "loom/Runtime/Tokenizer.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <dlfcn.h>
#include <mutex>

namespace nb = nanobind;
using namespace nb::literals;
using llvm::Error;
using llvm::Expected;

namespace {

/// Every Loom error reaches Python as loom.LoomError carrying the C++
/// diagnostic (which names the file, tensor or field at fault).
struct LoomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void raise(Error e) { throw LoomError(toString(std::move(e))); }

template <typename T> T take(Expected<T> value) {
  if (!value)
    raise(value.takeError());
  return std::move(*value);
}

void check(Error e) {
  if (e)
    raise(std::move(e));
}

/// A float32 numpy array of `shape` owning a copy of `values`.
using FloatArray = nb::ndarray<nb::numpy, float>;
FloatArray toArray(llvm::ArrayRef<float> values,
                   std::initializer_list<size_t> shape) {
  auto *copy = new std::vector<float>(values.begin(), values.end());
  nb::capsule owner(copy, [](void *p) noexcept {
    delete static_cast<std::vector<float> *>(p);
  });
  return FloatArray(copy->data(), shape, owner);
}

using TokenArray =
    nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
llvm::ArrayRef<int32_t> tokens(const TokenArray &array) {
  return {array.data(), array.shape(0)};
}

//===----------------------------------------------------------------------===//
// Models: a model file and the artifact compiled from it
//===----------------------------------------------------------------------===//

/// Compile options from their pass-pipeline form (`context-length=64
/// dtype=bf16`), checked.
void parseCompileOptions(const std::string &text,
                         mlir::loom::CompileOptions &options) {
  std::string errors;
  llvm::raw_string_ostream os(errors);
  if (mlir::failed(options.parseFromString(text, os)))
    throw LoomError("compile options: " + llvm::StringRef(errors).trim().str());
  check(options.validate());
}

struct Model {
  std::shared_ptr<loom::Artifact> artifact;
  std::shared_ptr<const loom::ModelFile> file;
  std::optional<loom::Tokenizer> tokenizer;
  bool compiled = false; ///< compiled now, not taken from the cache
  std::vector<std::string> notes;
  /// Where its sessions run (`cpu`, `cuda`, `cuda:N`); opened with the
  /// model, so that a missing driver is said when loading.
  std::string deviceName = "cpu";
  std::shared_ptr<loom::Device> device;

  void openDevice(const std::string &name) {
    deviceName = name;
    auto opened = loom::openDevice(name);
    if (!opened)
      throw LoomError("device '" + name +
                      "': " + llvm::toString(opened.takeError()));
    device = std::move(*opened);
  }

  /// `path` is a model file (compiled with `options`, the compile options in
  /// their pass-pipeline form, into the cache) or an artifact.
  static std::shared_ptr<Model>
  open(const std::string &path, const std::string &options,
       const std::string &cacheDir, bool noCache, const std::string &weights,
       const std::string &tokenizerPath, const std::string &device = "cpu") {
    auto model = std::make_shared<Model>();
    model->openDevice(device);
    std::string modelPath = path;
    if (!llvm::sys::fs::exists(path))
      throw LoomError(path + ": no such file");
    if (loom::isArtifactFile(path)) {
      if (!options.empty())
        throw LoomError(path + " is an artifact, compiled already: it takes "
                               "no compile options");
      model->artifact = take(loom::Artifact::load(path));
      modelPath =
          weights.empty() ? model->artifact->manifest().modelPath : weights;
    } else if (!weights.empty()) {
      throw LoomError("weights= goes with an artifact; " + path +
                      " is a model file, its own weights");
    }
    model->file = take(loom::readModelFile(modelPath));
    if (!model->artifact)
      model->compile(options, cacheDir, noCache);
    model->bindTokenizer(tokenizerPath);
    return model;
  }

  /// A model defined in Python: `file` made in memory, compiled as a file.
  static std::shared_ptr<Model> define(std::shared_ptr<loom::ModelFile> file,
                                       const std::string &options,
                                       const std::string &cacheDir,
                                       bool noCache,
                                       const std::string &tokenizerPath) {
    auto model = std::make_shared<Model>();
    model->file = std::move(file);
    model->compile(options, cacheDir, noCache);
    model->bindTokenizer(tokenizerPath);
    return model;
  }

  /// Compiles `file` with `options` (their pass-pipeline form) into the
  /// cache, and loads the artifact.
  void compile(const std::string &options, const std::string &cacheDir,
               bool noCache) {
    check(loom::validateModel(*file));
    mlir::loom::CompileOptions compileOptions;
    parseCompileOptions(options, compileOptions);
    std::string note =
        loom::contextCapNote(*file, compileOptions, "context_length=");
    if (!note.empty())
      notes.push_back(std::move(note));
    loom::CacheOptions cache;
    cache.dir = cacheDir;
    cache.disabled = noCache;
    bool fromCache = false;
    std::string artifactPath = take(loom::compileCached(
        *file, compileOptions, cache, fromCache,
        [&](llvm::StringRef text) { notes.push_back(text.str()); }));
    auto loaded = loom::Artifact::load(artifactPath);
    if (noCache)
      llvm::sys::fs::remove(artifactPath);
    artifact = take(std::move(loaded));
    compiled = !fromCache;
  }

  /// The tokenizer: the file's, or the one in `path` (readTokenizerFile: a
  /// llama2.c tokenizer.bin, or any file with a vocabulary).
  void bindTokenizer(const std::string &path) {
    int64_t modelVocab = artifact->manifest().vocab;
    loom::TokenizerData vocab =
        path.empty() ? file->tokenizer
                     : take(loom::readTokenizerFile(path, modelVocab));
    if (!vocab.empty())
      tokenizer.emplace(
          take(loom::Tokenizer::create(std::move(vocab), modelVocab)));
  }
};

//===----------------------------------------------------------------------===//
// Models defined in Python
//===----------------------------------------------------------------------===//

using Fields = std::vector<std::pair<std::string, std::string>>;
using WeightArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
/// (name, shape, storage type, bytes) of each weight.
using Tensors = std::vector<
    std::tuple<std::string, std::vector<int64_t>, std::string, WeightArray>>;

/// A model file made in memory from a configuration and named arrays.
std::shared_ptr<loom::ModelFile> defineModel(const std::string &name,
                                             const Fields &fields,
                                             const Tensors &tensors) {
  loom::ModelConfig config = take(loom::parseConfig(fields, name));
  std::vector<loom::TensorData> data;
  for (const auto &[tensor, shape, storage, array] : tensors) {
    std::optional<loom::StorageType> type = loom::storageTypeNamed(storage);
    if (!type)
      throw LoomError(name + ": tensor '" + tensor +
                      "' has an unknown storage type '" + storage + "'");
    loom::TensorData t;
    t.name = tensor;
    t.shape.assign(shape.begin(), shape.end());
    t.storage = *type;
    t.bytes = {static_cast<const uint8_t *>(array.data()), array.nbytes()};
    data.push_back(std::move(t));
  }
  return take(loom::modelFromTensors(name, config, data, {}));
}

//===----------------------------------------------------------------------===//
// Sessions and generation
//===----------------------------------------------------------------------===//

struct PySession {
  std::shared_ptr<Model> model;
  std::unique_ptr<loom::Session> session;
  /// Held while a call runs: a second thread calling into the same session
  /// (which runs one call at a time) gets an error, not a race.
  std::mutex busy;

  /// Locks the session for one call, or raises.
  std::unique_lock<std::mutex> claim() {
    std::unique_lock<std::mutex> lock(busy, std::try_to_lock);
    if (!lock)
      throw LoomError("this session is running a call in another thread; a "
                      "session runs one call at a time (make one session per "
                      "thread)");
    return lock;
  }

  explicit PySession(std::shared_ptr<Model> m) : model(std::move(m)) {
    nb::gil_scoped_release unlocked;
    loom::SessionOptions options;
    options.device = model->device;
    session =
        take(loom::Session::create(model->artifact, model->file, options));
  }

  FloatArray prefill(const TokenArray &ids, int64_t position, bool all) {
    auto lock = claim();
    llvm::ArrayRef<float> rows;
    {
      nb::gil_scoped_release unlocked;
      rows = take(session->prefill(tokens(ids), position, all));
    }
    size_t vocab = session->vocab();
    return toArray(rows, {rows.size() / vocab, vocab});
  }

  FloatArray decode(int32_t token, int64_t position) {
    auto lock = claim();
    llvm::ArrayRef<float> row;
    {
      nb::gil_scoped_release unlocked;
      row = take(session->decode(token, position));
    }
    return toArray(row, {row.size()});
  }

  FloatArray encode(const std::string &entry,
                    const std::vector<std::vector<int32_t>> &sequences,
                    const std::vector<std::vector<int32_t>> &types) {
    auto lock = claim();
    llvm::ArrayRef<float> rows;
    {
      nb::gil_scoped_release unlocked;
      rows = take(session->encodeBatch(entry, sequences, types));
    }
    size_t n = 0;
    for (const auto &s : sequences)
      n += s.size();
    size_t count = entry == "embed" ? sequences.size() : n;
    return toArray(rows, {count, rows.size() / std::max<size_t>(count, 1)});
  }
};

/// A generation in progress: its own sampler, the session's KV cache.
struct PyGeneration {
  std::shared_ptr<PySession> session;
  std::unique_ptr<loom::Sampler> sampler;
  std::optional<loom::Generation> generation;

  PyGeneration(std::shared_ptr<PySession> s, const TokenArray &prompt,
               int64_t steps, float temperature, float topP, int topK,
               uint64_t seed, bool ignoreEos)
      : session(std::move(s)) {
    loom::SamplerOptions options;
    options.temperature = temperature;
    options.topP = topP;
    options.topK = topK;
    options.seed = seed;
    sampler =
        std::make_unique<loom::Sampler>(take(loom::Sampler::create(options)));
    loom::GenerationOptions generationOptions;
    generationOptions.steps = steps;
    const Model &model = *session->model;
    loom::setStopTokens(generationOptions,
                        model.tokenizer ? &*model.tokenizer : nullptr,
                        ignoreEos);
    auto lock = session->claim();
    nb::gil_scoped_release unlocked;
    generation.emplace(take(loom::Generation::start(
        *session->session, *sampler, tokens(prompt), generationOptions)));
  }

  int next() {
    auto lock = session->claim();
    std::optional<int> token;
    {
      nb::gil_scoped_release unlocked;
      token = take(generation->next());
    }
    if (!token)
      throw nb::stop_iteration();
    return *token;
  }
};

//===----------------------------------------------------------------------===//
// Tokenizers
//===----------------------------------------------------------------------===//

nb::bytes toBytes(llvm::StringRef s) { return nb::bytes(s.data(), s.size()); }

/// Streams the text of generated tokens (run.c's filtering of byte pieces
/// left out: the bytes go to Python's incremental UTF-8 decoder).
struct PyDetokenizer {
  std::shared_ptr<Model> model;
  loom::Detokenizer detok;
  PyDetokenizer(std::shared_ptr<Model> m, int first)
      : model(std::move(m)), detok(*model->tokenizer, first,
                                   /*rawBytes=*/true) {}
  nb::bytes push(int token) { return toBytes(take(detok.push(token))); }
};

//===----------------------------------------------------------------------===//
// IR
//===----------------------------------------------------------------------===//

/// One MLIR context with every dialect loom-opt knows, and the passes
/// registered once per process.
struct IRContext {
  mlir::MLIRContext context;
  IRContext() : context(registry()) {}
  static mlir::DialectRegistry registry() {
    static std::once_flag once;
    std::call_once(once, [] {
      mlir::registerAllPasses();
      mlir::loom::registerAllLoomPasses();
    });
    mlir::DialectRegistry registry;
    mlir::loom::registerLoomToolDialects(registry);
    return registry;
  }
};

/// `file:line:col` where the location has one, as MLIR's tools print it.
void printLocation(llvm::raw_ostream &os, mlir::Location loc) {
  if (auto file = mlir::dyn_cast<mlir::FileLineColLoc>(loc))
    os << file.getFilename().getValue() << ":" << file.getLine() << ":"
       << file.getColumn();
  else
    os << loc;
}

/// Collects the diagnostics emitted while it lives, as loom-opt prints them.
struct Diagnostics {
  std::string text;
  mlir::ScopedDiagnosticHandler handler;
  explicit Diagnostics(mlir::MLIRContext &context)
      : handler(&context, [this](mlir::Diagnostic &d) {
          llvm::raw_string_ostream os(text);
          printLocation(os, d.getLocation());
          os << ": ";
          switch (d.getSeverity()) {
          case mlir::DiagnosticSeverity::Error:
            os << "error: ";
            break;
          case mlir::DiagnosticSeverity::Warning:
            os << "warning: ";
            break;
          default:
            os << "note: ";
          }
          os << d << "\n";
          for (mlir::Diagnostic &note : d.getNotes()) {
            printLocation(os, note.getLocation());
            os << ": note: " << note << "\n";
          }
          return mlir::success();
        }) {}
  [[noreturn]] void fail(const std::string &what) {
    throw LoomError(what + (text.empty() ? "" : ":\n" + text));
  }
};

struct PyModule {
  std::shared_ptr<IRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  /// The model whose loom IR the module is (from_model, from_definition);
  /// null for a module parsed from text.
  std::shared_ptr<const loom::ModelFile> file;

  static PyModule parse(std::shared_ptr<IRContext> context,
                        const std::string &text, const std::string &name) {
    Diagnostics diagnostics(context->context);
    mlir::ParserConfig config(&context->context);
    PyModule result{
        context, mlir::parseSourceString<mlir::ModuleOp>(text, config, name)};
    if (!result.module)
      diagnostics.fail("cannot parse " + name);
    return result;
  }

  static PyModule fromModel(std::shared_ptr<IRContext> context,
                            const std::string &path, int64_t contextLength) {
    return fromFile(std::move(context), take(loom::readModelFile(path)),
                    contextLength);
  }

  /// The loom IR the frontend builds for `file`.
  static PyModule fromFile(std::shared_ptr<IRContext> context,
                           std::shared_ptr<const loom::ModelFile> file,
                           int64_t contextLength) {
    check(loom::validateModel(*file));
    Diagnostics diagnostics(context->context);
    loom::BuildOptions options;
    options.contextLength = contextLength;
    auto module = take(loom::buildModel(context->context, *file, options));
    return {context, std::move(module), std::move(file)};
  }

  /// Compiles a copy of the module (the module keeps its IR) to an
  /// artifact at `output` (a temporary file when empty) and loads it,
  /// bound to the weights of its model, or of the model file `weights`.
  std::shared_ptr<Model> compile(const std::string &options,
                                 const std::string &output,
                                 const std::string &weights) {
    std::shared_ptr<const loom::ModelFile> weightsFile = file;
    if (!weights.empty())
      weightsFile = take(loom::readModelFile(weights));
    if (!weightsFile)
      throw LoomError("this module was parsed from text and has no weights: "
                      "name the model file it was built from (weights=)");
    check(loom::validateModel(*weightsFile));
    mlir::loom::CompileOptions compileOptions;
    parseCompileOptions(options, compileOptions);
    llvm::SmallString<128> path(output);
    if (path.empty())
      if (std::error_code ec =
              llvm::sys::fs::createTemporaryFile("loom-module", "so", path))
        throw LoomError("cannot create a temporary file: " + ec.message());
    mlir::OwningOpRef<mlir::ModuleOp> copy = module->clone();
    Diagnostics diagnostics(context->context);
    llvm::Error error = llvm::Error::success();
    {
      nb::gil_scoped_release unlocked;
      error = loom::compileModule(*copy, *weightsFile, compileOptions, path);
    }
    if (error) {
      if (output.empty())
        llvm::sys::fs::remove(path);
      diagnostics.fail(toString(std::move(error)));
    }
    auto model = std::make_shared<Model>();
    auto loaded = loom::Artifact::load(path);
    if (output.empty())
      llvm::sys::fs::remove(path);
    model->artifact = take(std::move(loaded));
    model->file = std::move(weightsFile);
    model->compiled = true;
    model->bindTokenizer("");
    return model;
  }

  std::string str(bool genericForm) {
    std::string text;
    llvm::raw_string_ostream os(text);
    mlir::OpPrintingFlags flags;
    if (genericForm)
      flags.printGenericOpForm();
    module->print(os, flags);
    return text;
  }

  void run(const std::string &pipeline) {
    Diagnostics diagnostics(context->context);
    std::string errors;
    llvm::raw_string_ostream os(errors);
    // The pipeline names its anchor, `builtin.module(...)`, as loom-opt's
    // --pass-pipeline does.
    mlir::FailureOr<mlir::OpPassManager> parsed =
        mlir::parsePassPipeline(pipeline, os);
    if (mlir::failed(parsed))
      throw LoomError("pass pipeline '" + pipeline +
                      "': " + llvm::StringRef(errors).trim().str());
    llvm::StringRef anchor = parsed->getOpAnchorName();
    if (anchor != mlir::ModuleOp::getOperationName() &&
        anchor != mlir::OpPassManager::getAnyOpAnchorName())
      throw LoomError("pass pipeline '" + pipeline + "' is anchored on '" +
                      anchor.str() +
                      "'; a module runs pipelines on builtin.module(...)");
    mlir::PassManager pm(&context->context, anchor);
    static_cast<mlir::OpPassManager &>(pm) = std::move(*parsed);
    mlir::LogicalResult result = mlir::success();
    {
      nb::gil_scoped_release unlocked;
      result = pm.run(*module);
    }
    if (mlir::failed(result))
      diagnostics.fail("pass pipeline '" + pipeline + "' failed");
  }

  void verify() {
    Diagnostics diagnostics(context->context);
    if (mlir::failed(mlir::verify(*module)))
      diagnostics.fail("the module does not verify");
  }
};

} // namespace

/// Artifacts call into the runtime (`loom_parallel_for`, the MPI and
/// memref helpers) by symbol, resolved in the process's global scope where
/// a tool links libLoomRuntime. Python loads this module, and the libraries
/// it links, with RTLD_LOCAL: the runtime library is promoted to global
/// scope once, before any artifact is loaded.
static void exposeRuntimeSymbols() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&loom::setThreadCount), &info) &&
      info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

NB_MODULE(_loom, m) {
  m.doc() = "Loom's C++ libraries (use the `loom` package, not this module)";
  exposeRuntimeSymbols();
  nb::exception<LoomError>(m, "LoomError", PyExc_RuntimeError);

  m.def(
      "compile_options",
      [] {
        mlir::loom::CompileOptions options;
        std::vector<std::tuple<std::string, std::string, std::string>> list;
        for (llvm::cl::Option *o : options.commandLineOptions())
          list.emplace_back(o->ArgStr.str(), o->HelpStr.str(),
                            o->ValueStr.str());
        return list;
      },
      "Every compile option: (name, description, value name).");
  m.def(
      "default_compile_options",
      [] { return mlir::loom::CompileOptions().str(); },
      "The compile options' defaults in their printed form.");
  m.def(
      "parse_config",
      [](const Fields &fields, const std::string &source) {
        return loom::describeConfig(take(loom::parseConfig(fields, source)));
      },
      "fields"_a, "source"_a,
      "The configuration `fields` describe, in full (describeConfig's "
      "form).");
  m.def(
      "expected_weights",
      [](const Fields &fields, const std::string &source, bool stacked) {
        loom::ModelConfig config = take(loom::parseConfig(fields, source));
        check(loom::validateConfig(config, source));
        std::vector<std::tuple<std::string, std::vector<int64_t>, bool>> list;
        loom::forEachExpectedWeight(
            config, stacked,
            [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                bool required) {
              list.emplace_back(
                  name.str(), std::vector<int64_t>(shape.begin(), shape.end()),
                  required);
              return true;
            });
        return list;
      },
      "fields"_a, "source"_a, "stacked_experts"_a,
      "Every tensor a model of this configuration reads: (name, shape, "
      "required).");
  m.def("set_threads", &loom::setThreadCount, "count"_a,
        "Threads compiled code runs its parallel loops on (0: one per "
        "hardware thread).");
  m.def("thread_count", &loom::threadCount);
  m.def("set_profiling", &loom::setProfiling, "on"_a,
        "Time every kernel the sessions run (loom-run --profile).");
  m.def("reset_profile", &loom::resetProfile);
  m.def(
      "op_times",
      [] {
        std::vector<
            std::tuple<std::string, std::string, uint64_t, uint64_t, double>>
            list;
        for (const loom::KernelTime &o : loom::opTimes())
          list.emplace_back(o.entry, o.op, o.kernels, o.calls, o.seconds);
        return list;
      },
      "The kernel times by entry point and op (layers folded), most time "
      "first: (entry, op, kernels, runs, seconds).");
  m.def(
      "is_artifact",
      [](const std::string &path) { return loom::isArtifactFile(path); },
      "path"_a,
      "Whether the file is a compiled artifact (an ELF shared "
      "object), not a model file.");
  m.def("max_thread_count", &loom::maxThreadCount);

  nb::class_<Model>(m, "Model")
      .def_static(
          "open",
          [](const std::string &path, const std::string &options,
             const std::string &cacheDir, bool noCache,
             const std::string &weights, const std::string &tokenizer,
             const std::string &device) {
            nb::gil_scoped_release unlocked;
            return Model::open(path, options, cacheDir, noCache, weights,
                               tokenizer, device);
          },
          "path"_a, "options"_a = "", "cache_dir"_a = "", "no_cache"_a = false,
          "weights"_a = "", "tokenizer"_a = "", "device"_a = "cpu")
      .def_static(
          "define",
          [](const std::string &name, const Fields &fields,
             const Tensors &tensors, const std::string &options,
             const std::string &cacheDir, bool noCache,
             const std::string &tokenizer) {
            auto file = defineModel(name, fields, tensors);
            nb::gil_scoped_release unlocked;
            return Model::define(std::move(file), options, cacheDir, noCache,
                                 tokenizer);
          },
          "name"_a, "fields"_a, "tensors"_a, "options"_a, "cache_dir"_a,
          "no_cache"_a, "tokenizer"_a)
      .def_prop_ro("path", [](const Model &m) { return m.file->path; })
      .def_prop_ro("artifact_path",
                   [](const Model &m) { return m.artifact->path().str(); })
      .def_prop_ro("compiled", [](const Model &m) { return m.compiled; })
      .def_prop_ro("device", [](const Model &m) { return m.deviceName; })
      .def_prop_ro("notes", [](const Model &m) { return m.notes; })
      .def_prop_ro("vocab_size",
                   [](const Model &m) { return m.artifact->manifest().vocab; })
      .def_prop_ro(
          "context_length",
          [](const Model &m) { return m.artifact->manifest().contextLength; })
      .def_prop_ro("max_tokens",
                   [](const Model &m) {
                     const loom::EntryInfo *e =
                         m.artifact->manifest().entry("prefill");
                     return e ? e->maxTokens : int64_t(0);
                   })
      .def_prop_ro(
          "config",
          [](const Model &m) { return loom::describeConfig(m.file->config); })
      .def_prop_ro("is_encoder",
                   [](const Model &m) { return !m.file->config.blocks.causal; })
      .def_prop_ro("has_tokenizer",
                   [](const Model &m) { return m.tokenizer.has_value(); })
      .def_prop_ro("chat_template", [](const Model &m) {
        return m.file->tokenizer.chatTemplate;
      });

  nb::class_<PySession>(m, "Session")
      .def(nb::new_([](std::shared_ptr<Model> model) {
             return std::make_shared<PySession>(std::move(model));
           }),
           "model"_a)
      .def("prefill", &PySession::prefill, "tokens"_a, "position"_a,
           "all_logits"_a)
      .def("decode", &PySession::decode, "token"_a, "position"_a)
      .def("encode", &PySession::encode, "entry"_a, "sequences"_a,
           "token_types"_a)
      .def("reset",
           [](PySession &s) {
             auto lock = s.claim();
             nb::gil_scoped_release unlocked;
             s.session->reset();
           })
      .def_prop_ro("warnings",
                   [](const PySession &s) {
                     std::vector<std::string> list(
                         s.session->warnings().begin(),
                         s.session->warnings().end());
                     return list;
                   })
      .def_prop_ro("num_token_types", [](const PySession &s) {
        return s.session->isEncoder() ? s.session->numTokenTypes() : 0;
      });

  nb::class_<PyGeneration>(m, "Generation")
      .def(nb::new_([](std::shared_ptr<PySession> session,
                       const TokenArray &prompt, int64_t steps,
                       float temperature, float topP, int topK, uint64_t seed,
                       bool ignoreEos) {
             return std::make_shared<PyGeneration>(std::move(session), prompt,
                                                   steps, temperature, topP,
                                                   topK, seed, ignoreEos);
           }),
           "session"_a, "prompt"_a, "steps"_a, "temperature"_a, "top_p"_a,
           "top_k"_a, "seed"_a, "ignore_eos"_a)
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", &PyGeneration::next)
      .def_prop_ro("seed",
                   [](const PyGeneration &g) { return g.sampler->seed(); })
      .def_prop_ro(
          "prompt_tokens",
          [](const PyGeneration &g) { return g.generation->promptTokens(); })
      .def_prop_ro("decode_calls", [](const PyGeneration &g) {
        return g.generation->decodeCalls();
      });

  // The tokenizer of a model: reached through it, it lives as long.
  m.def(
      "tokenize",
      [](std::shared_ptr<Model> model, const std::string &text,
         std::optional<bool> bos, bool eos, bool parseSpecial) {
        const loom::Tokenizer &t = *model->tokenizer;
        bool withBos = bos.value_or(t.addsBos());
        return take(t.encode(text, withBos, eos, parseSpecial));
      },
      "model"_a, "text"_a, "bos"_a.none(), "eos"_a, "parse_special"_a);
  m.def(
      "detokenize",
      [](std::shared_ptr<Model> model, const std::vector<int> &ids) {
        return toBytes(take(model->tokenizer->decodeText(ids)));
      },
      "model"_a, "ids"_a);
  m.def(
      "tokenizer_info",
      [](std::shared_ptr<Model> model) {
        const loom::Tokenizer &t = *model->tokenizer;
        return std::make_tuple(t.vocabSize(), t.bosId(), t.eosId(), t.addsBos(),
                               t.isByteLevel(), t.isWordPiece());
      },
      "model"_a);
  m.def(
      "piece",
      [](std::shared_ptr<Model> model, int id) {
        const loom::Tokenizer &t = *model->tokenizer;
        if (id < 0 || id >= t.vocabSize())
          throw LoomError("token id " + std::to_string(id) +
                          " is outside the vocabulary of " +
                          std::to_string(t.vocabSize()));
        return toBytes(t.piece(id));
      },
      "model"_a, "id"_a);
  nb::class_<PyDetokenizer>(m, "Detokenizer")
      .def(nb::init<std::shared_ptr<Model>, int>(), "model"_a, "first"_a)
      .def("push", &PyDetokenizer::push, "token"_a);

  nb::class_<IRContext>(m, "Context").def(nb::new_([] {
    return std::make_shared<IRContext>();
  }));
  nb::class_<PyModule>(m, "Module")
      .def_static("parse", &PyModule::parse, "context"_a, "text"_a, "name"_a)
      .def_static("from_model", &PyModule::fromModel, "context"_a, "path"_a,
                  "context_length"_a)
      .def_static(
          "from_definition",
          [](std::shared_ptr<IRContext> context, const std::string &name,
             const Fields &fields, const Tensors &tensors,
             int64_t contextLength) {
            auto file = defineModel(name, fields, tensors);
            return PyModule::fromFile(std::move(context), std::move(file),
                                      contextLength);
          },
          "context"_a, "name"_a, "fields"_a, "tensors"_a, "context_length"_a)
      .def("str", &PyModule::str, "generic"_a = false)
      .def("run", &PyModule::run, "pipeline"_a)
      .def("verify", &PyModule::verify)
      .def("compile", &PyModule::compile, "options"_a, "output"_a, "weights"_a);
}
