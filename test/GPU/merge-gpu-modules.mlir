// RUN: loom-opt %s --loom-merge-gpu-modules | FileCheck %s

// Outlined kernels move into one gpu.module, each renamed after its entry
// point and what it computes (its launch's location), with a count of the
// kernels so named; the launches follow. A module holding more than a
// kernel stays as it is.
// CHECK-LABEL: func.func @step
//       CHECK:   gpu.launch_func @kernels::@step_kernel_0 blocks
//       CHECK:   gpu.launch_func @kernels::@step_blk_0_attn_q_0 blocks
//       CHECK:   gpu.launch_func @kernels::@step_blk_0_attn_q_1 blocks
//       CHECK:   gpu.launch_func @kernels::@step_blk_0_ffn_up_blk_0_ffn_gate_0 blocks
//       CHECK:   gpu.launch_func @other::@f blocks
// A kernel of the schedule of entry point @decode, and the code two such
// kernels share (loom-share-kernel-code), launch decode's kernels.
// CHECK-LABEL: func.func @decode__k3
//       CHECK:   gpu.launch_func @kernels::@decode_output_0 blocks
// CHECK-LABEL: func.func private @decode__k4__code
//       CHECK:   gpu.launch_func @kernels::@decode_output_1 blocks
//   CHECK-NOT: gpu.module @step_kernel
//       CHECK: gpu.module @other
//       CHECK: gpu.module @kernels
//  CHECK-NEXT:   gpu.func @step_kernel_0(%{{.+}}: memref<4xf32>) kernel
//       CHECK:   gpu.func @step_blk_0_attn_q_0(
//       CHECK:   gpu.func @step_blk_0_attn_q_1(
//       CHECK:   gpu.func @step_blk_0_ffn_up_blk_0_ffn_gate_0(
//       CHECK:   gpu.func @decode_output_0(
//       CHECK:   gpu.func @decode_output_1(
module attributes {gpu.container_module} {
  func.func @step(%x: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    gpu.launch_func @step_kernel::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    gpu.launch_func @step_kernel_0::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>) loc("blk.0.attn_q")
    gpu.launch_func @step_kernel_1::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>) loc("blk.0.attn_q")
    gpu.launch_func @step_kernel_2::@step_kernel blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>) loc(fused["blk.0.ffn_up", "blk.0.ffn_gate"])
    gpu.launch_func @other::@f blocks in (%c1, %c1, %c1) threads in (%c4, %c1, %c1) args(%x : memref<4xf32>)
    return
  }
  func.func @decode__k3(%x: memref<4xf32>) attributes {loom.kernel_of = "decode"} {
    %c1 = arith.constant 1 : index
    gpu.launch_func @decode__k3_kernel::@decode__k3_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>) loc("output")
    return
  }
  func.func private @decode__k4__code(%x: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @decode__k4__code_kernel::@decode__k4__code_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<4xf32>) loc("output")
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
  gpu.module @step_kernel_1 {
    gpu.func @step_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @step_kernel_2 {
    gpu.func @step_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @decode__k3_kernel {
    gpu.func @decode__k3_kernel(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
  gpu.module @decode__k4__code_kernel {
    gpu.func @decode__k4__code_kernel(%x: memref<4xf32>) kernel {
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
