// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-key-block=64" --canonicalize --cse | FileCheck %s
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-key-block=64" | FileCheck %s --check-prefix=NOSQUARE
// RUN: loom-opt %s --split-input-file --convert-loom-to-linalg="attention-key-block=-1" | FileCheck %s --check-prefix=DIRECT

// Causal attention over 512 positions: blocks of 64 queries, and for each
// the keys in blocks of 64 up to the block's last position (the blocks above
// the diagonal are never computed), with a running max, sum and accumulator.
// CHECK-LABEL: func.func @causal_512
//   CHECK-DAG:   %[[C64:.+]] = arith.constant 64 : index
//   CHECK-DAG:   %[[C512:.+]] = arith.constant 512 : index
//       CHECK:   %[[QLOOP:.+]] = scf.for %[[QB:.+]] = %{{.+}} to %[[C512]] step %[[C64]] iter_args(%{{.+}} = %{{.+}}) -> (tensor<1x8x512x64xf32>)
//       CHECK:     %[[QN:.+]] = arith.minsi %{{.+}}, %[[C64]] : index
//       CHECK:     tensor.extract_slice %{{.+}}[0, 0, %[[QB]], 0] [1, 8, %[[QN]], 64] [1, 1, 1, 1] : tensor<1x8x512x64xf32> to tensor<1x8x?x64xf32>
//       CHECK:     %[[QEND:.+]] = arith.addi %[[QB]], %[[QN]] : index
//       CHECK:     %[[LAST:.+]] = arith.minsi %[[QEND]], %[[C512]] : index
//       CHECK:     %[[LOOP:.+]]:3 = scf.for %[[KB:.+]] = %{{.+}} to %[[LAST]] step %[[C64]] iter_args
//  CHECK-SAME:       -> (tensor<1x8x?xf32>, tensor<1x8x?xf32>, tensor<1x8x?x64xf32>)
//       CHECK:       %[[SIZE:.+]] = arith.minsi
//       CHECK:       tensor.extract_slice %{{.+}}[0, 0, %[[KB]], 0] [1, 2, %[[SIZE]], 64] [1, 1, 1, 1] : tensor<1x2x512x64xf32> to tensor<1x2x?x64xf32>
//       CHECK:       } -> tensor<1x8x?x?xf32>
//       CHECK:         arith.maximumf
//       CHECK:         math.exp
//       CHECK:         math.exp
//       CHECK:       scf.yield
//       CHECK:     linalg.generic {{.+}} ins(%[[LOOP]]#2, %[[LOOP]]#1 :
//       CHECK:       arith.divf
//       CHECK:     tensor.insert_slice %{{.+}} into %{{.+}}[0, 0, %[[QB]], 0]
func.func @causal_512(%q: tensor<1x8x512x64xf32>, %k: tensor<1x2x512x64xf32>, %v: tensor<1x2x512x64xf32>) -> tensor<1x8x512x64xf32> {
  %0 = loom.attention %q, %k, %v causal : tensor<1x8x512x64xf32>, tensor<1x2x512x64xf32>, tensor<1x2x512x64xf32> -> tensor<1x8x512x64xf32>
  return %0 : tensor<1x8x512x64xf32>
}
// No [seq x seq] buffer exists after the tiled lowering; the direct one has it.
// NOSQUARE-LABEL: func.func @causal_512
//   NOSQUARE-NOT:   512x512
// DIRECT-LABEL: func.func @causal_512
//       DIRECT:   tensor<1x8x512x512xf32>

// -----

// With a cache, the loop ends at the last key any query sees:
// min(kv_len, offset + q_len); keys after it are hidden from every query.
// CHECK-LABEL: func.func @causal_prefill_after_cache
//  CHECK-SAME:   %[[K:[[:alnum:]_]+]]: tensor<1x8x?x64xf32>, %{{.+}}: tensor<1x8x?x64xf32>, %[[POS:[[:alnum:]_]+]]: index
//       CHECK:   %[[KV:.+]] = tensor.dim %[[K]], %{{.+}} : tensor<1x8x?x64xf32>
//       CHECK:   %[[END:.+]] = arith.addi %[[POS]], %{{.+}} : index
//       CHECK:   %[[LAST:.+]] = arith.minsi %[[KV]], %[[END]] : index
//       CHECK:   scf.for %{{.+}} = %{{.+}} to %[[LAST]] step
func.func @causal_prefill_after_cache(%q: tensor<1x8x16x64xf32>, %k: tensor<1x8x?x64xf32>, %v: tensor<1x8x?x64xf32>, %pos: index) -> tensor<1x8x16x64xf32> {
  %0 = loom.attention %q, %k, %v offset(%pos) causal : tensor<1x8x16x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x16x64xf32>
  return %0 : tensor<1x8x16x64xf32>
}

