//===- ModelFile.h - what a model file says: config, weights, vocab -*- C++
//-*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Every reader (GGUF, llama2.c, safetensors + config.json) produces one
// `ModelFile`: the architecture's hyperparameters (`ModelConfig`), a table of
// named weights that point into the memory-mapped file (never copied), and the
// tokenizer data found in or beside the file. Weight names follow GGUF's
// llama.cpp naming whatever the source format (`token_embd.weight`,
// `blk.N.attn_q.weight`, ...), so model builders see one vocabulary.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_FRONTEND_MODELFILE_H
#define LOOM_FRONTEND_MODELFILE_H

#include "loom/Support/BlockFormats.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace loom {

/// How a weight's elements are stored in the file.
// StorageType and storageTypeName: loom/Support/BlockFormats.h.

/// How rotary embeddings pair up a head's features.
enum class RopeStyle {
  /// (x[2i], x[2i+1]): Meta's Llama layout, llama2.c, GGUF `llama`.
  Interleaved,
  /// (x[i], x[i + d/2]): rotate-half, Hugging Face checkpoints, GPT-NeoX.
  Half,
};

/// The normalization of a family's blocks.
enum class NormKind {
  RMSNorm,   ///< x / rms(x) * w (Llama)
  LayerNorm, ///< (x - mean) / std * w + b (GPT-2, Falcon, BERT)
};

/// Where a family's positions come from.
enum class PositionKind {
  Rotary,  ///< RoPE on queries and keys (Llama, Falcon)
  Learned, ///< a learned table added to the token embeddings (GPT-2, BERT)
};

/// How the query, key and value projections are stored.
enum class QKVLayout {
  Split, ///< three tensors: attn_q, attn_k, attn_v
  Fused, ///< one attn_qkv whose rows are all queries, then keys, then values
  /// One attn_qkv whose rows go per key/value head: that group's query
  /// heads, then its key, then its value (Hugging Face Falcon; llama.cpp's
  /// converter reorders it to Fused).
  Grouped,
};

/// The feed-forward network.
enum class FeedForwardKind {
  SwiGLU,   ///< down(silu(gate x) * up x) (Llama)
  Gelu,     ///< down(gelu(up x)), the exact erf form (BERT, Falcon)
  GeluTanh, ///< down(gelu(up x)), the tanh approximation (GPT-2)
};

/// How a block wires attention, the feed-forward network and the norms.
enum class BlockWiring {
  /// x += attn(norm1(x)); x += ffn(norm2(x)) (Llama, GPT-2)
  PreNorm,
  /// x += attn(norm1(x)) + ffn(norm1(x)): one norm (Falcon 7B, GPT-J)
  ParallelSharedNorm,
  /// x += attn(norm2(x)) + ffn(norm1(x)) (Falcon's new decoder; GGUF's
  /// names: `attn_norm_2` feeds attention, `attn_norm` the MLP)
  Parallel,
  /// x = norm1(x + attn(x)); x = norm2(x + ffn(x)) (BERT, the original
  /// Transformer)
  PostNorm,
};

/// How an encoder's hidden states become one sentence embedding
/// (sentence-transformers' Pooling module, GGUF's `<arch>.pooling_type`).
enum class Pooling {
  None, ///< the model file names none: no sentence embedding
  Mean, ///< the mean over the tokens
  CLS,  ///< the first token's ([CLS]) hidden state
};

/// Which blocks a family's model is made of and how they are wired: what a
/// builder composes. Each family's defaults are in one table
/// (`familyBlocks`); readers adjust them from the file's metadata.
struct ModelBlocks {
  NormKind norm = NormKind::RMSNorm;
  PositionKind positions = PositionKind::Rotary;
  QKVLayout qkv = QKVLayout::Split;
  FeedForwardKind feedForward = FeedForwardKind::SwiGLU;
  BlockWiring wiring = BlockWiring::PreNorm;
  /// The attention output and feed-forward projections have biases (GPT-2,
  /// BERT). The query/key/value biases are `ModelConfig::attentionBias`.
  bool projectionBias = false;
  /// Queries see only earlier positions (decoders); false: every position
  /// (encoders, BERT).
  bool causal = true;
  /// Token-type (segment) embeddings are added to the token embeddings
  /// (BERT's `token_types.weight`), and a norm follows the embeddings
  /// (`token_embd_norm`).
  bool tokenTypes = false;
  bool embeddingNorm = false;
  /// A final norm before the classifier (`output_norm`): pre-norm
  /// decoders have one, post-norm encoders do not.
  bool outputNorm = true;
};

