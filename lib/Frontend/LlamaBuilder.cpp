//===- LlamaBuilder.cpp - the Llama family in loom IR ---------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// One builder covers the decoder-only models that share Llama's block:
// RMSNorm, rotary embeddings, grouped-query attention, a SwiGLU feed-forward
// network or a Mixtral-style mixture of SwiGLU experts. The differences are
// in the config: QKV biases (Qwen2), a sliding window (Mistral), experts
// (Mixtral), the RoPE pairing (interleaved for GGUF llama, rotate-half for
// Hugging Face checkpoints and GGUF qwen2).
//
// Attention is written the way a model author writes it, so that the
// attention-fusion pass has real work: Q·Kᵀ, a scale, an additive causal
// mask, softmax, ·V, with the key/value heads repeated for GQA.
//
//===----------------------------------------------------------------------===//

#include "loom/Frontend/ModelBuilder.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <limits>

using namespace mlir;
using llvm::formatv;
namespace ir = mlir::loom;

namespace loom {

static constexpr llvm::StringLiteral kArchitectures[] = {"llama", "mistral",
                                                         "mixtral", "qwen2"};

llvm::ArrayRef<llvm::StringRef> supportedArchitectures() {
  static const llvm::SmallVector<llvm::StringRef> names(
      std::begin(kArchitectures), std::end(kArchitectures));
  return names;
}

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// Emits the functions of one model. Errors found while building (a missing
/// weight) are collected in `error`; the caller checks it at the end.
class LlamaBuilder {
public:
  LlamaBuilder(MLIRContext &ctx, const ModelFile &model, int64_t contextLength)
      : ctx(ctx), model(model), cfg(model.config), builder(&ctx),
        contextLength(contextLength) {}

  /// Emits `@name` for `seq` tokens per call (kDyn for any number).
  void buildEntryPoint(ModuleOp module, StringRef name, int64_t seq);

  llvm::Error takeError() { return std::move(error); }

private:
  Location loc(const Twine &what) {
    return NameLoc::get(builder.getStringAttr(what));
  }
  RankedTensorType tensor(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getF32Type());
  }
  RankedTensorType cacheType() {
    return tensor({1, cfg.numKVHeads, contextLength, cfg.headDim});
  }

  /// `loom.weight` for `name`, checked against the model file. A weight the
  /// file lacks, or has with another shape, is an error.
  Value weight(const Twine &name, ArrayRef<int64_t> shape);
  /// The weight if the file has it, else null.
  Value optionalWeight(const Twine &name, ArrayRef<int64_t> shape);
  /// The f32 values of a weight of logical `shape`, read in its storage
  /// format: f16/bf16 widened with arith.extf, q8_0/q4_0 blocks through
  /// loom.dequantize.
  Value storedWeight(const WeightInfo &info, StringRef name,
                     ArrayRef<int64_t> shape);

  Value linear(Value x, StringRef prefix, ArrayRef<int64_t> wShape,
               bool withBias = false);
  Value expandHeads(Value x, int64_t heads);
  Value attention(Value x, unsigned layer, Value &kCache, Value &vCache);
  Value causalMask(RankedTensorType type, Value seqLen, Value kvLen);
  Value feedForward(Value x, unsigned layer);
  Value mixtureOfExperts(Value x, unsigned layer);
  Value stackedExperts(unsigned layer, StringRef stackedName,
                       StringRef perExpertName, ArrayRef<int64_t> shape);

  void fail(const Twine &message) {
    if (!error)
      error = llvm::createStringError(
          formatv("{0}: {1}", llvm::sys::path::filename(model.path), message)
              .str());
  }

  MLIRContext &ctx;
  const ModelFile &model;
  const ModelConfig &cfg;
  OpBuilder builder;
  int64_t contextLength;
  llvm::Error error = llvm::Error::success();

  // Per entry point.
  int64_t seq = kDyn;
  Value seqLen; ///< tokens in this call (index)
  Value pos;    ///< positions already cached (index)
  /// One `loom.weight` per name and function (a tied classifier reuses the
  /// embedding table's).
  llvm::StringMap<Value> weights;
};

