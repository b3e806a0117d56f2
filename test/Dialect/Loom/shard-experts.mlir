// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=4 partition=false" | FileCheck %s --check-prefix=ANNOTATE
// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=4" | FileCheck %s --check-prefix=SPMD
// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=4 partition=false" | loom-opt --split-input-file --pass-pipeline="builtin.module(func.func(shard-partition))" | FileCheck %s --check-prefix=SPMD
// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=2 spmd=false" | FileCheck %s --check-prefix=LOCAL
// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=1" | FileCheck %s --check-prefix=ONE

// A Mixtral-style layer, 8 experts, on a grid of 4 devices.

// The annotations: expert weights split along the expert axis, everything
// else replicated; each value gets its own annotation and one for its users.
// ANNOTATE:       shard.grid @experts(shape = 4)
// ANNOTATE-LABEL: func.func @moe
//       ANNOTATE:   %[[REP:.+]] = shard.sharding @experts split_axes = {{\[\[\]\]}}
//       ANNOTATE:   %[[SPLIT:.+]] = shard.sharding @experts split_axes = {{\[\[}}0{{\]\]}}
//       ANNOTATE:   %[[G0:.+]] = shard.shard %arg0 to %[[SPLIT]] : tensor<8x128x64xf32>
//       ANNOTATE:   %[[G:.+]] = shard.shard %[[G0]] to %[[SPLIT]] annotate_for_users : tensor<8x128x64xf32>
//       ANNOTATE:   shard.shard %arg3 to %[[REP]] : tensor<?x64xf32>
//       ANNOTATE:   loom.moe_router
//       ANNOTATE:   %[[ROWS:.+]] = shard.shard %sorted to %[[REP]] : tensor<?x64xf32>
//       ANNOTATE:   %[[ROWSU:.+]] = shard.shard %[[ROWS]] to %[[REP]] annotate_for_users
//       ANNOTATE:   %[[Y:.+]] = loom.moe_expert_ffn %[[ROWSU]], %{{.+}}, %[[G]], %{{.+}}, %{{.+}} :
//       ANNOTATE:   shard.shard %[[Y]] to %[[REP]] : tensor<?x64xf32>

// Partitioned: each device holds 2 experts' weights, runs their FFN over
// its slice of the offsets, and all-reduces the rows.
// SPMD:       shard.grid @experts(shape = 4)
// SPMD-LABEL: func.func @moe(%arg0: tensor<2x128x64xf32> {{{.*}}loom.weight = "g"}, %arg1: tensor<2x128x64xf32> {{{.*}}loom.weight = "u"}, %arg2: tensor<2x64x128xf32> {{{.*}}loom.weight = "d"}, %arg3: tensor<?x64xf32>, %arg4: tensor<?x8xf32>) -> tensor<?x64xf32>
//   SPMD-NOT:   shard.shard
//       SPMD:   %[[W:.+]], %[[E:.+]] = loom.moe_router %arg4
//       SPMD:   %[[ROWS:.+]], %[[PERM:.+]], %[[OFFS:.+]] = loom.moe_dispatch %arg3, %[[E]] num_experts = 8
//       SPMD:   %[[DEV:.+]] = shard.process_multi_index on @experts axes = [0] : index
//       SPMD:   %[[FIRST:.+]] = arith.muli %[[DEV]], %c2
//       SPMD:   %[[MINE:.+]] = tensor.extract_slice %[[OFFS]][%[[FIRST]]] [3] [1] : tensor<9xi32> to tensor<3xi32>
//       SPMD:   %[[PART:.+]] = loom.moe_expert_ffn %[[ROWS]], %[[MINE]], %arg0, %arg1, %arg2 : (tensor<?x64xf32>, tensor<3xi32>, tensor<2x128x64xf32>, tensor<2x128x64xf32>, tensor<2x64x128xf32>) -> tensor<?x64xf32>
//       SPMD:   %[[ALL:.+]] = shard.all_reduce %[[PART]] on @experts grid_axes = [0] : tensor<?x64xf32> -> tensor<?x64xf32>
//       SPMD:   loom.moe_combine %[[ALL]], %[[PERM]], %[[W]]

