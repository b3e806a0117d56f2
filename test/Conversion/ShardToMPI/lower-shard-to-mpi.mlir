// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=2" --loom-lower-shard-to-mpi | FileCheck %s
// RUN: loom-opt %s --split-input-file --loom-shard-experts="grid=2" --loom-lower-shard-to-mpi --loom-convert-mpi-to-llvm | FileCheck %s --check-prefix=LLVM

// The partitioned expert layer on the ranks of MPI_COMM_WORLD: the rank
// picks the offsets of this rank's experts, and the rows are summed over the
// world from one buffer into another, as one run of floats.
// CHECK:       module attributes {dlti.map = #dlti.map<"MPI:Implementation" = "OpenMPI">}
//   CHECK-NOT:   shard.
// CHECK-LABEL: func.func @moe(%arg0: tensor<4x128x64xf32> {loom.shard = 2 : i64, loom.weight = "g"}
//       CHECK:   %[[WORLD:.+]] = mpi.comm_world : !mpi.comm
//       CHECK:   %[[RANK:.+]] = mpi.comm_rank(%[[WORLD]]) : i32
//       CHECK:   %[[R:.+]] = arith.index_cast %[[RANK]] : i32 to index
//       CHECK:   %[[FIRST:.+]] = arith.muli %[[R]], %c4
//       CHECK:   %[[MINE:.+]] = tensor.extract_slice %{{.+}}[%[[FIRST]]] [5] [1] : tensor<9xi32> to tensor<5xi32>
//       CHECK:   %[[PART:.+]] = loom.moe_expert_ffn %{{.+}}, %[[MINE]], %arg0
//       CHECK:   %[[IN:.+]] = bufferization.to_buffer %[[PART]] read_only : tensor<?x64xf32> to memref<?x64xf32>
//       CHECK:   %[[OUT:.+]] = memref.alloc(%{{.+}}) {alignment = 64 : i64} : memref<?x64xf32>
//       CHECK:   %[[IN1:.+]] = memref.collapse_shape %[[IN]] {{\[\[}}0, 1]] : memref<?x64xf32> into memref<?xf32>
//       CHECK:   %[[OUT1:.+]] = memref.collapse_shape %[[OUT]] {{\[\[}}0, 1]] : memref<?x64xf32> into memref<?xf32>
//       CHECK:   mpi.allreduce(%[[IN1]], %[[OUT1]], MPI_SUM, %{{.+}}) : memref<?xf32>, memref<?xf32>
//       CHECK:   %[[ALL:.+]] = bufferization.to_tensor %[[OUT]] restrict writable
//       CHECK:   loom.moe_combine %[[ALL]]
// CHECK-LABEL: func.func @loom_mpi_rank() -> i32 attributes {loom.runtime_helper}
//       CHECK:   mpi.comm_rank

// Lowered to the LLVM dialect: OpenMPI's handles, its reduction named as the library exports it.
//   LLVM-NOT:  dlti.map
//   LLVM-DAG:  llvm.mlir.global external @ompi_mpi_comm_world()
//   LLVM-DAG:  llvm.mlir.global external @ompi_mpi_float()
//   LLVM-DAG:  llvm.mlir.global external @ompi_mpi_op_sum()
//       LLVM:  llvm.call @MPI_Allreduce
//   LLVM-NOT:  @ompi_mpi_sum
func.func @moe(%wg: tensor<8x128x64xf32> {loom.weight = "g"}, %wu: tensor<8x128x64xf32> {loom.weight = "u"}, %wd: tensor<8x64x128xf32> {loom.weight = "d"}, %x: tensor<?x64xf32>, %logits: tensor<?x8xf32>) -> tensor<?x64xf32> {
  %w, %e = loom.moe_router %logits top_k = 2 renormalize : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  %rows, %perm, %offs = loom.moe_dispatch %x, %e num_experts = 8 : (tensor<?x64xf32>, tensor<?x2xi32>) -> (tensor<?x64xf32>, tensor<?xi32>, tensor<9xi32>)
  %y = loom.moe_expert_ffn %rows, %offs, %wg, %wu, %wd : (tensor<?x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<?x64xf32>
  %out = loom.moe_combine %y, %perm, %w : (tensor<?x64xf32>, tensor<?xi32>, tensor<?x2xf32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}
