//===- LoomOps.cpp - loom op verifiers and type inference -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Shape rules live in `inferReturnTypes` so that C++ builders get result types
// for free and the parser and verifier report the same messages. Checks that
// do not decide a result type live in `verify`. Every message says what was
// expected and what was found; test/Dialect/Loom/invalid.mlir has a case for
// each of them.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Support/BlockFormats.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::loom;

#include "loom/Dialect/Loom/IR/LoomEnums.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static constexpr int64_t kDynamic = ShapedType::kDynamic;

/// Prints a shape as `[1, ?, 64]`.
static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '[';
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << '?';
    else
      os << d;
  });
  os << ']';
  return s;
}

LogicalResult mlir::loom::verifyShapesFitInInt64(Operation *op) {
  auto check = [&](Type type, StringRef what, unsigned index) -> LogicalResult {
    auto tensor = dyn_cast<RankedTensorType>(type);
    if (!tensor)
      return success();
    Type elt = tensor.getElementType();
    int64_t bytes =
        elt.isIntOrFloat() ? (elt.getIntOrFloatBitWidth() + 7) / 8 : 8;
    for (int64_t d : tensor.getShape()) {
      if (ShapedType::isDynamic(d))
        continue;
      if (llvm::MulOverflow(bytes, d, bytes))
        return op->emitOpError() << what << " #" << index << " of type " << type
                                 << " holds more bytes than int64 counts";
    }
    return success();
  };
  for (auto [i, t] : llvm::enumerate(op->getOperandTypes()))
    if (failed(check(t, "operand", i)))
      return failure();
  for (auto [i, t] : llvm::enumerate(op->getResultTypes()))
    if (failed(check(t, "result", i)))
      return failure();
  return success();
}

/// Two sizes agree when either is dynamic or both are equal.
static bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Picks the static one of two agreeing sizes.
static int64_t joinDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? b : a;
}

/// Multiplies sizes, staying dynamic when either is.
static int64_t mulDims(int64_t a, int64_t b) {
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b))
    return kDynamic;
  return a * b;
}

static RankedTensorType rankedOf(Type t) { return cast<RankedTensorType>(t); }

/// Emits an error in the style of `emitOpError` from a context (the parser,
/// a builder, the verifier) where only the location is known.
template <typename... Args>
static LogicalResult inferError(std::optional<Location> loc, StringRef opName,
                                Args &&...args) {
  return emitOptionalError(loc, "'", opName, "' op ",
                           std::forward<Args>(args)...);
}

/// Checks that all `types` share one element type.
static LogicalResult checkSameElementType(std::optional<Location> loc,
                                          StringRef opName,
                                          ArrayRef<StringRef> names,
                                          ArrayRef<Type> types) {
  Type first = getElementTypeOrSelf(types.front());
  for (auto [name, type] : llvm::zip(names, types)) {
    if (getElementTypeOrSelf(type) != first)
      return inferError(loc, opName, "expected ", names.front(), " and ", name,
                        " to have one element type, but found ", first, " and ",
                        getElementTypeOrSelf(type));
  }
  return success();
}

bool mlir::loom::areCompatibleTensorTypes(TypeRange lhs, TypeRange rhs) {
  if (lhs.size() != rhs.size())
    return false;
  for (auto [l, r] : llvm::zip(lhs, rhs)) {
    if (l == r)
      continue;
    auto lt = dyn_cast<RankedTensorType>(l);
    auto rt = dyn_cast<RankedTensorType>(r);
    if (!lt || !rt || lt.getElementType() != rt.getElementType() ||
        lt.getRank() != rt.getRank())
      return false;
    for (auto [a, b] : llvm::zip(lt.getShape(), rt.getShape()))
      if (!dimsAgree(a, b))
        return false;
  }
  return true;
}

// Every op with inferred result types accepts results that are compatible
// with (not necessarily equal to) the inferred ones.
#define LOOM_COMPATIBLE_RETURN_TYPES(OP)                                       \
  bool OP::isCompatibleReturnTypes(TypeRange l, TypeRange r) {                 \
    return areCompatibleTensorTypes(l, r);                                     \
  }
