//===- ModelBuilder.cpp - model files into loom IR, block by block --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// One builder composes every family from the blocks its config names
// (ModelConfig::blocks): embeddings (tokens, learned positions), norms
// (RMSNorm, LayerNorm), attention (split, fused or grouped QKV projections,
// RoPE, MHA/GQA/MQA, causal with an optional sliding window), feed-forward
// networks (SwiGLU, GELU, a mixture of SwiGLU experts), the wiring of a
// block (pre-norm, parallel attention and MLP with one or two norms,
// post-norm) and the head. A family is a row of Families.cpp, not code.
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

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// Emits the functions of one model. Errors found while building (a missing
/// weight) are collected in `error`; the caller checks it at the end.
class Builder {
public:
  Builder(MLIRContext &ctx, const ModelFile &model, int64_t contextLength)
      : ctx(ctx), model(model), cfg(model.config), builder(&ctx),
        contextLength(contextLength) {}

  /// Emits `@name` for `seq` tokens per call (kDyn for any number).
  void buildEntryPoint(ModuleOp module, StringRef name, int64_t seq);

  /// What an encoder's entry point returns.
  enum class EncoderOutput {
    Hidden,    ///< `@hidden`: the last hidden states [1, n, dim]
    MaskedLM,  ///< `@mlm`: the masked-LM logits [1, n, vocab]
    Embedding, ///< `@embed`: the pooled sentence embeddings [b, dim]
  };
  /// Emits an encoder's entry point: `b` sequences packed one after the
  /// other into `n` tokens (token ids, token types, each token's position
  /// in its sequence and the sequence it belongs to, [1, n]; the sequences'
  /// lengths [b]). Each token attends, in both directions, to the tokens of
  /// its own sequence: a batch without padding.
  void buildEncoderEntryPoint(ModuleOp module, EncoderOutput output);

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
  /// The norm called `name` (RMSNorm, or LayerNorm with its bias).
  Value norm(Value x, const Twine &name);
  /// Token embeddings, plus learned positions, token types (`types`,
  /// encoders) and the embedding norm where the family has them.
  Value embed(Value tokens, Value types = {});
  /// BertForMaskedLM's head on the last hidden states.
  Value maskedLMHead(Value x);
  /// The pooled (and normalized) sentence embedding [1, dim].
  Value sentenceEmbedding(Value x);
  /// A parameter's or result's `loom.role` (and `loom.name`).
  DictionaryAttr role(ir::ParamRole r, StringRef name = "");
  Value expandHeads(Value x, int64_t heads);
  /// Columns [offset, offset + width) of the last dimension of `x`
  /// ([1, seq, n]).
  Value columns(Value x, int64_t offset, int64_t width, Location l);
  /// Queries, keys and values of layer `blk` as [1, seq, heads, head_dim],
  /// from split, fused or grouped projections.
  std::array<Value, 3> projectQKV(Value h, const std::string &blk);
  /// One transformer block: attention and feed-forward network, wired as
  /// the family wires them.
  Value block(Value x, unsigned layer, Value &kCache, Value &vCache);
  /// Attention of layer `layer` on the normed input `h`, projected back
  /// to the model's width (no residual).
  Value attention(Value h, unsigned layer, Value &kCache, Value &vCache);
  Value causalMask(RankedTensorType type, Value seqLen, Value kvLen);
  Value sequenceMask(RankedTensorType type);
  /// The feed-forward network of `layer` on the normed input `h` (no
  /// residual).
  Value feedForward(Value h, unsigned layer);
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
  /// An encoder's packed sequences: each token's position ([1, n] i32),
  /// the sequence it belongs to ([1, n] i32), the sequences' lengths ([b]
  /// i32) and their number (index).
  Value positionIds, sequenceIds, sequenceLengths, numSequences;
  /// One `loom.weight` per name and function (a tied classifier reuses the
  /// embedding table's).
  llvm::StringMap<Value> weights;
};

