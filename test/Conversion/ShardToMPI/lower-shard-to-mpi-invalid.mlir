// RUN: loom-opt %s --split-input-file --loom-lower-shard-to-mpi --verify-diagnostics

shard.grid @g(shape = 2x2)
func.func @two_axes(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{loom-lower-shard-to-mpi maps sums of tensors over one-dimensional grids only}}
  %y = shard.all_reduce %x on @g grid_axes = [0] : tensor<4xf32> -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

shard.grid @g(shape = 2)
func.func @max(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{loom-lower-shard-to-mpi maps sums of tensors over one-dimensional grids only}}
  %y = shard.all_reduce %x on @g grid_axes = [0] reduction = max : tensor<4xf32> -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

shard.grid @g(shape = 2)
func.func @annotated(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{is left for loom-lower-shard-to-mpi: run shard-partition first}}
  %s = shard.sharding @g split_axes = [[0]] : !shard.sharding
  %y = shard.shard %x to %s : tensor<4xf32>
  return %y : tensor<4xf32>
}
