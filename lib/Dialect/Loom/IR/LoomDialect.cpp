//===- LoomDialect.cpp - loom dialect registration ------------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/IR/LoomDialect.h"
#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Support/BlockFormats.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::loom;

#include "loom/Dialect/Loom/IR/LoomDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "loom/Dialect/Loom/IR/LoomAttrs.cpp.inc"

void LoomDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "loom/Dialect/Loom/IR/LoomOps.cpp.inc"
      >();
  registerAttributes();
}

void LoomDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "loom/Dialect/Loom/IR/LoomAttrs.cpp.inc"
      >();
}

Operation *LoomDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}

//===----------------------------------------------------------------------===//
// The artifact contract
//===----------------------------------------------------------------------===//

LogicalResult KernelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 StringAttr name, DenseI64ArrayAttr deps,
                                 DenseI64ArrayAttr params, ArrayAttr reads,
                                 ArrayAttr writes, StringAttr code,
                                 StringAttr op) {
  if (!name || name.getValue().empty())
    return emitError() << "a kernel needs a name";
  assert(deps && params && reads && writes && "a kernel with a null field");
  for (int64_t p : params.asArrayRef())
    if (p < 0)
      return emitError() << "kernel '" << name.getValue()
                         << "' takes parameter " << p;
  for (ArrayAttr labels : {reads, writes})
    for (Attribute label : labels)
      if (!isa<StringAttr>(label))
        return emitError() << "kernel '" << name.getValue()
                           << "': reads and writes are strings, not " << label;
  return success();
}

LogicalResult ScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   int64_t arenaBytes, int64_t maxTokens,
                                   ArrayAttr kernels) {
  if (arenaBytes < 0 || maxTokens < 0)
    return emitError() << "a schedule's arena_bytes and max_tokens are >= 0";
  assert(kernels && "a schedule without kernels");
  llvm::SmallSet<StringRef, 16> names;
  for (auto [i, attr] : llvm::enumerate(kernels)) {
    auto kernel = dyn_cast<KernelAttr>(attr);
    if (!kernel)
      return emitError() << "schedule entry " << i << " is not a #loom.kernel";
    if (!names.insert(kernel.getName().getValue()).second)
      return emitError() << "kernel '" << kernel.getName().getValue()
                         << "' is listed twice";
    int64_t previous = -1;
    for (int64_t d : kernel.getDeps().asArrayRef()) {
      // Kernels are listed in a dependency order: a kernel waits only for
      // kernels before it, each once.
      if (d <= previous || d >= int64_t(i))
        return emitError() << "kernel " << i << " ('"
                           << kernel.getName().getValue()
                           << "') depends on kernel " << d
                           << ": deps must name earlier kernels, ascending";
      previous = d;
    }
  }
  return success();
}

std::optional<ParamRole> mlir::loom::getArgRole(FunctionOpInterface func,
                                                unsigned i) {
  if (auto role = func.getArgAttrOfType<ParamRoleAttr>(i, kRoleAttr))
    return role.getValue();
  return std::nullopt;
}

namespace {

/// Where a loom.* attribute was found: on an op, or on a function's
/// argument or result.
enum class Place { Op, Argument, Result };

LogicalResult expect(function_ref<InFlightDiagnostic()> emitError, bool ok,
                     NamedAttribute attr, StringRef what) {
  if (ok)
    return success();
  return emitError() << "'" << attr.getName().getValue() << "' must be " << what
                     << ", not " << attr.getValue();
}

LogicalResult verifyLoomAttr(function_ref<InFlightDiagnostic()> emitError,
                             Operation *op, NamedAttribute attr, Place place) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  auto isInt = [&] { return isa<IntegerAttr>(value); };
  auto isUnit = [&] { return isa<UnitAttr>(value); };
  auto isString = [&] {
    auto s = dyn_cast<StringAttr>(value);
    return s && !s.getValue().empty();
  };
  auto where = [&](bool ok, StringRef placeName) -> LogicalResult {
    if (ok)
      return success();
    return emitError() << "'" << name << "' belongs on " << placeName;
  };
  bool onOp = place == Place::Op;
  bool onArg = place == Place::Argument;
  bool onArgOrResult = !onOp;