Value LlamaBuilder::optionalWeight(const Twine &nameTwine,
                                   ArrayRef<int64_t> shape) {
  std::string name = nameTwine.str();
  if (Value cached = weights.lookup(name))
    return cached;
  const WeightInfo *info = model.lookup(name);
  if (!info)
    return {};
  if (ArrayRef<int64_t>(info->shape) != shape) {
    std::string found, expected;
    llvm::raw_string_ostream fos(found), eos(expected);
    llvm::interleave(info->shape, fos, "x");
    llvm::interleave(shape, eos, "x");
    fail(formatv("tensor '{0}' has shape [{1}], but the config implies [{2}]",
                 name, found, expected));
  }
  Value w = storedWeight(*info, name, shape);
  weights[name] = w;
  return w;
}

Value LlamaBuilder::storedWeight(const WeightInfo &info, StringRef name,
                                 ArrayRef<int64_t> shape) {
  Location l = loc(name);
  switch (info.storage) {
  case StorageType::F16:
  case StorageType::BF16: {
    // Read as stored; widened where used (the conversion fuses into the
    // consumer's loops).
    Type elt = info.storage == StorageType::F16 ? Type(builder.getF16Type())
                                                : Type(builder.getBF16Type());
    Value raw = ir::WeightOp::create(builder, l,
                                     RankedTensorType::get(shape, elt), name);
    return arith::ExtFOp::create(builder, l, tensor(shape), raw);
  }
  case StorageType::F32:
  case StorageType::Q8Groups:
    // llama2.c's int8 groups are not compiled yet: the runtime names the
    // weight when it binds it.
    break;
  default: {
    // The block formats: the dialect's block format of the same name
    // (BlockFormats.h).
    const blocks::FormatInfo &f =
        blocks::info(*blocks::ofStorage(info.storage));
    ir::BlockFormat format = *ir::symbolizeBlockFormat(f.name);
    int64_t block = f.values;
    if (shape.empty() || shape.back() % block != 0) {
      fail(formatv("tensor '{0}' is stored as {1}, but its rows of {2} values "
                   "are not whole blocks of {3}",
                   name, storageTypeName(info.storage),
                   shape.empty() ? 0 : shape.back(), block));
      return ir::WeightOp::create(builder, l, tensor(shape), name);
    }
    SmallVector<int64_t> rawShape(shape.drop_back());
    rawShape.append(
        {shape.back() / block, ir::DequantizeOp::blockBytes(format)});
    auto raw = ir::WeightOp::create(
        builder, l, RankedTensorType::get(rawShape, builder.getI8Type()), name);
    raw->setAttr(ir::kBlockFormatAttr, builder.getStringAttr(f.name));
    return ir::DequantizeOp::create(builder, l, tensor(shape), raw, format);
  }
  }
  return ir::WeightOp::create(builder, l, tensor(shape), name);
}

Value LlamaBuilder::weight(const Twine &nameTwine, ArrayRef<int64_t> shape) {
  std::string name = nameTwine.str();
  if (Value w = optionalWeight(name, shape))
    return w;
  fail(formatv("missing tensor '{0}', which a '{1}' model needs", name,
               cfg.architecture));
  // Keep building with a placeholder so every later op stays well formed.
  return ir::WeightOp::create(builder, loc(name), tensor(shape), name);
}

Value LlamaBuilder::linear(Value x, StringRef prefix, ArrayRef<int64_t> wShape,
                           bool withBias) {
  Value w = weight(prefix + ".weight", wShape);
  Value b = withBias ? weight(prefix + ".bias", {wShape[0]}) : Value();
  return ir::LinearOp::create(builder, loc(prefix), x, w, b);
}

/// [1, seq, heads * headDim] -> [1, seq, heads, headDim].
Value LlamaBuilder::expandHeads(Value x, int64_t heads) {
  SmallVector<OpFoldResult> shape = {
      builder.getIndexAttr(1),
      seq == kDyn ? OpFoldResult(seqLen) : builder.getIndexAttr(seq),
      builder.getIndexAttr(heads), builder.getIndexAttr(cfg.headDim)};
  return tensor::ExpandShapeOp::create(builder, x.getLoc(),
                                       tensor({1, seq, heads, cfg.headDim}), x,
                                       {{0}, {1}, {2, 3}}, shape);
}

