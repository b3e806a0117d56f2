// RUN: loom-opt %s --convert-loom-to-linalg --canonicalize | FileCheck %s

// A Mixtral-style layer: 16 tokens, 8 experts, top-2, dim 64, hidden 128.
// Routing ranks the experts per token; dispatch counts pairs per expert
// (offsets), places each pair (position), inverts that (permutation) and
// gathers the rows; each row then runs through its own expert's weights
// (gathered by index: the work of the active experts only); combine sums a
// token's rows back, weighted. No [tokens, experts, dim] tensor exists.
// CHECK-LABEL: func.func @moe
//   CHECK-NOT:   tensor<16x8x64xf32>
//   CHECK-NOT:   loom.moe
//       CHECK:   %[[EXPERTS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<16x2xi32>)
//       CHECK:   %[[WEIGHTS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<16x2xf32>)
//       CHECK:   %[[OFFSETS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<9xi32>)
//       CHECK:   %[[ROWS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<32x64xf32>)
//       CHECK:   linalg.generic {{.+}} ins(%[[ROWS]], %{{.+}} : tensor<32x64xf32>, tensor<32xindex>) outs(%{{.+}} : tensor<32x128xf32>)
//       CHECK:     tensor.extract %{{.+}}[%{{.+}}, %{{.+}}, %{{.+}}] : tensor<8x128x64xf32>
//       CHECK:   linalg.generic {{.+}} outs(%{{.+}} : tensor<16x64xf32>)
//   CHECK-NOT:   tensor<16x8x64xf32>
func.func @moe(%x: tensor<16x64xf32>, %logits: tensor<16x8xf32>, %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %w, %e = loom.moe_router %logits top_k = 2 renormalize : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  %out = loom.moe_combine %y, %perm, %w : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
  return %out : tensor<16x64xf32>
}