LOOM_COMPATIBLE_RETURN_TYPES(EmbeddingOp)
LOOM_COMPATIBLE_RETURN_TYPES(LinearOp)
LOOM_COMPATIBLE_RETURN_TYPES(MatmulOp)
LOOM_COMPATIBLE_RETURN_TYPES(RmsNormOp)
LOOM_COMPATIBLE_RETURN_TYPES(LayerNormOp)
LOOM_COMPATIBLE_RETURN_TYPES(AttentionOp)
LOOM_COMPATIBLE_RETURN_TYPES(TransposeOp)
LOOM_COMPATIBLE_RETURN_TYPES(RepeatInterleaveOp)
LOOM_COMPATIBLE_RETURN_TYPES(MoeRouterOp)
LOOM_COMPATIBLE_RETURN_TYPES(MoeDispatchOp)
LOOM_COMPATIBLE_RETURN_TYPES(MoeExpertFfnOp)
LOOM_COMPATIBLE_RETURN_TYPES(MoeCombineOp)
#undef LOOM_COMPATIBLE_RETURN_TYPES

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError("expected a non-empty weight name");
  auto type = cast<RankedTensorType>(getResult().getType());
  if (!type.hasStaticShape())
    return emitOpError("expected weight '")
           << getName() << "' to have a static shape, but found "
           << shapeStr(type.getShape());
  return success();
}

//===----------------------------------------------------------------------===//
// DequantizeOp
//===----------------------------------------------------------------------===//

/// The BlockFormats.h format of a dialect block format: the same name.
static ::loom::blocks::Format supportFormat(BlockFormat format) {
  std::optional<::loom::blocks::Format> f =
      ::loom::blocks::named(stringifyBlockFormat(format));
  assert(f && "a #loom<block_format> case BlockFormats.h does not know");
  return *f;
}

int64_t DequantizeOp::blockBytes(BlockFormat format) {
  return ::loom::blocks::info(supportFormat(format)).bytes;
}

int64_t DequantizeOp::blockValues(BlockFormat format) {
  return ::loom::blocks::info(supportFormat(format)).values;
}

int64_t DequantizeOp::blockRows(BlockFormat format) {
  return ::loom::blocks::info(supportFormat(format)).rows;
}

std::optional<BlockFormat> DequantizeOp::interleavedForm(BlockFormat format) {
  std::optional<::loom::blocks::Format> f =
      ::loom::blocks::interleavedForm(supportFormat(format));
  if (!f)
    return std::nullopt;
  return symbolizeBlockFormat(::loom::blocks::info(*f).name);
}

Value DequantizeOp::buildScale(OpBuilder &b, Location loc, Value lo, Value hi) {
  Type i16 = b.getI16Type();
  Value l = arith::ExtUIOp::create(b, loc, i16, lo);
  Value h = arith::ExtUIOp::create(b, loc, i16, hi);
  Value eight = arith::ConstantOp::create(b, loc, b.getI16IntegerAttr(8));
  Value bits =
      arith::OrIOp::create(b, loc, l, arith::ShLIOp::create(b, loc, h, eight));
  Value half = arith::BitcastOp::create(b, loc, b.getF16Type(), bits);
  return arith::ExtFOp::create(b, loc, b.getF32Type(), half);
}

Value DequantizeOp::buildActivationScale(OpBuilder &b, Location loc, Value amax,
                                         bool superBlock) {
  Type f32 = b.getF32Type();
  Value scale127 = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(127.0f));
  if (superBlock) {
    // q8_K keeps d = 1 / iscale, iscale = -127 / max (the sign of the
    // block's largest value: it moves to q, and d * q is the same).
    Value inv = arith::DivFOp::create(b, loc, scale127, amax);
    Value one = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f));
    return arith::DivFOp::create(b, loc, one, inv);
  }
  Value d = arith::DivFOp::create(b, loc, amax, scale127);
  Value half = arith::TruncFOp::create(b, loc, b.getF16Type(), d);
  return arith::ExtFOp::create(b, loc, f32, half);
}