/// 0 where query i (at position pos + i) may see key j, -inf elsewhere:
/// keys after the query, and with a sliding window W, keys W or more
/// positions before it.
Value LlamaBuilder::causalMask(RankedTensorType type, Value seqLenV,
                               Value kvLen) {
  SmallVector<Value> dynamic;
  if (type.isDynamicDim(2))
    dynamic.push_back(seqLenV);
  dynamic.push_back(kvLen);
  std::optional<int64_t> window = cfg.slidingWindow;
  Value posV = pos;
  return tensor::GenerateOp::create(
      builder, loc("causal_mask"), type, dynamic,
      [&](OpBuilder &b, Location l, ValueRange idx) {
        Value qpos = arith::AddIOp::create(b, l, posV, idx[2]);
        Value hidden = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt,
                                             idx[3], qpos);
        if (window) {
          // qpos - j >= W  <=>  j + W <= qpos
          Value w = arith::ConstantIndexOp::create(b, l, *window);
          Value jw = arith::AddIOp::create(b, l, idx[3], w);
          Value old =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, jw, qpos);
          hidden = arith::OrIOp::create(b, l, hidden, old);
        }
        Value ninf = arith::ConstantOp::create(
            b, l, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
        Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0f));
        Value m = arith::SelectOp::create(b, l, hidden, ninf, zero);
        tensor::YieldOp::create(b, l, m);
      });
}

