// RUN: loom-opt %s --convert-loom-to-linalg=moe-gathered=true --canonicalize | FileCheck %s

// The gathered MoE forms (--target=cuda): the same layer as moe.mlir
// without any loop outside a linalg body, as a GPU runs nothing on the host
// that walks device memory. Dispatch's permutation: row r finds the pair
// whose rank within its expert is r - offsets[e] (a loop over the pairs
// inside the generic); the expert FFN: one contraction per projection over
// (row, out, in) for all experts, each row reading the stacked weights at
// its expert (found from the offsets); rows of no expert are zeroed;
// combine finds each pair's row by a search.
// CHECK-LABEL: func.func @moe
//   CHECK-NOT:   loom.moe
//   CHECK-NOT:   tensor<16x8x64xf32>
//       CHECK:   %[[OFFSETS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<9xi32>)
//       CHECK:   %[[PERM:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<32xi32>)
//       CHECK:     scf.for %{{.+}} = %c0 to %c8
//       CHECK:       tensor.extract %[[OFFSETS]]
//       CHECK:     scf.for %{{.+}} = %c0 to %c32 {{.+}} -> (i32, i32)
//       CHECK:   %[[ROWS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<32x64xf32>)
//       CHECK:   %[[EXPERT:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<32xindex>)
//       CHECK:     scf.for %{{.+}} = %c0 to %c8
//       CHECK:   %[[G:.+]] = linalg.generic {{.+}}iterator_types = ["parallel", "parallel", "reduction"]{{.+}} ins(%[[ROWS]] : tensor<32x64xf32>) outs(%{{.+}} : tensor<32x128xf32>)
//       CHECK:     %[[R:.+]] = linalg.index 0 : index
//       CHECK:     %[[E:.+]] = tensor.extract %[[EXPERT]][%[[R]]] : tensor<32xindex>
//       CHECK:     %[[SOME:.+]] = arith.maxsi %[[E]], %c0 : index
//       CHECK:     tensor.extract %arg2[%[[SOME]], %{{.+}}, %{{.+}}] : tensor<8x128x64xf32>
//       CHECK:   %[[U:.+]] = linalg.generic {{.+}} ins(%[[ROWS]] : tensor<32x64xf32>) outs(%{{.+}} : tensor<32x128xf32>)
//       CHECK:   %[[H:.+]] = linalg.generic {{.+}} ins(%[[U]] : tensor<32x128xf32>) outs(%[[G]] : tensor<32x128xf32>)
//       CHECK:   %[[D:.+]] = linalg.generic {{.+}} ins(%[[H]] : tensor<32x128xf32>) outs(%{{.+}} : tensor<32x64xf32>)
//       CHECK:     tensor.extract %arg4[%{{.+}}, %{{.+}}, %{{.+}}] : tensor<8x64x128xf32>
//       CHECK:   %[[Y:.+]] = linalg.generic {{.+}} outs(%[[D]] : tensor<32x64xf32>)
//       CHECK:     arith.cmpi slt
//       CHECK:     arith.select
//       CHECK:   %[[POS:.+]] = linalg.generic {{.+}} outs(%{{.+}} : tensor<32xindex>)
//       CHECK:     scf.for %{{.+}} = %c0 to %c32
//       CHECK:       tensor.extract %[[PERM]]
//       CHECK:   linalg.generic {{.+}} outs(%{{.+}} : tensor<16x64xf32>)
//       CHECK:     tensor.extract %[[POS]]
//       CHECK:     tensor.extract %[[Y]]
// Nothing outside a linalg body loops.
//   CHECK-NOT:   {{^    }}scf.for
//       CHECK:   return
func.func @moe(%x: tensor<16x64xf32>, %router: tensor<8x64xf32>, %wg: tensor<8x128x64xf32>, %wu: tensor<8x128x64xf32>, %wd: tensor<8x64x128xf32>) -> tensor<16x64xf32> {
  %logits = loom.linear %x, %router : (tensor<16x64xf32>, tensor<8x64xf32>) -> tensor<16x8xf32>
  %w, %e = loom.moe_router %logits top_k = 2 renormalize : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  %out = loom.moe_combine %y, %perm, %w : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
  return %out : tensor<16x64xf32>
}
