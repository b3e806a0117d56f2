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

/// Whether a GPT-2 tensor, by its GGUF name, is a Conv1D weight (stored
/// `[in, out]`, transposed against nn.Linear).
bool isConv1DWeight(llvm::StringRef ggufName);

/// The architecture of a config.json (`model_type`, else `architectures`),
/// or an error naming both.
llvm::Expected<std::string> hfArchitecture(const llvm::json::Object &root,
                                           llvm::StringRef name);

/// Reads sentence-transformers' `modules.json` in `folder`, where present:
/// the Pooling module's `config.json` (mean or CLS pooling) and whether a
/// Normalize module follows, into `config.pooling` and
/// `config.normalizeEmbedding`. Other pooling modes are an error naming
/// the file.
llvm::Error readSentenceTransformers(llvm::StringRef folder,
                                     ModelConfig &config);

/// Reads a `tokenizer.json` (BPE models: SentencePiece-style with byte
/// fallback, or byte-level GPT-2 style; WordPiece models with BERT's
/// normalizer and pre-tokenizer) into `tok`.
llvm::Error readHFTokenizer(llvm::StringRef text, llvm::StringRef name,
                            TokenizerData &tok);

/// Reads a BERT `vocab.txt` (one WordPiece piece per line, the line number
/// its id) with BertTokenizer's defaults: [CLS], [SEP] and [UNK] required,
/// lowercasing (and accent stripping) unless `lowercase` says otherwise
/// (tokenizer_config.json's `do_lower_case`).
llvm::Error readVocabTxt(llvm::StringRef text, llvm::StringRef name,
                         std::optional<bool> lowercase, TokenizerData &tok);

} // namespace loom::detail

#endif // LOOM_LIB_FRONTEND_HUGGINGFACE_H