// -----

// A sliding window also moves the first block: keys before offset + 1 - W
// are hidden from every query.
// CHECK-LABEL: func.func @window_prefill
//  CHECK-SAME:   %[[POS:[[:alnum:]_]+]]: index
//       CHECK:   %[[START:.+]] = arith.addi %[[POS]], %c-127 : index
//       CHECK:   %[[FIRST:.+]] = arith.maxsi %[[START]], %{{.+}} : index
//       CHECK:   scf.for %{{.+}} = %[[FIRST]] to
func.func @window_prefill(%q: tensor<1x8x4x64xf32>, %k: tensor<1x8x?x64xf32>, %v: tensor<1x8x?x64xf32>, %pos: index) -> tensor<1x8x4x64xf32> {
  %0 = loom.attention %q, %k, %v offset(%pos) causal window = 128 : tensor<1x8x4x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x4x64xf32>
  return %0 : tensor<1x8x4x64xf32>
}

// -----

// Decode (one query) splits the visible keys into 4 chunks computed side by
// side (a parallel dimension next to the heads), then merges the partial
// maxima, sums and accumulators; no loop over key blocks. The scores are a
// reduction over the head dimension (reassociable: vectorized, and
// parallelized like the other contractions), the key row read by position;
// scaling and masking follow as an elementwise op.
// CHECK-LABEL: func.func @window_decode
//  CHECK-SAME:   %[[POS:[[:alnum:]_]+]]: index
//       CHECK:   %[[START:.+]] = arith.addi %[[POS]], %c-127 : index
//       CHECK:   %[[FIRST:.+]] = arith.maxsi %[[START]], %{{.+}} : index
//       CHECK:   %[[CHUNK:.+]] = arith.ceildivsi %{{.+}}, %c4 : index
//       CHECK:   tensor.empty(%{{.+}}) : tensor<1x8x4x?xf32>
//   CHECK-NOT:   scf.for {{.+}} -> (tensor
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%{{.+}} : tensor<1x8x1x64xf32>)
//       CHECK:     tensor.extract
//       CHECK:     arith.mulf %{{.+}} fastmath<reassoc,contract> : f32
//       CHECK:     arith.addf %{{.+}} fastmath<reassoc,contract> : f32
//       CHECK:   } -> tensor<1x8x4x?xf32>
//       CHECK:   arith.select %{{.+}}, %cst{{.*}}, %{{.+}} : f32
//       CHECK:   } -> tensor<1x8x4x?xf32>
//       CHECK:   } -> tensor<1x8x4xf32>
// P·V has the value row's dimension innermost (loops b, h, chunk, key,
// e): per key, p times a contiguous row of V into the accumulator row.
//       CHECK:   linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]} ins(%{{.+}} : tensor<1x8x4x?xf32>) outs(%{{.+}} : tensor<1x8x4x64xf32>)
//       CHECK:   } -> tensor<1x8x4x64xf32>
//       CHECK:   } -> tensor<1x8xf32>
//       CHECK:   } -> tensor<1x8x1x64xf32>
func.func @window_decode(%q: tensor<1x8x1x64xf32>, %k: tensor<1x8x?x64xf32>, %v: tensor<1x8x?x64xf32>, %pos: index) -> tensor<1x8x1x64xf32> {
  %0 = loom.attention %q, %k, %v offset(%pos) causal window = 128 : tensor<1x8x1x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32> -> tensor<1x8x1x64xf32>
  return %0 : tensor<1x8x1x64xf32>
}

// -----

// An explicit mask is read block by block: the rows of a query block, then
// the columns of a key block.
// CHECK-LABEL: func.func @masked
//  CHECK-SAME:   %[[M:[[:alnum:]_]+]]: tensor<96x96xf32>
//       CHECK:   scf.for %[[QB:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args
//       CHECK:     %[[ROWS:.+]] = tensor.extract_slice %[[M]][%[[QB]], 0] [%{{.+}}, 96] [1, 1] : tensor<96x96xf32> to tensor<?x96xf32>
//       CHECK:     scf.for %[[KB:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args
//       CHECK:       tensor.extract_slice %[[ROWS]][0, %[[KB]]] [%{{.+}}, %{{.+}}] [1, 1] : tensor<?x96xf32> to tensor<?x?xf32>
func.func @masked(%q: tensor<1x2x96x16xf32>, %m: tensor<96x96xf32>) -> tensor<1x2x96x16xf32> {
  %0 = loom.attention %q, %q, %q mask(%m : tensor<96x96xf32>) : tensor<1x2x96x16xf32>, tensor<1x2x96x16xf32>, tensor<1x2x96x16xf32> -> tensor<1x2x96x16xf32>
  return %0 : tensor<1x2x96x16xf32>
}
