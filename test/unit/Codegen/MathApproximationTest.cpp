//===- MathApproximationTest.cpp - exp, tanh, erf as compiled polynomials -===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-approximate-math replaces libm's expf/tanhf/erff by MLIR's inline
// polynomial approximations (the default pipeline). This test compiles an
// elementwise function with the real pipeline for this host and compares
// each function over a dense sweep of its useful range with the exact
// (double precision) value. Bounds (measured: exp within 2^-23 relative,
// tanh and erf within 1.3e-7 absolute, about one unit in the last place):
//   exp:  relative error <= 2^-22 where the result is a normal float (x in
//         [-87, 88]); below that, |result| <= 2^-125 (softmax weights of
//         1e-38 next to at least one weight of 1).
//   tanh: absolute error <= 2^-22 (the result is within [-1, 1]).
//   erf:  absolute error <= 2^-22.
// It also checks the libm build (--approximate-math=false) against the same
// reference, so a broken reference would show there too, and that only
// the libm build leaves the functions to libm.
//
//===----------------------------------------------------------------------===//

#include "CompiledFunction.h"

#include "llvm/Support/FormatVariadic.h"

#include <gtest/gtest.h>

#include <cmath>

using llvm::formatv;

namespace {

struct Function {
  const char *op;
  double lo, hi;
  double (*exact)(double);
  double absBound, relBound;
};

std::string elementwiseIR(const char *op, int64_t n) {
  return formatv(R"(
#map = affine_map<(d0) -> (d0)>
func.func @f(%x: tensor<{0}xf32>) -> tensor<{0}xf32> {{
  %init = tensor.empty() : tensor<{0}xf32>
  %y = linalg.generic {{indexing_maps = [#map, #map],
                       iterator_types = ["parallel"]}
      ins(%x : tensor<{0}xf32>) outs(%init : tensor<{0}xf32>) {{
  ^bb0(%a: f32, %o: f32):
    %e = {1} %a : f32
    linalg.yield %e : f32
  } -> tensor<{0}xf32>
  return %y : tensor<{0}xf32>
}
)",
                 n, op)
      .str();
}

class MathApproximation
    : public ::testing::TestWithParam<std::tuple<Function, bool>> {};

TEST_P(MathApproximation, WithinBound) {
  auto [fn, approximate] = GetParam();
  constexpr int64_t n = 1 << 16;
  std::vector<float> x(n), y(n, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    x[i] = float(fn.lo + (fn.hi - fn.lo) * double(i) / double(n - 1));
  ::loom::CompileOptions options;
  options.approximateMath = approximate;
  auto kernel = ::loom::testing::CompiledFunction::compile(
      elementwiseIR(fn.op, n), options);
  ASSERT_TRUE(bool(kernel)) << llvm::toString(kernel.takeError());
  std::string lowered = (*kernel)->lowered();
  // Left alone, the op becomes LLVM's intrinsic (llvm.intr.exp, lowered
  // to a call of expf by LLVM) or a call of libm's function (erff).
  std::string name = std::string(fn.op).substr(5);
  bool libm = lowered.find("llvm.intr." + name + "(") != std::string::npos ||
              lowered.find("@" + name + "f") != std::string::npos;
  EXPECT_EQ(libm, !approximate)
      << fn.op << ": libm's " << name << "f expected only without "
      << "--approximate-math";
  std::deque<::loom::testing::MemRefDescriptor> ds;
  ds.emplace_back(x.data(), std::vector<int64_t>{n});
  ds.emplace_back(y.data(), std::vector<int64_t>{n});
  llvm::Error e = (*kernel)->call(ds);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  for (int64_t i = 0; i < n; ++i) {
    double exact = fn.exact(double(x[i]));
    double err = std::abs(double(y[i]) - exact);
    bool ok;
    if (fn.relBound > 0 && std::abs(exact) >= 0x1p-126)
      ok = err <= fn.relBound * std::abs(exact);
    else if (fn.relBound > 0)
      ok = std::abs(double(y[i])) <= 0x1p-125;
    else
      ok = err <= fn.absBound;
    ASSERT_TRUE(ok) << fn.op << "(" << x[i] << ") = " << y[i] << ", exact "
                    << exact << " (|error| " << err << ")";
  }
}

double exactExp(double x) { return std::exp(x); }
double exactTanh(double x) { return std::tanh(x); }
double exactErf(double x) { return std::erf(x); }

std::vector<Function> functions() {
  return {{"math.exp", -100.0, 88.0, exactExp, 0, 0x1p-22},
          {"math.tanh", -12.0, 12.0, exactTanh, 0x1p-22, 0},
          {"math.erf", -6.0, 6.0, exactErf, 0x1p-22, 0}};
}

INSTANTIATE_TEST_SUITE_P(
    Elementwise, MathApproximation,
    ::testing::Combine(::testing::ValuesIn(functions()), ::testing::Bool()),
    [](const auto &info) {
      std::string name = std::string(std::get<0>(info.param).op).substr(5);
      return name + (std::get<1>(info.param) ? "_approximated" : "_libm");
    });

} // namespace
