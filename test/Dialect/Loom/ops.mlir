// RUN: loom-opt %s --split-input-file | loom-opt --split-input-file | FileCheck %s
// RUN: loom-opt %s --split-input-file --mlir-print-op-generic | loom-opt --split-input-file | FileCheck %s

// Every op of the dialect, in each of its assembly forms, survives a round
// trip through the custom and the generic printer.

// A weight prints with its parameter name as the SSA name.
// CHECK-LABEL: func.func @weight
//       CHECK:   %[[W:.+]] = loom.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
//       CHECK:   loom.weight "token_embd.weight" : tensor<512x64xbf16>
//       CHECK:   return %[[W]]
func.func @weight() -> tensor<64x64xf32> {
  %w = loom.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
  %e = loom.weight "token_embd.weight" : tensor<512x64xbf16>
  return %w : tensor<64x64xf32>
}

// -----

// Block-quantized weights: the bytes, and their values.
// CHECK-LABEL: func.func @dequantize
//       CHECK:   %[[R:.+]] = loom.weight "blk.0.attn_q.weight" : tensor<64x2x34xi8>
//       CHECK:   loom.dequantize %[[R]] format = q8_0 : tensor<64x2x34xi8> -> tensor<64x64xf32>
//       CHECK:   loom.dequantize %{{.+}} format = q4_0 : tensor<4x8x2x18xi8> -> tensor<4x8x64xf32>
//       CHECK:   loom.dequantize %{{.+}} format = q4_0x8 : tensor<4x2x2x144xi8> -> tensor<4x16x64xf32>
func.func @dequantize(%q4: tensor<4x8x2x18xi8>, %q4x8: tensor<4x2x2x144xi8>) -> tensor<64x64xf32> {
  %r = loom.weight "blk.0.attn_q.weight" : tensor<64x2x34xi8>
  %w = loom.dequantize %r format = q8_0 : tensor<64x2x34xi8> -> tensor<64x64xf32>
  %e = loom.dequantize %q4 format = q4_0 : tensor<4x8x2x18xi8> -> tensor<4x8x64xf32>
  %i = loom.dequantize %q4x8 format = q4_0x8 : tensor<4x2x2x144xi8> -> tensor<4x16x64xf32>
  return %w : tensor<64x64xf32>
}

// -----

// Embedding lookups keep the id tensor's shape; ids may be i32 or i64.
// CHECK-LABEL: func.func @embedding
//       CHECK:   loom.embedding %{{.+}}, %{{.+}} : (tensor<512x64xf32>, tensor<1x16xi32>) -> tensor<1x16x64xf32>
//       CHECK:   loom.embedding %{{.+}}, %{{.+}} : (tensor<512x64xf32>, tensor<?xi64>) -> tensor<?x64xf32>
func.func @embedding(%ids: tensor<1x16xi32>, %ids2: tensor<?xi64>) {
  %t = loom.weight "token_embd.weight" : tensor<512x64xf32>
  %0 = loom.embedding %t, %ids : (tensor<512x64xf32>, tensor<1x16xi32>) -> tensor<1x16x64xf32>
  %1 = loom.embedding %t, %ids2 : (tensor<512x64xf32>, tensor<?xi64>) -> tensor<?x64xf32>
  return
}

// -----

// Linear layers with and without bias, and over a dynamic sequence.
// CHECK-LABEL: func.func @linear
//       CHECK:   loom.linear %{{.+}}, %{{.+}} : (tensor<1x16x64xf32>, tensor<172x64xf32>) -> tensor<1x16x172xf32>
//       CHECK:   loom.linear %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x64xf16>, tensor<32x64xf16>, tensor<32xf16>) -> tensor<?x32xf16>
func.func @linear(%x: tensor<1x16x64xf32>, %y: tensor<?x64xf16>) {
  %w = loom.weight "w" : tensor<172x64xf32>
  %0 = loom.linear %x, %w : (tensor<1x16x64xf32>, tensor<172x64xf32>) -> tensor<1x16x172xf32>
  %w2 = loom.weight "w2" : tensor<32x64xf16>
  %b2 = loom.weight "b2" : tensor<32xf16>
  %1 = loom.linear %y, %w2, %b2 : (tensor<?x64xf16>, tensor<32x64xf16>, tensor<32xf16>) -> tensor<?x32xf16>
  return
}

// -----

