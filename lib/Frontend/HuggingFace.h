//===- HuggingFace.h - Hugging Face names, config and tokenizer -*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// What a Hugging Face checkpoint keeps beside its safetensors: the mapping
// of its tensor names to GGUF's, `config.json` and `tokenizer.json`.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_LIB_FRONTEND_HUGGINGFACE_H
#define LOOM_LIB_FRONTEND_HUGGINGFACE_H

#include "loom/Frontend/ModelFile.h"

#include "llvm/Support/JSON.h"

namespace loom::detail {

/// The GGUF name of Hugging Face tensor `name`; "" for tensors a reader
/// drops (`rotary_emb.inv_freq`, which is recomputed); `name` itself for
/// names it does not know.
std::string ggufNameForHF(llvm::StringRef name);

/// The architecture of a config.json (`model_type`, else `architectures`),
/// or an error naming both.
llvm::Expected<std::string> hfArchitecture(const llvm::json::Object &root,
                                           llvm::StringRef name);

/// Reads a `tokenizer.json` (BPE models: SentencePiece-style with byte
/// fallback, or byte-level GPT-2 style) into `tok`.
llvm::Error readHFTokenizer(llvm::StringRef text, llvm::StringRef name,
                            TokenizerData &tok);

} // namespace loom::detail

#endif // LOOM_LIB_FRONTEND_HUGGINGFACE_H
