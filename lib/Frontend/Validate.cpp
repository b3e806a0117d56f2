//===- Validate.cpp - the config against the weight table -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// validateModel checks that a ModelFile describes a model Loom can build:
// a config whose numbers fit together, and every tensor its family's blocks
// (ModelConfig::blocks) need, with the shape the config implies.
// It reports every problem it finds (up to a limit), one per line, each
// naming the tensor, the shape expected and the shape found.
//
//===----------------------------------------------------------------------===//

#include "ReaderSupport.h"

#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>
#include <tuple>

using namespace llvm;
using loom::detail::shapeString;

namespace loom {

namespace {

/// Collects problems, each a line "<file>: <message>".
class Checker {
public:
  explicit Checker(const ModelFile &model) : model(model) {}

  void problem(const Twine &message) {
    if (problems.size() < kMaxShown)
      problems.push_back((model.path + ": " + message).str());
    ++count;
  }

  /// Whether enough problems are known to stop looking (a config claiming
  /// a billion layers must not take a billion steps).
  bool full() const { return count >= kMaxCounted; }

  /// Checks tensor `name`: present (when `required`), with `shape`, and with
  /// as many bytes as its storage needs.
  void expect(StringRef name, ArrayRef<int64_t> shape, bool required = true) {
    const WeightInfo *w = model.lookup(name);
    if (!w) {
      if (required)
        problem("missing tensor '" + name + "' (expected shape " +
                shapeString(shape) + ")");
      return;
    }
    if (ArrayRef<int64_t>(w->shape) != shape) {
      problem("tensor '" + name + "' has shape " + shapeString(w->shape) +
              ", expected " + shapeString(shape));
      return;
    }
    std::optional<uint64_t> size = storageByteSize(w->storage, w->shape);
    if (!size || *size != w->size)
      problem("tensor '" + name + "' holds " + Twine(w->size) + " bytes, but " +
              storageTypeName(w->storage) + " " + shapeString(w->shape) +
              " takes " +
              (size ? Twine(*size) : Twine("an impossible number of")));
  }

  bool empty() const { return count == 0; }

