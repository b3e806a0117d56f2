// RUN: loom-opt %s --split-input-file --verify-diagnostics

// The loom.* attributes of ops, arguments and results are the artifact's
// contract: a misspelt name or a value of the wrong type is an error, not an
// attribute the compiler silently ignores. verifier-coverage.test checks
// that every message of LoomDialect.cpp has a case here.

// expected-error @+1 {{unknown attribute 'loom.shedule' (the loom.* attributes are listed in LoomOps.h)}}
func.func @misspelt() attributes {loom.shedule = 1 : i64} {
  return
}

// -----

// expected-error @+1 {{argument 0: 'loom.role' must be a #loom.role<...>, not "tokens"}}
func.func @role_string(%t: memref<1x4xi32> {loom.role = "tokens"}) {
  return
}

// -----

// expected-error @+1 {{result 0: 'loom.weight' belongs on function arguments}}
func.func @weight_on_result() -> (i32 {loom.weight = "w"}) {
  %c = arith.constant 0 : i32
  return %c : i32
}

// -----

// expected-error @+1 {{'loom.role' belongs on entry point arguments and results}}
func.func @role_on_op() attributes {loom.role = #loom.role<tokens>} {
  return
}

// -----

// expected-error @+1 {{'loom.packed_from' must be the name of a storage type (f32, f16, bf16, q8_0, q4_k, ...), not "q9_9"}}
func.func @packed_from(%w: memref<8xf32> {loom.weight = "w", loom.packed_from = "q9_9"}) {
  return
}

// -----

// expected-error @+1 {{'loom.in_place_result' must be an integer, not "0"}}
func.func @in_place(%c: memref<8xf32> {loom.in_place_result = "0"}) {
  return
}

// -----

// expected-error @+1 {{'loom.model' belongs on the module}}
func.func @model() attributes {loom.model = {dim = 64 : i64}} {
  return
}

// -----

// expected-error @+1 {{'loom.kernel_params' must be an array<i64>, not [0, 1]}}
func.func @kernel_params() attributes {loom.kernel_of = "f", loom.kernel_params = [0, 1]} {
  return
}

// -----

// expected-error @+1 {{kernel 'f__k0' takes parameter 3, but the entry point has 1}}
func.func @param_range(%x: memref<8xf32>) attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [#loom.kernel<name = "f__k0", deps = [], params = [0, 3], reads = [], writes = []>]>} {
  return
}

// -----

// expected-error @+1 {{kernel 0 ('f__k0') depends on kernel 1: deps must name earlier kernels, ascending}}
func.func @forward_dep() attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [#loom.kernel<name = "f__k0", deps = [1], params = [], reads = [], writes = []>, #loom.kernel<name = "f__k1", deps = [], params = [], reads = [], writes = []>]>} {
  return
}

// -----

// expected-error @+1 {{kernel 'f__k0' is listed twice}}
func.func @twice() attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [#loom.kernel<name = "f__k0", deps = [], params = [], reads = [], writes = []>, #loom.kernel<name = "f__k0", deps = [], params = [], reads = [], writes = []>]>} {
  return
}

// -----

// expected-error @+1 {{schedule entry 0 is not a #loom.kernel}}
func.func @not_kernel() attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [1]>} {
  return
}

// -----

// expected-error @+1 {{a schedule's arena_bytes and max_tokens are >= 0}}
func.func @negative() attributes {loom.schedule = #loom.schedule<arena_bytes = -1, max_tokens = 1, kernels = []>} {
  return
}

// -----

// expected-error @+2 {{a kernel needs a name}}
// expected-error @+1 {{failed to parse Loom_ScheduleAttr parameter 'kernels'}}
func.func @no_name() attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [#loom.kernel<name = "", deps = [], params = [], reads = [], writes = []>]>} {
  return
}

// -----

// expected-error @+2 {{kernel 'k' takes parameter -1}}
// expected-error @+1 {{failed to parse Loom_ScheduleAttr parameter 'kernels'}}
func.func @negative_param() attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [#loom.kernel<name = "k", deps = [], params = [-1], reads = [], writes = []>]>} {
  return
}

// -----

// expected-error @+2 {{kernel 'k': reads and writes are strings, not 3}}
// expected-error @+1 {{failed to parse Loom_ScheduleAttr parameter 'kernels'}}
func.func @label() attributes {loom.schedule = #loom.schedule<arena_bytes = 0, max_tokens = 1, kernels = [#loom.kernel<name = "k", deps = [], params = [], reads = [3], writes = []>]>} {
  return
}


// -----

// loom.activation_blocks counts the blocks of 32 that share one scale.
func.func @activation_blocks_unit(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'loom.activation_blocks' must be an integer, not unit}}
  %y = arith.addf %x, %x {loom.activation_blocks} : tensor<4xf32>
  return %y : tensor<4xf32>
}
