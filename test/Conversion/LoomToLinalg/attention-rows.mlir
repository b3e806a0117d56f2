// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-rows=true" --canonicalize --cse | FileCheck %s
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-rows=true" | FileCheck %s --check-prefix=NOSCORES

// The row lowering (the GPU's flash attention): a forall over (batch, head,
// value chunk, query); each row walks the keys it can see, [0, pos + i + 1)
// when causal, with its running max, sum and accumulator carried by the
// loop. Grouped-query attention reads key/value head h / 4.
// CHECK-LABEL: func.func @causal_gqa
//  CHECK-SAME:   %[[Q:[a-z0-9]+]]: tensor<1x8x?x64xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x?x64xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x?x64xf32>, %[[POS:[a-z0-9]+]]: index
//   CHECK-DAG:   %[[ZEROS:.+]] = arith.constant dense<0.000000e+00> : vector<64xf32>
//   CHECK-DAG:   %[[NINF:.+]] = arith.constant 0xFF800000 : f32
//   CHECK-DAG:   %[[SCALE:.+]] = arith.constant 1.250000e-01 : f32
//   CHECK-DAG:   %[[C4:.+]] = arith.constant 4 : index
//       CHECK:   scf.forall (%[[H:.+]], %[[I:.+]]) in (8, %{{.+}}) shared_outs(%[[OUT:.+]] = %{{.+}}) -> (tensor<1x8x?x64xf32>)
//   CHECK-DAG:     %[[KEYS:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<1x2x?x64xf32>
//   CHECK-DAG:     %[[KH:.+]] = arith.divui %[[H]], %[[C4]] : index
//   CHECK-DAG:     %[[QPOS:.+]] = arith.addi %[[POS]], %[[I]] : index
//   CHECK-DAG:     %[[NEXT:.+]] = arith.addi %[[QPOS]], %{{.+}} : index
//   CHECK-DAG:     %[[LAST:.+]] = arith.minsi %[[KEYS]], %[[NEXT]] : index
//       CHECK:     %[[QROW:.+]] = vector.transfer_read %[[Q]][%{{.+}}, %[[H]], %[[I]], %{{.+}}]{{.+}} : tensor<1x8x?x64xf32>, vector<64xf32>
//       CHECK:     %[[WALK:.+]]:3 = scf.for %[[J:.+]] = %{{.+}} to %[[LAST]] step %{{.+}} iter_args(%[[M:.+]] = %[[NINF]], %[[L:.+]] = %{{.+}}, %[[ACC:.+]] = %[[ZEROS]]) -> (f32, f32, vector<64xf32>)
//       CHECK:       %[[KROW:.+]] = vector.transfer_read %[[K]][%{{.+}}, %[[KH]], %[[J]], %{{.+}}]
//       CHECK:       %[[PROD:.+]] = arith.mulf %[[QROW]], %[[KROW]] : vector<64xf32>
//       CHECK:       %[[DOT:.+]] = vector.reduction <add>, %[[PROD]]
//       CHECK:       %[[S:.+]] = arith.mulf %[[DOT]], %[[SCALE]] : f32
//       CHECK:       %[[MNEW:.+]] = arith.maximumf %[[M]], %[[S]] : f32
//       CHECK:       math.exp
//       CHECK:       %[[ALPHA:.+]] = math.exp
//       CHECK:       %[[VROW:.+]] = vector.transfer_read %[[V]][%{{.+}}, %[[KH]], %[[J]], %{{.+}}]
//       CHECK:       vector.fma %{{.+}}, %[[VROW]], %{{.+}} : vector<64xf32>
//       CHECK:       scf.yield %[[MNEW]], %{{.+}}, %{{.+}} : f32, f32, vector<64xf32>
//       CHECK:     %[[ROW:.+]] = arith.divf %[[WALK]]#2, %{{.+}} : vector<64xf32>
//       CHECK:     %[[SLICE:.+]] = tensor.extract_slice %[[OUT]][0, %[[H]], %[[I]], 0] [1, 1, 1, 64]
//       CHECK:     %[[W:.+]] = vector.transfer_write %[[ROW]], %[[SLICE]]
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %[[W]] into %[[OUT]][0, %[[H]], %[[I]], 0] [1, 1, 1, 64]
// No tensor of scores exists: nothing but the rows is ever a tensor.
// NOSCORES-LABEL: func.func @causal_gqa
//   NOSCORES-NOT:   linalg.generic
//   NOSCORES-NOT:   tensor<1x8x?x?xf32>
//       NOSCORES:   return
func.func @causal_gqa(%q: tensor<1x8x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>, %pos: index) -> tensor<1x8x?x64xf32> {
  %0 = loom.attention %q, %k, %v offset(%pos) causal : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32> -> tensor<1x8x?x64xf32>
  return %0 : tensor<1x8x?x64xf32>
}

