// RUN: loom-opt %s --split-input-file --verify-diagnostics

// Every message of the dialect's verifiers and type inference, each with a
// case that triggers it. verifier-coverage.test checks that none is missed.
// Where result type inference fails, MLIR adds "failed to infer returned
// types" after Loom's own message; both are expected.

//===----------------------------------------------------------------------===//
// loom.weight
//===----------------------------------------------------------------------===//

// A weight needs a name.
func.func @weight_empty_name() {
  // expected-error @+1 {{'loom.weight' op expected a non-empty weight name}}
  %w = loom.weight "" : tensor<4xf32>
  return
}

// -----

// Weights have static shapes.
func.func @weight_dynamic() {
  // expected-error @+1 {{'loom.weight' op expected weight 'w' to have a static shape, but found [?, 4]}}
  %w = loom.weight "w" : tensor<?x4xf32>
  return
}

// -----

// Only f32, f16 and bf16 parameters, or the i8 bytes of quantized blocks
// (the ODS type constraint).
func.func @weight_int() {
  // expected-error @+1 {{'loom.weight' op result #0 must be ranked tensor of 32-bit float or 16-bit float or bfloat16 type values or ranked tensor of 8-bit signless integer values}}
  %w = loom.weight "w" : tensor<4xi32>
  return
}

//===----------------------------------------------------------------------===//
// loom.dequantize
//===----------------------------------------------------------------------===//

// -----

// Blocks need rows: [rows..., blocks, bytes].
func.func @dequantize_rank(%raw: tensor<34xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected the input to be [rows..., blocks, bytes], but found shape [34]}}
  %w = loom.dequantize %raw format = q8_0 : tensor<34xi8> -> tensor<32xf32>
  return
}

// -----

// A q4_0 block is 18 bytes.
func.func @dequantize_block_bytes(%raw: tensor<8x2x34xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected 18 bytes per q4_0 block, but the input's last dimension is 34}}
  %w = loom.dequantize %raw format = q4_0 : tensor<8x2x34xi8> -> tensor<8x64xf32>
  return
}

// -----

// The result drops the bytes dimension.
func.func @dequantize_result_rank(%raw: tensor<8x2x34xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected a result of rank 2, but found rank 3}}
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<8x2x32xf32>
  return
}

// -----

// The rows are the input's.
func.func @dequantize_rows(%raw: tensor<8x2x34xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected result dimension 0 to be 8, but found 4}}
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<4x64xf32>
  return
}

// -----

// q4_0x8: the last dimension of rows counts groups of 8 rows.
func.func @dequantize_groups(%raw: tensor<2x2x144xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected result dimension 0 to be 16, but found 2}}
  %w = loom.dequantize %raw format = q4_0x8 : tensor<2x2x144xi8> -> tensor<2x64xf32>
  return
}

// -----

// q4_0x8 blocks need a dimension of rows.
func.func @dequantize_groups_rank(%raw: tensor<2x144xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected the input to be [rows..., blocks, bytes] with at least one dimension of rows, but found shape [2, 144]}}
  %w = loom.dequantize %raw format = q4_0x8 : tensor<2x144xi8> -> tensor<64xf32>
  return
}

// -----

// A q4_0x8 block of 8 rows is 144 bytes.
func.func @dequantize_group_bytes(%raw: tensor<2x2x18xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected 144 bytes per q4_0x8 block, but the input's last dimension is 18}}
  %w = loom.dequantize %raw format = q4_0x8 : tensor<2x2x18xi8> -> tensor<16x64xf32>
  return
}

// -----

