// The tiled attention sizes its key blocks for the L1 data cache of the
// module's target (loom-set-target), not of the machine compiling: a block
// of K and V (2 x block x head_dim x 4 bytes) fits in half of L1.
// head_dim 48: sapphirerapids (48 KiB L1d) takes 128 keys per block,
// skylake-avx512 (32 KiB) 64, and IR that names no target assumes 32 KiB.
// RUN: loom-opt %s --loom-set-target=cpu=sapphirerapids --convert-loom-to-linalg --canonicalize | FileCheck %s --check-prefixes=SPR,SPEC
// RUN: loom-opt %s --loom-set-target=cpu=skylake-avx512 --convert-loom-to-linalg --canonicalize | FileCheck %s --check-prefix=SKX
// RUN: loom-opt %s --convert-loom-to-linalg --canonicalize | FileCheck %s --check-prefix=SKX
// A target written in the IR by hand counts the same way.
// RUN: sed -e 's/^module {/module attributes {dlti.target_system_spec = #dlti.target_system_spec<"CPU" = #dlti.target_device_spec<"l1d_cache_bytes" = 49152 : i64>>} {/' %s \
// RUN:   | loom-opt --convert-loom-to-linalg --canonicalize | FileCheck %s --check-prefix=SPR
// loom-set-target keeps a description the IR has unless a CPU is named.
// RUN: loom-opt %s --loom-set-target=cpu=sapphirerapids --loom-set-target --convert-loom-to-linalg --canonicalize | FileCheck %s --check-prefix=SPR
// RUN: loom-opt %s --loom-set-target=cpu=sapphirerapids --loom-set-target=cpu=skylake-avx512 --convert-loom-to-linalg --canonicalize | FileCheck %s --check-prefix=SKX
// RUN: not loom-opt %s --loom-set-target=cpu=nosuch 2>&1 | FileCheck %s --check-prefix=BAD

// SPEC: module attributes {dlti.target_system_spec = #dlti.target_system_spec<"CPU" = #dlti.target_device_spec<"cpu" = "sapphirerapids"
// SPEC-SAME: "avx512bf16"
// SPEC-SAME: "vector_bits" = 512 : i64
// SPEC-SAME: "l1d_cache_bytes" = 49152 : i64, "l2_cache_bytes" = 2097152 : i64
// SPR-LABEL: func.func @causal
// SPR-DAG:   %[[C128:.+]] = arith.constant 128 : index
// SPR:       scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C128]]
// SKX-LABEL: func.func @causal
// SKX-DAG:   %[[C64:.+]] = arith.constant 64 : index
// SKX:       scf.for %{{.+}} = %{{.+}} to %{{.+}} step %[[C64]]
// BAD: error: loom-set-target: unknown CPU 'nosuch'
module {
  func.func @causal(%q: tensor<1x4x512x48xf32>, %k: tensor<1x4x512x48xf32>, %v: tensor<1x4x512x48xf32>) -> tensor<1x4x512x48xf32> {
    %0 = loom.attention %q, %k, %v causal : tensor<1x4x512x48xf32>, tensor<1x4x512x48xf32>, tensor<1x4x512x48xf32> -> tensor<1x4x512x48xf32>
    return %0 : tensor<1x4x512x48xf32>
  }
}