Value LlamaBuilder::attention(Value x, unsigned layer, Value &kCache,
                              Value &vCache) {
  std::string blk = formatv("blk.{0}", layer).str();
  int64_t dim = cfg.dim, hq = cfg.numHeads, hkv = cfg.numKVHeads,
          hd = cfg.headDim;
  Value h = ir::RmsNormOp::create(builder, loc(blk + ".attn_norm"), x,
                                  weight(blk + ".attn_norm.weight", {dim}),
                                  builder.getF32FloatAttr(cfg.normEps));
  Value q = linear(h, blk + ".attn_q", {hq * hd, dim}, cfg.attentionBias);
  Value k = linear(h, blk + ".attn_k", {hkv * hd, dim}, cfg.attentionBias);
  Value v = linear(h, blk + ".attn_v", {hkv * hd, dim}, cfg.attentionBias);

  auto style = cfg.ropeStyle == RopeStyle::Half ? ir::RopeStyle::half
                                                : ir::RopeStyle::interleaved;
  auto rope = [&](Value t) {
    return ir::RopeOp::create(builder, loc(blk + ".rope"), t.getType(), t, pos,
                              builder.getF32FloatAttr(cfg.ropeTheta),
                              ir::RopeStyleAttr::get(&ctx, style),
                              std::nullopt);
  };
  auto toHeadsMajor = [&](Value t) -> Value {
    return ir::TransposeOp::create(builder, t.getLoc(), t,
                                   ArrayRef<int64_t>{0, 2, 1, 3});
  };
  Value qh = toHeadsMajor(rope(expandHeads(q, hq)));
  Value kh = toHeadsMajor(rope(expandHeads(k, hkv)));
  Value vh = toHeadsMajor(expandHeads(v, hkv));

  // The cache: write this call's keys and values, read the valid prefix.
  kCache = ir::KVCacheWriteOp::create(builder, loc(blk + ".k_cache"), kh,
                                      kCache, pos);
  vCache = ir::KVCacheWriteOp::create(builder, loc(blk + ".v_cache"), vh,
                                      vCache, pos);
  Value kvLen = arith::AddIOp::create(builder, loc("kv_len"), pos, seqLen);
  auto prefixType = tensor({1, hkv, kDyn, hd});
  Value keys = ir::KVCacheReadOp::create(builder, loc(blk + ".k_cache"),
                                         prefixType, kCache, kvLen);
  Value values = ir::KVCacheReadOp::create(builder, loc(blk + ".v_cache"),
                                           prefixType, vCache, kvLen);
  if (hq != hkv) {
    keys = ir::RepeatInterleaveOp::create(builder, keys.getLoc(), keys, 1,
                                          hq / hkv);
    values = ir::RepeatInterleaveOp::create(builder, values.getLoc(), values, 1,
                                            hq / hkv);
  }

  // softmax(Q·Kᵀ / sqrt(head_dim) + mask) · V
  Location attnLoc = loc(blk + ".attention");
  Value kt = ir::TransposeOp::create(builder, attnLoc, keys,
                                     ArrayRef<int64_t>{0, 1, 3, 2});
  Value scores = ir::MatmulOp::create(builder, attnLoc, qh, kt, false, false);
  auto scoresType = cast<RankedTensorType>(scores.getType());
  SmallVector<Value> dynamic;
  if (seq == kDyn)
    dynamic.push_back(seqLen);
  dynamic.push_back(kvLen);
  Value scale = arith::ConstantOp::create(
      builder, attnLoc,
      builder.getF32FloatAttr(float(1.0 / std::sqrt(double(hd)))));
  Value scaleT =
      tensor::SplatOp::create(builder, attnLoc, scale, scoresType, dynamic);
  Value scaled = arith::MulFOp::create(builder, attnLoc, scores, scaleT);
  Value mask = causalMask(scoresType, seqLen, kvLen);
  Value masked = arith::AddFOp::create(builder, attnLoc, scaled, mask);
  Value probs = ir::SoftmaxOp::create(builder, attnLoc, masked, int64_t(3));
  Value out =
      ir::MatmulOp::create(builder, attnLoc, probs, values, false, false);
  Value tokensMajor = toHeadsMajor(out);
  Value flat = tensor::CollapseShapeOp::create(
      builder, attnLoc, tensor({1, seq, hq * hd}), tokensMajor,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  Value proj = linear(flat, blk + ".attn_output", {dim, hq * hd});
  return arith::AddFOp::create(builder, loc(blk + ".residual"), x, proj);
}

Value LlamaBuilder::feedForward(Value x, unsigned layer) {
  std::string blk = formatv("blk.{0}", layer).str();
  int64_t dim = cfg.dim, hidden = cfg.hiddenDim;
  Value h = ir::RmsNormOp::create(builder, loc(blk + ".ffn_norm"), x,
                                  weight(blk + ".ffn_norm.weight", {dim}),
                                  builder.getF32FloatAttr(cfg.normEps));
  Value y;
  if (cfg.numExperts > 0) {
    y = mixtureOfExperts(h, layer);
  } else {
    // w2(silu(w1 x) * w3 x)
    Value gate = linear(h, blk + ".ffn_gate", {hidden, dim});
    Value up = linear(h, blk + ".ffn_up", {hidden, dim});
    Value act = ir::SiluOp::create(builder, gate.getLoc(), gate);
    Value gated = arith::MulFOp::create(builder, loc(blk + ".ffn"), act, up);
    y = linear(gated, blk + ".ffn_down", {dim, hidden});
  }
  return arith::AddFOp::create(builder, loc(blk + ".residual"), x, y);
}

/// The experts' weights as one [experts, ...] tensor: GGUF stores them
/// stacked (`ffn_gate_exps`); Hugging Face checkpoints one tensor per expert,
/// which are concatenated.
Value LlamaBuilder::stackedExperts(unsigned layer, StringRef stackedName,
                                   StringRef perExpertName,
                                   ArrayRef<int64_t> shape) {
  int64_t e = cfg.numExperts;
  SmallVector<int64_t> stackedShape = {e};
  stackedShape.append(shape.begin(), shape.end());
  std::string stacked = formatv("blk.{0}.{1}.weight", layer, stackedName).str();
  if (Value w = optionalWeight(stacked, stackedShape))
    return w;
  if (!model.lookup(
          formatv("blk.{0}.{1}.0.weight", layer, perExpertName).str()))
    return weight(stacked, stackedShape); // reports the missing tensor
  SmallVector<Value> parts;
  SmallVector<int64_t> oneShape = {1};
  oneShape.append(shape.begin(), shape.end());
  for (int64_t i = 0; i < e; ++i) {
    Value w = weight(formatv("blk.{0}.{1}.{2}.weight", layer, perExpertName, i),
                     shape);
    parts.push_back(tensor::ExpandShapeOp::create(
        builder, w.getLoc(), tensor(oneShape), w,
        SmallVector<ReassociationIndices>{{0, 1}, {2}}));
  }
  return tensor::ConcatOp::create(builder, loc(stacked), 0, parts);
}

Value LlamaBuilder::mixtureOfExperts(Value x, unsigned layer) {
  std::string blk = formatv("blk.{0}", layer).str();
  int64_t dim = cfg.dim, hidden = cfg.hiddenDim, e = cfg.numExperts;
  Location l = loc(blk + ".moe");
  // Tokens as rows: [1, seq, dim] -> [seq, dim].
  Value rows = tensor::CollapseShapeOp::create(
      builder, l, tensor({seq, dim}), x,
      SmallVector<ReassociationIndices>{{0, 1}, {2}});
  Value logits = linear(rows, blk + ".ffn_gate_inp", {e, dim});
  auto router =
      ir::MoeRouterOp::create(builder, l, logits, cfg.numExpertsPerToken,
                              /*renormalize=*/true);
  auto dispatch =
      ir::MoeDispatchOp::create(builder, l, rows, router.getExperts(), e);
  Value gate =
      stackedExperts(layer, "ffn_gate_exps", "ffn_gate", {hidden, dim});
  Value up = stackedExperts(layer, "ffn_up_exps", "ffn_up", {hidden, dim});
  Value down =
      stackedExperts(layer, "ffn_down_exps", "ffn_down", {dim, hidden});
  Value y = ir::MoeExpertFfnOp::create(
      builder, l, dispatch.getSorted(), dispatch.getOffsets(), gate, up, down,
      ir::ActivationAttr::get(&ctx, ir::Activation::silu));
  Value combined = ir::MoeCombineOp::create(
      builder, l, y, dispatch.getPermutation(), router.getWeights());
  SmallVector<OpFoldResult> shape = {builder.getIndexAttr(1),
                                     seq == kDyn ? OpFoldResult(seqLen)
                                                 : builder.getIndexAttr(seq),
                                     builder.getIndexAttr(dim)};
  return tensor::ExpandShapeOp::create(builder, l, tensor({1, seq, dim}),
                                       combined, {{0, 1}, {2}}, shape);
}

void LlamaBuilder::buildEntryPoint(ModuleOp module, StringRef name,
                                   int64_t seqArg) {
  seq = seqArg;
  weights.clear();
  builder.setInsertionPointToEnd(module.getBody());
  unsigned layers = cfg.numLayers;

  // A prefill of any number of tokens computes logits from row
  // `logits_from` on: the last only when a prompt is just being read, all
  // when the caller wants every position's (perplexity, --dump-logits).
  bool anyLength = seq == kDyn;
  SmallVector<Type> args = {
      RankedTensorType::get({1, seq}, builder.getI32Type()),
      builder.getIndexType()};
  if (anyLength)
    args.push_back(builder.getIndexType());
  SmallVector<Type> results = {tensor({1, seq, cfg.vocabSize})};
  for (unsigned i = 0; i < 2 * layers; ++i) {
    args.push_back(cacheType());
    results.push_back(cacheType());
  }
  auto func = func::FuncOp::create(builder, loc(name), name,
                                   builder.getFunctionType(args, results));
  // Each argument and result says what it is to the runtime; caches are
  // also named.
  MLIRContext *ctx = builder.getContext();
  auto role = [&](ir::ParamRole r, StringRef name = "") {
    SmallVector<NamedAttribute> attrs = {
        builder.getNamedAttr(ir::kRoleAttr, ir::ParamRoleAttr::get(ctx, r))};
    if (!name.empty())
      attrs.push_back(
          builder.getNamedAttr(ir::kNameAttr, builder.getStringAttr(name)));
    return builder.getDictionaryAttr(attrs);
  };
  SmallVector<Attribute> argAttrs = {role(ir::ParamRole::tokens),
                                     role(ir::ParamRole::position)};
  if (anyLength)
    argAttrs.push_back(role(ir::ParamRole::logits_from));
  SmallVector<Attribute> resAttrs = {role(ir::ParamRole::logits)};
  for (unsigned i = 0; i < layers; ++i)
    for (StringRef kv : {"k", "v"}) {
      std::string n = formatv("{0}_cache.{1}", kv, i).str();
      argAttrs.push_back(role(ir::ParamRole::cache, n));
      resAttrs.push_back(role(ir::ParamRole::cache, n));
    }
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resAttrs);

  Block *body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  Value tokens = body->getArgument(0);
  pos = body->getArgument(1);
  seqLen = seq == kDyn
               ? tensor::DimOp::create(builder, loc("seq_len"), tokens, 1)
                     .getResult()
               : arith::ConstantIndexOp::create(builder, loc("seq_len"), seq)
                     .getResult();

  Value x = ir::EmbeddingOp::create(
      builder, loc("token_embd"),
      weight("token_embd.weight", {cfg.vocabSize, cfg.dim}), tokens);
  SmallVector<Value> caches(body->getArguments().drop_front(anyLength ? 3 : 2));
  for (unsigned i = 0; i < layers; ++i) {
    x = attention(x, i, caches[2 * i], caches[2 * i + 1]);
    x = feedForward(x, i);
  }
  if (anyLength) {
    Value from = body->getArgument(2);
    Location l = loc("logits_rows");
    Value rows = arith::SubIOp::create(builder, l, seqLen, from);
    x = tensor::ExtractSliceOp::create(
        builder, l, x,
        ArrayRef<OpFoldResult>{builder.getIndexAttr(0), from,
                               builder.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{builder.getIndexAttr(1), rows,
                               builder.getIndexAttr(cfg.dim)},
        SmallVector<OpFoldResult>(3, builder.getIndexAttr(1)));
  }
  Value normed = ir::RmsNormOp::create(builder, loc("output_norm"), x,
                                       weight("output_norm.weight", {cfg.dim}),
                                       builder.getF32FloatAttr(cfg.normEps));
  Value logits = ir::LinearOp::create(
      builder, loc("output"), normed,
      weight(cfg.tiedEmbeddings ? "token_embd.weight" : "output.weight",
             {cfg.vocabSize, cfg.dim}),
      Value());
  SmallVector<Value> returned = {logits};
  returned.append(caches.begin(), caches.end());
  func::ReturnOp::create(builder, loc("return"), returned);
}

/// The configuration as a module attribute, for later stages and for the
/// runtime to check an artifact against a model file.
DictionaryAttr configAttr(OpBuilder &b, const ModelConfig &c,
                          int64_t contextLength) {
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("architecture", b.getStringAttr(c.architecture)),
      b.getNamedAttr("dim", b.getI64IntegerAttr(c.dim)),
      b.getNamedAttr("hidden_dim", b.getI64IntegerAttr(c.hiddenDim)),
      b.getNamedAttr("layers", b.getI64IntegerAttr(c.numLayers)),
      b.getNamedAttr("heads", b.getI64IntegerAttr(c.numHeads)),
      b.getNamedAttr("kv_heads", b.getI64IntegerAttr(c.numKVHeads)),
      b.getNamedAttr("head_dim", b.getI64IntegerAttr(c.headDim)),
      b.getNamedAttr("vocab", b.getI64IntegerAttr(c.vocabSize)),
      b.getNamedAttr("context_length", b.getI64IntegerAttr(contextLength)),
      b.getNamedAttr("tied_embeddings", b.getBoolAttr(c.tiedEmbeddings)),
  };
  if (c.numExperts > 0) {
    attrs.push_back(
        b.getNamedAttr("experts", b.getI64IntegerAttr(c.numExperts)));
    attrs.push_back(b.getNamedAttr("experts_per_token",
                                   b.getI64IntegerAttr(c.numExpertsPerToken)));
  }
  if (c.slidingWindow)
    attrs.push_back(b.getNamedAttr("sliding_window",
                                   b.getI64IntegerAttr(*c.slidingWindow)));
  return b.getDictionaryAttr(attrs);
}

} // namespace