Value Builder::optionalWeight(const Twine &nameTwine, ArrayRef<int64_t> shape) {
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
  Value w;
  if (info->transposed && shape.size() == 2) {
    // Stored [in, out] (GPT-2's Conv1D): read as [out, in], which the
    // runtime makes once at load (a contraction reading the stored layout
    // through a transposed map walks a matrix against its rows: 8x slower
    // decode, measured on GPT-2 124M).
    w = storedWeight(*info, name, shape);
    Operation *op = w.getDefiningOp();
    while (op && !isa<ir::WeightOp>(op) && op->getNumOperands() == 1)
      op = op->getOperand(0).getDefiningOp(); // through the widening extf
    bool isFloat = info->storage == StorageType::F32 ||
                   info->storage == StorageType::F16 ||
                   info->storage == StorageType::BF16;
    if (isFloat && isa_and_nonnull<ir::WeightOp>(op))
      op->setAttr(ir::kStoredTransposedAttr, builder.getUnitAttr());
    else
      fail(formatv("tensor '{0}' is stored transposed as {1}, which Loom "
                   "cannot transpose at load",
                   name, storageTypeName(info->storage)));
  } else {
    w = storedWeight(*info, name, shape);
  }
  weights[name] = w;
  return w;
}

Value Builder::storedWeight(const WeightInfo &info, StringRef name,
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

Value Builder::weight(const Twine &nameTwine, ArrayRef<int64_t> shape) {
  std::string name = nameTwine.str();
  if (Value w = optionalWeight(name, shape))
    return w;
  fail(formatv("missing tensor '{0}', which a '{1}' model needs", name,
               cfg.architecture));
  // Keep building with a placeholder so every later op stays well formed.
  return ir::WeightOp::create(builder, loc(name), tensor(shape), name);
}

Value Builder::linear(Value x, StringRef prefix, ArrayRef<int64_t> wShape,
                      bool withBias) {
  Value w = weight(prefix + ".weight", wShape);
  Value b = withBias ? weight(prefix + ".bias", {wShape[0]}) : Value();
  return ir::LinearOp::create(builder, loc(prefix), x, w, b);
}

Value Builder::norm(Value x, const Twine &nameTwine) {
  std::string name = nameTwine.str();
  Location l = loc(name);
  FloatAttr eps = builder.getF32FloatAttr(cfg.normEps);
  Value w = weight(name + ".weight", {cfg.dim});
  if (cfg.blocks.norm == NormKind::RMSNorm)
    return ir::RmsNormOp::create(builder, l, x, w, eps);
  Value b = weight(name + ".bias", {cfg.dim});
  return ir::LayerNormOp::create(builder, l, x, w, b, eps);
}

Value Builder::embed(Value tokens, Value types) {
  const ModelBlocks &b = cfg.blocks;
  Value x = ir::EmbeddingOp::create(
      builder, loc("token_embd"),
      weight("token_embd.weight", {cfg.vocabSize, cfg.dim}), tokens);
  if (b.positions == PositionKind::Learned) {
    // The rows of positions pos .. pos + seq - 1, or of an encoder's
    // packed sequences' own positions.
    Location l = loc("position_embd");
    SmallVector<Value> dynamic;
    if (seq == kDyn)
      dynamic.push_back(seqLen);
    Value posV = pos;
    Value ids =
        positionIds
            ? positionIds
            : tensor::GenerateOp::create(
                  builder, l,
                  RankedTensorType::get({1, seq}, builder.getI32Type()),
                  dynamic, [&](OpBuilder &ob, Location gl, ValueRange idx) {
                    Value p = arith::AddIOp::create(ob, gl, posV, idx[1]);
                    Value i =
                        arith::IndexCastOp::create(ob, gl, ob.getI32Type(), p);
                    tensor::YieldOp::create(ob, gl, i);
                  });
    Value rows = ir::EmbeddingOp::create(
        builder, l,
        weight("position_embd.weight", {cfg.contextLength, cfg.dim}), ids);
    x = arith::AddFOp::create(builder, l, x, rows);
  }
  if (b.tokenTypes && types) {
    Location l = loc("token_types");
    Value rows = ir::EmbeddingOp::create(
        builder, l, weight("token_types.weight", {cfg.numTokenTypes, cfg.dim}),
        types);
    x = arith::AddFOp::create(builder, l, x, rows);
  }
  if (b.embeddingNorm)
    x = norm(x, "token_embd_norm");
  return x;
}

Value Builder::columns(Value x, int64_t offset, int64_t width, Location l) {
  SmallVector<OpFoldResult> offsets = {builder.getIndexAttr(0),
                                       builder.getIndexAttr(0),
                                       builder.getIndexAttr(offset)};
  SmallVector<OpFoldResult> sizes = {builder.getIndexAttr(1),
                                     seq == kDyn ? OpFoldResult(seqLen)
                                                 : builder.getIndexAttr(seq),
                                     builder.getIndexAttr(width)};
  SmallVector<OpFoldResult> strides(3, builder.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(builder, l, tensor({1, seq, width}), x,
                                        offsets, sizes, strides);
}

std::array<Value, 3> Builder::projectQKV(Value h, const std::string &blk) {
  int64_t dim = cfg.dim, hq = cfg.numHeads, hkv = cfg.numKVHeads,
          hd = cfg.headDim;
  bool bias = cfg.attentionBias;
  switch (cfg.blocks.qkv) {
  case QKVLayout::Split:
    return {
        expandHeads(linear(h, blk + ".attn_q", {hq * hd, dim}, bias), hq),
        expandHeads(linear(h, blk + ".attn_k", {hkv * hd, dim}, bias), hkv),
        expandHeads(linear(h, blk + ".attn_v", {hkv * hd, dim}, bias), hkv)};
  case QKVLayout::Fused: {
    // Rows: all queries, then the keys, then the values.
    Value qkv = linear(h, blk + ".attn_qkv", {(hq + 2 * hkv) * hd, dim}, bias);
    Location l = qkv.getLoc();
    return {expandHeads(columns(qkv, 0, hq * hd, l), hq),
            expandHeads(columns(qkv, hq * hd, hkv * hd, l), hkv),
            expandHeads(columns(qkv, (hq + hkv) * hd, hkv * hd, l), hkv)};
  }
  case QKVLayout::Grouped: {
    // Rows per key/value head: its `group` query heads, its key, its value.
    int64_t group = hq / hkv;
    Value qkv = linear(h, blk + ".attn_qkv", {(hq + 2 * hkv) * hd, dim}, bias);
    Location l = qkv.getLoc();
    OpFoldResult seqSize =
        seq == kDyn ? OpFoldResult(seqLen) : builder.getIndexAttr(seq);
    Value grouped = tensor::ExpandShapeOp::create(
        builder, l, tensor({1, seq, hkv, group + 2, hd}), qkv,
        {{0}, {1}, {2, 3, 4}},
        SmallVector<OpFoldResult>{
            builder.getIndexAttr(1), seqSize, builder.getIndexAttr(hkv),
            builder.getIndexAttr(group + 2), builder.getIndexAttr(hd)});
    // Members [first, first + count) of every group, as [1, seq, hkv *
    // count, hd]: query head i is member i % group of group i / group,
    // the order GQA's repeat of the key/value heads expects.
    auto members = [&](int64_t first, int64_t count) -> Value {
      SmallVector<OpFoldResult> one(5, builder.getIndexAttr(1));
      SmallVector<OpFoldResult> offsets(5, builder.getIndexAttr(0));
      offsets[3] = builder.getIndexAttr(first);
      SmallVector<OpFoldResult> sizes = {
          builder.getIndexAttr(1), seqSize, builder.getIndexAttr(hkv),
          builder.getIndexAttr(count), builder.getIndexAttr(hd)};
      Value part = tensor::ExtractSliceOp::create(
          builder, l, tensor({1, seq, hkv, count, hd}), grouped, offsets, sizes,
          one);
      return tensor::CollapseShapeOp::create(
          builder, l, tensor({1, seq, hkv * count, hd}), part,
          SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
    };
    return {members(0, group), members(group, 1), members(group + 1, 1)};
  }
  }
  llvm_unreachable("unknown QKV layout");
}

Value Builder::block(Value x, unsigned layer, Value &kCache, Value &vCache) {
  std::string blk = formatv("blk.{0}", layer).str();
  Location res = loc(blk + ".residual");
  auto add = [&](Value a, Value b) -> Value {
    return arith::AddFOp::create(builder, res, a, b);
  };
  switch (cfg.blocks.wiring) {
  case BlockWiring::PreNorm: {
    x = add(x, attention(norm(x, blk + ".attn_norm"), layer, kCache, vCache));
    return add(x, feedForward(norm(x, blk + ".ffn_norm"), layer));
  }
  case BlockWiring::ParallelSharedNorm: {
    Value h = norm(x, blk + ".attn_norm");
    Value a = attention(h, layer, kCache, vCache);
    return add(add(x, a), feedForward(h, layer));
  }
  case BlockWiring::Parallel: {
    // GGUF's names: attention reads `attn_norm_2`, the MLP `attn_norm`.
    Value a = attention(norm(x, blk + ".attn_norm_2"), layer, kCache, vCache);
    Value f = feedForward(norm(x, blk + ".attn_norm"), layer);
    return add(add(x, a), f);
  }
  case BlockWiring::PostNorm: {
    x = norm(add(x, attention(x, layer, kCache, vCache)),
             blk + ".attn_output_norm");
    return norm(add(x, feedForward(x, layer)), blk + ".layer_output_norm");
  }
  }
  llvm_unreachable("unknown block wiring");
}

/// [1, seq, heads * headDim] -> [1, seq, heads, headDim].
Value Builder::expandHeads(Value x, int64_t heads) {
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
Value Builder::causalMask(RankedTensorType type, Value seqLenV, Value kvLen) {
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

/// 0 where query i and key j belong to the same packed sequence, -inf
/// elsewhere (the keys of the other sequences: a padding mask without
/// padding).
Value Builder::sequenceMask(RankedTensorType type) {
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(seqLen);
  Value ids = sequenceIds;
  return tensor::GenerateOp::create(
      builder, loc("sequence_mask"), type, dynamic,
      [&](OpBuilder &b, Location l, ValueRange idx) {
        Value zero = arith::ConstantIndexOp::create(b, l, 0);
        Value qs =
            tensor::ExtractOp::create(b, l, ids, ValueRange{zero, idx[2]});
        Value ks =
            tensor::ExtractOp::create(b, l, ids, ValueRange{zero, idx[3]});
        Value other =
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, qs, ks);
        Value ninf = arith::ConstantOp::create(
            b, l, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
        Value fzero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0f));
        tensor::YieldOp::create(
            b, l, arith::SelectOp::create(b, l, other, ninf, fzero));
      });
}

Value Builder::attention(Value h, unsigned layer, Value &kCache,
                         Value &vCache) {
  std::string blk = formatv("blk.{0}", layer).str();
  int64_t dim = cfg.dim, hq = cfg.numHeads, hkv = cfg.numKVHeads,
          hd = cfg.headDim;
  auto [q, k, v] = projectQKV(h, blk);

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
  bool rotary = cfg.blocks.positions == PositionKind::Rotary;
  Value qh = toHeadsMajor(rotary ? rope(q) : q);
  Value kh = toHeadsMajor(rotary ? rope(k) : k);
  Value vh = toHeadsMajor(v);

  Value keys = kh, values = vh, kvLen = seqLen;
  if (kCache) {
    // The cache: write this call's keys and values, read the valid prefix.
    kCache = ir::KVCacheWriteOp::create(builder, loc(blk + ".k_cache"), kh,
                                        kCache, pos);
    vCache = ir::KVCacheWriteOp::create(builder, loc(blk + ".v_cache"), vh,
                                        vCache, pos);
    kvLen = arith::AddIOp::create(builder, loc("kv_len"), pos, seqLen);
    auto prefixType = tensor({1, hkv, kDyn, hd});
    keys = ir::KVCacheReadOp::create(builder, loc(blk + ".k_cache"), prefixType,
                                     kCache, kvLen);
    values = ir::KVCacheReadOp::create(builder, loc(blk + ".v_cache"),
                                       prefixType, vCache, kvLen);
  }
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
  if (scoresType.isDynamicDim(2))
    dynamic.push_back(seqLen);
  if (scoresType.isDynamicDim(3))
    dynamic.push_back(kvLen);
  Value scale = arith::ConstantOp::create(
      builder, attnLoc,
      builder.getF32FloatAttr(float(1.0 / std::sqrt(double(hd)))));
  Value scaleT =
      tensor::SplatOp::create(builder, attnLoc, scale, scoresType, dynamic);
  Value scaled = arith::MulFOp::create(builder, attnLoc, scores, scaleT);
  // Encoders attend in both directions, within each packed sequence.
  Value masked = arith::AddFOp::create(
      builder, attnLoc, scaled,
      cfg.blocks.causal ? causalMask(scoresType, seqLen, kvLen)
                        : sequenceMask(scoresType));
  Value probs = ir::SoftmaxOp::create(builder, attnLoc, masked, int64_t(3));
  Value out =
      ir::MatmulOp::create(builder, attnLoc, probs, values, false, false);
  Value tokensMajor = toHeadsMajor(out);
  Value flat = tensor::CollapseShapeOp::create(
      builder, attnLoc, tensor({1, seq, hq * hd}), tokensMajor,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  return linear(flat, blk + ".attn_output", {dim, hq * hd},
                cfg.blocks.projectionBias);
}

Value Builder::feedForward(Value h, unsigned layer) {
  std::string blk = formatv("blk.{0}", layer).str();
  int64_t dim = cfg.dim, hidden = cfg.hiddenDim;
  bool bias = cfg.blocks.projectionBias;
  if (cfg.numExperts > 0)
    return mixtureOfExperts(h, layer);
  if (cfg.blocks.feedForward == FeedForwardKind::SwiGLU) {
    // w2(silu(w1 x) * w3 x)
    Value gate = linear(h, blk + ".ffn_gate", {hidden, dim}, bias);
    Value up = linear(h, blk + ".ffn_up", {hidden, dim}, bias);
    Value act = ir::SiluOp::create(builder, gate.getLoc(), gate);
    Value gated = arith::MulFOp::create(builder, loc(blk + ".ffn"), act, up);
    return linear(gated, blk + ".ffn_down", {dim, hidden}, bias);
  }
  // down(gelu(up x))
  Value up = linear(h, blk + ".ffn_up", {hidden, dim}, bias);
  auto approx = cfg.blocks.feedForward == FeedForwardKind::GeluTanh
                    ? ir::GeluApproximation::tanh
                    : ir::GeluApproximation::erf;
  Value act = ir::GeluOp::create(builder, up.getLoc(), up, approx);
  return linear(act, blk + ".ffn_down", {dim, hidden}, bias);
}

/// The experts' weights as one [experts, ...] tensor: GGUF stores them
/// stacked (`ffn_gate_exps`); Hugging Face checkpoints one tensor per expert,
/// which are concatenated.
Value Builder::stackedExperts(unsigned layer, StringRef stackedName,
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

Value Builder::mixtureOfExperts(Value x, unsigned layer) {
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

DictionaryAttr Builder::role(ir::ParamRole r, StringRef name) {
  SmallVector<NamedAttribute> attrs = {
      builder.getNamedAttr(ir::kRoleAttr, ir::ParamRoleAttr::get(&ctx, r))};
  if (!name.empty())
    attrs.push_back(
        builder.getNamedAttr(ir::kNameAttr, builder.getStringAttr(name)));
  return builder.getDictionaryAttr(attrs);
}

void Builder::buildEncoderEntryPoint(ModuleOp module, EncoderOutput output) {
  StringRef name = output == EncoderOutput::Hidden     ? "hidden"
                   : output == EncoderOutput::MaskedLM ? "mlm"
                                                       : "embed";
  seq = kDyn;
  weights.clear();
  builder.setInsertionPointToEnd(module.getBody());
  auto ids = RankedTensorType::get({1, kDyn}, builder.getI32Type());
  auto lengths = RankedTensorType::get({kDyn}, builder.getI32Type());
  RankedTensorType result =
      output == EncoderOutput::Hidden     ? tensor({1, kDyn, cfg.dim})
      : output == EncoderOutput::MaskedLM ? tensor({1, kDyn, cfg.vocabSize})
                                          : tensor({kDyn, cfg.dim});
  auto func = func::FuncOp::create(
      builder, loc(name), name,
      builder.getFunctionType({ids, ids, ids, ids, lengths}, result));
  func.setAllArgAttrs(ArrayRef<Attribute>{
      role(ir::ParamRole::tokens), role(ir::ParamRole::token_types),
      role(ir::ParamRole::positions), role(ir::ParamRole::sequences),
      role(ir::ParamRole::sequence_lengths)});
  func.setAllResultAttrs(ArrayRef<Attribute>{role(ir::ParamRole::logits)});

  Block *body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  Value tokens = body->getArgument(0);
  // Packed sequences, each from position 0; no cache.
  pos = arith::ConstantIndexOp::create(builder, loc("position"), 0);
  seqLen = tensor::DimOp::create(builder, loc("seq_len"), tokens, 1);
  positionIds = body->getArgument(2);
  sequenceIds = body->getArgument(3);
  sequenceLengths = body->getArgument(4);
  numSequences =
      tensor::DimOp::create(builder, loc("sequences"), sequenceLengths, 0);
  Value x = embed(tokens, body->getArgument(1));
  for (unsigned i = 0; i < cfg.numLayers; ++i) {
    Value noCache;
    x = block(x, i, noCache, noCache);
  }
  if (cfg.blocks.outputNorm)
    x = norm(x, "output_norm");
  if (output == EncoderOutput::MaskedLM)
    x = maskedLMHead(x);
  else if (output == EncoderOutput::Embedding)
    x = sentenceEmbedding(x);
  func::ReturnOp::create(builder, loc("return"), x);
}

Value Builder::maskedLMHead(Value x) {
  // BertForMaskedLM: dense, the activation, LayerNorm, then the decoder
  // (the word embeddings unless the file has its own) with its bias.
  int64_t dim = cfg.dim;
  Value h = linear(x, "cls.dense", {dim, dim}, /*withBias=*/true);
  auto approx = cfg.blocks.feedForward == FeedForwardKind::GeluTanh
                    ? ir::GeluApproximation::tanh
                    : ir::GeluApproximation::erf;
  h = ir::GeluOp::create(builder, h.getLoc(), h, approx);
  h = ir::LayerNormOp::create(
      builder, loc("cls.norm"), h, weight("cls.norm.weight", {dim}),
      weight("cls.norm.bias", {dim}), builder.getF32FloatAttr(cfg.normEps));
  Value decoder = optionalWeight("cls.output.weight", {cfg.vocabSize, dim});
  if (!decoder)
    decoder = weight("token_embd.weight", {cfg.vocabSize, dim});
  return ir::LinearOp::create(builder, loc("cls.output"), h, decoder,
                              weight("cls.output.bias", {cfg.vocabSize}));
}

Value Builder::sentenceEmbedding(Value x) {
  int64_t dim = cfg.dim;
  Location l = loc("pooling");
  // Pooling as a [b, n] matrix times the hidden states: sequence s's row
  // holds 1/len(s) at its tokens (the mean), or 1 at its first token
  // ([CLS]), and 0 elsewhere.
  bool mean = cfg.pooling != Pooling::CLS;
  Value seqIds = sequenceIds, posIds = positionIds, lengths = sequenceLengths;
  Value pooling = tensor::GenerateOp::create(
      builder, l, tensor({1, kDyn, kDyn}), ValueRange{numSequences, seqLen},
      [&](OpBuilder &b, Location gl, ValueRange idx) {
        Value zero = arith::ConstantIndexOp::create(b, gl, 0);
        Value s =
            tensor::ExtractOp::create(b, gl, seqIds, ValueRange{zero, idx[2]});
        Value row = arith::IndexCastOp::create(b, gl, b.getI32Type(), idx[1]);
        Value in =
            arith::CmpIOp::create(b, gl, arith::CmpIPredicate::eq, s, row);
        Value value;
        if (mean) {
          Value n =
              tensor::ExtractOp::create(b, gl, lengths, ValueRange{idx[1]});
          Value nf = arith::SIToFPOp::create(b, gl, b.getF32Type(), n);
          Value one = arith::ConstantOp::create(b, gl, b.getF32FloatAttr(1.0f));
          value = arith::DivFOp::create(b, gl, one, nf);
        } else {
          Value p = tensor::ExtractOp::create(b, gl, posIds,
                                              ValueRange{zero, idx[2]});
          Value first =
              arith::CmpIOp::create(b, gl, arith::CmpIPredicate::eq, p,
                                    arith::ConstantIntOp::create(b, gl, 0, 32));
          in = arith::AndIOp::create(b, gl, in, first);
          value = arith::ConstantOp::create(b, gl, b.getF32FloatAttr(1.0f));
        }
        Value fzero = arith::ConstantOp::create(b, gl, b.getF32FloatAttr(0.0f));
        tensor::YieldOp::create(
            b, gl, arith::SelectOp::create(b, gl, in, value, fzero));
      });
  Value pooled = ir::MatmulOp::create(builder, l, pooling, x, false, false);
  Value row = tensor::CollapseShapeOp::create(
      builder, l, tensor({kDyn, dim}), pooled,
      SmallVector<ReassociationIndices>{{0, 1}, {2}});
  if (!cfg.normalizeEmbedding)
    return row;
  // v / |v|: an RMS norm (v / sqrt(mean(v²))) scaled by 1/sqrt(dim). Its
  // epsilon, 1e-24 / dim on the mean, is sentence-transformers' 1e-12 on
  // the norm.
  Location nl = loc("normalize");
  auto scaleType = tensor({dim});
  Value scale = arith::ConstantOp::create(
      builder, nl, scaleType,
      DenseElementsAttr::get(scaleType, float(1.0 / std::sqrt(double(dim)))));
  return ir::RmsNormOp::create(builder, nl, row, scale,
                               builder.getF32FloatAttr(float(1e-24 / dim)));
}

void Builder::buildEntryPoint(ModuleOp module, StringRef name, int64_t seqArg) {
  seq = seqArg;
  weights.clear();
  positionIds = sequenceIds = sequenceLengths = numSequences = Value();
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

  Value x = embed(tokens);
  SmallVector<Value> caches(body->getArguments().drop_front(anyLength ? 3 : 2));
  for (unsigned i = 0; i < layers; ++i)
    x = block(x, i, caches[2 * i], caches[2 * i + 1]);
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
  Value normed = cfg.blocks.outputNorm ? norm(x, "output_norm") : x;
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
  if (!llvm::is_contained(supportedArchitectures(), cfg.architecture))
    return llvm::createStringError(
        formatv("{0}: unsupported architecture '{1}' (supported: {2})", file,
                cfg.architecture, llvm::join(supportedArchitectures(), ", "))
            .str());
  if (cfg.numHeads <= 0 || cfg.numKVHeads <= 0 || cfg.headDim <= 0 ||
      cfg.numHeads % cfg.numKVHeads != 0 || cfg.dim <= 0 ||
      cfg.vocabSize <= 0 || cfg.numLayers <= 0 ||
      (cfg.headDim % 2 != 0 && cfg.blocks.positions == PositionKind::Rotary))
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
  // A learned position table has rows for the model's positions only.
  if (cfg.blocks.positions == PositionKind::Learned &&
      ctxLen > cfg.contextLength)
    return llvm::createStringError(
        formatv("{0}: a context of {1} positions is more than the {2} "
                "positions of the model's learned position table "
                "(position_embd.weight); give --context-length {2} or less",
                file, ctxLen, cfg.contextLength)
            .str());

  OpBuilder b(&context);
  OwningOpRef<ModuleOp> module =
      ModuleOp::create(NameLoc::get(b.getStringAttr(file)));
  (*module)->setAttr(ir::kModelAttr, configAttr(b, cfg, ctxLen));
  Builder builder(context, model, ctxLen);
  if (cfg.blocks.causal) {
    builder.buildEntryPoint(*module, "prefill", kDyn);
    builder.buildEntryPoint(*module, "decode", 1);
  } else {
    // An encoder: the hidden states, and the masked-LM logits and the
    // sentence embedding where the file has that head and names a pooling.
    builder.buildEncoderEntryPoint(*module, Builder::EncoderOutput::Hidden);
    if (model.lookup("cls.dense.weight"))
      builder.buildEncoderEntryPoint(*module, Builder::EncoderOutput::MaskedLM);
    if (cfg.pooling != Pooling::None)
      builder.buildEncoderEntryPoint(*module,
                                     Builder::EncoderOutput::Embedding);
  }
  if (llvm::Error err = builder.takeError())
    return std::move(err);
  if (failed(verify(*module)))
    return llvm::createStringError(
        formatv("{0}: the emitted IR does not verify (a Loom bug)", file)
            .str());
  return module;
}

} // namespace loom
