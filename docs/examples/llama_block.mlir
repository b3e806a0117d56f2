// One Llama decoder block (the shape of stories260K: dim 64, 8 query heads
// over 4 key/value heads of size 8, SwiGLU hidden 172), prefilling 16 tokens
// at position %pos into a 512-position KV cache. Attention is written out as
// a model author would write it; GQA repeats the key/value heads.
//
//   loom-opt --canonicalize docs/examples/llama_block.mlir

func.func @block0(%x: tensor<1x16x64xf32>, %pos: index,
                  %kcache: tensor<1x4x512x8xf32>, %vcache: tensor<1x4x512x8xf32>)
    -> (tensor<1x16x64xf32>, tensor<1x4x512x8xf32>, tensor<1x4x512x8xf32>) {
  // Attention: RMSNorm, projections, RoPE.
  %attn_norm = loom.weight "blk.0.attn_norm.weight" : tensor<64xf32>
  %h = loom.rms_norm %x, %attn_norm epsilon = 1.0e-05 : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %wq = loom.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
  %wk = loom.weight "blk.0.attn_k.weight" : tensor<32x64xf32>
  %wv = loom.weight "blk.0.attn_v.weight" : tensor<32x64xf32>
  %q = loom.linear %h, %wq : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
  %k = loom.linear %h, %wk : (tensor<1x16x64xf32>, tensor<32x64xf32>) -> tensor<1x16x32xf32>
  %v = loom.linear %h, %wv : (tensor<1x16x64xf32>, tensor<32x64xf32>) -> tensor<1x16x32xf32>
  %q4 = tensor.expand_shape %q [[0], [1], [2, 3]] output_shape [1, 16, 8, 8] : tensor<1x16x64xf32> into tensor<1x16x8x8xf32>
  %k4 = tensor.expand_shape %k [[0], [1], [2, 3]] output_shape [1, 16, 4, 8] : tensor<1x16x32xf32> into tensor<1x16x4x8xf32>
  %v4 = tensor.expand_shape %v [[0], [1], [2, 3]] output_shape [1, 16, 4, 8] : tensor<1x16x32xf32> into tensor<1x16x4x8xf32>
  %qr = loom.rope %q4, %pos : tensor<1x16x8x8xf32>
  %kr = loom.rope %k4, %pos : tensor<1x16x4x8xf32>
  %qh = loom.transpose %qr [0, 2, 1, 3] : tensor<1x16x8x8xf32> -> tensor<1x8x16x8xf32>
  %kh = loom.transpose %kr [0, 2, 1, 3] : tensor<1x16x4x8xf32> -> tensor<1x4x16x8xf32>
  %vh = loom.transpose %v4 [0, 2, 1, 3] : tensor<1x16x4x8xf32> -> tensor<1x4x16x8xf32>

  // KV cache: write this step's keys and values, read back the valid prefix.
  %kc = loom.kv_cache_write %kh into %kcache at %pos : tensor<1x4x16x8xf32> into tensor<1x4x512x8xf32>
  %vc = loom.kv_cache_write %vh into %vcache at %pos : tensor<1x4x16x8xf32> into tensor<1x4x512x8xf32>
  %c16 = arith.constant 16 : index
  %len = arith.addi %pos, %c16 : index
  %kall = loom.kv_cache_read %kc[%len] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
  %vall = loom.kv_cache_read %vc[%len] : tensor<1x4x512x8xf32> -> tensor<1x4x?x8xf32>
  %krep = loom.repeat_interleave %kall axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>
  %vrep = loom.repeat_interleave %vall axis = 1 repeats = 2 : tensor<1x4x?x8xf32> -> tensor<1x8x?x8xf32>

  // softmax(Q·Kᵀ / sqrt(8) + causal mask) · V; the mask is [16, len].
  %kt = loom.transpose %krep [0, 1, 3, 2] : tensor<1x8x?x8xf32> -> tensor<1x8x8x?xf32>
  %scores = loom.matmul %qh, %kt : (tensor<1x8x16x8xf32>, tensor<1x8x8x?xf32>) -> tensor<1x8x16x?xf32>
  %c3 = arith.constant 3 : index
  %kvlen = tensor.dim %scores, %c3 : tensor<1x8x16x?xf32>
  %inv = arith.constant 0.353553385 : f32
  %invt = tensor.splat %inv[%kvlen] : tensor<1x8x16x?xf32>
  %scaled = arith.mulf %scores, %invt : tensor<1x8x16x?xf32>
  %mask = tensor.generate %kvlen {
  ^bb0(%b: index, %hh: index, %i: index, %j: index):
    %qpos = arith.addi %pos, %i : index
    %future = arith.cmpi ugt, %j, %qpos : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %future, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x8x16x?xf32>
  %masked = arith.addf %scaled, %mask : tensor<1x8x16x?xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x8x16x?xf32>
  %o = loom.matmul %p, %vrep : (tensor<1x8x16x?xf32>, tensor<1x8x?x8xf32>) -> tensor<1x8x16x8xf32>
  %ot = loom.transpose %o [0, 2, 1, 3] : tensor<1x8x16x8xf32> -> tensor<1x16x8x8xf32>
  %o3 = tensor.collapse_shape %ot [[0], [1], [2, 3]] : tensor<1x16x8x8xf32> into tensor<1x16x64xf32>
  %wo = loom.weight "blk.0.attn_output.weight" : tensor<64x64xf32>
  %attn = loom.linear %o3, %wo : (tensor<1x16x64xf32>, tensor<64x64xf32>) -> tensor<1x16x64xf32>
  %x1 = arith.addf %x, %attn : tensor<1x16x64xf32>

  // SwiGLU feed-forward: w2(silu(w1 x) * w3 x).
  %ffn_norm = loom.weight "blk.0.ffn_norm.weight" : tensor<64xf32>
  %h2 = loom.rms_norm %x1, %ffn_norm : (tensor<1x16x64xf32>, tensor<64xf32>) -> tensor<1x16x64xf32>
  %w1 = loom.weight "blk.0.ffn_gate.weight" : tensor<172x64xf32>
  %w3 = loom.weight "blk.0.ffn_up.weight" : tensor<172x64xf32>
  %w2 = loom.weight "blk.0.ffn_down.weight" : tensor<64x172xf32>
  %gate = loom.linear %h2, %w1 : (tensor<1x16x64xf32>, tensor<172x64xf32>) -> tensor<1x16x172xf32>
  %up = loom.linear %h2, %w3 : (tensor<1x16x64xf32>, tensor<172x64xf32>) -> tensor<1x16x172xf32>
  %act = loom.silu %gate : tensor<1x16x172xf32>
  %gated = arith.mulf %act, %up : tensor<1x16x172xf32>
  %down = loom.linear %gated, %w2 : (tensor<1x16x172xf32>, tensor<64x172xf32>) -> tensor<1x16x64xf32>
  %x2 = arith.addf %x1, %down : tensor<1x16x64xf32>
  return %x2, %kc, %vc : tensor<1x16x64xf32>, tensor<1x4x512x8xf32>, tensor<1x4x512x8xf32>
}