llvm::Expected<int64_t> chooseContextLength(const ModelConfig &cfg,
                                            int64_t requested, StringRef file) {
  int64_t positions =
      requested > 0 ? requested
                    : std::min<int64_t>(cfg.contextLength, kDefaultContextCap);
  if (positions <= 0)
    return llvm::createStringError(
        formatv("{0}: the model declares no context length; give one with "
                "--context-length",
                file)
            .str());
  // One key and one value cache per layer, [kv_heads, positions, head_dim]
  // f32 values each.
  constexpr int64_t kMaxCacheBytes = int64_t(1) << 40;
  int64_t bytes = 2 * 4;
  bool overflow = false;
  for (int64_t factor : {cfg.numLayers, cfg.numKVHeads, cfg.headDim, positions})
    overflow |= llvm::MulOverflow(bytes, std::max<int64_t>(factor, 1), bytes);
  if (overflow || bytes > kMaxCacheBytes)
    return llvm::createStringError(
        formatv("{0}: a context of {1} positions needs KV caches of {2} bytes "
                "({3} layers x {4} KV heads x {5} values x 2 x 4 bytes), more "
                "than the 1 TiB Loom allows; give a smaller --context-length",
                file, positions,
                overflow ? std::string("more than 2^63")
                         : std::to_string(bytes),
                cfg.numLayers, cfg.numKVHeads, cfg.headDim)
            .str());
  return positions;
}

