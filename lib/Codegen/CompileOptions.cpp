//===- CompileOptions.cpp - every option of a compilation, once -----------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/CompileOptions.h"
#include "loom/Target/TargetSpec.h"

#include "llvm/ADT/StringExtras.h"

#include <deque>

using namespace llvm;

namespace mlir::loom {

SmallVector<cl::Option *> CompileOptions::commandLineOptions() {
  SmallVector<cl::Option *> list;
  // The options registered themselves with this struct's (unnamed)
  // subcommand.
  for (auto &entry : OptionsMap)
    list.push_back(entry.second);
  llvm::sort(
      list, [](cl::Option *a, cl::Option *b) { return a->ArgStr < b->ArgStr; });
  return list;
}

Error CompileOptions::validate() const {
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
  if (attentionKeyBlock < -1)
    return createStringError("--attention-key-block takes -1, 0 or a block "
                             "size");
  if (optLevel > 3)
    return createStringError("--opt-level takes 0 to 3");
  if (target != "cpu" && target != "cuda")
    return createStringError("--target takes cpu or cuda, not '" + target +
                             "'");
  if (gpuBinary != "auto" && gpuBinary != "cubin" && gpuBinary != "ptx")
    return createStringError("--gpu-binary takes auto, cubin or ptx, not '" +
                             gpuBinary + "'");
  if (emulateGpu && !cuda())
    return createStringError("--emulate-gpu needs --target=cuda");
  // sm_ and a compute capability of two or three digits, as ptxas names it.
  if (!mlir::loom::describeGpu(gpu))
    return createStringError("--gpu takes a compute capability such as "
                             "sm_80 or sm_90a, not '" +
                             gpu + "'");
  return Error::success();
}

std::string CompileOptions::str() const {
  std::string text;
  raw_string_ostream os(text);
  print(os);
  return text;
}

namespace {

/// A flag of the tool that hands its occurrences to an option of a
/// CompileOptions: parsing `--max-tokens=64` sets that option as
/// `loom-codegen-pipeline{max-tokens=64}` would.
class BoundFlag : public cl::Option {
public:
  BoundFlag(cl::Option &target, cl::OptionCategory &category)
      : cl::Option(cl::Optional, cl::NotHidden), target(target) {
    setArgStr(target.ArgStr);
    setDescription(target.HelpStr);
    setValueStr(target.ValueStr);
    addCategory(category);
    addArgument();
  }

  size_t getOptionWidth() const override { return target.getOptionWidth(); }
  void printOptionInfo(size_t globalWidth) const override {
    target.printOptionInfo(globalWidth);
  }
  void printOptionValue(size_t globalWidth, bool force) const override {
    target.printOptionValue(globalWidth, force);
  }
  void setDefault() override { target.setDefault(); }

private:
  bool handleOccurrence(unsigned pos, StringRef argName,
                        StringRef value) override {
    return target.addOccurrence(pos, argName, value);
  }
  enum cl::ValueExpected getValueExpectedFlagDefault() const override {
    return target.getValueExpectedFlag();
  }

  cl::Option &target;
};

} // namespace

void bindCompileFlags(CompileOptions &options, cl::OptionCategory &category,
                      StringRef prefix) {
  // Alive as long as the tool: the command line refers to them.
  static std::deque<BoundFlag> flags;
  static std::deque<std::string> descriptions;
  for (cl::Option *option : options.commandLineOptions()) {
    if (!prefix.empty()) {
      // "With a model file: the compute mode ...", unless the description
      // starts with an acronym ("KV").
      StringRef body = option->HelpStr;
      std::string text = body.size() < 2 || isUpper(body[1])
                             ? (prefix + body).str()
                             : (prefix + Twine(char(toLower(body.front()))) +
                                body.drop_front())
                                   .str();
      descriptions.push_back(std::move(text));
      option->setDescription(descriptions.back());
    }
    flags.emplace_back(*option, category);
  }
}

} // namespace mlir::loom
