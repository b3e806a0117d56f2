// RUN: loom-opt %s --loom-share-kernel-code | FileCheck %s
// RUN: loom-opt %s --loom-share-kernel-code --loom-share-kernel-code | FileCheck %s

// Six kernels of one schedule. k0, k1 and k2 compute the same thing at
// different places of the arena (k2 at k0's): one shared function, with the
// two arena offsets as parameters. k3 adds instead of multiplying: code of
// its own. k4 and k5 differ in a constant that is also a load's index (not
// only an arena offset): code of their own too. A second run changes
// nothing (kernels that already name their code are left alone).

// CHECK-LABEL: func.func @step(
//  CHECK-SAME:   #loom.kernel<name = "step__k0", {{[^>]*}}, code = "step__k0__code">
//  CHECK-SAME:   #loom.kernel<name = "step__k1", {{[^>]*}}, code = "step__k0__code">
//  CHECK-SAME:   #loom.kernel<name = "step__k2", {{[^>]*}}, code = "step__k0__code">
//  CHECK-SAME:   #loom.kernel<name = "step__k3", deps = [], params = [2, 3], reads = ["w2"], writes = ["arena[0, 64)"]>
//  CHECK-SAME:   #loom.kernel<name = "step__k4", deps = [], params = [0, 3], reads = ["w0"], writes = ["arena[64, 128)"]>
//  CHECK-SAME:   #loom.kernel<name = "step__k5", deps = [], params = [0, 3], reads = ["w0"], writes = ["arena[64, 128)"]>]>

// CHECK-LABEL: func.func @step__k0(
//  CHECK-SAME:     %[[W:.*]]: memref<16xf32>, %[[ARENA:.*]]: memref<?xi8>)
//  CHECK-SAME:     attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 0, 3>}
//   CHECK-DAG:   %[[C0:.*]] = arith.constant 0 : index
//   CHECK-DAG:   %[[C64:.*]] = arith.constant 64 : index
//       CHECK:   call @step__k0__code(%[[W]], %[[ARENA]], %[[C0]], %[[C64]])
//  CHECK-NEXT:   return

// CHECK-LABEL: func.func private @step__k0__code(
//  CHECK-SAME:     %[[W:.*]]: memref<16xf32>, %[[ARENA:.*]]: memref<?xi8>, %[[IN:.*]]: index, %[[OUT:.*]]: index)
//  CHECK-SAME:     attributes {passthrough = ["noinline"]}
//   CHECK-NOT:   arith.constant
//       CHECK:   %[[A:.*]] = memref.view %[[ARENA]][%[[IN]]][]
//       CHECK:   %[[B:.*]] = memref.view %[[ARENA]][%[[OUT]]][]
//       CHECK:   linalg.mul ins(%[[A]], %[[W]] : {{.*}}) outs(%[[B]] : memref<16xf32>)

// CHECK-LABEL: func.func @step__k1(
//   CHECK-DAG:   %[[C64:.*]] = arith.constant 64 : index
//   CHECK-DAG:   %[[C128:.*]] = arith.constant 128 : index
//       CHECK:   call @step__k0__code(%{{.*}}, %{{.*}}, %[[C64]], %[[C128]])

// CHECK-LABEL: func.func @step__k2(
//       CHECK:   call @step__k0__code(

// CHECK-LABEL: func.func @step__k3(
//       CHECK:   linalg.add
//   CHECK-NOT:   call

// CHECK-LABEL: func.func @step__k4(
//       CHECK:   memref.load
//       CHECK:   linalg.mul
//   CHECK-NOT:   call
// CHECK-LABEL: func.func @step__k5(
//       CHECK:   memref.load
//       CHECK:   linalg.mul
//   CHECK-NOT:   call

func.func @step(%w0: memref<16xf32>, %w1: memref<16xf32>, %w2: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.schedule = #loom.schedule<arena_bytes = 192, max_tokens = 1, kernels = [
    #loom.kernel<name = "step__k0", deps = [], params = [0, 3], reads = ["w0"], writes = ["arena[64, 128)"]>,
    #loom.kernel<name = "step__k1", deps = [0], params = [1, 3], reads = ["w1", "arena[64, 128)"], writes = ["arena[128, 192)"]>,
    #loom.kernel<name = "step__k2", deps = [1], params = [2, 3], reads = ["w2"], writes = ["arena[64, 128)"]>,
    #loom.kernel<name = "step__k3", deps = [], params = [2, 3], reads = ["w2"], writes = ["arena[0, 64)"]>,
    #loom.kernel<name = "step__k4", deps = [], params = [0, 3], reads = ["w0"], writes = ["arena[64, 128)"]>,
    #loom.kernel<name = "step__k5", deps = [], params = [0, 3], reads = ["w0"], writes = ["arena[64, 128)"]>]>} {
  call @step__k0(%w0, %arena) : (memref<16xf32>, memref<?xi8>) -> ()
  call @step__k1(%w1, %arena) : (memref<16xf32>, memref<?xi8>) -> ()
  call @step__k2(%w2, %arena) : (memref<16xf32>, memref<?xi8>) -> ()
  call @step__k3(%w2, %arena) : (memref<16xf32>, memref<?xi8>) -> ()
  call @step__k4(%w0, %arena) : (memref<16xf32>, memref<?xi8>) -> ()
  call @step__k5(%w0, %arena) : (memref<16xf32>, memref<?xi8>) -> ()
  return
}

func.func @step__k0(%w: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 0, 3>} {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %a = memref.view %arena[%c0][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %arena[%c64][] : memref<?xi8> to memref<16xf32>
  linalg.mul ins(%a, %w : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}

func.func @step__k1(%w: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 1, 3>} {
  %c64 = arith.constant 64 : index
  %c128 = arith.constant 128 : index
  %a = memref.view %arena[%c64][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %arena[%c128][] : memref<?xi8> to memref<16xf32>
  linalg.mul ins(%a, %w : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}

func.func @step__k2(%w: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 2, 3>} {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %a = memref.view %arena[%c0][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %arena[%c64][] : memref<?xi8> to memref<16xf32>
  linalg.mul ins(%a, %w : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}

func.func @step__k3(%w: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 2, 3>} {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %a = memref.view %arena[%c0][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %arena[%c64][] : memref<?xi8> to memref<16xf32>
  linalg.add ins(%a, %w : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}

func.func @step__k4(%w: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 0, 3>} {
  %c0 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %x = memref.load %w[%c0] : memref<16xf32>
  %a = memref.view %arena[%c0][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %arena[%c64][] : memref<?xi8> to memref<16xf32>
  linalg.mul ins(%a, %w : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}

func.func @step__k5(%w: memref<16xf32>, %arena: memref<?xi8>) attributes {loom.kernel_of = "step", loom.kernel_params = array<i64: 0, 3>} {
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %x = memref.load %w[%c4] : memref<16xf32>
  %a = memref.view %arena[%c4][] : memref<?xi8> to memref<16xf32>
  %b = memref.view %arena[%c64][] : memref<?xi8> to memref<16xf32>
  linalg.mul ins(%a, %w : memref<16xf32>, memref<16xf32>) outs(%b : memref<16xf32>)
  return
}
