// RUN: loom-opt %s --loom-merge-gpu-modules | FileCheck %s

// Two outlined kernels move into one gpu.module, each renamed after the
// module it came from; the launches follow. A module holding more than a
// kernel stays as it is.
// CHECK-LABEL: func.func @step
//       CHECK:   gpu.launch_func @kernels::@step_kernel blocks
//       CHECK:   gpu.launch_func @kernels::@step_kernel_0 blocks
//       CHECK:   gpu.launch_func @other::@f blocks
//   CHECK-NOT: gpu.module @step_kernel
//       CHECK: gpu.module @other
//       CHECK: gpu.module @kernels
//  CHECK-NEXT:   gpu.func @step_kernel(%{{.+}}: memref<4xf32>) kernel
//       CHECK:   gpu.func @step_kernel_0(%{{.+}}: memref<4xf32>) kernel
module attributes {gpu.container_module} {
  func.func @step(%x: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    gpu.launch_func @step_kernel::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    gpu.launch_func @step_kernel_0::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    gpu.launch_func @other::@f blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    return
  }
  gpu.module @step_kernel {
    gpu.func @step_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @step_kernel_0 {
    gpu.func @step_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @other {
    gpu.func @f(%x: memref<4xf32>) kernel {
      gpu.return
    }
    gpu.func @g(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
}
