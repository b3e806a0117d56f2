// RUN: loom-opt %s --convert-loom-to-linalg --canonicalize | FileCheck %s

// A Mixtral-style layer: 16 tokens, 8 experts, top-2, dim 64, hidden 128.
// Routing ranks the experts per token; dispatch counts pairs per expert
// (offsets), places each pair (position), inverts that (permutation) and
// gathers the rows; the experts' FFNs are a loop over the experts in which
// expert e's rows (offsets[e] .. offsets[e+1]) are multiplied by expert e's
// weights (a [128, 64] slice of the stacked weights: the work of the active
// experts only, each weight read once), with the hidden activations written
// into two [rows, hidden] buffers carried by the loop; combine sums a
// token's rows back, weighted. No [tokens, experts, dim] tensor exists.
// CHECK-LABEL: func.func @moe
//   CHECK-NOT:   tensor<16x8x64xf32>
//   CHECK-NOT:   loom.moe
//       CHECK:   %[[EXPERTS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<16x2xi32>)
//       CHECK:   %[[WEIGHTS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<16x2xf32>)
//       CHECK:   %[[OFFSETS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<9xi32>)
//       CHECK:   %[[ROWS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<32x64xf32>)
//       CHECK:   %[[ZERO:.+]] = linalg.fill {{.+}} -> tensor<32x64xf32>
//       CHECK:   %[[FFN:.+]]:3 = scf.for %[[E:.+]] = %c0 to %c8 step %c1 iter_args(%[[OUT:.+]] = %[[ZERO]], %[[GBUF:.+]] = %{{.+}}, %[[UBUF:.+]] = %{{.+}})
//       CHECK:     %[[LO:.+]] = arith.index_cast %{{.+}} : i32 to index
//       CHECK:     %[[HI:.+]] = arith.index_cast %{{.+}} : i32 to index
//       CHECK:     %[[N:.+]] = arith.subi %[[HI]], %[[LO]]
//       CHECK:     %[[X:.+]] = tensor.extract_slice %[[ROWS]][%[[LO]], 0] [%[[N]], 64]
//       CHECK:     %[[WG:.+]] = tensor.extract_slice %arg2[%[[E]], 0, 0] [1, 128, 64] [1, 1, 1] : tensor<8x128x64xf32> to tensor<128x64xf32>
//       CHECK:     %[[G:.+]] = linalg.generic {{.+}} ins(%[[X]], %[[WG]] : tensor<?x64xf32>, tensor<128x64xf32>) outs(%{{.+}} : tensor<?x128xf32>)
//       CHECK:     %[[WU:.+]] = tensor.extract_slice %arg3[%[[E]], 0, 0] [1, 128, 64]
//       CHECK:     %[[U:.+]] = linalg.generic {{.+}} ins(%[[X]], %[[WU]] : {{.+}}) outs(%{{.+}} : tensor<?x128xf32>)
//       CHECK:     %[[H:.+]] = linalg.generic {{.+}} ins(%[[U]] : tensor<?x128xf32>) outs(%[[G]] : tensor<?x128xf32>)
//       CHECK:       math.exp
//       CHECK:     %[[OUTROWS:.+]] = tensor.extract_slice %[[OUT]][%[[LO]], 0] [%[[N]], 64]
//       CHECK:     %[[WD:.+]] = tensor.extract_slice %arg4[%[[E]], 0, 0] [1, 64, 128] [1, 1, 1] : tensor<8x64x128xf32> to tensor<64x128xf32>
//       CHECK:     %[[Y:.+]] = linalg.generic {{.+}} ins(%[[H]], %[[WD]] : tensor<?x128xf32>, tensor<64x128xf32>) outs(%[[OUTROWS]] : tensor<?x64xf32>)
//       CHECK:     %[[NEWOUT:.+]] = tensor.insert_slice %[[Y]] into %[[OUT]][%[[LO]], 0] [%[[N]], 64]
//       CHECK:     scf.yield %[[NEWOUT]], %{{.+}}, %{{.+}}
//       CHECK:   linalg.generic {{.+}} outs(%{{.+}} : tensor<16x64xf32>)
//   CHECK-NOT:   tensor<16x8x64xf32>
func.func @moe(%x: tensor<16x64xf32>, %logits: tensor<16x8xf32>, %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %w, %e = loom.moe_router %logits top_k = 2 renormalize : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  %out = loom.moe_combine %y, %perm, %w : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
  return %out : tensor<16x64xf32>
}