/// The hyperparameters of a model, whatever file they came from.
struct ModelConfig {
  /// The architecture family, lower case: `llama`, `mistral`, `mixtral`,
  /// `qwen2`, ... (GGUF's `general.architecture`, or derived from HF's
  /// `architectures` / `model_type`).
  std::string architecture;
  int64_t dim = 0;       ///< embedding width (`n_embd`, `hidden_size`)
  int64_t hiddenDim = 0; ///< FFN width (`intermediate_size`)
  int64_t numLayers = 0;
  int64_t numHeads = 0;   ///< query heads
  int64_t numKVHeads = 0; ///< key/value heads (GQA when < numHeads)
  int64_t headDim = 0;    ///< usually dim / numHeads
  int64_t vocabSize = 0;
  int64_t contextLength = 0; ///< the longest sequence the model supports
  float normEps = 1e-5f;     ///< the norms' epsilon (RMSNorm or LayerNorm)
  float ropeTheta = 10000.0f;
  RopeStyle ropeStyle = RopeStyle::Interleaved;
  /// The classifier shares token_embd.weight: there is no `output.weight`,
  /// or it is a bit-identical copy of `token_embd.weight` (converters such
  /// as llama.cpp's write that copy; stories260K.gguf has one).
  bool tiedEmbeddings = false;
  bool attentionBias = false;           ///< QKV projections have biases (Qwen2)
  std::optional<int64_t> slidingWindow; ///< Mistral
  int64_t numExperts = 0;               ///< MoE: experts per layer (0: dense)
  int64_t numExpertsPerToken = 0;       ///< MoE: top-k
  /// BERT: the number of token types (segments) the model embeds.
  int64_t numTokenTypes = 0;
  /// Encoders: the sentence embedding, pooled and (when `normalize`)
  /// divided by its L2 norm, as the model's sentence-transformers files
  /// say (`modules.json`, `1_Pooling/config.json`).
  Pooling pooling = Pooling::None;
  bool normalizeEmbedding = false;
  ModelBlocks blocks;
};

/// The blocks' names as --print-config, the manifest and the compile cache
/// spell them: `rms_norm`, `rotary`, `fused`, `gelu_tanh`, `parallel`, ...
llvm::StringRef blockName(NormKind kind);
llvm::StringRef blockName(PositionKind kind);
llvm::StringRef blockName(QKVLayout layout);
llvm::StringRef blockName(FeedForwardKind kind);
llvm::StringRef blockName(BlockWiring wiring);
llvm::StringRef blockName(Pooling pooling);

/// The architectures Loom builds, in the order error messages list them.
llvm::ArrayRef<llvm::StringRef> supportedArchitectures();

/// The blocks of `architecture` before a file's metadata adjusts them, or
/// nullopt for an architecture Loom does not build.
std::optional<ModelBlocks> familyBlocks(llvm::StringRef architecture);

/// The configuration as (field, value) pairs in a fixed order, every value
/// printed exactly (floats to 9 significant digits): what an artifact
/// depends on besides the tensor table. The compile cache keys on it, the
/// manifest records it, and a session compares it with its weights' file.
std::vector<std::pair<std::string, std::string>>
describeConfig(const ModelConfig &config);

/// The configuration `fields` describe, in describeConfig's names and
/// spellings (its inverse): `architecture` is required and a family Loom
/// builds, whose blocks (familyBlocks) are the defaults; any other field
/// left out keeps ModelConfig's default. An unknown field, a repeated one,
/// or a value that does not parse is an error naming `source` and the
/// field. The result is not validated (validateModel).
llvm::Expected<ModelConfig>
parseConfig(llvm::ArrayRef<std::pair<std::string, std::string>> fields,
            llvm::StringRef source);

/// One named weight: where its bytes are and how to read them.

struct WeightInfo {
  std::string name; ///< GGUF-style name, e.g. `blk.0.attn_q.weight`
  /// Logical shape, outermost first (row-major): `[out, in]` for a linear
  /// layer's weight. (GGUF lists dims innermost first; readers reverse them.)
  llvm::SmallVector<int64_t, 4> shape;
  StorageType storage = StorageType::F32;
  uint64_t offset = 0; ///< byte offset in `file`
  /// Byte size of the data (for Q8Groups: of the int8 values only).
  uint64_t size = 0;
  int64_t groupSize = 0;    ///< for Q8Groups: values per scale
  uint64_t scaleOffset = 0; ///< for Q8Groups: byte offset of the scales
  unsigned fileIndex = 0;   ///< which of ModelFile::buffers holds it
  /// The bytes hold the matrix transposed: `[in, out]` for a logical
  /// `[out, in]` (GPT-2's Conv1D layers in Hugging Face checkpoints).
  /// `shape` is the logical one.
  bool transposed = false;

  int64_t numElements() const;
};

