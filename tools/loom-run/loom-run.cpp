//===- loom-run.cpp - run a model: generate text, benchmark ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//   loom-run model.gguf -p "Once upon a time" -n 64 --temperature 0
//   loom-run model.so -p "Once upon a time"          (an artifact)
//
// Given a model file, loom-run compiles it first (into an on-disk cache keyed
// by the model and the options) and then runs the artifact, so a model file
// and its artifact run the same code. Generation follows llama2.c's run.c:
// `-n` counts positions forwarded, prompt included; position 0 is BOS; the
// prompt is forced, then tokens are sampled until BOS or the step limit.
// Text goes to stdout as it is generated; timings go to stderr.
//
//===----------------------------------------------------------------------===//

#include "loom/Artifact/ArtifactFile.h"
#include "loom/Driver/DriverPlugin.h"
#include "loom/Frontend/ModelFile.h"
#include "loom/Runtime/Generation.h"
#include "loom/Runtime/Profile.h"
#include "loom/Runtime/Sampler.h"
#include "loom/Runtime/Session.h"
#include "loom/Runtime/Threads.h"
#include "loom/Runtime/Tokenizer.h"

#include "Chat.h"
#include "Encoder.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <optional>
#include <thread>

using namespace llvm;

namespace {

cl::OptionCategory category("loom-run options");

cl::opt<std::string> inputPath(cl::Positional,
                               cl::desc("<model file or artifact>"),
                               cl::cat(category));
cl::opt<std::string> prompt("p", cl::desc("The prompt (default: none)"),
                            cl::value_desc("text"), cl::cat(category));
cl::alias promptLong("prompt", cl::aliasopt(prompt), cl::cat(category));
cl::opt<int64_t> steps(
    "n",
    cl::desc("Positions to forward, prompt included (default 256; 0 or more "
             "than the context: the context length)"),
    cl::value_desc("steps"), cl::init(256), cl::cat(category));
cl::alias stepsLong("steps", cl::aliasopt(steps), cl::cat(category));
cl::opt<float> temperature("temperature",
                           cl::desc("Sampling temperature; 0 is greedy "
                                    "(default 1.0)"),
                           cl::init(1.0f), cl::cat(category));
cl::opt<float> topP("top-p",
                    cl::desc("Nucleus sampling threshold in (0, 1); other "
                             "values turn it off (default 0.9)"),
                    cl::init(0.9f), cl::cat(category));
cl::opt<int> topK("top-k",
                  cl::desc("Sample among the k most likely tokens; 0 turns it "
                           "off (default 0)"),
                  cl::init(0), cl::cat(category));
cl::opt<uint64_t> seed("seed",
                       cl::desc("Random seed; 0 takes the clock (default 0)"),
                       cl::init(0), cl::cat(category));
cl::opt<std::string> tokenizerPath(
    "tokenizer",
    cl::desc("The vocabulary to use instead of the model file's: a llama2.c "
             "tokenizer.bin (for llama2.c checkpoints, which hold none) or "
             "any file with one (a GGUF, a vocabulary-only GGUF, a Hugging "
             "Face folder)"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> weightsPath(
    "weights",
    cl::desc("With an artifact: the model file to read weights from (default: "
             "the file it was compiled from)"),
    cl::value_desc("file"), cl::cat(category));

cl::opt<std::string>
    cacheDir("cache-dir",
             cl::desc("Where compiled model files are kept (default: "
                      "$XDG_CACHE_HOME/loom or ~/.cache/loom)"),
             cl::value_desc("dir"), cl::cat(category));
cl::opt<bool> noCache("no-cache",
                      cl::desc("Compile into a temporary file, not the cache"),
                      cl::cat(category));
cl::opt<loom::ScheduleMode> schedule(
    "schedule",
    cl::desc("How each step runs the kernels the compiler split it into"),
    cl::values(clEnumValN(loom::ScheduleMode::Graph, "graph",
                          "As a tbb::flow::graph of their dependencies (on "
                          "a GPU: on up to 4 streams, ordered by events): "
                          "independent kernels run at the same time "
                          "(default)"),
               clEnumValN(loom::ScheduleMode::Sequential, "sequential",
                          "One after the other, in the compiler's order "
                          "(on a GPU: one stream)")),
    cl::init(loom::ScheduleMode::Graph));
cl::opt<bool>
    bench("bench",
          cl::desc("Print no text; print a JSON summary of the run (tokens and "
                   "tokens/s) on stdout. The timed run follows one untimed "
                   "warm-up of the same prompt and one decode step, as "
                   "llama-bench's does: the activation arena's and the caches' "
                   "pages are then in memory, as in a long-running process"),
          cl::cat(category));
cl::opt<bool> profileKernels(
    "profile",
    cl::desc("Time every kernel the run launches and print where the time "
             "went, by op of the model (the layers of one op added "
             "together), on stderr; with --bench, as \"profile\" in the JSON "
             "(the timed run only). The CPU times each kernel with the "
             "host's clock (kernels running side by side each count their "
             "own time), a GPU with CUDA events around each launch"),
    cl::cat(category));
cl::opt<bool> printIds(
    "ids",
    cl::desc("Work in token ids: -p is a list of ids (BOS included), the "
             "output is the ids of the sequence; no tokenizer needed"),
    cl::cat(category));
cl::opt<bool> tokenizeOnly(
    "tokenize",
    cl::desc("Print the token ids of the -p text (space-separated, one "
             "line) and stop: nothing is compiled, and MODEL may be a "
             "vocabulary-only GGUF or a llama2.c tokenizer.bin"),
    cl::cat(category));
cl::opt<bool> detokenizeOnly(
    "detokenize",
    cl::desc("With --ids: print the text of the ids in -p and stop (a "
             "leading BOS prints nothing where prompts start with one; "
             "special tokens print as they are spelled, e.g. <|im_end|>)"),
    cl::cat(category));
cl::opt<bool> ignoreEos(
    "ignore-eos",
    cl::desc("Generate all -n steps: do not stop at BOS (where llama2.c's "
             "run.c stops) or, for byte-level vocabularies, at the "
             "end-of-sequence token (e.g. <|im_end|>)"),
    cl::cat(category));
cl::opt<bool> noBos("no-bos",
                    cl::desc("Do not start the prompt with BOS (default: as "
                             "the vocabulary says, "
                             "tokenizer.ggml.add_bos_token; else BOS)"),
                    cl::cat(category));
cl::opt<bool> noParseSpecial(
    "no-parse-special",
    cl::desc("Text such as <|im_start|> in the prompt is ordinary text, not "
             "the special token it spells (as tokenizer test vectors are "
             "made)"),
    cl::cat(category));
cl::opt<bool> chat(
    "chat",
    cl::desc("Chat: -p is one user turn (else turns are read from stdin, one "
             "per line), rendered with the model's chat template "
             "(tokenizer.chat_template, a Jinja2 template) with the "
             "assistant's turn opened; each reply ends at the template's "
             "end-of-turn token. -n, where given, bounds each reply's tokens. "
             "With --tokenize: the ids of the rendered prompt"),
    cl::cat(category));
cl::opt<std::string> chatTemplatePath(
    "chat-template",
    cl::desc("With --chat: the Jinja2 chat template in this file instead of "
             "the model's"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> systemPrompt(
    "system",
    cl::desc("With --chat: a system message before the first user turn"),
    cl::value_desc("text"), cl::cat(category));
cl::opt<std::string> dumpLogits(
    "dump-logits",
    cl::desc("Write the logits of every forwarded position, as little-endian "
             "f32 rows of vocabulary size, to this file (an encoder's: the "
             "masked-LM logits of every position)"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<bool> embed(
    "embed",
    cl::desc("Encoders: print the sentence embedding of the input, pooled "
             "and normalized as the model's sentence-transformers files say "
             "(one line of floats per input)"),
    cl::cat(category));
cl::opt<std::string> dumpEmbedding(
    "dump-embedding",
    cl::desc("Encoders: write the sentence embedding, as little-endian f32 "
             "(one row per input), to this file"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> dumpHidden(
    "dump-hidden",
    cl::desc("Encoders: write the last hidden states, as little-endian f32 "
             "rows of the model's width (one per token), to this file"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<std::string> tokenTypes(
    "token-types",
    cl::desc("Encoders: the token type (segment) of each input token, "
             "space-separated (default: 0 for every token)"),
    cl::value_desc("ids"), cl::cat(category));
cl::opt<int64_t> batchSize(
    "batch",
    cl::desc("Encoders: inputs per call, packed one after the other (each "
             "attends to itself only; calls hold at most --max-tokens "
             "tokens) (default 1)"),
    cl::init(1), cl::cat(category));
cl::opt<int64_t> packTokens(
    "pack-tokens",
    cl::desc("Encoders: tokens a call packs the batch's sequences into "
             "(default 128: a packed call's attention grows with its square)"),
    cl::init(128), cl::cat(category));
cl::opt<std::string> promptFile(
    "prompt-file",
    cl::desc("Encoders: run every line of this file as an input of its own "
             "(text, or ids with --ids)"),
    cl::value_desc("file"), cl::cat(category));

cl::opt<std::string> deviceName(
    "device",
    cl::desc("Where the model runs: cpu (default), or cuda / cuda:N (NVIDIA "
             "GPU N through the CUDA driver, libcuda.so.1, loaded when asked "
             "for; it runs artifacts compiled with --target=cuda)"),
    cl::value_desc("cpu|cuda[:N]"), cl::init("cpu"), cl::cat(category));
cl::opt<bool> listDevices(
    "list-devices",
    cl::desc("Print the devices this machine can run models on (the CPU, "
             "each CUDA GPU, or why there is none) and exit"),
    cl::cat(category));

int fail(const Twine &message) {
  fmt::print(stderr, "loom-run: error: {}\n", message.str());
  return 1;
}

/// --list-devices.
int printDevices() {
  fmt::print("cpu: the host, {} hardware threads\n",
             std::thread::hardware_concurrency());
  Expected<std::vector<std::string>> gpus = loom::describeCudaDevices();
  if (!gpus) {
    fmt::print("cuda: none: {}\n", toString(gpus.takeError()));
    return 0;
  }
  if (gpus->empty())
    fmt::print("cuda: none: the CUDA driver sees no device\n");
  for (const std::string &line : *gpus)
    fmt::print("{}\n", line);
  return 0;
}

/// Loom's compiler, loaded when needed (DriverPlugin.h): loom-run itself
/// links the runtime only.
struct Driver {
  LoomDriverBindFlags bindFlags = nullptr;
  LoomDriverCompileCached compileCached = nullptr;
  std::string error; ///< why it could not be loaded
};

/// Opens libLoomDriver.so: where the dynamic linker finds it (this tool's
/// run path: the build's lib/), else in ../lib beside the executable.
Driver loadDriver(const char *argv0) {
  Driver driver;
  void *handle = dlopen("libLoomDriver.so", RTLD_NOW);
  if (!handle) {
    driver.error = dlerror();
    std::string exe =
        sys::fs::getMainExecutable(argv0, reinterpret_cast<void *>(&fail));
    SmallString<256> path(sys::path::parent_path(sys::path::parent_path(exe)));
    sys::path::append(path, "lib", "libLoomDriver.so");
    handle = dlopen(path.c_str(), RTLD_NOW);
    if (!handle)
      return driver;
  }
  driver.bindFlags = reinterpret_cast<LoomDriverBindFlags>(
      dlsym(handle, "loom_driver_bind_flags"));
  driver.compileCached = reinterpret_cast<LoomDriverCompileCached>(
      dlsym(handle, "loom_driver_compile_cached"));
  if (!driver.bindFlags || !driver.compileCached)
    driver.error = "libLoomDriver.so lacks the loom_driver_* functions";
  else
    driver.error.clear();
  return driver;
}

/// Whether this command line needs the compiler: an input that is not an
/// artifact (a model file to compile), or options loom-run does not know
/// (the compile options, which the driver declares). Given an artifact and
/// loom-run's own options, MLIR and the compiler are never loaded.
bool needsCompiler(ArrayRef<char *> args) {
  bool artifact = false, unknown = false;
  auto &known = cl::getRegisteredOptions();
  for (StringRef arg : args.drop_front()) {
    if (arg.starts_with("-") && arg.size() > 1) {
      StringRef name = arg.ltrim('-').split('=').first;
      unknown |= !name.empty() && !known.count(name);
    } else if (loom::isArtifactFile(arg)) {
      artifact = true;
    }
  }
  return !artifact || unknown;
}

} // namespace

/// Takes `--threads N` / `--threads=N` out of the arguments. (libLLVM
/// already registers a `threads` option of its own, so ours cannot be a
/// cl::opt.) Returns -1 for a malformed value.
int takeThreadsOption(std::vector<char *> &args) {
  int threads = 0;
  for (size_t i = 1; i < args.size();) {
    StringRef a = args[i];
    if (!a.consume_front("--threads") && !a.consume_front("-threads")) {
      ++i;
      continue;
    }
    StringRef value;
    size_t taken = 1;
    if (a.consume_front("="))
      value = a;
    else if (a.empty() && i + 1 < args.size())
      value = args[i + 1], taken = 2;
    else {
      ++i;
      continue; // not ours (e.g. --threadsX): let cl report it
    }
    if (value.getAsInteger(10, threads) || threads < 0 ||
        threads > loom::maxThreadCount())
      return -1;
    args.erase(args.begin() + i, args.begin() + i + taken);
  }
  return threads;
}

/// The token ids of -p with --ids, or an error naming the word that is
/// not one.
static Expected<std::vector<int32_t>> promptIds() {
  return loomrun::parseIds(prompt, "--ids");
}

/// The inputs of an encoder run (-p, or every line of --prompt-file: ids
/// with --ids, else text for the tokenizer) and what to do with them.
static Error runEncoderTool(loom::Session &session,
                            const loom::Tokenizer *tokenizer,
                            StringRef modelPath) {
  loomrun::EncoderOptions options;
  std::vector<std::string> texts;
  if (!promptFile.empty()) {
    if (prompt.getNumOccurrences())
      return createStringError("give the input in -p or in --prompt-file, "
                               "not both");
    auto buffer = MemoryBuffer::getFile(promptFile, /*IsText=*/true);
    if (!buffer)
      return createStringError("cannot read " + promptFile + ": " +
                               buffer.getError().message());
    SmallVector<StringRef> lines;
    (*buffer)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
    for (StringRef line : lines)
      texts.push_back(line.rtrim("\r").str());
    if (texts.empty())
      return createStringError(promptFile + " holds no lines to encode");
  } else {
    texts.push_back(prompt);
  }
  for (const std::string &text : texts) {
    if (printIds) {
      auto ids = loomrun::parseIds(text, "--ids");
      if (!ids)
        return ids.takeError();
      options.inputs.push_back(std::move(*ids));
      continue;
    }
    if (!tokenizer)
      return createStringError(modelPath + " holds no vocabulary; give the "
                                           "input as token ids with --ids");
    auto encoded = tokenizer->encode(text, /*bos=*/!noBos, /*eos=*/!noBos,
                                     !noParseSpecial);
    if (!encoded)
      return encoded.takeError();
    options.inputs.emplace_back(encoded->begin(), encoded->end());
  }
  if (!tokenTypes.empty()) {
    auto types = loomrun::parseIds(tokenTypes, "--token-types");
    if (!types)
      return types.takeError();
    options.tokenTypes = std::move(*types);
  }
  options.dumpHidden = dumpHidden;
  options.dumpLogits = dumpLogits;
  options.dumpEmbedding = dumpEmbedding;
  options.embed = embed;
  options.bench = bench;
  if (batchSize < 1)
    return createStringError("--batch takes a number of inputs, at least 1");
  options.batch = batchSize;
  options.modelPath = modelPath.str();
  return loomrun::runEncoder(session, tokenizer, options);
}

/// --tokenize and --detokenize: the vocabulary of `path` (a model file, a
/// vocabulary-only GGUF, a llama2.c tokenizer.bin, or an artifact's model
/// file), or --tokenizer's.
/// The profile of the run by op (Profile.h), as a table on stderr: each
/// entry point (in the order they first ran) with its ops, most time first.
static void printProfile(StringRef device) {
  std::vector<loom::KernelTime> ops = loom::opTimes();
  std::vector<std::string> order;
  std::map<std::string, std::pair<uint64_t, double>> entries;
  for (const loom::KernelTime &k : loom::kernelTimes()) {
    auto [it, inserted] = entries.try_emplace(k.entry);
    if (inserted)
      order.push_back(k.entry);
    it->second.first += 1;
    it->second.second += k.seconds;
  }
  size_t width = 2;
  for (const loom::KernelTime &o : ops)
    width = std::max(width, o.op.size());
  fmt::print(stderr, "loom-run: kernel times on {} ({}), by op:\n", device,
             device == "cpu" ? "host clock" : "CUDA events");
  for (const std::string &entry : order) {
    auto [kernels, total] = entries[entry];
    fmt::print(stderr, "  {}: {} kernels, {:.3f} ms\n", entry, kernels,
               total * 1e3);
    fmt::print(stderr, "    {:<{}} {:>7} {:>7} {:>10} {:>11} {:>6}\n", "op",
               width, "kernels", "runs", "total ms", "per run us", "share");
    for (const loom::KernelTime &o : ops)
      if (o.entry == entry)
        fmt::print(stderr,
                   "    {:<{}} {:>7} {:>7} {:>10.3f} {:>11.1f} {:>5.1f}%\n",
                   o.op, width, o.kernels, o.calls, o.seconds * 1e3,
                   o.seconds * 1e6 / std::max<uint64_t>(o.calls, 1),
                   100 * o.seconds / std::max(total, 1e-12));
  }
}

static int runTokenizer(StringRef path) {
  std::string vocabPath = path.str();
  if (loom::isArtifactFile(path)) {
    auto loaded = loom::Artifact::load(path);
    if (!loaded)
      return fail(toString(loaded.takeError()));
    vocabPath = (*loaded)->manifest().modelPath;
  }
  Expected<loom::TokenizerData> vocab = loom::readTokenizerFile(
      tokenizerPath.empty() ? StringRef(vocabPath) : StringRef(tokenizerPath),
      0);
  if (!vocab)
    return fail(toString(vocab.takeError()));
  // What --chat needs of the vocabulary, kept before it moves into the
  // tokenizer (not a copy of all of it).
  loom::TokenizerData chatData;
  chatData.chatTemplate = std::move(vocab->chatTemplate);
  chatData.eotId = vocab->eotId;
  auto tokenizer = loom::Tokenizer::create(std::move(*vocab));
  if (!tokenizer)
    return fail(toString(tokenizer.takeError()));
  if (tokenizeOnly) {
    if (printIds)
      return fail("--tokenize takes text in -p, not ids (--ids)");
    Expected<std::vector<int>> ids = std::vector<int>();
    if (chat) {
      auto format = loomrun::chatFormat(*tokenizer, chatData, vocabPath,
                                        chatTemplatePath);
      if (!format)
        return fail(toString(format.takeError()));
      std::vector<loom::ChatMessage> messages;
      if (!systemPrompt.empty())
        messages.push_back({"system", systemPrompt});
      messages.push_back({"user", prompt});
      auto chatIds = loomrun::encodeChat(*tokenizer, *format, messages);
      if (!chatIds)
        return fail(toString(chatIds.takeError()));
      ids->assign(chatIds->begin(), chatIds->end());
    } else {
      // A WordPiece template puts [SEP] after the text as it puts [CLS]
      // before it; --no-bos leaves out both.
      bool bos = !noBos && tokenizer->addsBos();
      ids = tokenizer->encode(prompt, bos, bos && tokenizer->addsEos(),
                              !noParseSpecial);
    }
    if (!ids)
      return fail(toString(ids.takeError()));
    std::string line;
    for (int id : *ids)
      line += fmt::format("{}{}", line.empty() ? "" : " ", id);
    fmt::print("{}\n", line);
    return 0;
  }
  if (!printIds)
    return fail("--detokenize takes token ids: give them with --ids -p");
  Expected<std::vector<int32_t>> ids = promptIds();
  if (!ids)
    return fail(toString(ids.takeError()));
  std::vector<int> sequence(ids->begin(), ids->end());
  Expected<std::string> text = tokenizer->decodeText(sequence);
  if (!text)
    return fail(toString(text.takeError()));
  fmt::print("{}\n", *text);
  return 0;
}

static int runMain(int argc, char **argv) {
  InitLLVM init(argc, argv);
  std::vector<char *> args(argv, argv + argc);
  int threads = takeThreadsOption(args);
  if (threads < 0)
    return fail(fmt::format("--threads takes a number from 0 (one per hardware "
                            "thread) to {} (8 per hardware thread)",
                            loom::maxThreadCount()));
  // A model file run with --device=cuda is compiled for it (--target=cuda,
  // unless the command line names a target itself).
  {
    bool cuda = false, target = false, artifact = false;
    ArrayRef<char *> given = ArrayRef<char *>(args).drop_front();
    for (auto [i, a] : llvm::enumerate(given)) {
      StringRef arg = a;
      // --device=cuda[:N], or --device cuda[:N] as two arguments.
      bool device = arg == "--device" || arg == "-device";
      cuda |= arg.starts_with("--device=cuda") ||
              arg.starts_with("-device=cuda") ||
              (device && i + 1 < given.size() &&
               StringRef(given[i + 1]).starts_with("cuda"));
      target |= arg.starts_with("--target") || arg.starts_with("-target");
      artifact |= !arg.starts_with("-") && loom::isArtifactFile(arg);
    }
    if (cuda && !target && !artifact)
      args.push_back(const_cast<char *>("--target=cuda"));
  }
  Driver driver;
  if (needsCompiler(args)) {
    driver = loadDriver(args.front());
    if (driver.bindFlags)
      driver.bindFlags(&category, "With a model file: ");
  }
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      int(args.size()), args.data(),
      "Loom model runner\n\n"
      "Runs a model file (compiling it first, with a cache) or an artifact\n"
      "made by loom-compile, and generates text from a prompt.\n\n"
      "  --threads=<N>    Threads the compiled code's parallel loops run on\n"
      "                   (a oneTBB arena; default 0: one per hardware "
      "thread)\n");

  loom::setThreadCount(threads);
  if (listDevices)
    return printDevices();
  if (tokenizeOnly || detokenizeOnly) {
    if (inputPath.empty())
      return fail("no model file or vocabulary given (see --help)");
    return runTokenizer(inputPath);
  }
  if (inputPath.empty())
    return fail("no model file or artifact given (see --help)");

  // The device first: a missing GPU driver is reported before any work.
  Expected<std::shared_ptr<loom::Device>> device = loom::openDevice(deviceName);
  if (!device)
    return fail("--device=" + deviceName + ": " + toString(device.takeError()));

  // The artifact and the model file its weights come from.
  std::shared_ptr<loom::Artifact> artifact;
  std::string modelPath = inputPath;
  auto compileStart = std::chrono::steady_clock::now();
  bool fromCache = false, compiled = false;
  if (loom::isArtifactFile(inputPath)) {
    auto loaded = loom::Artifact::load(inputPath);
    if (!loaded)
      return fail(toString(loaded.takeError()));
    artifact = *loaded;
    modelPath = weightsPath.empty() ? artifact->manifest().modelPath
                                    : weightsPath.getValue();
  }
  auto readModel = loom::readModelFile(modelPath);
  if (!readModel)
    return fail(toString(readModel.takeError()));
  std::shared_ptr<const loom::ModelFile> model = std::move(*readModel);
  // Before anything is compiled.
  if (chat && !model->config.blocks.causal)
    return fail(modelPath + " is an encoder: it does not chat");
  if (chat && chatTemplatePath.empty() && model->tokenizer.chatTemplate.empty())
    return fail(toString(loomrun::missingChatTemplate(modelPath)));
  if (!artifact) {
    if (Error e = loom::validateModel(*model))
      return fail(toString(std::move(e)));
    if (!driver.compileCached)
      return fail(
          fmt::format("{}: compiling a model file needs Loom's compiler "
                      "(libLoomDriver.so), which could not be loaded: {}",
                      inputPath.getValue(), driver.error));
    char *compiledPath = nullptr, *error = nullptr;
    int cached = 0;
    auto message = [](const char *kind, const char *text) {
      fmt::print(stderr, "loom-run: {}: {}\n", kind, text);
    };
    if (driver.compileCached(model.get(), cacheDir.c_str(), noCache, message,
                             &compiledPath, &cached, &error) != 0) {
      std::string text = error;
      std::free(error);
      return fail(text);
    }
    std::string path = compiledPath;
    std::free(compiledPath);
    fromCache = cached != 0;
    auto loaded = loom::Artifact::load(path);
    if (noCache)
      sys::fs::remove(path);
    if (!loaded)
      return fail(toString(loaded.takeError()));
    artifact = *loaded;
    compiled = !fromCache;
  }
  double compileSeconds = loomrun::secondsSince(compileStart);

  // The tokenizer: from the model file, or --tokenizer; none with --ids.
  std::optional<loom::Tokenizer> tokenizer;
  if (!printIds || !tokenizerPath.empty() || !model->tokenizer.empty()) {
    int64_t modelVocab = artifact->manifest().vocab;
    loom::TokenizerData vocab = model->tokenizer;
    if (!tokenizerPath.empty()) {
      auto t = loom::readTokenizerFile(tokenizerPath, modelVocab);
      if (!t)
        return fail(toString(t.takeError()));
      vocab = std::move(*t);
    }
    if (vocab.empty())
      return fail(model->path + " holds no vocabulary; name a tokenizer with "
                                "--tokenizer (or work in ids with --ids)");
    auto created = loom::Tokenizer::create(std::move(vocab), modelVocab);
    if (!created)
      return fail(toString(created.takeError()));
    tokenizer.emplace(std::move(*created));
  }
  loom::SamplerOptions samplerOptions;
  samplerOptions.temperature = temperature;
  samplerOptions.topP = topP;
  samplerOptions.topK = topK;
  samplerOptions.seed = seed;
  auto sampler = loom::Sampler::create(samplerOptions);
  if (!sampler)
    return fail(toString(sampler.takeError()));

  loom::SessionOptions sessionOptions;
  sessionOptions.schedule = schedule;
  sessionOptions.device = *device;
  if (packTokens.getNumOccurrences())
    sessionOptions.encoderCallTokens = packTokens;
  auto session = loom::Session::create(artifact, model, sessionOptions);
  if (!session)
    return fail(toString(session.takeError()));
  for (const std::string &warning : (*session)->warnings())
    fmt::print(stderr, "loom-run: warning: {}\n", warning);
  loom::setProfiling(profileKernels);
  // Under mpirun every rank computes the same tokens; rank 0 reports them.
  if ((*session)->rank() != 0) {
    if (!std::freopen("/dev/null", "w", stdout))
      return fail("cannot silence the output of MPI rank " +
                  Twine((*session)->rank()));
    dumpLogits.setValue("");
  }

  bool encoderOptions = embed || !dumpEmbedding.empty() ||
                        !dumpHidden.empty() || !tokenTypes.empty() ||
                        !promptFile.empty() || batchSize.getNumOccurrences() ||
                        packTokens.getNumOccurrences();
  if ((*session)->isEncoder()) {
    if (Error e = runEncoderTool(**session, tokenizer ? &*tokenizer : nullptr,
                                 model->path))
      return fail(toString(std::move(e)));
    if (profileKernels)
      printProfile((*device)->name());
    return 0;
  }
  if (encoderOptions)
    return fail(model->path + " is a decoder: --embed, --dump-embedding, "
                              "--dump-hidden, --token-types, --prompt-file, "
                              "--batch and --pack-tokens are for encoders");

  if (chat) {
    if (printIds || !tokenizer)
      return fail("--chat works in text: it takes no --ids");
    auto format = loomrun::chatFormat(*tokenizer, model->tokenizer, model->path,
                                      chatTemplatePath);
    if (!format)
      return fail(toString(format.takeError()));
    loomrun::ChatOptions options;
    options.system = systemPrompt;
    options.maxReply = steps.getNumOccurrences() ? int64_t(steps) : 0;
    std::optional<std::string> oneTurn;
    if (prompt.getNumOccurrences())
      oneTurn = prompt.getValue();
    if (Error e = loomrun::runChat(**session, *tokenizer, *sampler, *format,
                                   options, oneTurn))
      return fail(toString(std::move(e)));
    return 0;
  }

  std::vector<int32_t> promptTokens;
  if (printIds) {
    // -p holds ids; without one the run starts from BOS.
    Expected<std::vector<int32_t>> ids = promptIds();
    if (!ids)
      return fail(toString(ids.takeError()));
    promptTokens = std::move(*ids);
    if (promptTokens.empty())
      promptTokens.push_back(tokenizer ? tokenizer->bosId() : 1);
  } else {
    auto encoded = tokenizer->encode(prompt, !noBos && tokenizer->addsBos(),
                                     /*eos=*/false, !noParseSpecial);
    if (!encoded)
      return fail(toString(encoded.takeError()));
    promptTokens.assign(encoded->begin(), encoded->end());
  }

  std::FILE *logitsFile = nullptr;
  if (!dumpLogits.empty() &&
      !(logitsFile = std::fopen(dumpLogits.c_str(), "wb")))
    return fail("cannot write " + dumpLogits);
  // Every write is checked: a full disk is an error, not a short file.
  auto dump = [&](ArrayRef<float> rows) -> bool {
    return !logitsFile || std::fwrite(rows.data(), sizeof(float), rows.size(),
                                      logitsFile) == rows.size();
  };
  auto dumpFailed = [&] {
    return fail(fmt::format("cannot write the logits to {}: {}",
                            dumpLogits.getValue(), std::strerror(errno)));
  };

  std::optional<loom::Detokenizer> detok;
  if (printIds) {
    if (!bench)
      fmt::print("{}", promptTokens[0]);
  } else {
    detok.emplace(*tokenizer, promptTokens[0]);
  }
  auto emit = [&](int token) -> Error {
    if (printIds) {
      if (!bench)
        fmt::print(" {}", token);
      return Error::success();
    }
    // Past BOS (--ignore-eos) the text goes on: run.c's stream would stop.
    Expected<StringRef> piece = detok->push(token);
    if (!piece)
      return piece.takeError();
    if (!bench) {
      std::fwrite(piece->data(), 1, piece->size(), stdout);
      std::fflush(stdout);
    }
    return Error::success();
  };

  // Prefill: the prompt (as far as the step limit reaches) in one call;
  // every prompt position's logits only where they are written out.
  loom::GenerationOptions generationOptions;
  generationOptions.steps = steps;
  generationOptions.allPromptLogits = logitsFile != nullptr;
  loom::setStopTokens(generationOptions, tokenizer ? &*tokenizer : nullptr,
                      ignoreEos);
  if (bench) {
    // The warm-up: the same prefill and one decode step, untimed. Its
    // positions are written again by the timed run (every prefill starts
    // at 0), so nothing needs resetting.
    auto warmup = loom::Generation::start(**session, *sampler, promptTokens,
                                          generationOptions);
    if (!warmup)
      return fail(toString(warmup.takeError()));
    while (true) {
      Expected<std::optional<int>> next = warmup->next();
      if (!next)
        return fail(toString(next.takeError()));
      if (!*next || warmup->stepped())
        break;
    }
    loom::resetProfile();
  }
  auto prefillStart = std::chrono::steady_clock::now();
  auto generation = loom::Generation::start(**session, *sampler, promptTokens,
                                            generationOptions);
  if (!generation)
    return fail(toString(generation.takeError()));
  double prefillSeconds = loomrun::secondsSince(prefillStart);
  if (!dump(generation->promptLogits()))
    return dumpFailed();

  // Decode: one token per step from the end of the prompt.
  auto decodeStart = std::chrono::steady_clock::now();
  while (true) {
    Expected<std::optional<int>> next = generation->next();
    if (!next)
      return fail(toString(next.takeError()));
    if (generation->stepped() && !dump(generation->logits()))
      return dumpFailed();
    if (!*next)
      break;
    if (Error e = emit(**next))
      return fail(toString(std::move(e)));
  }
  double decodeSeconds = loomrun::secondsSince(decodeStart);
  int64_t prefillCount = generation->promptTokens();
  int64_t generated = generation->decodeCalls();
  if (logitsFile && (std::fflush(logitsFile) != 0 || std::ferror(logitsFile)))
    return dumpFailed();
  if (logitsFile && std::fclose(logitsFile) != 0)
    return dumpFailed();
  if (!bench) {
    std::fputs(printIds ? "\n" : loom::Detokenizer::finish().data(), stdout);
    if (std::fflush(stdout) != 0 || std::ferror(stdout))
      return fail(
          fmt::format("cannot write the output: {}", std::strerror(errno)));
  }

  auto kernelCount = [&](StringRef entry) -> size_t {
    const loom::EntryInfo *e = artifact->manifest().entry(entry);
    return e ? e->kernels.size() : 0;
  };
  double prefillRate = prefillCount / std::max(prefillSeconds, 1e-9);
  double decodeRate = generated / std::max(decodeSeconds, 1e-9);
  if (bench) {
    fmt::print("{{\"model\": \"{}\", \"prompt_tokens\": {}, \"prefill_s\": "
               "{:.6f}, \"prefill_tok_s\": {:.2f}, \"generated_tokens\": {}, "
               "\"decode_s\": {:.6f}, \"decode_tok_s\": {:.2f}, "
               "\"compile_s\": {:.3f}, \"compiled\": {}, \"threads\": {}, "
               "\"schedule\": \"{}\", \"kernels\": {{\"prefill\": {}, "
               "\"decode\": {}}}{}}}\n",
               model->path, prefillCount, prefillSeconds, prefillRate,
               generated, decodeSeconds, decodeRate, compileSeconds,
               compiled ? "true" : "false", loom::threadCount(),
               schedule == loom::ScheduleMode::Graph ? "graph" : "sequential",
               kernelCount("prefill"), kernelCount("decode"),
               profileKernels ? ", \"profile\": " + loom::opTimesJson() : "");
  } else {
    fmt::print(stderr,
               "loom-run: {}prompt {} tokens at {:.1f} tok/s, generated {} "
               "tokens at {:.1f} tok/s\n",
               compiled ? fmt::format("compiled in {:.1f} s; ", compileSeconds)
                        : "",
               prefillCount, prefillRate, generated, decodeRate);
    if (profileKernels)
      printProfile((*device)->name());
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return fail(
        fmt::format("cannot write the output: {}", std::strerror(errno)));
  return 0;
}

int main(int argc, char **argv) {
  // fmt reports a failed write (stdout on a full disk) by throwing.
  try {
    return runMain(argc, argv);
  } catch (const std::exception &e) {
    return fail(fmt::format("cannot write the output: {}", e.what()));
  }
}