// -----

// A sliding window of 4 starts the walk at max(i + 1 - 4, 0); the mask,
// broadcast over heads, is read per (query, key); bf16 operands are
// widened and the sums run in f32, the row rounded back to bf16.
// CHECK-LABEL: func.func @window_and_mask
//  CHECK-SAME:   %[[Q:[a-z0-9]+]]: tensor<1x2x6x8xbf16>, %[[MASK:[a-z0-9]+]]: tensor<1x1x6x6xbf16>
//   CHECK-DAG:   %[[CM3:.+]] = arith.constant -3 : index
//   CHECK-DAG:   %[[C0:.+]] = arith.constant 0 : index
//   CHECK-DAG:   %[[C6:.+]] = arith.constant 6 : index
//       CHECK:   scf.forall (%[[H:.+]], %[[I:.+]]) in (2, 6)
//       CHECK:     %[[NEXT:.+]] = arith.addi %[[I]], %{{.+}} : index
//       CHECK:     %[[LAST:.+]] = arith.minsi %[[NEXT]], %[[C6]] : index
//       CHECK:     %[[BACK:.+]] = arith.addi %[[I]], %[[CM3]] : index
//       CHECK:     %[[FIRST:.+]] = arith.maxsi %[[BACK]], %[[C0]] : index
//       CHECK:     arith.extf %{{.+}} : vector<8xbf16> to vector<8xf32>
//       CHECK:     scf.for %[[J:.+]] = %[[FIRST]] to %[[LAST]]
//       CHECK:       %[[BIAS:.+]] = tensor.extract %[[MASK]][%[[C0]], %[[C0]], %[[I]], %[[J]]] : tensor<1x1x6x6xbf16>
//       CHECK:       %[[BIAS32:.+]] = arith.extf %[[BIAS]] : bf16 to f32
//       CHECK:       %[[SC:.+]] = arith.mulf
//       CHECK:       arith.addf %[[SC]], %[[BIAS32]] : f32
//       CHECK:     arith.truncf %{{.+}} : vector<8xf32> to vector<8xbf16>
func.func @window_and_mask(%q: tensor<1x2x6x8xbf16>, %m: tensor<1x1x6x6xbf16>) -> tensor<1x2x6x8xbf16> {
  %0 = loom.attention %q, %q, %q mask(%m : tensor<1x1x6x6xbf16>) causal window = 4 : tensor<1x2x6x8xbf16>, tensor<1x2x6x8xbf16>, tensor<1x2x6x8xbf16> -> tensor<1x2x6x8xbf16>
  return %0 : tensor<1x2x6x8xbf16>
}

// -----

