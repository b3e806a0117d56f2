//===- ChatTemplateFuzzer.cpp - libFuzzer target of the Jinja interpreter -===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A chat template comes from the model file, so it is input like any
// other: any bytes as a template either fail to parse, or render a short
// conversation to text or an error, within the render limits; never a
// crash, a read out of bounds, a leak or runaway memory.
//
//===----------------------------------------------------------------------===//

#include "FuzzerSupport.h"

#include "loom/Runtime/ChatTemplate.h"

using namespace loom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef source(reinterpret_cast<const char *>(data), size);
  llvm::Expected<jinja::Template> parsed = jinja::Template::parse(source);
  if (!parsed) {
    fuzz::drop(parsed.takeError());
    return 0;
  }
  ChatMessage messages[] = {{"system", "Be brief."},
                            {"user", "What is the capital of France?"},
                            {"assistant", "Paris."},
                            {"user", "And of Germany?"}};
  jinja::RenderLimits limits;
  limits.maxOutputBytes = 1 << 20;
  limits.maxIterations = 100000;
  llvm::Expected<std::string> text = parsed->render(
      makeChatContext(messages, /*addGenerationPrompt=*/true, "<s>", "</s>"),
      limits);
  if (!text)
    fuzz::drop(text.takeError());
  return 0;
}