  Error takeError() {
    if (problems.empty())
      return Error::success();
    std::string message;
    for (size_t i = 0; i < problems.size(); ++i)
      message += (i ? "\n" : "") + problems[i];
    if (count > kMaxShown)
      message += "\n" + model.path + ": ... and " +
                 std::to_string(count - kMaxShown) +
                 (full() ? " or more" : " more");
    return createStringError(inconvertibleErrorCode(), message);
  }

private:
  static constexpr size_t kMaxShown = 10, kMaxCounted = 1000;
  const ModelFile &model;
  std::vector<std::string> problems;
  size_t count = 0;
};

} // namespace

/// Checks that the config's numbers fit together.
static void checkConfig(const ModelConfig &c, Checker &check) {
  if (!detail::isKnownArchitecture(c.architecture))
    check.problem("unknown architecture '" + c.architecture + "' (Loom knows " +
                  detail::knownArchitecturesList() + ")");
  for (auto [value, what] : {std::pair<int64_t, StringRef>{c.dim, "dim"},
                             {c.hiddenDim, "hidden dim"},
                             {c.numLayers, "layer count"},
                             {c.numHeads, "head count"},
                             {c.numKVHeads, "KV head count"},
                             {c.headDim, "head size"},
                             {c.vocabSize, "vocabulary size"},
                             {c.contextLength, "context length"}})
    if (value <= 0)
      check.problem("the config's " + what + " is " + Twine(value) +
                    ", not positive");
  // Bounds that keep every product of sizes (a layer's matrices, the KV
  // cache, the logits) far from int64 overflow; real models are well inside.
  constexpr int64_t kMaxWidth = int64_t(1) << 20, kMaxCount = int64_t(1) << 16,
                    kMaxVocab = std::numeric_limits<int32_t>::max(),
                    kMaxContext = int64_t(1) << 31;
  for (auto [value, what, limit] :
       {std::tuple<int64_t, StringRef, int64_t>{c.dim, "dim", kMaxWidth},
        {c.hiddenDim, "hidden dim", kMaxWidth},
        {c.numLayers, "layer count", kMaxCount},
        {c.numHeads, "head count", kMaxCount},
        {c.numKVHeads, "KV head count", kMaxCount},
        {c.headDim, "head size", kMaxWidth},
        {c.vocabSize, "vocabulary size", kMaxVocab},
        {c.contextLength, "context length", kMaxContext},
        {c.numExperts, "expert count", kMaxCount}})
    if (value > limit)
      check.problem("the config's " + what + " is " + Twine(value) +
                    ", more than Loom accepts (" + Twine(limit) + ")");
  if (c.numHeads > 0 && c.dim % c.numHeads != 0 &&
      c.headDim == c.dim / c.numHeads)
    check.problem("the config's dim " + Twine(c.dim) +
                  " is not a multiple of its " + Twine(c.numHeads) + " heads");
  if (c.numHeads > 0 && c.numKVHeads > 0 && c.numHeads % c.numKVHeads)
    check.problem("the config's " + Twine(c.numHeads) +
                  " heads are not a multiple of its " + Twine(c.numKVHeads) +
                  " KV heads");
  if (c.headDim % 2 && c.blocks.positions == PositionKind::Rotary)
    check.problem("the config's head size " + Twine(c.headDim) +
                  " is odd, but RoPE rotates pairs");
  // Values read as doubles overflow to infinity as floats.
  if (!(c.normEps > 0) || !std::isfinite(c.normEps))
    check.problem("the config's norm epsilon is " +
                  formatv("{0}", c.normEps).str() +
                  ", not a finite positive float");
  if (!(c.ropeTheta > 0) || !std::isfinite(c.ropeTheta))
    check.problem("the config's RoPE theta is " +
                  formatv("{0}", c.ropeTheta).str() +
                  ", not a finite positive float");
  if (c.blocks.tokenTypes &&
      (c.numTokenTypes <= 0 || c.numTokenTypes > kMaxCount))
    check.problem("the config's token type count is " + Twine(c.numTokenTypes) +
                  ", not in [1, " + Twine(kMaxCount) + "]");
  if (c.numExperts > 0 && c.blocks.feedForward != FeedForwardKind::SwiGLU)
    check.problem("the config has experts, but a '" + c.architecture +
                  "' model's feed-forward network is not SwiGLU");
  if (c.numExperts < 0 || c.numExpertsPerToken < 0 ||
      c.numExpertsPerToken > c.numExperts ||
      (c.numExperts > 0 && c.numExpertsPerToken == 0))
    check.problem("the config picks " + Twine(c.numExpertsPerToken) + " of " +
                  Twine(c.numExperts) + " experts per token");
}

void forEachExpectedWeight(
    const ModelConfig &c, bool stackedExperts,
    function_ref<bool(StringRef, ArrayRef<int64_t>, bool)> visit) {
  const ModelBlocks &b = c.blocks;
  bool layerNorm = b.norm == NormKind::LayerNorm;
  bool more = true;
  auto expect = [&](const std::string &name, ArrayRef<int64_t> shape,
                    bool required = true) {
    if (more)
      more = visit(name, shape, required);
  };
  // A norm's weight, and its bias for LayerNorm.
  auto norm = [&](const std::string &name) {
    expect(name + ".weight", {c.dim});
    expect(name + ".bias", {c.dim}, layerNorm);
  };
  // A linear layer's weight, and its bias where the config has them.
  auto linear = [&](const std::string &name, int64_t out, int64_t in,
                    bool bias) {
    expect(name + ".weight", {out, in});
    expect(name + ".bias", {out}, bias);
  };

  int64_t qDim = c.numHeads * c.headDim, kvDim = c.numKVHeads * c.headDim;
  expect("token_embd.weight", {c.vocabSize, c.dim});
  if (b.positions == PositionKind::Learned)
    expect("position_embd.weight", {c.contextLength, c.dim});
  if (b.tokenTypes)
    expect("token_types.weight", {c.numTokenTypes, c.dim});
  if (b.embeddingNorm)
    norm("token_embd_norm");
  if (b.outputNorm)
    norm("output_norm");
  expect("output.weight", {c.vocabSize, c.dim}, !c.tiedEmbeddings);
  for (int64_t l = 0; l < c.numLayers && more; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    switch (b.wiring) {
    case BlockWiring::PreNorm:
      norm(p + "attn_norm");
      norm(p + "ffn_norm");
      break;
    case BlockWiring::ParallelSharedNorm:
      norm(p + "attn_norm");
      break;
    case BlockWiring::Parallel:
      norm(p + "attn_norm");
      norm(p + "attn_norm_2");
      break;
    case BlockWiring::PostNorm:
      norm(p + "attn_output_norm");
      norm(p + "layer_output_norm");
      break;
    }
    if (b.qkv == QKVLayout::Split) {
      linear(p + "attn_q", qDim, c.dim, c.attentionBias);
      linear(p + "attn_k", kvDim, c.dim, c.attentionBias);
      linear(p + "attn_v", kvDim, c.dim, c.attentionBias);
    } else {
      linear(p + "attn_qkv", qDim + 2 * kvDim, c.dim, c.attentionBias);
    }
    linear(p + "attn_output", c.dim, qDim, b.projectionBias);
    if (c.numExperts > 0) {
      // The router, then stacked (GGUF) or per-expert (Hugging Face)
      // experts.
      int64_t e = c.numExperts;
      expect(p + "ffn_gate_inp.weight", {e, c.dim});
      if (stackedExperts) {
        expect(p + "ffn_gate_exps.weight", {e, c.hiddenDim, c.dim});
        expect(p + "ffn_up_exps.weight", {e, c.hiddenDim, c.dim});
        expect(p + "ffn_down_exps.weight", {e, c.dim, c.hiddenDim});
        continue;
      }
      for (int64_t x = 0; x < e && more; ++x) {
        std::string n = "." + std::to_string(x) + ".weight";
        expect(p + "ffn_gate" + n, {c.hiddenDim, c.dim});
        expect(p + "ffn_up" + n, {c.hiddenDim, c.dim});
        expect(p + "ffn_down" + n, {c.dim, c.hiddenDim});
      }
      continue;
    }
    if (b.feedForward == FeedForwardKind::SwiGLU)
      linear(p + "ffn_gate", c.hiddenDim, c.dim, b.projectionBias);
    linear(p + "ffn_up", c.hiddenDim, c.dim, b.projectionBias);
    linear(p + "ffn_down", c.dim, c.hiddenDim, b.projectionBias);
  }
}

Error validateConfig(const ModelConfig &config, StringRef source) {
  ModelFile named; // the Checker names problems by the model's path
  named.path = source.str();
  Checker check(named);
  checkConfig(config, check);
  return check.takeError();
}

Error validateModel(const ModelFile &model) {
  const ModelConfig &c = model.config;
  Checker check(model);
  checkConfig(c, check);
  if (!check.empty())
    return check.takeError();

  bool stacked = false;
  for (const char *name : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"})
    for (int64_t l = 0; l < c.numLayers && c.numExperts > 0 && !stacked; ++l)
      stacked = model.lookup("blk." + std::to_string(l) + "." + name +
                             ".weight") != nullptr;
  forEachExpectedWeight(
      c, stacked, [&](StringRef name, ArrayRef<int64_t> shape, bool required) {
        check.expect(name, shape, required);
        return !check.full();
      });

  // Tensors of layers the config does not have.
  for (const WeightInfo &w : model.weights) {
    if (check.full())
      break;
    StringRef rest = w.name;
    int64_t layer;
    if (rest.consume_front("blk.") && !rest.consumeInteger(10, layer) &&
        layer >= c.numLayers)
      check.problem("tensor '" + w.name + "' belongs to layer " + Twine(layer) +
                    ", but the config has " + Twine(c.numLayers) + " layers");
  }
  return check.takeError();
}

} // namespace loom
