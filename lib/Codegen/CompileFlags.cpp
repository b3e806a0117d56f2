//===- CompileFlags.cpp - compile options shared by the tools -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/CompileFlags.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace loom {

/// `body` after `prefix`, its first letter lowered there ("With a model
/// file: the compute mode ...") unless it starts an acronym ("KV").
static std::string describe(StringRef prefix, StringRef body) {
  if (prefix.empty() || body.size() < 2 || isUpper(body[1]))
    return (prefix + body).str();
  return (prefix + Twine(char(toLower(body.front()))) + body.drop_front()).str();
}

CompileFlags::CompileFlags(cl::OptionCategory &category, StringRef prefix)
    : contextLengthDesc(describe(prefix, "KV cache capacity in positions (default: "
                                  "the model's context length, at most 4096)")),
      maxTokensDesc(describe(prefix, "Most tokens one prefill call takes: the "
                              "activation arena is planned for it, and the "
                              "runtime splits longer prompts (default 512; "
                              "at most the context length)")),
      expertShardsDesc(
          describe(prefix, "Split the experts of every MoE layer into N shards "
                    "(each holding experts/N of them) that run side by side "
                    "as kernels of their own; N must divide the expert count "
                    "(default 1)")),
      expertRanksDesc(
          describe(prefix, "Split the experts of every MoE layer over N MPI ranks "
                    "(each holding experts/N of them, exchanging rows with "
                    "an all-reduce); run it under `mpirun -np N` (default 1)")),
      dtypeDesc(describe(prefix, "The compute mode: f32 (the default: weights as "
                          "the file stores them) or bf16 (the matrices of an "
                          "f32 checkpoint's linear layers converted to bf16 "
                          "once, at load; bf16 activations; vdpbf16ps on "
                          "AVX512-BF16)")),
      int8Desc(describe(prefix, "Linear layers with q8_0/q4_0 weights quantize "
                         "their input to 8-bit blocks of 32 and multiply in "
                         "integers, as llama.cpp does (default true; false: "
                         "f32 input against the decoded weights, slower and "
                         "closer to the f32 model)")),
      interleaveDesc(describe(
          prefix, "With --int8-activations, q4_0 and q8_0 matrices of "
                  "linear layers are read with the blocks of 8 rows "
                  "interleaved, which the "
                  "runtime makes from the file's blocks once, at load: one "
                  "integer dot product serves 8 rows (default true; false: "
                  "the file's layout, one row at a time)")),
      bf16Desc(describe(prefix, "Linear layers with bf16 weights round their input "
                         "to bf16 and multiply bf16 by bf16 with f32 sums "
                         "(vdpbf16ps on AVX512-BF16), as llama.cpp does "
                         "(default true; false: f32 input against the "
                         "widened weights)")),
      contextLength("context-length", cl::desc(contextLengthDesc),
                    cl::value_desc("N"), cl::init(0), cl::cat(category)),
      maxTokens("max-tokens", cl::desc(maxTokensDesc), cl::value_desc("N"),
                cl::init(512), cl::cat(category)),
      expertShards("expert-shards", cl::desc(expertShardsDesc),
                   cl::value_desc("N"), cl::init(1), cl::cat(category)),
      expertRanks("expert-ranks", cl::desc(expertRanksDesc),
                  cl::value_desc("N"), cl::init(1), cl::cat(category)),
      dtype("dtype", cl::desc(dtypeDesc), cl::value_desc("f32|bf16"),
            cl::init("f32"), cl::cat(category)),
      int8Activations("int8-activations", cl::desc(int8Desc), cl::init(true),
                      cl::cat(category)),
      interleaveWeights("interleave-weights", cl::desc(interleaveDesc),
                        cl::init(true), cl::cat(category)),
      bf16Activations("bf16-activations", cl::desc(bf16Desc), cl::init(true),
                      cl::cat(category)) {}

Error CompileFlags::validate() const {
  if (contextLength < 0)
    return createStringError("--context-length takes a number of positions "
                             ">= 0 (0: the model's)");
  if (maxTokens < 1)
    return createStringError("--max-tokens takes a number of tokens >= 1");
  if (expertShards < 1)
    return createStringError("--expert-shards takes a number of shards >= 1");
  if (expertRanks < 1)
    return createStringError("--expert-ranks takes a number of ranks >= 1");
  if (dtype != "f32" && dtype != "bf16")
    return createStringError("--dtype takes f32 or bf16, not '" + dtype + "'");
  return Error::success();
}

void CompileFlags::apply(CompileOptions &options) const {
  options.build.contextLength = contextLength;
  options.maxTokens = maxTokens;
  options.expertShards = expertShards;
  options.expertRanks = expertRanks;
  options.dtype = dtype;
  options.int8Activations = int8Activations;
  options.interleaveWeights = interleaveWeights;
  options.bf16Activations = bf16Activations;
}

std::string CompileFlags::key() const {
  return formatv("context={0}|max-tokens={1}|shards={2}|ranks={3}|dtype={4}|"
                 "int8={5}|bf16={6}|interleave={7}",
                 contextLength.getValue(), maxTokens.getValue(),
                 expertShards.getValue(), expertRanks.getValue(),
                 dtype.getValue(), int8Activations.getValue(),
                 bf16Activations.getValue(), interleaveWeights.getValue())
      .str();
}

} // namespace loom