/// Tokenizer data found in or beside a model file.
struct TokenizerData {
  /// `llama` (SentencePiece-style BPE with byte fallback), `gpt2`
  /// (byte-level BPE) or `bert` (WordPiece).
  std::string model;
  std::vector<std::string> pieces; ///< piece text per id (spaces as ' ')
  std::vector<float> scores;       ///< merge priority per id
  /// SentencePiece token types per id where known (1 normal, 2 unknown,
  /// 3 control, 6 byte), else empty.
  std::vector<int32_t> tokenTypes;
  /// BPE merges (`"a b"`) where the file lists them (GGUF's
  /// `tokenizer.ggml.merges`; the tokenizer.json of byte-level `gpt2`
  /// models), else empty. SentencePiece-style models rank merges by score.
  std::vector<std::string> merges;
  int64_t bosId = 1, eosId = 2, unkId = 0;
  /// Byte-level BPE: the pre-tokenizer GGUF's `tokenizer.ggml.pre` names
  /// (`gpt-2`, `llama-bpe`, `smollm`, ...; empty: llama.cpp's `default`),
  /// or, from a tokenizer.json, the expressions its `pre_tokenizer` splits
  /// with (then `pre` is empty; the entry `<gpt-2>` stands for GPT-2's own
  /// expression, which `ByteLevel` applies).
  std::string pre;
  std::vector<std::string> preExpressions;
  /// Whether a prompt starts with BOS (`tokenizer.ggml.add_bos_token`),
  /// where the file says.
  std::optional<bool> addBos;
  /// The chat format as a Jinja2 template (GGUF's
  /// `tokenizer.chat_template`), empty where the file has none.
  std::string chatTemplate;
  /// The end-of-turn token (`tokenizer.ggml.eot_token_id`) where the file
  /// names one.
  std::optional<int64_t> eotId;
  /// Special tokens drop the whitespace after them: llama.cpp's rule for
  /// models whose `general.name` says Phi-3 (its RSTRIP attribute on every
  /// special token but <unk>, <s> and <|endoftext|>).
  bool stripAfterSpecials = false;
  /// WordPiece (`bert`) only: the settings of Hugging Face's
  /// BertNormalizer and WordPiece model. Pieces are stored as tokenizer.json
  /// and vocab.txt store them: a word's first piece as itself, the pieces
  /// after it with `continuation` in front (`##ing`); BOS is the template's
  /// [CLS], EOS its [SEP].
  struct WordPieceOptions {
    bool cleanText = true;    ///< drop control characters, unify spaces
    bool chineseChars = true; ///< CJK ideographs become words of their own
    bool lowercase = true;
    /// Accents stripped (NFD, then nonspacing marks dropped); unset: as
    /// `lowercase`.
    std::optional<bool> stripAccents;
    std::string continuation = "##";
    int64_t maxCharsPerWord = 100; ///< longer words become [UNK]
  } wordPiece;
  std::string source; ///< the file it was read from
  bool empty() const { return pieces.empty(); }
};

/// Everything a reader learned from a model file.
struct ModelFile {
  std::string path;   ///< the file given by the user
  std::string format; ///< `gguf`, `llama2c`, `safetensors`
  ModelConfig config;
  std::vector<WeightInfo> weights;
  llvm::StringMap<size_t> weightIndex; ///< name -> index in `weights`
  TokenizerData tokenizer;
  /// The memory-mapped files the weights point into (several for a sharded
  /// safetensors checkpoint).
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> buffers;

  /// The weight called `name`, or null.
  const WeightInfo *lookup(llvm::StringRef name) const;
  /// The raw bytes of a weight.
  llvm::ArrayRef<uint8_t> bytes(const WeightInfo &w) const;
  /// The f32 group scales of a Q8Groups weight (empty for other storage).
  llvm::ArrayRef<uint8_t> scales(const WeightInfo &w) const;
};

/// The bytes a tensor of `shape` (outermost first) takes in `type`, or
/// nullopt when the size overflows, a dimension is negative, or a block
/// type's innermost dimension is not a multiple of its block (32). For
/// Q8Groups this counts the int8 values only.
std::optional<uint64_t> storageByteSize(StorageType type,
                                        llvm::ArrayRef<int64_t> shape);

/// Reads any supported model file, choosing the reader by content (magic)
/// and extension; a folder is read as a Hugging Face checkpoint. Errors name
/// the file, and the tensor or key and byte offset where that helps. The
/// result is not validated: call validateModel before building a model.
llvm::Expected<std::unique_ptr<ModelFile>> readModelFile(llvm::StringRef path);

/// A tensor handed to modelFromTensors: its GGUF-style name, logical shape
/// (outermost first), storage type and bytes (row-major; for block types,
/// the file format's blocks).
struct TensorData {
  std::string name;
  llvm::SmallVector<int64_t, 4> shape;
  StorageType storage = StorageType::F32;
  llvm::ArrayRef<uint8_t> bytes;
};

