//===- Families.cpp - the architecture families Loom builds ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// One table says which families exist and what each is made of: the blocks
// (norms, positions, attention, feed-forward network, wiring) that the
// model builder composes. Readers start from a family's entry and adjust
// it from the file's metadata (Falcon's new decoder, a checkpoint with
// biases); nothing else lists architectures.
//
//===----------------------------------------------------------------------===//

#include "ReaderSupport.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

using namespace llvm;

namespace loom {

namespace {

struct Family {
  StringLiteral name;
  /// The Hugging Face model classes (`architectures` in config.json) of
  /// the family.
  ArrayRef<StringLiteral> hfClasses;
  ModelBlocks blocks;
  /// How GGUF files of the family pair RoPE features: llama.cpp's converter
  /// permutes Llama's q/k to rotate interleaved pairs, not Qwen2's or
  /// Falcon's (NeoX style).
  RopeStyle ggufRope = RopeStyle::Interleaved;
};

constexpr StringLiteral kLlamaClasses[] = {"LlamaForCausalLM"};
constexpr StringLiteral kMistralClasses[] = {"MistralForCausalLM"};
constexpr StringLiteral kMixtralClasses[] = {"MixtralForCausalLM"};
constexpr StringLiteral kQwen2Classes[] = {"Qwen2ForCausalLM"};
constexpr StringLiteral kGPT2Classes[] = {"GPT2LMHeadModel", "GPT2Model"};
constexpr StringLiteral kFalconClasses[] = {"FalconForCausalLM", "FalconModel",
                                            "RWForCausalLM"};
constexpr StringLiteral kBertClasses[] = {"BertForMaskedLM", "BertModel"};

/// Llama's block: RMSNorm, RoPE, split projections, SwiGLU, pre-norm.
constexpr ModelBlocks kLlama{};

constexpr ModelBlocks gpt2() {
  ModelBlocks b;
  b.norm = NormKind::LayerNorm;
  b.positions = PositionKind::Learned;
  b.qkv = QKVLayout::Fused;
  b.feedForward = FeedForwardKind::GeluTanh;
  b.projectionBias = true;
  return b;
}

constexpr ModelBlocks falcon() {
  ModelBlocks b;
  b.norm = NormKind::LayerNorm;
  b.qkv = QKVLayout::Fused;
  b.feedForward = FeedForwardKind::Gelu;
  b.wiring = BlockWiring::ParallelSharedNorm;
  return b;
}

constexpr ModelBlocks bert() {
  ModelBlocks b;
  b.norm = NormKind::LayerNorm;
  b.positions = PositionKind::Learned;
  b.feedForward = FeedForwardKind::Gelu;
  b.wiring = BlockWiring::PostNorm;
  b.projectionBias = true;
  b.causal = false;
  b.tokenTypes = true;
  b.embeddingNorm = true;
  b.outputNorm = false;
  return b;
}

const Family kFamilies[] = {
    {"llama", kLlamaClasses, kLlama},
    {"mistral", kMistralClasses, kLlama},
    {"mixtral", kMixtralClasses, kLlama},
    {"qwen2", kQwen2Classes, kLlama, RopeStyle::Half},
    {"gpt2", kGPT2Classes, gpt2()},
    {"falcon", kFalconClasses, falcon(), RopeStyle::Half},
    {"bert", kBertClasses, bert()},
};

const Family *lookupFamily(StringRef name) {
  for (const Family &f : kFamilies)
    if (f.name == name)
      return &f;
  return nullptr;
}

} // namespace

StringRef blockName(NormKind kind) {
  return kind == NormKind::RMSNorm ? "rms_norm" : "layer_norm";
}

StringRef blockName(PositionKind kind) {
  return kind == PositionKind::Rotary ? "rotary" : "learned";
}

StringRef blockName(QKVLayout layout) {
  switch (layout) {
  case QKVLayout::Split:
    return "split";
  case QKVLayout::Fused:
    return "fused";
  case QKVLayout::Grouped:
    return "fused_grouped";
  }
  llvm_unreachable("unknown QKV layout");
}

StringRef blockName(FeedForwardKind kind) {
  switch (kind) {
  case FeedForwardKind::SwiGLU:
    return "swiglu";
  case FeedForwardKind::Gelu:
    return "gelu";
  case FeedForwardKind::GeluTanh:
    return "gelu_tanh";
  }
  llvm_unreachable("unknown feed-forward network");
}

StringRef blockName(BlockWiring wiring) {
  switch (wiring) {
  case BlockWiring::PreNorm:
    return "pre_norm";
  case BlockWiring::ParallelSharedNorm:
    return "parallel_shared_norm";
  case BlockWiring::Parallel:
    return "parallel";
  case BlockWiring::PostNorm:
    return "post_norm";
  }
  llvm_unreachable("unknown block wiring");
}

StringRef blockName(Pooling pooling) {
  switch (pooling) {
  case Pooling::None:
    return "none";
  case Pooling::Mean:
    return "mean";
  case Pooling::CLS:
    return "cls";
  }
  llvm_unreachable("unknown pooling");
}

ArrayRef<StringRef> supportedArchitectures() {
  static const SmallVector<StringRef> names = [] {
    SmallVector<StringRef> v;
    for (const Family &f : kFamilies)
      v.push_back(f.name);
    return v;
  }();
  return names;
}

std::optional<ModelBlocks> familyBlocks(StringRef architecture) {
  if (const Family *f = lookupFamily(architecture))
    return f->blocks;
  return std::nullopt;
}

namespace detail {

bool isKnownArchitecture(StringRef arch) { return lookupFamily(arch); }

std::string knownArchitecturesList() {
  return join(supportedArchitectures(), ", ");
}

RopeStyle ggufRopeStyle(StringRef arch) {
  const Family *f = lookupFamily(arch);
  return f ? f->ggufRope : RopeStyle::Interleaved;
}

StringRef architectureOfHFClass(StringRef hfClass) {
  for (const Family &f : kFamilies)
    if (is_contained(f.hfClasses, hfClass))
      return f.name;
  return "";
}

} // namespace detail

} // namespace loom
