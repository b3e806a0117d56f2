// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg --canonicalize | FileCheck %s
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg=bf16-activations=false --canonicalize | FileCheck %s --check-prefix=F32

// A linear layer with a bf16 weight (read in place, widened by arith.extf):
// with bf16-activations (the default) the input is rounded to bf16 once
// and the contraction widens both bf16 operands; the weight stays bf16.
// CHECK-LABEL: func.func @linear_bf16
//       CHECK:   %[[W:.+]] = loom.weight "w" : tensor<8x64xbf16>
//       CHECK:   %[[XB:.+]] = linalg.generic {{.+}} ins(%{{.+}} : tensor<1x?x64xf32>) outs(%{{.+}} : tensor<1x?x64xbf16>)
//       CHECK:     arith.truncf %{{.+}} : f32 to bf16
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[XB]], %[[W]] : tensor<1x?x64xbf16>, tensor<8x64xbf16>)
//       CHECK:     %[[A:.+]] = arith.extf %{{.+}} : bf16 to f32
//       CHECK:     %[[B:.+]] = arith.extf %{{.+}} : bf16 to f32
//       CHECK:     arith.mulf %[[A]], %[[B]] fastmath<reassoc,contract> : f32
// Without: the f32 input against the widened weight.
// F32-LABEL: func.func @linear_bf16
//   F32-NOT:   arith.truncf
//       F32:   %[[WF:.+]] = arith.extf %{{.+}} : tensor<8x64xbf16> to tensor<8x64xf32>
//       F32:   linalg.generic {{.+}} ins(%{{.+}}, %[[WF]] : tensor<1x?x64xf32>, tensor<8x64xf32>)
func.func @linear_bf16(%x: tensor<1x?x64xf32>) -> tensor<1x?x8xf32> {
  %raw = loom.weight "w" : tensor<8x64xbf16>
  %w = arith.extf %raw : tensor<8x64xbf16> to tensor<8x64xf32>
  %y = loom.linear %x, %w : (tensor<1x?x64xf32>, tensor<8x64xf32>) -> tensor<1x?x8xf32>
  return %y : tensor<1x?x8xf32>
}

// -----

// An embedding of a bf16 table widens the rows it gathers, not the table.
// CHECK-LABEL: func.func @embedding_bf16
//       CHECK:   %[[T:.+]] = loom.weight "t" : tensor<32x64xbf16>
//   CHECK-NOT:   tensor<32x64xf32>
//       CHECK:   linalg.generic
//       CHECK:     %[[E:.+]] = tensor.extract %[[T]][%{{.+}}, %{{.+}}] : tensor<32x64xbf16>
//       CHECK:     arith.extf %[[E]] : bf16 to f32
func.func @embedding_bf16(%ids: tensor<1x4xi32>) -> tensor<1x4x64xf32> {
  %raw = loom.weight "t" : tensor<32x64xbf16>
  %t = arith.extf %raw : tensor<32x64xbf16> to tensor<32x64xf32>
  %e = loom.embedding %t, %ids : (tensor<32x64xf32>, tensor<1x4xi32>) -> tensor<1x4x64xf32>
  return %e : tensor<1x4x64xf32>
}

// -----

// Two layers reading the same input round it to bf16 once.
// CHECK-LABEL: func.func @shared_input
//       CHECK:   %[[XB:.+]] = linalg.generic
//       CHECK:     arith.truncf
//   CHECK-NOT:     arith.truncf
//       CHECK:   linalg.generic {{.+}} ins(%[[XB]], %{{.+}} : tensor<4x64xbf16>, tensor<8x64xbf16>)
//       CHECK:   linalg.generic {{.+}} ins(%[[XB]], %{{.+}} : tensor<4x64xbf16>, tensor<8x64xbf16>)
func.func @shared_input(%x: tensor<4x64xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %rq = loom.weight "q" : tensor<8x64xbf16>
  %wq = arith.extf %rq : tensor<8x64xbf16> to tensor<8x64xf32>
  %rk = loom.weight "k" : tensor<8x64xbf16>
  %wk = arith.extf %rk : tensor<8x64xbf16> to tensor<8x64xf32>
  %q = loom.linear %x, %wq : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
  %k = loom.linear %x, %wk : (tensor<4x64xf32>, tensor<8x64xf32>) -> tensor<4x8xf32>
  return %q, %k : tensor<4x8xf32>, tensor<4x8xf32>
}
