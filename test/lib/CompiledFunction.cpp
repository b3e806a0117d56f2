//===- CompiledFunction.cpp - one IR function, compiled and called --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"

#include "AttentionKernels.h"
#include "HalfFloats.h"

#include "loom/Codegen/Target.h"
#include "loom/Dialect/Loom/IR/LoomDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace mlir;

namespace loom::testing {

llvm::Expected<std::unique_ptr<CompiledFunction>>
CompiledFunction::compile(const std::string &ir,
                          const CompileOptions &options) {
  auto function = std::make_unique<CompiledFunction>();
  // linalg, tensor and math too, for tests that write the IR below loom.
  function->context.loadDialect<mlir::loom::LoomDialect, func::FuncDialect,
                                linalg::LinalgDialect, tensor::TensorDialect,
                                math::MathDialect>();
  function->module = parseSourceString<ModuleOp>(ir, &function->context);
  if (!function->module)
    return llvm::createStringError("cannot parse:\n" + ir);
  if (llvm::Error e = lowerFunctionsToLLVM(*function->module, options))
    return std::move(e);
  auto engine = createEngine(*function->module);
  if (!engine)
    return engine.takeError();
  function->engine = std::move(*engine);
  return function;
}

llvm::Error CompiledFunction::call(std::deque<MemRefDescriptor> &args) {
  std::vector<uint8_t> arena(1 << 20);
  args.emplace_back(arena.data(), std::vector<int64_t>{int64_t(arena.size())});
  llvm::SmallVector<void *> pointers;
  for (MemRefDescriptor &d : args)
    pointers.push_back(&d.pointer);
  return engine->invokePacked("_mlir_ciface_f", pointers);
}

std::string CompiledFunction::lowered() {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

float halfToFloat(uint16_t bits) {
  int exponent = (bits >> 10) & 0x1f;
  if (exponent == 0 && (bits & 0x3ff) == 0)
    return (bits & 0x8000) ? -0.0f : 0.0f;
  float mantissa = 1.0f + float(bits & 0x3ff) / 1024.0f;
  float v = std::ldexp(mantissa, exponent - 15);
  return (bits & 0x8000) ? -v : v;
}

std::vector<double> int8Blocks(const std::vector<float> &x, size_t perScale) {
  std::vector<double> out(x.size());
  for (size_t b = 0; b < x.size(); b += perScale) {
    float amax = 0;
    for (size_t i = 0; i < perScale; ++i)
      amax = std::max(amax, std::abs(x[b + i]));
    // llama.cpp's x86 quantization: q8_0/q8_1 store d as f16, q8_K
    // (super-blocks of 256) as 1 / iscale in f32.
    float inv = amax == 0 ? 0.0f : 127.0f / amax;
    float d = perScale == 256
                  ? (inv == 0 ? 0.0f : 1.0f / inv)
                  : roundToHalf(amax / 127.0f, llvm::APFloat::IEEEhalf());
    for (size_t i = 0; i < perScale; ++i) {
      float q = std::nearbyint(x[b + i] * inv);
      q = std::min(127.0f, std::max(-127.0f, q));
      out[b + i] = double(q) * double(d);
    }
  }
  return out;
}

bool hostRunsCodeFor(llvm::StringRef cpu) {
  llvm::Expected<TargetDescription> target = describeTarget(cpu);
  if (!target) {
    llvm::consumeError(target.takeError());
    return false;
  }
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  return llvm::all_of(target->isaFeatures,
                      [&](const std::string &f) { return host.lookup(f); });
}

} // namespace loom::testing
