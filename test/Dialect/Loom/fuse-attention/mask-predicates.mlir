// RUN: loom-opt %s --split-input-file --loom-fuse-attention --canonicalize | FileCheck %s

// Causal and sliding-window masks generated with the comparisons in any
// operand order, signed or unsigned, as select(hidden, -inf, 0) or
// select(visible, 0, -inf); each becomes `causal` (+ `offset`, `window`),
// so the lowering skips the blocks above the diagonal and reads no mask.

// Hidden written query-first: i < j (unsigned).
// CHECK-LABEL: func.func @hidden_query_first
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal :
func.func @hidden_query_first(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi ult, %i, %j : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %c, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// Hidden with a cache offset, query-first and signed: pos + i < j.
// CHECK-LABEL: func.func @hidden_offset_signed
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} offset(%arg3) scale = 1.000000e+00 causal :
func.func @hidden_offset_signed(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>, %pos: index) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %qp = arith.addi %pos, %i : index
    %c = arith.cmpi slt, %qp, %j : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %c, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// The additive mask as select(visible, 0, -inf), visible as j <= i.
// CHECK-LABEL: func.func @visible_zero_else_ninf
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal :
func.func @visible_zero_else_ninf(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi sle, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %c, %zero, %ninf : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// The same with visible written query-first: i >= j.
// CHECK-LABEL: func.func @visible_query_first
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal :
func.func @visible_query_first(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi uge, %i, %j : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %c, %zero, %ninf : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// A window written query-first (i >= j + W), the or-ed conditions in the
// other order, W = 3.
// CHECK-LABEL: func.func @window_query_first
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} scale = 1.000000e+00 causal window = 3 :
func.func @window_query_first(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %w = arith.constant 3 : index
    %jw = arith.addi %w, %j : index
    %old = arith.cmpi uge, %i, %jw : index
    %after = arith.cmpi ult, %i, %j : index
    %hidden = arith.ori %old, %after : i1
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

// -----

// Near miss: hiding the diagonal too (j >= i) is not causal attention;
// the mask stays explicit (generated as [q_len, kv_len]: it reads no batch
// or head index).
// CHECK-LABEL: func.func @hides_diagonal
//       CHECK:   %[[M:.+]] = tensor.generate
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[M]] : tensor<8x8xf32>) scale = 1.000000e+00 :
//   CHECK-NOT:   causal
func.func @hides_diagonal(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi uge, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %c, %ninf, %zero : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}

// -----

// Near miss: visible only strictly before the query (j < i).
// CHECK-LABEL: func.func @visible_strictly_before
//       CHECK:   %[[M:.+]] = tensor.generate
//       CHECK:   loom.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%[[M]] : tensor<8x8xf32>) scale = 1.000000e+00 :
//   CHECK-NOT:   causal
func.func @visible_strictly_before(%q: tensor<1x2x8x8xf32>, %k: tensor<1x2x8x8xf32>, %v: tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32> {
  %s = loom.matmul %q, %k transpose_rhs : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %mask = tensor.generate {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %c = arith.cmpi ult, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %zero = arith.constant 0.0 : f32
    %m = arith.select %c, %zero, %ninf : f32
    tensor.yield %m : f32
  } : tensor<1x2x8x8xf32>
  %masked = arith.addf %s, %mask : tensor<1x2x8x8xf32>
  %p = loom.softmax %masked axis = 3 : tensor<1x2x8x8xf32>
  %o = loom.matmul %p, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
  return %o : tensor<1x2x8x8xf32>
}