llvm::Expected<OwningOpRef<ModuleOp>> buildModel(MLIRContext &context,
                                                 const ModelFile &model,
                                                 const BuildOptions &options) {
  context.loadDialect<ir::LoomDialect, func::FuncDialect, arith::ArithDialect,
                      tensor::TensorDialect>();
  const ModelConfig &cfg = model.config;
  StringRef file = llvm::sys::path::filename(model.path);
  if (!llvm::is_contained(kArchitectures, cfg.architecture))
    return llvm::createStringError(
        formatv("{0}: unsupported architecture '{1}' (supported: {2})", file,
                cfg.architecture, llvm::join(supportedArchitectures(), ", "))
            .str());
  if (cfg.numHeads <= 0 || cfg.numKVHeads <= 0 || cfg.headDim <= 0 ||
      cfg.numHeads % cfg.numKVHeads != 0 || cfg.dim <= 0 ||
      cfg.vocabSize <= 0 || cfg.numLayers <= 0 || cfg.headDim % 2 != 0)
    return llvm::createStringError(
        formatv("{0}: inconsistent config: dim {1}, {2} heads over {3} KV "
                "heads of size {4}, {5} layers, vocab {6}",
                file, cfg.dim, cfg.numHeads, cfg.numKVHeads, cfg.headDim,
                cfg.numLayers, cfg.vocabSize)
            .str());
  if (cfg.numExperts > 0 &&
      (cfg.numExpertsPerToken <= 0 || cfg.numExpertsPerToken > cfg.numExperts))
    return llvm::createStringError(
        formatv("{0}: {1} experts per token is not in [1, {2}]", file,
                cfg.numExpertsPerToken, cfg.numExperts)
            .str());
  // llama2.c's int8 export (version 2) has no lowering yet: refuse it here,
  // not when the compiled model fails to bind its weights.
  for (const WeightInfo &w : model.weights)
    if (w.storage == StorageType::Q8Groups)
      return llvm::createStringError(
          formatv("{0}: weight '{1}' is stored as llama2.c int8 groups "
                  "(a version 2 export), which Loom does not compile yet; "
                  "export the model as float (llama2.c's version 0 or 1) or "
                  "convert it to GGUF q8_0",
                  file, w.name)
              .str());
  llvm::Expected<int64_t> chosen =
      chooseContextLength(cfg, options.contextLength, file);
  if (!chosen)
    return chosen.takeError();
  int64_t ctxLen = *chosen;

  OpBuilder b(&context);
  OwningOpRef<ModuleOp> module =
      ModuleOp::create(NameLoc::get(b.getStringAttr(file)));
  (*module)->setAttr(ir::kModelAttr, configAttr(b, cfg, ctxLen));
  LlamaBuilder builder(context, model, ctxLen);
  builder.buildEntryPoint(*module, "prefill", kDyn);
  builder.buildEntryPoint(*module, "decode", 1);
  if (llvm::Error err = builder.takeError())
    return std::move(err);
  if (failed(verify(*module)))
    return llvm::createStringError(
        formatv("{0}: the emitted IR does not verify (a Loom bug)", file)
            .str());
  return module;
}

} // namespace loom
