//===- Encoder.cpp - loom-run on encoders ---------------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "Encoder.h"

#include "loom/Runtime/Session.h"
#include "loom/Runtime/Threads.h"
#include "loom/Runtime/Tokenizer.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

using namespace llvm;

namespace loomrun {

Expected<std::vector<int32_t>> parseIds(StringRef text, StringRef what) {
  SmallVector<StringRef> words;
  text.split(words, ' ', -1, /*KeepEmpty=*/false);
  std::vector<int32_t> ids;
  for (StringRef w : words) {
    int32_t id;
    if (w.trim().getAsInteger(10, id) || id < 0)
      return createStringError(fmt::format(
          "{} takes non-negative integers, not '{}'", what.str(), w.str()));
    ids.push_back(id);
  }
  return ids;
}

namespace {

/// A float32 output file; every write is checked, so a full disk is an
/// error naming the file rather than a short file.
class OutputFile {
public:
  static Expected<std::unique_ptr<OutputFile>> open(StringRef path,
                                                    StringRef what) {
    auto file = std::unique_ptr<OutputFile>(new OutputFile(path, what));
    if (!(file->handle = std::fopen(file->path.c_str(), "wb")))
      return file->error();
    return std::move(file);
  }
  ~OutputFile() {
    if (handle)
      std::fclose(handle);
  }
  Error write(ArrayRef<float> rows) {
    if (std::fwrite(rows.data(), sizeof(float), rows.size(), handle) !=
        rows.size())
      return error();
    return Error::success();
  }
  Error close() {
    bool failed = std::fflush(handle) != 0 || std::ferror(handle);
    failed |= std::fclose(handle) != 0;
    handle = nullptr;
    return failed ? error() : Error::success();
  }

private:
  OutputFile(StringRef path, StringRef what) : path(path), what(what) {}
  Error error() const {
    return createStringError(fmt::format("cannot write {} to {}: {}", what,
                                         path, std::strerror(errno)));
  }
  std::string path, what;
  std::FILE *handle = nullptr;
};

/// The text of token `id` for showing a prediction: its piece, or the id.
std::string pieceText(const loom::Tokenizer *tokenizer, int id) {
  if (!tokenizer)
    return std::to_string(id);
  if (std::optional<StringRef> special = tokenizer->specialText(id))
    return special->str();
  Expected<StringRef> piece = tokenizer->decode(id, id);
  if (!piece) {
    consumeError(piece.takeError());
    return std::to_string(id);
  }
  return piece->str();
}

} // namespace

Error runEncoder(loom::Session &session, const loom::Tokenizer *tokenizer,
                 const EncoderOptions &options) {
  if (!options.tokenTypes.empty() && options.inputs.size() == 1 &&
      options.tokenTypes.size() != options.inputs.front().size())
    return createStringError(
        fmt::format("--token-types gives {} types for {} tokens",
                    options.tokenTypes.size(), options.inputs.front().size()));
  if (!options.tokenTypes.empty() && options.inputs.size() != 1)
    return createStringError("--token-types goes with one input (-p), not a "
                             "--prompt-file of several");

  // What to compute: what is asked for, else the model's most useful
  // output (the sentence embedding, or the masked-LM predictions).
  bool hidden = !options.dumpHidden.empty();
  bool mlm = !options.dumpLogits.empty();
  bool embed = options.embed || !options.dumpEmbedding.empty();
  bool predict = false;
  if (!hidden && !mlm && !embed) {
    if (session.hasEntry("embed"))
      embed = true;
    else if (session.hasEntry("mlm"))
      predict = mlm = true;
    else
      return createStringError(
          "the model has neither a pooling nor a masked-LM head: ask for its "
          "last hidden states with --dump-hidden FILE");
  }
  bool printEmbedding =
      embed && (options.embed || options.dumpEmbedding.empty());

  std::unique_ptr<OutputFile> hiddenFile, logitsFile, embeddingFile;
  for (auto [path, file, what] :
       {std::tuple{&options.dumpHidden, &hiddenFile, "the hidden states"},
        std::tuple{&options.dumpLogits, &logitsFile, "the logits"},
        std::tuple{&options.dumpEmbedding, &embeddingFile, "the embedding"}}) {
    if (path->empty())
      continue;
    auto opened = OutputFile::open(*path, what);
    if (!opened)
      return opened.takeError();
    *file = std::move(*opened);
  }

  int64_t tokens = 0;
  double seconds = 0;
  ArrayRef<std::vector<int32_t>> all = options.inputs;
  std::vector<std::vector<int32_t>> types;
  if (!options.tokenTypes.empty())
    types.push_back(options.tokenTypes);
  for (size_t begin = 0; begin < all.size(); begin += options.batch) {
    ArrayRef<std::vector<int32_t>> batch =
        all.slice(begin, std::min<size_t>(options.batch, all.size() - begin));
    for (const std::vector<int32_t> &input : batch) {
      if (input.empty())
        return createStringError("an encoder input needs at least one token");
      tokens += int64_t(input.size());
    }
    // Runs `entry` on the batch, timed; its rows go to `file`.
    auto run = [&](StringRef entry,
                   OutputFile *file) -> Expected<ArrayRef<float>> {
      auto start = std::chrono::steady_clock::now();
      auto rows = session.encodeBatch(entry, batch, types);
      if (!rows)
        return rows.takeError();
      seconds += secondsSince(start);
      if (file)
        if (Error e = file->write(*rows))
          return std::move(e);
      return rows;
    };
    if (hidden)
      if (auto rows = run("hidden", hiddenFile.get()); !rows)
        return rows.takeError();
    if (mlm) {
      auto rows = run("mlm", logitsFile.get());
      if (!rows)
        return rows.takeError();
      if (predict && !options.bench) {
        // Each position's most likely token: the masks filled in.
        int64_t vocab = session.vocab();
        size_t row = 0;
        for (const std::vector<int32_t> &input : batch) {
          std::string line;
          for (size_t i = 0; i < input.size(); ++i, ++row) {
            ArrayRef<float> logits = rows->slice(row * vocab, vocab);
            int best = int(std::max_element(logits.begin(), logits.end()) -
                           logits.begin());
            line += (i ? " " : "") + pieceText(tokenizer, best);
          }
          fmt::print("{}\n", line);
        }
      }
    }
    if (embed) {
      auto rows = run("embed", embeddingFile.get());
      if (!rows)
        return rows.takeError();
      if (printEmbedding && !options.bench) {
        size_t width = rows->size() / batch.size();
        for (size_t i = 0; i < batch.size(); ++i)
          fmt::print("{:.8g}\n", fmt::join(rows->slice(i * width, width), " "));
      }
    }
  }
  for (std::unique_ptr<OutputFile> *file :
       {&hiddenFile, &logitsFile, &embeddingFile})
    if (*file)
      if (Error e = (*file)->close())
        return e;

  size_t inputs = options.inputs.size();
  if (options.bench)
    fmt::print("{{\"model\": \"{}\", \"inputs\": {}, \"tokens\": {}, "
               "\"batch\": {}, \"encode_s\": {:.6f}, \"inputs_s\": {:.2f}, "
               "\"tok_s\": {:.2f}, \"threads\": {}}}\n",
               options.modelPath, inputs, tokens, options.batch, seconds,
               inputs / std::max(seconds, 1e-9),
               tokens / std::max(seconds, 1e-9), loom::threadCount());
  else
    fmt::print(stderr,
               "loom-run: encoded {} input{} ({} tokens) at {:.1f} "
               "inputs/s\n",
               inputs, inputs == 1 ? "" : "s", tokens,
               inputs / std::max(seconds, 1e-9));
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return createStringError(
        fmt::format("cannot write the output: {}", std::strerror(errno)));
  return Error::success();
}

} // namespace loomrun