// Batched matmuls with each combination of transpose flags.
// CHECK-LABEL: func.func @matmul
//       CHECK:   loom.matmul %{{.+}}, %{{.+}} : (tensor<2x8x16x8xf32>, tensor<2x8x8x24xf32>) -> tensor<2x8x16x24xf32>
//       CHECK:   loom.matmul %{{.+}}, %{{.+}} transpose_rhs : (tensor<2x8x16x8xf32>, tensor<2x8x24x8xf32>) -> tensor<2x8x16x24xf32>
//       CHECK:   loom.matmul %{{.+}}, %{{.+}} transpose_lhs transpose_rhs : (tensor<8x16xbf16>, tensor<24x8xbf16>) -> tensor<16x24xbf16>
func.func @matmul(%a: tensor<2x8x16x8xf32>, %b: tensor<2x8x8x24xf32>, %c: tensor<2x8x24x8xf32>,
                  %d: tensor<8x16xbf16>, %e: tensor<24x8xbf16>) {
  %0 = loom.matmul %a, %b : (tensor<2x8x16x8xf32>, tensor<2x8x8x24xf32>) -> tensor<2x8x16x24xf32>
  %1 = loom.matmul %a, %c transpose_rhs : (tensor<2x8x16x8xf32>, tensor<2x8x24x8xf32>) -> tensor<2x8x16x24xf32>
  %2 = loom.matmul %d, %e transpose_lhs transpose_rhs : (tensor<8x16xbf16>, tensor<24x8xbf16>) -> tensor<16x24xbf16>
  return
}

// -----

