// The example pass plugin of docs/examples/pass-plugin, built against an
// installed Loom through find_package(Loom), loaded by the installed loom-opt.
//
// RUN: rm -rf %t && mkdir -p %t
// RUN: %cmake --install %loom_obj_root --prefix %t/prefix > %t/install.log
// RUN: %cmake -G Ninja -S %loom_src_root/docs/examples/pass-plugin -B %t/build \
// RUN:   -DLoom_DIR=%t/prefix/lib/cmake/loom -DCMAKE_CXX_COMPILER=%cxx > %t/configure.log
// RUN: %cmake --build %t/build > %t/build.log
// RUN: %t/prefix/bin/loom-opt --load-pass-plugin=%t/build/LoomExamplePlugin.so \
// RUN:   --pass-pipeline='builtin.module(func.func(loom-example-count-parameters))' %s \
// RUN:   | FileCheck %s
// RUN: %t/prefix/bin/loom-opt --load-pass-plugin=%t/build/LoomExamplePlugin.so --help \
// RUN:   | FileCheck %s --check-prefix=HELP

// HELP: --loom-example-count-parameters
// HELP-SAME: Record the number of model parameters a function reads

// Two distinct weights of 64*64 and 64 elements; the repeated name counts once.
// CHECK-LABEL: func.func @block
//  CHECK-SAME:   attributes {count.num_parameters = 4160 : i64}
func.func @block(%x: tensor<1x64xf32>) -> tensor<1x64xf32> {
  %w = loom.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
  %g = loom.weight "blk.0.attn_norm.weight" : tensor<64xf32>
  %w2 = loom.weight "blk.0.attn_q.weight" : tensor<64x64xf32>
  %n = loom.rms_norm %x, %g : (tensor<1x64xf32>, tensor<64xf32>) -> tensor<1x64xf32>
  %y = loom.linear %n, %w : (tensor<1x64xf32>, tensor<64x64xf32>) -> tensor<1x64xf32>
  %z = loom.linear %y, %w2 : (tensor<1x64xf32>, tensor<64x64xf32>) -> tensor<1x64xf32>
  return %z : tensor<1x64xf32>
}

// A function without weights reads none.
// CHECK-LABEL: func.func @empty
//  CHECK-SAME:   attributes {count.num_parameters = 0 : i64}
func.func @empty() {
  return
}