// Each block holds 32 values.
func.func @dequantize_values(%raw: tensor<8x2x34xi8>) {
  // expected-error @+1 {{'loom.dequantize' op expected 64 values in the last dimension (2 blocks of 32), but found 32}}
  %w = loom.dequantize %raw format = q8_0 : tensor<8x2x34xi8> -> tensor<8x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.embedding
//===----------------------------------------------------------------------===//

// -----

// The table is [vocab, dim].
func.func @embedding_table_rank(%t: tensor<512xf32>, %ids: tensor<4xi32>) {
  // expected-error @+2 {{'loom.embedding' op expected the table to be [vocab, dim], but found shape [512]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.embedding %t, %ids : (tensor<512xf32>, tensor<4xi32>) -> tensor<4x1xf32>
  return
}

// -----

// The written result type must agree with the inferred one.
func.func @embedding_wrong_result(%t: tensor<512x64xf32>, %ids: tensor<4xi32>) {
  // expected-error @+2 {{'loom.embedding' op inferred type(s) 'tensor<4x64xf32>' are incompatible with return type(s) of operation 'tensor<4x32xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.embedding %t, %ids : (tensor<512x64xf32>, tensor<4xi32>) -> tensor<4x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_scalar_input(%x: tensor<f32>, %w: tensor<4x4xf32>) {
  // expected-error @+2 {{'loom.linear' op expected an input of rank >= 1, but found a 0-d tensor}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.linear %x, %w : (tensor<f32>, tensor<4x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<2x4xf32>, %w: tensor<4xf32>) {
  // expected-error @+2 {{'loom.linear' op expected the weight to be [out_features, in_features], but found shape [4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.linear %x, %w : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_k_mismatch(%x: tensor<2x64xf32>, %w: tensor<32x48xf32>) {
  // expected-error @+2 {{'loom.linear' op expected the input's last dimension (64) to equal the weight's in_features (48)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.linear %x, %w : (tensor<2x64xf32>, tensor<32x48xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_bias_shape(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>, %b: tensor<64xf32>) {
  // expected-error @+2 {{'loom.linear' op expected the bias to be [32] (out_features), but found shape [64]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.linear %x, %w, %b : (tensor<2x64xf32>, tensor<32x64xf32>, tensor<64xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_mixed_types(%x: tensor<2x64xf32>, %w: tensor<32x64xbf16>) {
  // expected-error @+2 {{'loom.linear' op expected input and weight to have one element type, but found 'f32' and 'bf16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.linear %x, %w : (tensor<2x64xf32>, tensor<32x64xbf16>) -> tensor<2x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.matmul
//===----------------------------------------------------------------------===//

// -----

func.func @matmul_ranks(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+2 {{'loom.matmul' op expected operands of one rank >= 2, but found ranks 3 and 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.matmul %a, %b : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x3x5xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x3x4xf32>, %b: tensor<3x4x5xf32>) {
  // expected-error @+2 {{'loom.matmul' op expected batch dimension 0 to agree, but found 2 and 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.matmul %a, %b : (tensor<2x3x4xf32>, tensor<3x4x5xf32>) -> tensor<2x3x5xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<3x4xf32>, %b: tensor<5x6xf32>) {
  // expected-error @+2 {{'loom.matmul' op expected the contracted dimensions to agree, but found 4 (lhs) and 5 (rhs)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.matmul %a, %b : (tensor<3x4xf32>, tensor<5x6xf32>) -> tensor<3x6xf32>
  return
}

// -----

// Without transpose_rhs, K written as [n, k] does not contract.
func.func @matmul_missing_transpose(%q: tensor<1x8x16x8xf32>, %k: tensor<1x8x16x8xf32>) {
  // expected-error @+2 {{'loom.matmul' op expected the contracted dimensions to agree, but found 8 (lhs) and 16 (rhs)}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.matmul %q, %k : (tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>) -> tensor<1x8x16x16xf32>
  return
}

// -----

func.func @matmul_types(%a: tensor<3x4xf16>, %b: tensor<4x5xf32>) {
  // expected-error @+2 {{'loom.matmul' op expected lhs and rhs to have one element type, but found 'f16' and 'f32'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.matmul %a, %b : (tensor<3x4xf16>, tensor<4x5xf32>) -> tensor<3x5xf16>
  return
}

//===----------------------------------------------------------------------===//
// loom.rms_norm / loom.layer_norm
//===----------------------------------------------------------------------===//

// -----

func.func @rms_norm_scalar(%x: tensor<f32>, %w: tensor<1xf32>) {
  // expected-error @+2 {{'loom.rms_norm' op expected an input of rank >= 1, but found a 0-d tensor}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.rms_norm %x, %w : (tensor<f32>, tensor<1xf32>) -> tensor<f32>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<2x64xf32>, %w: tensor<32xf32>) {
  // expected-error @+2 {{'loom.rms_norm' op expected the weight to be [64] (the input's last dimension), but found shape [32]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.rms_norm %x, %w : (tensor<2x64xf32>, tensor<32xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<2x64xf32>, %w: tensor<64xf32>, %b: tensor<1x64xf32>) {
  // expected-error @+2 {{'loom.layer_norm' op expected the bias to be [64] (the input's last dimension), but found shape [1, 64]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.layer_norm %x, %w, %b : (tensor<2x64xf32>, tensor<64xf32>, tensor<1x64xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @layer_norm_types(%x: tensor<2x64xf32>, %w: tensor<64xf16>) {
  // expected-error @+2 {{'loom.layer_norm' op expected input and weight to have one element type, but found 'f32' and 'f16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.layer_norm %x, %w : (tensor<2x64xf32>, tensor<64xf16>) -> tensor<2x64xf32>
  return
}

// -----

func.func @rms_norm_negative_eps(%x: tensor<2x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+1 {{'loom.rms_norm' op expected a non-negative epsilon, but found -1.0}}
  %0 = loom.rms_norm %x, %w epsilon = -1.0 : (tensor<2x64xf32>, tensor<64xf32>) -> tensor<2x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.softmax
//===----------------------------------------------------------------------===//

// -----

func.func @softmax_axis(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'loom.softmax' op expected an axis in [-2, 2) for an input of rank 2, but found 2}}
  %0 = loom.softmax %x axis = 2 : tensor<2x3xf32>
  return
}

// -----

func.func @softmax_negative_axis(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'loom.softmax' op expected an axis in [-2, 2) for an input of rank 2, but found -3}}
  %0 = loom.softmax %x axis = -3 : tensor<2x3xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.rope
//===----------------------------------------------------------------------===//

// -----

func.func @rope_rank(%x: tensor<16x8x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.rope' op expected the input to be [batch, seq, heads, head_dim], but found shape [16, 8, 8]}}
  %0 = loom.rope %x, %p : tensor<16x8x8xf32>
  return
}

// -----

func.func @rope_dynamic_head_dim(%x: tensor<1x16x8x?xf32>, %p: index) {
  // expected-error @+1 {{'loom.rope' op expected a static head_dim, but found a dynamic one}}
  %0 = loom.rope %x, %p : tensor<1x16x8x?xf32>
  return
}

// -----

func.func @rope_odd_head_dim(%x: tensor<1x16x8x7xf32>, %p: index) {
  // expected-error @+1 {{'loom.rope' op expected an even head_dim, but found 7}}
  %0 = loom.rope %x, %p : tensor<1x16x8x7xf32>
  return
}

// -----

func.func @rope_rotary_dim(%x: tensor<1x16x8x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.rope' op expected rotary_dim to be even and in [2, 8], but found 10}}
  %0 = loom.rope %x, %p rotary_dim = 10 : tensor<1x16x8x8xf32>
  return
}

// -----

func.func @rope_theta(%x: tensor<1x16x8x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.rope' op expected theta > 0, but found 0.0}}
  %0 = loom.rope %x, %p theta = 0.0 : tensor<1x16x8x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.positional_encoding
//===----------------------------------------------------------------------===//

// -----

func.func @pe_rank(%p: index) {
  // expected-error @+1 {{'loom.positional_encoding' op expected the result to be [seq, dim], but found shape [16]}}
  %0 = loom.positional_encoding %p : tensor<16xf32>
  return
}

// -----

func.func @pe_odd_dim(%p: index) {
  // expected-error @+1 {{'loom.positional_encoding' op expected a static, even dim, but found [7]}}
  %0 = loom.positional_encoding %p : tensor<16x7xf32>
  return
}

// -----

func.func @pe_base(%p: index) {
  // expected-error @+1 {{'loom.positional_encoding' op expected base > 0, but found -2.0}}
  %0 = loom.positional_encoding %p base = -2.0 : tensor<16x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.attention
//===----------------------------------------------------------------------===//

// -----

func.func @attention_rank(%q: tensor<8x16x8xf32>, %k: tensor<1x8x16x8xf32>) {
  // expected-error @+2 {{'loom.attention' op expected the query to be [batch, heads, seq, head_dim], but found shape [8, 16, 8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.attention %q, %k, %k : tensor<8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_types(%q: tensor<1x8x16x8xf32>, %k: tensor<1x8x16x8xbf16>) {
  // expected-error @+2 {{'loom.attention' op expected query and key to have one element type, but found 'f32' and 'bf16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.attention %q, %k, %k : tensor<1x8x16x8xf32>, tensor<1x8x16x8xbf16>, tensor<1x8x16x8xbf16> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x8x16x8xf32>, %k: tensor<1x8x16x8xf32>) {
  // expected-error @+2 {{'loom.attention' op expected one batch size, but found 2, 1 and 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.attention %q, %k, %k : tensor<2x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<2x8x16x8xf32>
  return
}

// -----

func.func @attention_kv_len(%q: tensor<1x8x16x8xf32>, %k: tensor<1x8x16x8xf32>, %v: tensor<1x8x20x8xf32>) {
  // expected-error @+2 {{'loom.attention' op expected key and value to agree in heads and length, but found [1, 8, 16, 8] and [1, 8, 20, 8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.attention %q, %k, %v : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x20x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_head_dim(%q: tensor<1x8x16x16xf32>, %k: tensor<1x8x16x8xf32>) {
  // expected-error @+2 {{'loom.attention' op expected query and key to have one head_dim, but found 16 and 8}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.attention %q, %k, %k : tensor<1x8x16x16xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_gqa(%q: tensor<1x8x16x8xf32>, %k: tensor<1x3x16x8xf32>) {
  // expected-error @+2 {{'loom.attention' op expected the query heads to be a multiple of the key/value heads, but found 8 and 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.attention %q, %k, %k : tensor<1x8x16x8xf32>, tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_mask_type(%q: tensor<1x8x16x8xf32>, %m: tensor<16x16xf16>) {
  // expected-error @+1 {{'loom.attention' op expected the mask to have the element type 'f32', but found 'f16'}}
  %0 = loom.attention %q, %q, %q mask(%m : tensor<16x16xf16>) : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_mask_shape(%q: tensor<1x8x16x8xf32>, %m: tensor<1x2x16x16xf32>) {
  // expected-error @+1 {{'loom.attention' op expected a mask that broadcasts to [1, 8, 16, 16] ([batch, q_heads, q_len, kv_len]), but found shape [1, 2, 16, 16]}}
  %0 = loom.attention %q, %q, %q mask(%m : tensor<1x2x16x16xf32>) : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_window_not_causal(%q: tensor<1x8x16x8xf32>) {
  // expected-error @+1 {{'loom.attention' op expected 'causal' with a sliding window}}
  %0 = loom.attention %q, %q, %q window = 4 : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

// -----

func.func @attention_window_zero(%q: tensor<1x8x16x8xf32>) {
  // expected-error @+1 {{'loom.attention' op expected a window > 0, but found 0}}
  %0 = loom.attention %q, %q, %q causal window = 0 : tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32>, tensor<1x8x16x8xf32> -> tensor<1x8x16x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.kv_cache_write / loom.kv_cache_read
//===----------------------------------------------------------------------===//

// -----

func.func @kv_write_rank(%k: tensor<4x1x8xf32>, %c: tensor<1x4x512x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.kv_cache_write' op expected the update to be [batch, heads, seq, head_dim], but found shape [4, 1, 8]}}
  %0 = loom.kv_cache_write %k into %c at %p : tensor<4x1x8xf32> into tensor<1x4x512x8xf32>
  return
}

// -----

func.func @kv_write_type(%k: tensor<1x4x1x8xf16>, %c: tensor<1x4x512x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.kv_cache_write' op expected the update to have the cache's element type 'f32', but found 'f16'}}
  %0 = loom.kv_cache_write %k into %c at %p : tensor<1x4x1x8xf16> into tensor<1x4x512x8xf32>
  return
}

// -----

func.func @kv_write_heads(%k: tensor<1x8x1x8xf32>, %c: tensor<1x4x512x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.kv_cache_write' op expected the update to match the cache in batch, heads and head_dim, but found [1, 8, 1, 8] and [1, 4, 512, 8]}}
  %0 = loom.kv_cache_write %k into %c at %p : tensor<1x8x1x8xf32> into tensor<1x4x512x8xf32>
  return
}

// -----

func.func @kv_write_too_long(%k: tensor<1x4x600x8xf32>, %c: tensor<1x4x512x8xf32>, %p: index) {
  // expected-error @+1 {{'loom.kv_cache_write' op expected the update to hold at most the cache's capacity of 512 positions, but found 600}}
  %0 = loom.kv_cache_write %k into %c at %p : tensor<1x4x600x8xf32> into tensor<1x4x512x8xf32>
  return
}

// -----

func.func @kv_read_cache_rank(%c: tensor<4x512x8xf32>, %n: index) {
  // expected-error @+1 {{'loom.kv_cache_read' op expected the cache to be [batch, heads, seq, head_dim], but found shape [4, 512, 8]}}
  %0 = loom.kv_cache_read %c[%n] : tensor<4x512x8xf32> -> tensor<1x4x?x8xf32>
  return
}

// -----

func.func @kv_read_too_long(%c: tensor<1x4x512x8xf32>, %n: index) {
  // expected-error @+1 {{'loom.kv_cache_read' op expected the result to hold at most the cache's capacity of 512 positions, but found 513}}
  %0 = loom.kv_cache_read %c[%n] : tensor<1x4x512x8xf32> -> tensor<1x4x513x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// loom.transpose / loom.repeat_interleave
//===----------------------------------------------------------------------===//

// -----

func.func @transpose_not_permutation(%x: tensor<2x3x4xf32>) {
  // expected-error @+2 {{'loom.transpose' op expected a permutation of [0, 3) for an input of rank 3, but found [0, 0, 1]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.transpose %x [0, 0, 1] : tensor<2x3x4xf32> -> tensor<2x2x3xf32>
  return
}

// -----

func.func @transpose_wrong_length(%x: tensor<2x3x4xf32>) {
  // expected-error @+2 {{'loom.transpose' op expected a permutation of [0, 3) for an input of rank 3, but found [1, 0]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.transpose %x [1, 0] : tensor<2x3x4xf32> -> tensor<3x2xf32>
  return
}

// -----

func.func @repeat_axis(%x: tensor<1x4x16x8xf32>) {
  // expected-error @+2 {{'loom.repeat_interleave' op expected an axis in [0, 4), but found 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.repeat_interleave %x axis = 4 repeats = 2 : tensor<1x4x16x8xf32> -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @repeat_zero(%x: tensor<1x4x16x8xf32>) {
  // expected-error @+2 {{'loom.repeat_interleave' op expected repeats >= 1, but found 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = loom.repeat_interleave %x axis = 1 repeats = 0 : tensor<1x4x16x8xf32> -> tensor<1x4x16x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// Mixture of Experts
//===----------------------------------------------------------------------===//

// -----

func.func @router_rank(%l: tensor<2x16x8xf32>) {
  // expected-error @+2 {{'loom.moe_router' op expected the logits to be [tokens, experts], but found shape [2, 16, 8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %w, %e = loom.moe_router %l top_k = 2 : (tensor<2x16x8xf32>) -> (tensor<16x2xf32>, tensor<16x2xi32>)
  return
}

// -----

func.func @router_top_k(%l: tensor<16x8xf32>) {
  // expected-error @+2 {{'loom.moe_router' op expected top_k in [1, 8] (the number of experts), but found 9}}
  // expected-error @+1 {{failed to infer returned types}}
  %w, %e = loom.moe_router %l top_k = 9 : (tensor<16x8xf32>) -> (tensor<16x9xf32>, tensor<16x9xi32>)
  return
}

// -----

func.func @dispatch_shapes(%x: tensor<16x64xf32>, %e: tensor<8x2xi32>) {
  // expected-error @+2 {{'loom.moe_dispatch' op expected input [tokens, dim] and experts [tokens, top_k], but found shapes [16, 64] and [8, 2]}}
  // expected-error @+1 {{failed to infer returned types}}
  %r, %p, %o = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<16x64xf32>, tensor<8x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<9xi32>)
  return
}

// -----

func.func @dispatch_num_experts(%x: tensor<16x64xf32>, %e: tensor<16x2xi32>) {
  // expected-error @+2 {{'loom.moe_dispatch' op expected num_experts >= 1, but found 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %r, %p, %o = loom.moe_dispatch %x, %e num_experts = 0 : (tensor<16x64xf32>, tensor<16x2xi32>) -> (tensor<32x64xf32>, tensor<32xi32>, tensor<1xi32>)
  return
}

// -----

func.func @expert_ffn_input(%x: tensor<32xf32>, %o: tensor<9xi32>, %g: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+2 {{'loom.moe_expert_ffn' op expected the input to be [rows, dim], but found shape [32]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = loom.moe_expert_ffn %x, %o, %g, %g, %d : (tensor<32xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32xf32>
  return
}

// -----

func.func @expert_ffn_rank(%x: tensor<32x64xf32>, %o: tensor<9xi32>, %g: tensor<128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+2 {{'loom.moe_expert_ffn' op expected expert weights of rank 3 (gate/up [experts, hidden, dim], down [experts, dim, hidden]), but found [128, 64], [128, 64] and [8, 64, 128]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = loom.moe_expert_ffn %x, %o, %g, %g, %d : (tensor<32x64xf32>, tensor<9xi32>, tensor<128x64xf32>, tensor<128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  return
}

// -----

func.func @expert_ffn_types(%x: tensor<32x64xf32>, %o: tensor<9xi32>, %g: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) {
  // expected-error @+2 {{'loom.moe_expert_ffn' op expected input and gate to have one element type, but found 'f32' and 'bf16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = loom.moe_expert_ffn %x, %o, %g, %g, %d : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<32x64xf32>
  return
}

// -----

func.func @expert_ffn_shapes(%x: tensor<32x64xf32>, %o: tensor<9xi32>, %g: tensor<8x128x64xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+2 {{'loom.moe_expert_ffn' op expected gate/up [8, 128, 64] and down [8, 64, 128] for input rows of 64 features, but found [8, 128, 64], [8, 128, 64] and [8, 128, 64]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = loom.moe_expert_ffn %x, %o, %g, %g, %d : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

func.func @expert_ffn_offsets(%x: tensor<32x64xf32>, %o: tensor<8xi32>, %g: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+2 {{'loom.moe_expert_ffn' op expected offsets [9] (experts + 1), but found shape [8]}}
  // expected-error @+1 {{failed to infer returned types}}
  %y = loom.moe_expert_ffn %x, %o, %g, %g, %d : (tensor<32x64xf32>, tensor<8xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  return
}

// -----

func.func @combine_ranks(%y: tensor<32x64xf32>, %p: tensor<32x1xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+2 {{'loom.moe_combine' op expected rows [tokens * top_k, dim], permutation [tokens * top_k] and weights [tokens, top_k], but found [32, 64], [32, 1] and [16, 2]}}
  // expected-error @+1 {{failed to infer returned types}}
  %o = loom.moe_combine %y, %p, %w : (tensor<32x64xf32>, tensor<32x1xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
  return
}

// -----

func.func @combine_rows(%y: tensor<30x64xf32>, %p: tensor<32xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+2 {{'loom.moe_combine' op expected 32 rows (tokens * top_k), but found 30 rows and 32 permutation entries}}
  // expected-error @+1 {{failed to infer returned types}}
  %o = loom.moe_combine %y, %p, %w : (tensor<30x64xf32>, tensor<32xi32>, tensor<16x2xf32>) -> tensor<16x64xf32>
  return
}

// -----

func.func @combine_types(%y: tensor<32x64xf32>, %p: tensor<32xi32>, %w: tensor<16x2xf16>) {
  // expected-error @+2 {{'loom.moe_combine' op expected rows and weights to have one element type, but found 'f32' and 'f16'}}
  // expected-error @+1 {{failed to infer returned types}}
  %o = loom.moe_combine %y, %p, %w : (tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf16>) -> tensor<16x64xf32>
  return
}


// -----

//===----------------------------------------------------------------------===//
// Every loom op: sizes that fit in int64
//===----------------------------------------------------------------------===//

// A tensor whose size in bytes overflows int64 is rejected before any pass
// multiplies its shape (2^61 x 4 f32 values: 2^65 bytes).
func.func @shape_overflows_int64() {
  // expected-error @+1 {{'loom.weight' op result #0 of type 'tensor<2305843009213693952x4xf32>' holds more bytes than int64 counts}}
  %w = loom.weight "w" : tensor<2305843009213693952x4xf32>
  return
}