// Heads of 128: a row of Q and all 128 accumulators would not fit in a
// thread's registers, so each row computes 32 value columns (a chunk): the
// forall is over (head, chunk, query), the value row read from 32 * chunk.
// Bidirectional: every key.
// CHECK-LABEL: func.func @wide_heads
//  CHECK-SAME:   %[[Q:[a-z0-9]+]]: tensor<1x4x?x128xf32>, %[[K:[a-z0-9]+]]: tensor<1x4x?x128xf32>
//   CHECK-DAG:   %[[C32:.+]] = arith.constant 32 : index
//       CHECK:   scf.forall (%[[H:.+]], %[[CH:.+]], %[[I:.+]]) in (4, 4, %{{.+}})
//   CHECK-DAG:     %[[KEYS:.+]] = tensor.dim %[[K]]
//   CHECK-DAG:     %[[COL:.+]] = arith.muli %[[CH]], %[[C32]] : index
//       CHECK:     vector.transfer_read %[[Q]]{{.+}} vector<128xf32>
//       CHECK:     scf.for %[[J:.+]] = %{{.+}} to %[[KEYS]] {{.+}} -> (f32, f32, vector<32xf32>)
//       CHECK:       vector.transfer_read %[[K]][%{{.+}}, %[[H]], %[[J]], %{{.+}}]{{.+}} vector<128xf32>
//       CHECK:       vector.transfer_read %[[K]][%{{.+}}, %[[H]], %[[J]], %[[COL]]]{{.+}} vector<32xf32>
//       CHECK:     tensor.parallel_insert_slice %{{.+}}[0, %[[H]], %[[I]], %[[COL]]] [1, 1, 1, 32]
func.func @wide_heads(%q: tensor<1x4x?x128xf32>, %k: tensor<1x4x?x128xf32>) -> tensor<1x4x?x128xf32> {
  %0 = loom.attention %q, %k, %k : tensor<1x4x?x128xf32>, tensor<1x4x?x128xf32>, tensor<1x4x?x128xf32> -> tensor<1x4x?x128xf32>
  return %0 : tensor<1x4x?x128xf32>
}

// -----

// One query row (decode): the visible keys [0, pos + 1) split into 32
// chunks of ceil((pos + 1) / 32), a row per (head, value chunk, key chunk)
// leaving its accumulator, max and sum as one vector of 8 + 2 (heads of 8:
// one value chunk); then a row per (head, value chunk) combines the key
// chunks: M = max m_c, O = sum acc_c w_c / sum l_c w_c with
// w_c = exp(m_c - M).
// CHECK-LABEL: func.func @decode
//  CHECK-SAME:   %[[POS:[a-z0-9]+]]: index
//   CHECK-DAG:   %[[C8:.+]] = arith.constant 8 : index
//   CHECK-DAG:   %[[C9:.+]] = arith.constant 9 : index
//   CHECK-DAG:   %[[C32:.+]] = arith.constant 32 : index
//       CHECK:   %[[PARTS:.+]] = scf.forall (%[[H:.+]], %[[C:.+]]) in (4, 32) shared_outs(%[[P:.+]] = %{{.+}}) -> (tensor<1x4x32x1x10xf32>)
//       CHECK:     %[[NEXT:.+]] = arith.addi %[[POS]], %{{.+}} : index
//       CHECK:     %[[LAST:.+]] = arith.minsi %{{.+}}, %[[NEXT]] : index
//       CHECK:     %[[SIZE:.+]] = arith.ceildivsi %[[LAST]], %[[C32]] : index
//       CHECK:     %[[FROM:.+]] = arith.muli %[[C]], %[[SIZE]] : index
//       CHECK:     %[[END:.+]] = arith.addi %[[FROM]], %[[SIZE]] : index
//       CHECK:     %[[TO:.+]] = arith.minsi %[[LAST]], %[[END]] : index
//       CHECK:     %[[WALK:.+]]:3 = scf.for %{{.+}} = %[[FROM]] to %[[TO]]
//       CHECK:     %[[V1:.+]] = vector.insert_strided_slice %[[WALK]]#2, %{{.+}} : vector<8xf32> into vector<10xf32>
//       CHECK:     %[[V2:.+]] = vector.insert %[[WALK]]#0, %[[V1]] [8] : f32 into vector<10xf32>
//       CHECK:     vector.insert %[[WALK]]#1, %[[V2]] [9] : f32 into vector<10xf32>
//       CHECK:       tensor.parallel_insert_slice %{{.+}} into %[[P]][0, %[[H]], %[[C]], 0, 0] [1, 1, 1, 1, 10]
//       CHECK:   scf.forall (%[[H2:.+]]) in (4)
//       CHECK:     %[[MAX:.+]] = scf.for %[[C2:.+]] = %{{.+}} to %[[C32]]
//       CHECK:       tensor.extract %[[PARTS]][%{{.+}}, %[[H2]], %[[C2]], %{{.+}}, %[[C8]]]
//       CHECK:       arith.maximumf
//       CHECK:     %[[SUMS:.+]]:2 = scf.for %[[C3:.+]] = %{{.+}} to %[[C32]]
//       CHECK:       %[[M:.+]] = tensor.extract %[[PARTS]][%{{.+}}, %[[H2]], %[[C3]], %{{.+}}, %[[C8]]]
//       CHECK:       %[[W:.+]] = math.exp
//       CHECK:       %[[L:.+]] = tensor.extract %[[PARTS]][%{{.+}}, %[[H2]], %[[C3]], %{{.+}}, %[[C9]]]
//       CHECK:       arith.mulf %[[L]], %[[W]] : f32
//       CHECK:       %[[ACC:.+]] = vector.transfer_read %[[PARTS]][%{{.+}}, %[[H2]], %[[C3]], %{{.+}}, %{{.+}}]{{.+}} vector<8xf32>
//       CHECK:       vector.fma %{{.+}}, %[[ACC]], %{{.+}} : vector<8xf32>
//       CHECK:     arith.divf %[[SUMS]]#1, %{{.+}} : vector<8xf32>
// NOSCORES-LABEL: func.func @decode
//   NOSCORES-NOT:   linalg.generic
//       NOSCORES:   return
func.func @decode(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x?x8xf32>, %pos: index) -> tensor<1x4x1x8xf32> {
  %0 = loom.attention %q, %k, %k offset(%pos) causal : tensor<1x4x1x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32> -> tensor<1x4x1x8xf32>
  return %0 : tensor<1x4x1x8xf32>
}