  if (name == kModelAttr)
    return failure(failed(where(onOp && isa<ModuleOp>(op), "the module")) ||
                   failed(expect(emitError, isa<DictionaryAttr>(value), attr,
                                 "a dictionary")));
  if (name == kRoleAttr)
    return failure(
        failed(where(onArgOrResult, "entry point arguments and results")) ||
        failed(expect(emitError, isa<ParamRoleAttr>(value), attr,
                      "a #loom.role<...>")));
  if (name == kNameAttr)
    return failure(
        failed(where(onArgOrResult, "entry point arguments and results")) ||
        failed(expect(emitError, isString(), attr, "a non-empty string")));
  if (name == kWeightArgAttr)
    return failure(failed(where(onArg, "function arguments")) ||
                   failed(expect(emitError, isString(), attr,
                                 "the weight's name (a non-empty string)")));
  if (name == kPackedFromAttr) {
    auto s = dyn_cast<StringAttr>(value);
    return expect(
        emitError, s && ::loom::storageTypeNamed(s.getValue()), attr,
        "the name of a storage type (f32, f16, bf16, q8_0, q4_k, ...)");
  }
  if (name == kStoredTransposedAttr)
    return expect(emitError, isUnit(), attr, "a unit attribute");
  if (name == kShardArgAttr)
    return failure(failed(where(onArg, "function arguments")) ||
                   failed(expect(emitError, isInt(), attr, "an integer")));
  if (name == kInPlaceResultAttr)
    return failure(failed(where(onArg, "function arguments")) ||
                   failed(expect(emitError, isInt(), attr, "an integer")));
  if (name == kScheduleAttr) {
    if (failed(where(onOp, "entry point functions")) ||
        failed(expect(emitError, isa<ScheduleAttr>(value), attr,
                      "a #loom.schedule<...>")))
      return failure();
    // Before the conversion to LLVM, each kernel's parameters are
    // parameters of the entry point.
    if (auto func = dyn_cast<FunctionOpInterface>(op);
        func && isa<FunctionType>(func.getFunctionType()))
      for (KernelAttr k : cast<ScheduleAttr>(value).getKernelList())
        for (int64_t p : k.getParams().asArrayRef())
          if (p >= int64_t(func.getNumArguments()))
            return emitError()
                   << "kernel '" << k.getName().getValue()
                   << "' takes parameter " << p << ", but the entry "
                   << "point has " << func.getNumArguments();
    return success();
  }
  if (name == kKernelOfAttr)
    return failure(
        failed(where(onOp, "kernel functions")) ||
        failed(expect(emitError, isString(), attr, "the entry point's name")));
  if (name == kKernelParamsAttr)
    return failure(failed(where(onOp, "kernel functions")) ||
                   failed(expect(emitError, isa<DenseI64ArrayAttr>(value), attr,
                                 "an array<i64>")));
  if (name == kTileWorkAttr || name == kExpertShardAttr ||
      name == kActivationBlocksAttr)
    return failure(failed(where(onOp, "ops")) ||
                   failed(expect(emitError, isInt(), attr, "an integer")));
  if (name == kBlockFormatAttr)
    return failure(
        failed(where(onOp || onArg, "ops and function arguments")) ||
        failed(expect(emitError,
                      isa<StringAttr>(value) &&
                          symbolizeBlockFormat(cast<StringAttr>(value)),
                      attr, "the name of a block format (q8_0, q4_k, ...)")));
  if (name == kRuntimeHelperAttr || name == kBF16ActivationsAttr)
    return failure(
        failed(where(onOp, "ops")) ||
        failed(expect(emitError, isUnit(), attr, "a unit attribute")));
  return emitError() << "unknown attribute '" << name
                     << "' (the loom.* attributes are listed in LoomOps.h)";
}

} // namespace

LogicalResult LoomDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  return verifyLoomAttr([&] { return op->emitOpError(); }, op, attr, Place::Op);
}

LogicalResult LoomDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned region,
                                                    unsigned arg,
                                                    NamedAttribute attr) {
  return verifyLoomAttr(
      [&] { return op->emitOpError() << "argument " << arg << ": "; }, op, attr,
      Place::Argument);
}

LogicalResult LoomDialect::verifyRegionResultAttribute(Operation *op,
                                                       unsigned region,
                                                       unsigned result,
                                                       NamedAttribute attr) {
  return verifyLoomAttr(
      [&] { return op->emitOpError() << "result " << result << ": "; }, op,
      attr, Place::Result);
}
