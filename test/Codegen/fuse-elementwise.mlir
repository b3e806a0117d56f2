// RUN: loom-opt %s --split-input-file --loom-fuse-elementwise | FileCheck %s

// An elementwise producer (here a SiLU) is not fused into a contraction:
// there it would run once per output feature instead of once per element.
// CHECK-LABEL: func.func @silu_then_linear
//       CHECK:   %[[S:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "parallel"]
//       CHECK:     math.exp
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
//  CHECK-SAME:     ins(%[[S]], %{{.+}} :
//   CHECK-NOT:     math.exp
#id = affine_map<(s, k) -> (s, k)>
#x = affine_map<(s, n, k) -> (s, k)>
#w = affine_map<(s, n, k) -> (n, k)>
#y = affine_map<(s, n, k) -> (s, n)>
func.func @silu_then_linear(%g: tensor<4x64xf32>, %w: tensor<32x64xf32>, %init: tensor<32x64xf32>) -> tensor<4x32xf32> {
  %e = tensor.empty() : tensor<4x64xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g : tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %n = arith.negf %v : f32
    %x = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %d = arith.addf %one, %x : f32
    %r = arith.divf %v, %d : f32
    linalg.yield %r : f32
  } -> tensor<4x64xf32>
  %zero = arith.constant 0.0 : f32
  %ye = tensor.empty() : tensor<4x32xf32>
  %yi = linalg.fill ins(%zero : f32) outs(%ye : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : tensor<4x64xf32>, tensor<32x64xf32>) outs(%yi : tensor<4x32xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// A widening of f16 weights fuses: it costs less than the f32 copy of the
// weight it saves.
// CHECK-LABEL: func.func @f16_weight
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]
//  CHECK-SAME:     ins(%{{.+}}, %{{.+}} : tensor<4x64xf32>, tensor<32x64xf16>)
//       CHECK:     arith.extf
//   CHECK-NOT:   linalg.generic
#id = affine_map<(n, k) -> (n, k)>
#x = affine_map<(s, n, k) -> (s, k)>
#w = affine_map<(s, n, k) -> (n, k)>
#y = affine_map<(s, n, k) -> (s, n)>
func.func @f16_weight(%x: tensor<4x64xf32>, %w16: tensor<32x64xf16>) -> tensor<4x32xf32> {
  %e = tensor.empty() : tensor<32x64xf32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w16 : tensor<32x64xf16>) outs(%e : tensor<32x64xf32>) {
  ^bb0(%v: f16, %o: f32):
    %f = arith.extf %v : f16 to f32
    linalg.yield %f : f32
  } -> tensor<32x64xf32>
  %zero = arith.constant 0.0 : f32
  %ye = tensor.empty() : tensor<4x32xf32>
  %yi = linalg.fill ins(%zero : f32) outs(%ye : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<4x64xf32>, tensor<32x64xf32>) outs(%yi : tensor<4x32xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// Elementwise chains still fuse with each other.
// CHECK-LABEL: func.func @chain
//       CHECK:   linalg.generic
//       CHECK:     arith.mulf
//       CHECK:     arith.addf
//   CHECK-NOT:   linalg.generic
#id = affine_map<(i) -> (i)>
func.func @chain(%a: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<16xf32> {
  %e = tensor.empty() : tensor<16xf32>
  %m = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%a, %b : tensor<16xf32>, tensor<16xf32>) outs(%e : tensor<16xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.mulf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<16xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%m, %a : tensor<16xf32>, tensor<16xf32>) outs(%e : tensor<16xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %r = arith.addf %x, %y : f32
    linalg.yield %r : f32
  } -> tensor<16xf32>
  return %s : tensor<16xf32>
}

// -----

// Activations rounded to bf16 (bf16-activations) stay a separate op: the
// contraction reads each rounded value once per output feature, and the
// rounding happens once per value.
// CHECK-LABEL: func.func @bf16_activations
//       CHECK:   %[[XB:.+]] = linalg.generic
//       CHECK:     arith.truncf
//       CHECK:   linalg.generic {{.+}} ins(%[[XB]], %{{.+}} : tensor<4x64xbf16>, tensor<8x64xbf16>)
//   CHECK-NOT:     arith.truncf
func.func @bf16_activations(%x: tensor<4x64xf32>, %w: tensor<8x64xbf16>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x64xbf16>
  %xb = linalg.generic {indexing_maps = [affine_map<(i, k) -> (i, k)>, affine_map<(i, k) -> (i, k)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x64xf32>) outs(%e : tensor<4x64xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %t = arith.truncf %a : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<4x64xbf16>
  %z = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(i, n, k) -> (i, k)>, affine_map<(i, n, k) -> (n, k)>,
                                        affine_map<(i, n, k) -> (i, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%xb, %w : tensor<4x64xbf16>, tensor<8x64xbf16>) outs(%z : tensor<4x8xf32>) {
  ^bb0(%a: bf16, %b: bf16, %acc: f32):
    %wa = arith.extf %a : bf16 to f32
    %wb = arith.extf %b : bf16 to f32
    %p = arith.mulf %wa, %wb : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A producer with another use stays, so fusing it would compute it twice:
// the residual stream r = x + a is read by the next residual add and by a
// norm's reduction; the add is not fused into the next add (which would
// re-add x and a in every later layer). A widening with two uses is fused
// into both (cheap to repeat).
// CHECK-LABEL: func.func @shared_producer
//       CHECK:   %[[R:.+]] = linalg.generic {{.+}} ins(%arg0, %arg1 :
//       CHECK:     arith.addf
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "reduction"]} ins(%[[R]] :
//       CHECK:   linalg.generic {{.+}} ins(%[[R]], %arg2 :
//       CHECK:     arith.addf
//   CHECK-NOT:     arith.addf
//       CHECK:     linalg.yield
#id2 = affine_map<(s, k) -> (s, k)>
#row = affine_map<(s, k) -> (s)>
func.func @shared_producer(%x: tensor<4x64xf32>, %a: tensor<4x64xf32>, %f: tensor<4x64xf32>) -> (tensor<4xf32>, tensor<4x64xf32>) {
  %e = tensor.empty() : tensor<4x64xf32>
  %r = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %a : tensor<4x64xf32>, tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %s = arith.addf %u, %v : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<4xf32>
  %si = linalg.fill ins(%zero : f32) outs(%se : tensor<4xf32>) -> tensor<4xf32>
  %ss = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%r : tensor<4x64xf32>) outs(%si : tensor<4xf32>) {
  ^bb0(%u: f32, %o: f32):
    %m = arith.mulf %u, %u : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %r2 = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r, %f : tensor<4x64xf32>, tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %s = arith.addf %u, %v : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  return %ss, %r2 : tensor<4xf32>, tensor<4x64xf32>
}

// -----

#id3 = affine_map<(s, k) -> (s, k)>
// CHECK-LABEL: func.func @shared_widening
//   CHECK-NOT:   ins(%arg0 : tensor<4x64xf16>)
//       CHECK:   linalg.generic {{.+}} ins(%arg0, %arg1 : tensor<4x64xf16>, tensor<4x64xf32>)
//       CHECK:     arith.extf
//       CHECK:     arith.addf
//       CHECK:   linalg.generic {{.+}} ins(%arg0, %arg1 : tensor<4x64xf16>, tensor<4x64xf32>)
//       CHECK:     arith.extf
//       CHECK:     arith.mulf
func.func @shared_widening(%h: tensor<4x64xf16>, %b: tensor<4x64xf32>) -> (tensor<4x64xf32>, tensor<4x64xf32>) {
  %e = tensor.empty() : tensor<4x64xf32>
  %w = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<4x64xf16>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%u: f16, %o: f32):
    %s = arith.extf %u : f16 to f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  %p = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%w, %b : tensor<4x64xf32>, tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %s = arith.addf %u, %v : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  %q = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%w, %b : tensor<4x64xf32>, tensor<4x64xf32>) outs(%e : tensor<4x64xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %s = arith.mulf %u, %v : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  return %p, %q : tensor<4x64xf32>, tensor<4x64xf32>
}