// -----

// Decode with heads of 128: 4 value chunks of 32 (a Q row of 128 and an
// accumulator of 32 in a thread's registers), each chunk's rows computing
// the scores again; the combine writes each chunk's 32 columns.
// CHECK-LABEL: func.func @wide_decode
//   CHECK-DAG:   %[[C32:.+]] = arith.constant 32 : index
//       CHECK:   scf.forall (%[[H:.+]], %[[VC:.+]], %[[C:.+]]) in (4, 4, 32) {{.+}} -> (tensor<1x4x32x4x34xf32>)
//       CHECK:     %[[COL:.+]] = arith.muli %[[VC]], %[[C32]] : index
//       CHECK:     vector.transfer_read {{.+}} vector<128xf32>
//       CHECK:     scf.for {{.+}} -> (f32, f32, vector<32xf32>)
//       CHECK:       vector.transfer_read %{{.+}}[%{{.+}}, %[[H]], %{{.+}}, %[[COL]]]{{.+}} vector<32xf32>
//       CHECK:   scf.forall (%[[H2:.+]], %[[VC2:.+]]) in (4, 4)
//       CHECK:     %[[COL2:.+]] = arith.muli %[[VC2]], %[[C32]] : index
//       CHECK:       tensor.parallel_insert_slice %{{.+}}[0, %[[H2]], 0, %[[COL2]]] [1, 1, 1, 32]
// Head dimensions only known at run time are left to the other lowerings
// (here the direct one).
// CHECK-LABEL: func.func @dynamic_head_dim
//   CHECK-NOT:   scf.forall
//       CHECK:   linalg.generic
func.func @wide_decode(%q: tensor<1x4x1x128xf32>, %k: tensor<1x4x?x128xf32>) -> tensor<1x4x1x128xf32> {
  %0 = loom.attention %q, %k, %k : tensor<1x4x1x128xf32>, tensor<1x4x?x128xf32>, tensor<1x4x?x128xf32> -> tensor<1x4x1x128xf32>
  return %0 : tensor<1x4x1x128xf32>
}
func.func @dynamic_head_dim(%q: tensor<1x4x?x?xf32>, %k: tensor<1x4x?x?xf32>) -> tensor<1x4x?x?xf32> {
  %0 = loom.attention %q, %k, %k : tensor<1x4x?x?xf32>, tensor<1x4x?x?xf32>, tensor<1x4x?x?xf32> -> tensor<1x4x?x?xf32>
  return %0 : tensor<1x4x?x?xf32>
}
