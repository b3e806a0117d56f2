//===- Encoder.h - loom-run on encoders: embeddings, hidden states, MLM ---===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// An encoder (BERT) generates nothing: each input sequence is run once
// through its entry points (`hidden`, `mlm`, `embed`) and their outputs are
// printed or written out. `--embed` prints the sentence embedding, pooled and
// normalized as the model's sentence-transformers files say.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TOOLS_LOOM_RUN_ENCODER_H
#define LOOM_TOOLS_LOOM_RUN_ENCODER_H

#include "llvm/Support/Error.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace loom {
class Session;
class Tokenizer;
} // namespace loom

namespace loomrun {

/// What to run and where its outputs go.
struct EncoderOptions {
  /// The input sequences, tokenized (one per -p, or one per line of
  /// --prompt-file).
  std::vector<std::vector<int32_t>> inputs;
  /// The token types (segments) of the single input, empty for all 0.
  std::vector<int32_t> tokenTypes;
  std::string dumpHidden;    ///< `hidden` rows, float32, to this file
  std::string dumpLogits;    ///< `mlm` rows, float32, to this file
  std::string dumpEmbedding; ///< `embed` rows, float32, to this file
  bool embed = false;        ///< print the embeddings, one line per input
  /// Inputs per encoder call, packed one after the other (each attending
  /// to itself only).
  int64_t batch = 1;
  bool bench = false;    ///< print timings as one JSON line instead
  std::string modelPath; ///< for the benchmark line
};

/// Runs every input through the entry points the options ask for (the
/// embedding, or where the model has no pooling the masked-LM predictions,
/// when none is asked for) and writes their outputs. Errors name the file
/// that cannot be written or what the model lacks.
llvm::Error runEncoder(loom::Session &session, const loom::Tokenizer *tokenizer,
                       const EncoderOptions &options);

/// Seconds since `start` on the steady clock (the tool's timings).
inline double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// Parses space-separated non-negative integers (`--token-types`,
/// `--ids`), naming `what` and the word that is not one.
llvm::Expected<std::vector<int32_t>> parseIds(llvm::StringRef text,
                                              llvm::StringRef what);

} // namespace loomrun

#endif // LOOM_TOOLS_LOOM_RUN_ENCODER_H