// Norms print their epsilon only when it differs from the default 1e-5.
// CHECK-LABEL: func.func @norms
//       CHECK:   loom.rms_norm %{{.+}}, %{{.+}} : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
//       CHECK:   loom.rms_norm %{{.+}}, %{{.+}} epsilon = 9.99999997E-7 : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
//       CHECK:   loom.layer_norm %{{.+}}, %{{.+}}, %{{.+}} : (tensor<1x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
//       CHECK:   loom.layer_norm %{{.+}}, %{{.+}} : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
func.func @norms(%x: tensor<1x16x64xf32>) {
  %g = loom.weight "g" : tensor<64xf32>
  %b = loom.weight "b" : tensor<64xf32>
  %0 = loom.rms_norm %x, %g : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %1 = loom.rms_norm %x, %g epsilon = 1.0e-6 : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %2 = loom.layer_norm %x, %g, %b : (tensor<1x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %3 = loom.layer_norm %x, %g epsilon = 1.0e-5 : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  return
}

// -----

// Softmax over the default (last) axis, an explicit axis and a negative one;
// activations in both gelu forms.
// CHECK-LABEL: func.func @softmax_and_activations
//       CHECK:   loom.softmax %{{.+}} : tensor<1x8x16x16xf32>
//       CHECK:   loom.softmax %{{.+}} axis = 2 : tensor<1x8x16x16xf32>
//       CHECK:   loom.softmax %{{.+}} axis = -2 : tensor<1x8x16x16xf32>
//       CHECK:   loom.silu %{{.+}} : tensor<1x8x16x16xf32>
//       CHECK:   loom.gelu %{{.+}} : tensor<1x8x16x16xf32>
//       CHECK:   loom.gelu %{{.+}} approximation = tanh : tensor<1x8x16x16xf32>
func.func @softmax_and_activations(%x: tensor<1x8x16x16xf32>) {
  %0 = loom.softmax %x : tensor<1x8x16x16xf32>
  %1 = loom.softmax %x axis = 2 : tensor<1x8x16x16xf32>
  %2 = loom.softmax %x axis = -2 : tensor<1x8x16x16xf32>
  %3 = loom.silu %x : tensor<1x8x16x16xf32>
  %4 = loom.gelu %x approximation = erf : tensor<1x8x16x16xf32>
  %5 = loom.gelu %x approximation = tanh : tensor<1x8x16x16xf32>
  return
}

// -----

// RoPE in both styles, with theta and a partial rotary dimension; the
// sinusoidal table of the original Transformer.
// CHECK-LABEL: func.func @positions
//       CHECK:   loom.rope %{{.+}}, %{{.+}} : tensor<1x16x8x8xf32>
//       CHECK:   loom.rope %{{.+}}, %{{.+}} style = half theta = 1.000000e+06 rotary_dim = 4 : tensor<1x16x8x8xf32>
//       CHECK:   loom.positional_encoding %{{.+}} : tensor<16x512xf32>
//       CHECK:   loom.positional_encoding %{{.+}} base = 5.000000e+02 : tensor<?x64xf32>
func.func @positions(%x: tensor<1x16x8x8xf32>, %pos: index) {
  %0 = loom.rope %x, %pos style = interleaved : tensor<1x16x8x8xf32>
  %1 = loom.rope %x, %pos style = half theta = 1.0e6 rotary_dim = 4 : tensor<1x16x8x8xf32>
  %2 = loom.positional_encoding %pos : tensor<16x512xf32>
  %3 = loom.positional_encoding %pos base = 500.0 : tensor<?x64xf32>
  return
}

// -----

// Attention: plain, causal GQA over a cache at an offset with a window, an
// explicit scale and an additive mask.
// CHECK-LABEL: func.func @attention
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} offset(%{{.+}}) causal window = 4096 : tensor<1x8x1x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32> -> tensor<1x8x1x8xf32>
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%{{.+}} : tensor<1x1x16x16xf32>) scale = 1.250000e-01 : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
func.func @attention(%q: tensor<1x8x16x8xf32>, %qd: tensor<1x8x1x8xf32>,
                     %kc: tensor<1x4x?x8xf32>, %mask: tensor<1x1x16x16xf32>, %pos: index) {
  %0 = loom.attention %q, %q, %q : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  %1 = loom.attention %qd, %kc, %kc offset(%pos) causal window = 4096 : tensor<1x8x1x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32> -> tensor<1x8x1x8xf32>
  %2 = loom.attention %q, %q, %q mask(%mask : tensor<1x1x16x16xf32>) scale = 0.125 : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

// Writing into and reading from a KV cache.
// CHECK-LABEL: func.func @kv_cache
//       CHECK:   %[[C:.+]] = loom.kv_cache_write %{{.+}} into %{{.+}} at %{{.+}} : tensor<1x4x1x8xf32> into tensor<1x4x512x8xf32>
//       CHECK:   loom.kv_cache_read %[[C]][%{{.+}}] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
func.func @kv_cache(%k: tensor<1x4x1x8xf32>, %cache: tensor<1x4x512x8xf32>, %pos: index, %len: index) -> tensor<1x4x?x8xf32> {
  %c = loom.kv_cache_write %k into %cache at %pos : tensor<1x4x1x8xf32> into tensor<1x4x512x8xf32>
  %r = loom.kv_cache_read %c[%len] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
  return %r : tensor<1x4x?x8xf32>
}

// -----

// Layout ops: transpose (also of integer tensors) and repeat_interleave.
// CHECK-LABEL: func.func @layout
//       CHECK:   loom.transpose %{{.+}} [0, 2, 1, 3] : tensor<1x16x8x8xf32> -> tensor<1x8x16x8xf32>
//       CHECK:   loom.transpose %{{.+}} [1, 0] : tensor<3x5xi32> -> tensor<5x3xi32>
//       CHECK:   loom.repeat_interleave %{{.+}} axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
func.func @layout(%x: tensor<1x16x8x8xf32>, %i: tensor<3x5xi32>, %k: tensor<1x4x?x8xf32>) {
  %0 = loom.transpose %x [0, 2, 1, 3] : tensor<1x16x8x8xf32> -> tensor<1x8x16x8xf32>
  %1 = loom.transpose %i [1, 0] : tensor<3x5xi32> -> tensor<5x3xi32>
  %2 = loom.repeat_interleave %k axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
  return
}

// -----

// A Mixtral-style MoE layer: route, dispatch, grouped expert FFNs, combine.
// CHECK-LABEL: func.func @moe
//       CHECK:   %[[W:.+]], %[[E:.+]] = loom.moe_router %{{.+}} top_k = 2 renormalize : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
//       CHECK:   %[[R:.+]], %[[P:.+]], %[[O:.+]] = loom.moe_dispatch %{{.+}}, %[[E]] num_experts = 8 : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
//       CHECK:   %[[Y:.+]] = loom.moe_expert_ffn %[[R]], %[[O]], %{{.+}}, %{{.+}}, %{{.+}} : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
//       CHECK:   loom.moe_expert_ffn %[[R]], %[[O]], %{{.+}}, %{{.+}}, %{{.+}} activation = gelu
//       CHECK:   loom.moe_combine %[[Y]], %[[P]], %[[W]] : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
//       CHECK:   loom.moe_router %{{.+}} top_k = 1 : (tensor<16x8xf32>) -> (tensor<16x1xf32>, tensor<16x1xi32>)
func.func @moe(%x: tensor<16x64xf32>, %logits: tensor<16x8xf32>) -> tensor<16x64xf32> {
  %w, %e = loom.moe_router %logits top_k = 2 renormalize : (tensor<16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
  %wg = loom.weight "blk.0.ffn_gate_exps.weight" : tensor<8x128x64xf32>
  %wu = loom.weight "blk.0.ffn_up_exps.weight" : tensor<8x128x64xf32>
  %wd = loom.weight "blk.0.ffn_down_exps.weight" : tensor<8x64x128xf32>
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  %y2 = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd activation = gelu : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  %out = loom.moe_combine %y, %perm, %w : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
  %w1, %e1 = loom.moe_router %logits top_k = 1 : (tensor<16x8xf32>) -> (tensor<16x1xf32>, tensor<16x1xi32>)
  return %out : tensor<16x64xf32>
}