Value DequantizeOp::buildActivationInverse(OpBuilder &b, Location loc,
                                           Value amax) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value scale127 = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(127.0f));
  Value inv = arith::DivFOp::create(b, loc, scale127, amax);
  Value isZero =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, amax, zero);
  return arith::SelectOp::create(b, loc, isZero, zero, inv);
}

LogicalResult DequantizeOp::verify() {
  auto input = getInput().getType();
  auto result = getResult().getType();
  int64_t groupRows = blockRows(getFormat());
  if (input.getRank() < (groupRows > 1 ? 3 : 2))
    return emitOpError("expected the input to be [rows..., blocks, bytes]")
           << (groupRows > 1 ? " with at least one dimension of rows" : "")
           << ", but found shape " << shapeStr(input.getShape());
  int64_t bytes = blockBytes(getFormat());
  if (input.getShape().back() != bytes)
    return emitOpError("expected ")
           << bytes << " bytes per " << stringifyBlockFormat(getFormat())
           << " block, but the input's last dimension is "
           << input.getShape().back();
  if (result.getRank() != input.getRank() - 1)
    return emitOpError("expected a result of rank ")
           << input.getRank() - 1 << ", but found rank " << result.getRank();
  for (int64_t d = 0; d + 1 < result.getRank(); ++d) {
    // q4_0x8 / q8_0x8: the last dimension of rows counts groups of 8 rows.
    int64_t rows = input.getDimSize(d);
    if (d + 2 == result.getRank() && !ShapedType::isDynamic(rows))
      rows *= groupRows;
    if (!dimsAgree(result.getDimSize(d), rows))
      return emitOpError("expected result dimension ")
             << d << " to be " << rows << ", but found "
             << result.getDimSize(d);
  }
  int64_t blocks = input.getDimSize(input.getRank() - 2);
  int64_t perBlock = blockValues(getFormat());
  int64_t values =
      ShapedType::isDynamic(blocks) ? ShapedType::kDynamic : blocks * perBlock;
  if (!dimsAgree(result.getShape().back(), values))
    return emitOpError("expected ")
           << values << " values in the last dimension (" << blocks
           << " blocks of " << perBlock << "), but found "
           << result.getShape().back();
  return success();
}

int64_t WeightOp::getNumParameters() {
  RankedTensorType type = getTensorType();
  if (!type.getElementType().isInteger(8))
    return type.getNumElements();
  int64_t rows = 1;
  for (int64_t d : type.getShape().drop_back())
    rows *= d;
  // The values of a block of that many bytes (the formats with equal block
  // sizes hold equally many: q4_0x8's 8 rows of 32 and q4_k's 256 in 144).
  std::optional<int64_t> values =
      ::loom::blocks::valuesWithBytes(type.getShape().back());
  return rows * values.value_or(::loom::blocks::kValuesPerBlock);
}

void WeightOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  // `blk.0.attn_q.weight` prints as `%blk.0.attn_q.weight`: the IR of a model
  // reads with its parameter names.
  std::string name;
  for (char c : getName())
    name += (llvm::isAlnum(c) || c == '.' || c == '_') ? c : '_';
  setNameFn(getResult(), name);
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto table = rankedOf(adaptor.getTable().getType());
  auto ids = rankedOf(adaptor.getIds().getType());
  if (table.getRank() != 2)
    return inferError(loc, getOperationName(),
                      "expected the table to be [vocab, dim], but found shape ",
                      shapeStr(table.getShape()));
  SmallVector<int64_t> shape(ids.getShape());
  shape.push_back(table.getDimSize(1));
  results.push_back(RankedTensorType::get(shape, table.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto input = rankedOf(adaptor.getInput().getType());
  auto weight = rankedOf(adaptor.getWeight().getType());
  if (input.getRank() < 1)
    return inferError(loc, name,
                      "expected an input of rank >= 1, but found a 0-d tensor");
  if (weight.getRank() != 2)
    return inferError(loc, name,
                      "expected the weight to be [out_features, in_features], "
                      "but found shape ",
                      shapeStr(weight.getShape()));
  int64_t k = input.getShape().back();
  if (!dimsAgree(k, weight.getDimSize(1)))
    return inferError(loc, name, "expected the input's last dimension (", k,
                      ") to equal the weight's in_features (",
                      weight.getDimSize(1), ")");
  SmallVector<StringRef> names = {"input", "weight"};
  SmallVector<Type> types = {input, weight};
  int64_t n = weight.getDimSize(0);
  if (Value bias = adaptor.getBias()) {
    auto biasType = rankedOf(bias.getType());
    if (biasType.getRank() != 1 || !dimsAgree(biasType.getDimSize(0), n))
      return inferError(loc, name, "expected the bias to be [", n,
                        "] (out_features), but found shape ",
                        shapeStr(biasType.getShape()));
    n = joinDims(n, biasType.getDimSize(0));
    names.push_back("bias");
    types.push_back(biasType);
  }
  if (failed(checkSameElementType(loc, name, names, types)))
    return failure();
  SmallVector<int64_t> shape(input.getShape());
  shape.back() = n;
  results.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto lhs = rankedOf(adaptor.getLhs().getType());
  auto rhs = rankedOf(adaptor.getRhs().getType());
  if (lhs.getRank() < 2 || lhs.getRank() != rhs.getRank())
    return inferError(loc, name,
                      "expected operands of one rank >= 2, but found ranks ",
                      lhs.getRank(), " and ", rhs.getRank());
  if (failed(checkSameElementType(loc, name, {"lhs", "rhs"}, {lhs, rhs})))
    return failure();
  int64_t rank = lhs.getRank();
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank - 2; ++i) {
    if (!dimsAgree(lhs.getDimSize(i), rhs.getDimSize(i)))
      return inferError(loc, name, "expected batch dimension ", i,
                        " to agree, but found ", lhs.getDimSize(i), " and ",
                        rhs.getDimSize(i));
    shape.push_back(joinDims(lhs.getDimSize(i), rhs.getDimSize(i)));
  }
  bool tl = adaptor.getTransposeLhs(), tr = adaptor.getTransposeRhs();
  int64_t m = lhs.getDimSize(tl ? rank - 1 : rank - 2);
  int64_t kl = lhs.getDimSize(tl ? rank - 2 : rank - 1);
  int64_t kr = rhs.getDimSize(tr ? rank - 1 : rank - 2);
  int64_t n = rhs.getDimSize(tr ? rank - 2 : rank - 1);
  if (!dimsAgree(kl, kr))
    return inferError(loc, name,
                      "expected the contracted dimensions to agree, but found ",
                      kl, " (lhs) and ", kr, " (rhs)");
  shape.push_back(m);
  shape.push_back(n);
  results.push_back(RankedTensorType::get(shape, lhs.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

/// The checks rms_norm and layer_norm share: a per-feature vector the size of
/// the input's last dimension, of the input's element type.
static LogicalResult inferNormType(std::optional<Location> loc, StringRef name,
                                   Value input, Value weight, Value bias,
                                   SmallVectorImpl<Type> &results) {
  auto inputType = rankedOf(input.getType());
  if (inputType.getRank() < 1)
    return inferError(loc, name,
                      "expected an input of rank >= 1, but found a 0-d tensor");
  int64_t d = inputType.getShape().back();
  SmallVector<StringRef> names = {"input"};
  SmallVector<Type> types = {inputType};
  for (auto [what, v] : {std::pair<StringRef, Value>{"weight", weight},
                         std::pair<StringRef, Value>{"bias", bias}}) {
    if (!v)
      continue;
    auto t = rankedOf(v.getType());
    if (t.getRank() != 1 || !dimsAgree(t.getDimSize(0), d))
      return inferError(loc, name, "expected the ", what, " to be [", d,
                        "] (the input's last dimension), but found shape ",
                        shapeStr(t.getShape()));
    names.push_back(what);
    types.push_back(t);
  }
  if (failed(checkSameElementType(loc, name, names, types)))
    return failure();
  results.push_back(inputType);
  return success();
}

static LogicalResult verifyEpsilon(Operation *op, APFloat eps) {
  if (eps.isNegative() || eps.isNaN())
    return op->emitOpError("expected a non-negative epsilon, but found ")
           << eps.convertToDouble();
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  return inferNormType(loc, getOperationName(), adaptor.getInput(),
                       adaptor.getWeight(), Value(), results);
}

LogicalResult RmsNormOp::verify() { return verifyEpsilon(*this, getEpsilon()); }

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  return inferNormType(loc, getOperationName(), adaptor.getInput(),
                       adaptor.getWeight(), adaptor.getBias(), results);
}

LogicalResult LayerNormOp::verify() {
  return verifyEpsilon(*this, getEpsilon());
}

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

int64_t SoftmaxOp::getNormalizedAxis() {
  int64_t axis = getAxis();
  return axis < 0 ? axis + getInput().getType().getRank() : axis;
}

LogicalResult SoftmaxOp::verify() {
  int64_t rank = getInput().getType().getRank();
  if (getAxis() < -rank || getAxis() >= rank)
    return emitOpError("expected an axis in [")
           << -rank << ", " << rank << ") for an input of rank " << rank
           << ", but found " << getAxis();
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

int64_t RopeOp::getRotaryDimOrDefault() {
  if (std::optional<int64_t> d = getRotaryDim())
    return *d;
  return getInput().getType().getDimSize(3);
}

LogicalResult RopeOp::verify() {
  auto type = getInput().getType();
  if (type.getRank() != 4)
    return emitOpError(
               "expected the input to be [batch, seq, heads, head_dim], "
               "but found shape ")
           << shapeStr(type.getShape());
  int64_t headDim = type.getDimSize(3);
  if (ShapedType::isDynamic(headDim))
    return emitOpError("expected a static head_dim, but found a dynamic one");
  if (headDim % 2 != 0)
    return emitOpError("expected an even head_dim, but found ") << headDim;
  if (std::optional<int64_t> rd = getRotaryDim()) {
    if (*rd <= 0 || *rd > headDim || *rd % 2 != 0)
      return emitOpError("expected rotary_dim to be even and in [2, ")
             << headDim << "], but found " << *rd;
  }
  if (!(getTheta().convertToDouble() > 0.0))
    return emitOpError("expected theta > 0, but found ")
           << getTheta().convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// PositionalEncodingOp
//===----------------------------------------------------------------------===//

LogicalResult PositionalEncodingOp::verify() {
  auto type = getResult().getType();
  if (type.getRank() != 2)
    return emitOpError("expected the result to be [seq, dim], but found shape ")
           << shapeStr(type.getShape());
  int64_t dim = type.getDimSize(1);
  if (ShapedType::isDynamic(dim) || dim % 2 != 0)
    return emitOpError("expected a static, even dim, but found ")
           << shapeStr({dim});
  if (!(getBase().convertToDouble() > 0.0))
    return emitOpError("expected base > 0, but found ")
           << getBase().convertToDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

double AttentionOp::getScaleOrDefault() {
  if (std::optional<APFloat> s = getScale())
    return s->convertToDouble();
  return 1.0 / std::sqrt(double(getQuery().getType().getDimSize(3)));
}

int64_t AttentionOp::getGroupSize() {
  return getQuery().getType().getDimSize(1) / getKey().getType().getDimSize(1);
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto q = rankedOf(adaptor.getQuery().getType());
  auto k = rankedOf(adaptor.getKey().getType());
  auto v = rankedOf(adaptor.getValue().getType());
  for (auto [what, t] : {std::pair<StringRef, RankedTensorType>{"query", q},
                         {"key", k},
                         {"value", v}}) {
    if (t.getRank() != 4)
      return inferError(
          loc, name, "expected the ", what,
          " to be [batch, heads, seq, head_dim], but found shape ",
          shapeStr(t.getShape()));
  }
  if (failed(checkSameElementType(loc, name, {"query", "key", "value"},
                                  {q, k, v})))
    return failure();
  if (!dimsAgree(q.getDimSize(0), k.getDimSize(0)) ||
      !dimsAgree(k.getDimSize(0), v.getDimSize(0)))
    return inferError(loc, name, "expected one batch size, but found ",
                      q.getDimSize(0), ", ", k.getDimSize(0), " and ",
                      v.getDimSize(0));
  if (!dimsAgree(k.getDimSize(1), v.getDimSize(1)) ||
      !dimsAgree(k.getDimSize(2), v.getDimSize(2)))
    return inferError(loc, name,
                      "expected key and value to agree in heads and length, "
                      "but found ",
                      shapeStr(k.getShape()), " and ", shapeStr(v.getShape()));
  if (!dimsAgree(q.getDimSize(3), k.getDimSize(3)))
    return inferError(loc, name,
                      "expected query and key to have one head_dim, but found ",
                      q.getDimSize(3), " and ", k.getDimSize(3));
  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (!ShapedType::isDynamic(hq) && !ShapedType::isDynamic(hkv) &&
      (hkv == 0 || hq % hkv != 0))
    return inferError(loc, name,
                      "expected the query heads to be a multiple of the "
                      "key/value heads, but found ",
                      hq, " and ", hkv);
  results.push_back(
      RankedTensorType::get({joinDims(q.getDimSize(0), k.getDimSize(0)), hq,
                             q.getDimSize(2), v.getDimSize(3)},
                            q.getElementType()));
  return success();
}

LogicalResult AttentionOp::verify() {
  auto q = getQuery().getType();
  auto k = getKey().getType();
  if (Value mask = getMask()) {
    auto m = cast<RankedTensorType>(mask.getType());
    if (m.getElementType() != q.getElementType())
      return emitOpError("expected the mask to have the element type ")
             << q.getElementType() << ", but found " << m.getElementType();
    SmallVector<int64_t> full = {q.getDimSize(0), q.getDimSize(1),
                                 q.getDimSize(2), k.getDimSize(2)};
    ArrayRef<int64_t> target = full;
    if (m.getRank() == 2)
      target = target.drop_front(2);
    bool ok = m.getRank() == 2 || m.getRank() == 4;
    for (auto [md, td] : llvm::zip(m.getShape(), target))
      ok = ok && (md == 1 || dimsAgree(md, td));
    if (!ok)
      return emitOpError("expected a mask that broadcasts to ")
             << shapeStr(full)
             << " ([batch, q_heads, q_len, kv_len]), but found shape "
             << shapeStr(m.getShape());
  }
  if (std::optional<int64_t> w = getWindow()) {
    if (!getCausal())
      return emitOpError("expected 'causal' with a sliding window");
    if (*w <= 0)
      return emitOpError("expected a window > 0, but found ") << *w;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

/// Checks that a cache and a slice of it agree in batch, heads and head_dim.
static LogicalResult verifyCacheSlice(Operation *op, StringRef what,
                                      RankedTensorType slice,
                                      RankedTensorType cache) {
  for (auto [name, t] : {std::pair<StringRef, RankedTensorType>{"cache", cache},
                         {what, slice}}) {
    if (t.getRank() != 4)
      return op->emitOpError("expected the ")
             << name << " to be [batch, heads, seq, head_dim], but found shape "
             << shapeStr(t.getShape());
  }
  if (slice.getElementType() != cache.getElementType())
    return op->emitOpError("expected the ")
           << what << " to have the cache's element type "
           << cache.getElementType() << ", but found "
           << slice.getElementType();
  for (int64_t i : {0, 1, 3})
    if (!dimsAgree(slice.getDimSize(i), cache.getDimSize(i)))
      return op->emitOpError("expected the ")
             << what
             << " to match the cache in batch, heads and head_dim, but found "
             << shapeStr(slice.getShape()) << " and "
             << shapeStr(cache.getShape());
  int64_t len = slice.getDimSize(2), cap = cache.getDimSize(2);
  if (!ShapedType::isDynamic(len) && !ShapedType::isDynamic(cap) && len > cap)
    return op->emitOpError("expected the ")
           << what << " to hold at most the cache's capacity of " << cap
           << " positions, but found " << len;
  return success();
}

LogicalResult KVCacheWriteOp::verify() {
  return verifyCacheSlice(*this, "update", getUpdate().getType(),
                          getCache().getType());
}

LogicalResult KVCacheReadOp::verify() {
  return verifyCacheSlice(*this, "result", getResult().getType(),
                          getCache().getType());
}

//===----------------------------------------------------------------------===//
// TransposeOp
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto input = rankedOf(adaptor.getInput().getType());
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  int64_t rank = input.getRank();
  llvm::SmallBitVector seen(rank);
  bool ok = int64_t(perm.size()) == rank;
  for (int64_t p : perm) {
    ok = ok && p >= 0 && p < rank && !seen.test(p);
    if (ok)
      seen.set(p);
  }
  if (!ok)
    return inferError(loc, getOperationName(), "expected a permutation of [0, ",
                      rank, ") for an input of rank ", rank, ", but found ",
                      shapeStr(perm));
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(input.getDimSize(p));
  results.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// RepeatInterleaveOp
//===----------------------------------------------------------------------===//

LogicalResult
RepeatInterleaveOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                     Adaptor adaptor,
                                     SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto input = rankedOf(adaptor.getInput().getType());
  int64_t axis = adaptor.getAxis(), repeats = adaptor.getRepeats();
  if (axis < 0 || axis >= input.getRank())
    return inferError(loc, name, "expected an axis in [0, ", input.getRank(),
                      "), but found ", axis);
  if (repeats < 1)
    return inferError(loc, name, "expected repeats >= 1, but found ", repeats);
  SmallVector<int64_t> shape(input.getShape());
  shape[axis] = mulDims(shape[axis], repeats);
  results.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Mixture of Experts
//===----------------------------------------------------------------------===//

LogicalResult MoeRouterOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto logits = rankedOf(adaptor.getLogits().getType());
  if (logits.getRank() != 2)
    return inferError(
        loc, name,
        "expected the logits to be [tokens, experts], but found shape ",
        shapeStr(logits.getShape()));
  int64_t k = adaptor.getTopK(), experts = logits.getDimSize(1);
  if (k < 1 || (!ShapedType::isDynamic(experts) && k > experts))
    return inferError(loc, name, "expected top_k in [1, ", experts,
                      "] (the number of experts), but found ", k);
  int64_t tokens = logits.getDimSize(0);
  results.push_back(
      RankedTensorType::get({tokens, k}, logits.getElementType()));
  results.push_back(
      RankedTensorType::get({tokens, k}, IntegerType::get(ctx, 32)));
  return success();
}

LogicalResult MoeDispatchOp::inferReturnTypes(MLIRContext *ctx,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto input = rankedOf(adaptor.getInput().getType());
  auto experts = rankedOf(adaptor.getExperts().getType());
  if (input.getRank() != 2 || experts.getRank() != 2 ||
      !dimsAgree(input.getDimSize(0), experts.getDimSize(0)))
    return inferError(
        loc, name,
        "expected input [tokens, dim] and experts [tokens, top_k], "
        "but found shapes ",
        shapeStr(input.getShape()), " and ", shapeStr(experts.getShape()));
  int64_t numExperts = adaptor.getNumExperts();
  if (numExperts < 1)
    return inferError(loc, name, "expected num_experts >= 1, but found ",
                      numExperts);
  int64_t rows = mulDims(joinDims(input.getDimSize(0), experts.getDimSize(0)),
                         experts.getDimSize(1));
  Type i32 = IntegerType::get(ctx, 32);
  results.push_back(RankedTensorType::get({rows, input.getDimSize(1)},
                                          input.getElementType()));
  results.push_back(RankedTensorType::get({rows}, i32));
  results.push_back(RankedTensorType::get({numExperts + 1}, i32));
  return success();
}

LogicalResult MoeExpertFfnOp::inferReturnTypes(MLIRContext *,
                                               std::optional<Location> loc,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto input = rankedOf(adaptor.getInput().getType());
  auto offsets = rankedOf(adaptor.getOffsets().getType());
  auto gate = rankedOf(adaptor.getGate().getType());
  auto up = rankedOf(adaptor.getUp().getType());
  auto down = rankedOf(adaptor.getDown().getType());
  if (input.getRank() != 2)
    return inferError(loc, name,
                      "expected the input to be [rows, dim], but found shape ",
                      shapeStr(input.getShape()));
  if (gate.getRank() != 3 || up.getRank() != 3 || down.getRank() != 3)
    return inferError(loc, name,
                      "expected expert weights of rank 3 (gate/up [experts, "
                      "hidden, dim], down [experts, dim, hidden]), but found ",
                      shapeStr(gate.getShape()), ", ", shapeStr(up.getShape()),
                      " and ", shapeStr(down.getShape()));
  if (failed(checkSameElementType(loc, name, {"input", "gate", "up", "down"},
                                  {input, gate, up, down})))
    return failure();
  int64_t e = gate.getDimSize(0), h = gate.getDimSize(1),
          d = input.getDimSize(1);
  bool ok = true;
  for (auto [a, b] : llvm::zip(up.getShape(), gate.getShape()))
    ok = ok && dimsAgree(a, b);
  ok = ok && dimsAgree(gate.getDimSize(2), d) &&
       dimsAgree(down.getDimSize(0), e) && dimsAgree(down.getDimSize(1), d) &&
       dimsAgree(down.getDimSize(2), h);
  if (!ok)
    return inferError(loc, name, "expected gate/up [", e, ", ", h, ", ", d,
                      "] and down [", e, ", ", d, ", ", h,
                      "] for input rows of ", d, " features, but found ",
                      shapeStr(gate.getShape()), ", ", shapeStr(up.getShape()),
                      " and ", shapeStr(down.getShape()));
  if (offsets.getRank() != 1 ||
      !dimsAgree(offsets.getDimSize(0), ShapedType::isDynamic(e) ? e : e + 1))
    return inferError(
        loc, name, "expected offsets [", ShapedType::isDynamic(e) ? e : e + 1,
        "] (experts + 1), but found shape ", shapeStr(offsets.getShape()));
  results.push_back(input);
  return success();
}

LogicalResult MoeCombineOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  StringRef name = getOperationName();
  auto rows = rankedOf(adaptor.getRows().getType());
  auto perm = rankedOf(adaptor.getPermutation().getType());
  auto weights = rankedOf(adaptor.getWeights().getType());
  if (rows.getRank() != 2 || perm.getRank() != 1 || weights.getRank() != 2)
    return inferError(
        loc, name,
        "expected rows [tokens * top_k, dim], permutation "
        "[tokens * top_k] and weights [tokens, top_k], but found ",
        shapeStr(rows.getShape()), ", ", shapeStr(perm.getShape()), " and ",
        shapeStr(weights.getShape()));
  int64_t n = mulDims(weights.getDimSize(0), weights.getDimSize(1));
  if (!dimsAgree(rows.getDimSize(0), n) || !dimsAgree(perm.getDimSize(0), n))
    return inferError(loc, name, "expected ", n,
                      " rows (tokens * top_k), but found ", rows.getDimSize(0),
                      " rows and ", perm.getDimSize(0), " permutation entries");
  if (failed(checkSameElementType(loc, name, {"rows", "weights"},
                                  {rows, weights})))
    return failure();
  results.push_back(RankedTensorType::get(
      {weights.getDimSize(0), rows.getDimSize(1)}, rows.getElementType()));
  return success();
}

#define GET_OP_CLASSES
#include "loom/Dialect/Loom/IR/LoomOps.cpp.inc"