// In one process: two shards over views of the weights, summed.
// LOCAL-LABEL: func.func @moe
//   LOCAL-NOT:   shard.
//       LOCAL:   %[[OFFS0:.+]] = tensor.extract_slice %offsets[%[[C0:.+]]] [5] [1]
//       LOCAL:   %[[Y0:.+]] = loom.moe_expert_ffn %sorted, %[[OFFS0]], %{{.+}} {loom.expert_shard = 0 : i64} : (tensor<?x64xf32>, tensor<5xi32>, tensor<4x128x64xf32>
//       LOCAL:   tensor.extract_slice %arg0[%[[C4:.+]], 0, 0] [4, 128, 64] [1, 1, 1]
//       LOCAL:   %[[OFFS1:.+]] = tensor.extract_slice %offsets[%[[C4]]] [5] [1]
//       LOCAL:   %[[Y1:.+]] = loom.moe_expert_ffn %sorted, %[[OFFS1]], %{{.+}} {loom.expert_shard = 1 : i64}
//       LOCAL:   %[[SUM:.+]] = arith.addf %[[Y0]], %[[Y1]] : tensor<?x64xf32>
//       LOCAL:   loom.moe_combine %[[SUM]]

// ONE-LABEL: func.func @moe
//   ONE-NOT:   shard.
//   ONE-NOT:   extract_slice
func.func @moe(%wg: tensor<8x128x64xf32> {loom.weight = "g"}, %wu: tensor<8x128x64xf32> {loom.weight = "u"}, %wd: tensor<8x64x128xf32> {loom.weight = "d"}, %x: tensor<?x64xf32>, %logits: tensor<?x8xf32>) -> tensor<?x64xf32> {
  %w, %e = loom.moe_router %logits top_k = 2 renormalize : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>)
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %out = loom.moe_combine %y, %perm, %w : (tensor<?x64xf32>, tensor<?xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

// -----

// q8_0 expert weights: the raw blocks are split, and each device decodes
// its own slice (loom.dequantize follows its operand's sharding); in one
// process the blocks are sliced before decoding, so the lowering still
// decodes them inside the contraction.
// SPMD-LABEL: func.func @quantized(%arg0: tensor<2x128x2x34xi8>
//       SPMD:   %[[G:.+]] = loom.dequantize %arg0 format = q8_0 : tensor<2x128x2x34xi8> -> tensor<2x128x64xf32>
//       SPMD:   %[[U:.+]] = arith.extf %arg1 : tensor<2x128x64xf16> to tensor<2x128x64xf32>
//       SPMD:   loom.moe_expert_ffn %{{.+}}, %{{.+}}, %[[G]], %[[U]], %arg2 : {{.+}}tensor<2x128x64xf32>, tensor<2x128x64xf32>, tensor<2x64x128xf32>)
//       SPMD:   shard.all_reduce
// LOCAL-LABEL: func.func @quantized
//       LOCAL:   %[[RAW:.+]] = tensor.extract_slice %arg0[%{{.+}}, 0, 0, 0] [4, 128, 2, 34] [1, 1, 1, 1] : tensor<8x128x2x34xi8> to tensor<4x128x2x34xi8>
//       LOCAL:   loom.dequantize %[[RAW]] format = q8_0 : tensor<4x128x2x34xi8> -> tensor<4x128x64xf32>
//       LOCAL:   %[[NARROW:.+]] = tensor.extract_slice %arg1[%{{.+}}, 0, 0] [4, 128, 64] [1, 1, 1] : tensor<8x128x64xf16> to tensor<4x128x64xf16>
//       LOCAL:   arith.extf %[[NARROW]] : tensor<4x128x64xf16> to tensor<4x128x64xf32>
func.func @quantized(%rg: tensor<8x128x2x34xi8> {loom.weight = "g"}, %ru: tensor<8x128x64xf16> {loom.weight = "u"}, %wd: tensor<8x64x128xf32> {loom.weight = "d"}, %rows: tensor<?x64xf32>, %offs: tensor<9xi32>) -> tensor<?x64xf32> {
  %wg = loom.dequantize %rg format = q8_0 : tensor<8x128x2x34xi8> -> tensor<8x128x64xf32>
  %wu = arith.extf %ru : tensor<8x128x64xf16> to tensor<8x128x64xf32>
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
