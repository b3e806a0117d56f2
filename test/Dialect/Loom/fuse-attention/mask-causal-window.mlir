// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Generated causal and sliding-window masks, and generated masks that are neither.

// A sliding-window causal mask (Mistral) without offset: causal, window 4.
// CHECK-LABEL: func.func @sliding_window
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal window = 4 :
func.func @sliding_window(%q: tensor<1x2x16x8xf32>, %k: tensor<1x2x16x8xf32>, %v: tensor<1x2x16x8xf32>) -> tensor<1x2x16x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) -> tensor<1x2x16x16xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %after = arith.cmpi ugt, %j, %i : index
    %w = arith.constant 4 : index
    %jw = arith.addi %j, %w : index
    %old = arith.cmpi ule, %jw, %i : index
    %hidden = arith.ori %after, %old : i1
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %hidden, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x16x16xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x16x16xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x16x16xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x16x16xf32>, tensor<1x2x16x8xf32>) -> tensor<1x2x16x8xf32>
  return %o : tensor<1x2x16x8xf32>
}

// -----

// A generated mask that is not causal (it hides keys before the query) stays
// an explicit mask; as it does not depend on the batch and head indices, it
// is generated as [q_len, kv_len] and broadcast by the fused op.
// CHECK-LABEL: func.func @anticausal_generate_is_a_plain_mask
//       CHECK:   %[[M:.+]] = tensor.generate
//       CHECK:   ^bb0(%[[I:.+]]: index, %[[J:.+]]: index):
//       CHECK:     arith.cmpi ult, %[[J]], %[[I]] : index
//       CHECK:   } : tensor<8x8xf32>
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[M]] : tensor<8x8xf32>) scale = 1.000000e+00 :
//   CHECK-NOT:   causal
func.func @anticausal_generate_is_a_plain_mask(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %before = arith.cmpi ult, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %before, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// A mask that reads the head index is a mask per head: it keeps its shape.
// CHECK-LABEL: func.func @per_head_generate_keeps_its_shape
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%{{.+}} : tensor<1x2x8x8xf32>) scale = 1.000000e+00 :
func.func @per_head_generate_keeps_its_shape(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %hi = arith.addi %h, %i : index
    %hidden = arith.cmpi ult, %hi, %j : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %hidden, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}
