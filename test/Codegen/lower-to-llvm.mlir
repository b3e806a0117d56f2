// RUN: loom-opt %S/../../docs/examples/llama_block.mlir --loom-lower-to-linalg | FileCheck %s --check-prefix=LINALG
// RUN: loom-opt %S/../../docs/examples/llama_block.mlir --loom-lower-to-llvm | FileCheck %s --check-prefix=LLVM

// The example Llama block lowers to linalg on tensors with its weights as
// leading arguments, and from there all the way to the LLVM dialect: the KV
// caches updated in place, no loom op left.

// LINALG-LABEL: func.func @block0
//  LINALG-SAME:   tensor<64xf32> {loom.weight = "blk.0.attn_norm.weight"}
//  LINALG-SAME:   tensor<64x64xf32> {loom.weight = "blk.0.attn_q.weight"}
//   LINALG-NOT:   = loom.
//       LINALG:   linalg.generic
//       LINALG:   tensor.insert_slice

//   LLVM-NOT: = loom.
//       LLVM: llvm.func @block0(
//       LLVM: llvm.func @_mlir_ciface_block0(
//   LLVM-NOT: func.func
