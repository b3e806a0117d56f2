// RUN: loom-opt %s --split-input-file --loom-set-target="cpu=x86-64-v3 gpu=sm_90a" | FileCheck %s --check-prefix=SM90
// RUN: loom-opt %s --split-input-file --loom-set-target="cpu=x86-64-v3 gpu=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: not loom-opt %s --split-input-file --loom-set-target="gpu=hopper" 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: loom-opt %s --split-input-file --loom-set-target="cpu=x86-64-v3 gpu=sm_80" --loom-attach-gpu-target | FileCheck %s --check-prefix=ATTACH
// RUN: loom-opt %s --split-input-file --loom-attach-gpu-target=chip=sm_90a | FileCheck %s --check-prefix=CHIP
// RUN: not loom-opt %s --split-input-file --loom-attach-gpu-target 2>&1 | FileCheck %s --check-prefix=NONE

// With --target=cuda the GPU is a second device of the module's target
// system spec, next to the CPU: its compute capability and the limits of a
// block that follow from it (shared memory: 227 KiB on sm_90, 163 KiB on
// sm_80).
// SM90: "CPU" = #dlti.target_device_spec<"cpu" = "x86-64-v3"
// SM90-SAME: "GPU" = #dlti.target_device_spec<"chip" = "sm_90a", "warp_size" = 32 : i64, "max_threads_per_block" = 1024 : i64, "max_registers_per_thread" = 255 : i64, "shared_memory_per_block_bytes" = 232448 : i64>
// SM80: "GPU" = #dlti.target_device_spec<"chip" = "sm_80", {{.*}} "shared_memory_per_block_bytes" = 166912 : i64>
// BAD: error: loom-set-target: gpu takes a compute capability such as sm_80 or sm_90a, not 'hopper'

// The kernels are compiled for the GPU the spec names (the NVVM target of
// each gpu.module); a chip given to the pass serves a module whose spec
// names none, and a module with kernels and neither is an error.
// ATTACH: gpu.module @kernels [#nvvm.target<chip = "sm_80">]
// CHIP: gpu.module @kernels [#nvvm.target<chip = "sm_90a">]
// NONE: error: loom-attach-gpu-target: the module's target system spec describes no GPU (loom-set-target gpu=...) and no chip is given
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
}