/// A model made in memory (by the Python package's model definitions): the
/// configuration, a copy of every tensor's bytes (each 64-byte aligned)
/// and a vocabulary, named `name` in diagnostics and the manifest. Fails,
/// naming the tensor, on a repeated name or bytes that do not match the
/// shape and storage type. Not validated (validateModel).
llvm::Expected<std::unique_ptr<ModelFile>>
modelFromTensors(llvm::StringRef name, const ModelConfig &config,
                 llvm::ArrayRef<TensorData> tensors, TokenizerData tokenizer);

/// Calls `visit(name, shape, required)` for every tensor a model of
/// `config` reads (in the order validateModel checks them), until it
/// returns false. Mixture-of-experts layers read stacked experts (GGUF's
/// `ffn_gate_exps`) with `stackedExperts`, else one set per expert (Hugging
/// Face's). `config` must have passed validateModel's checks of its numbers.
void forEachExpectedWeight(
    const ModelConfig &config, bool stackedExperts,
    llvm::function_ref<bool(llvm::StringRef, llvm::ArrayRef<int64_t>, bool)>
        visit);

/// The readers behind readModelFile.
llvm::Expected<std::unique_ptr<ModelFile>> readGGUF(llvm::StringRef path);
llvm::Expected<std::unique_ptr<ModelFile>> readLlama2C(llvm::StringRef path);
/// A `.safetensors` file or a `model.safetensors.index.json`; `config.json`
/// is read from the same folder (and `tokenizer.json`, when present).
/// Hugging Face names become GGUF names; Mixtral's experts keep one tensor
/// each: `block_sparse_moe.experts.E.w1/w3/w2.weight` become
/// `blk.N.ffn_gate.E.weight`, `blk.N.ffn_up.E.weight`,
/// `blk.N.ffn_down.E.weight` (GGUF files stack them instead, as
/// `blk.N.ffn_gate_exps.weight`, ...).
llvm::Expected<std::unique_ptr<ModelFile>>
readSafetensors(llvm::StringRef path);

/// The readers over a file already in memory (fuzzers and tests use these).
/// Errors name the buffer's identifier. The ModelFile keeps the buffer.
llvm::Expected<std::unique_ptr<ModelFile>>
readGGUFFromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer);
llvm::Expected<std::unique_ptr<ModelFile>>
readLlama2CFromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer);
/// One safetensors file; with `configJSON` (the text of a config.json) the
/// config is filled in as readSafetensors does, without it only the weight
/// table is (and `tiedEmbeddings`, from the absence of `lm_head.weight`).
llvm::Expected<std::unique_ptr<ModelFile>> readSafetensorsFromBuffer(
    std::unique_ptr<llvm::MemoryBuffer> buffer,
    std::optional<llvm::StringRef> configJSON = std::nullopt);

/// Parses the text of a Hugging Face `config.json`; `name` names it in
/// errors. Fields the checkpoint decides (tied embeddings, attention bias)
/// are set from the config alone.
llvm::Expected<ModelConfig> parseHFConfig(llvm::StringRef json,
                                          llvm::StringRef name);

/// The vocabulary of any file that has one: a GGUF's `tokenizer.ggml.*`
/// keys (a vocabulary-only GGUF, as llama.cpp's `--vocab-only` writes,
/// included: its tensors and model keys are not read), else the tokenizer
/// of the model file readModelFile reads. Fails when the file has none.
llvm::Expected<TokenizerData> readVocabulary(llvm::StringRef path);

/// The vocabulary in `path`, told apart by its content: a llama2.c
/// `tokenizer.bin` (pieces to its very end; the first `vocabSize` taken
/// when there are more, as run.c reads them; 0 takes all), else any file
/// readVocabulary reads. What `--tokenizer FILE` reads.
llvm::Expected<TokenizerData> readTokenizerFile(llvm::StringRef path,
                                                int64_t vocabSize);

/// Reads a llama2.c `tokenizer.bin` (e.g. `tok512.bin`) for `vocabSize` ids;
/// a `vocabSize` of 0 reads every piece in the file.
llvm::Expected<TokenizerData> readLlama2CTokenizer(llvm::StringRef path,
                                                   int64_t vocabSize);
llvm::Expected<TokenizerData> readLlama2CTokenizer(llvm::MemoryBufferRef buffer,
                                                   int64_t vocabSize);

/// Checks the config against the weight table: every tensor the
/// architecture needs is present, with the shape the config implies, and
/// the config's numbers fit together (heads divide, sizes positive). The
/// error lists up to ten problems, one per line, each naming the tensor,
/// the shape expected and the shape found.
llvm::Error validateModel(const ModelFile &model);

/// validateModel's checks of the configuration's numbers alone (sizes
/// positive and in bounds, heads divisible, a known architecture), each
/// problem a line naming `source`.
llvm::Error validateConfig(const ModelConfig &config, llvm::StringRef source);

} // namespace loom

#endif // LOOM_FRONTEND_MODELFILE_H
