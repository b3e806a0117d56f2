//===- HalfFloats.h - f16 and bf16 values for numerics tests ----*- C++ -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// 16-bit floats for the inputs of compiled test functions, converted by
// LLVM's APFloat (round to nearest, ties to even), the rounding
// arith.truncf compiles to.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_TEST_LIB_HALFFLOATS_H
#define LOOM_TEST_LIB_HALFFLOATS_H

#include "llvm/ADT/APFloat.h"

#include <cstdint>

namespace loom::testing {

/// `x` converted to `semantics` (IEEEhalf or BFloat).
inline llvm::APFloat toHalf(float x, const llvm::fltSemantics &semantics) {
  llvm::APFloat v(x);
  bool lost;
  v.convert(semantics, llvm::APFloat::rmNearestTiesToEven, &lost);
  return v;
}

/// `x` rounded to the 16-bit format `semantics`, as a float again.
inline float roundToHalf(float x, const llvm::fltSemantics &semantics) {
  llvm::APFloat v = toHalf(x, semantics);
  bool lost;
  v.convert(llvm::APFloat::IEEEsingle(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return v.convertToFloat();
}

/// The bits of `x` rounded to the 16-bit format `semantics`.
inline uint16_t halfBits(float x, const llvm::fltSemantics &semantics) {
  return uint16_t(toHalf(x, semantics).bitcastToAPInt().getZExtValue());
}

/// x rounded to bf16, as the bf16 compute mode rounds activations.
inline float bf16Round(float x) {
  return roundToHalf(x, llvm::APFloat::BFloat());
}

} // namespace loom::testing

#endif // LOOM_TEST_LIB_HALFFLOATS_H
