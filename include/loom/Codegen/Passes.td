//===- Passes.td - Loom code generation passes -------------*- tablegen -*-===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_CODEGEN_PASSES_TD
#define LOOM_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Fusion on tensors
//===----------------------------------------------------------------------===//

def LoomFuseElementwisePass : Pass<"loom-fuse-elementwise"> {
  let summary = "Fuse elementwise linalg ops, never into a contraction that "
                "would repeat them";
  let description = [{
    Upstream's elementwise fusion (`linalg-fuse-elementwise-ops`) with one
    rule added: a producer is not fused into a consumer that has reduction
    loops, unless it only converts values (`arith.extf` of f16/bf16 weights,
    bitcasts). A contraction reads each element of an operand once for
    every output it contributes to: fused there, the RMS normalization
    before the LM head would be recomputed for each of 32000 vocabulary
    entries, and the SiLU before the down projection for each output
    feature. Elementwise chains still fuse with each other, and into
    reductions' consumers. A `linalg.softmax` left in the IR (not fused
    into attention) is first decomposed into the reductions and
    elementwise generics it stands for.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

//===----------------------------------------------------------------------===//
// Function boundaries after bufferization
//===----------------------------------------------------------------------===//

def LoomDropInPlaceResultsPass
    : Pass<"loom-drop-in-place-results", "::mlir::func::FuncOp"> {
  let summary = "Drop memref results that are the function's own arguments";
  let description = [{
    After one-shot bufferization a KV cache updated in place is returned as
    the very argument it came in as. This pass removes such results from the
    function (upstream's `drop-equivalent-buffer-results` leaves public
    functions alone) and records on the argument which result it stood for,
    as `loom.in_place_result = <index>`, so the runtime knows the buffer it
    passed holds the result. A result that bufferization could not place in
    its argument stays a result.

    Before:

    ```mlir
    func.func @step(%cache: memref<4xf32>) -> (memref<2xf32>, memref<4xf32>) {
      ...
      return %logits, %cache : memref<2xf32>, memref<4xf32>
    }
    ```

    After:

    ```mlir
    func.func @step(%cache: memref<4xf32> {loom.in_place_result = 1 : i64}) -> memref<2xf32> {
      ...
      return %logits : memref<2xf32>
    }
    ```
  }];
}

//===----------------------------------------------------------------------===//
// The schedule: kernels, their dependencies, the activation arena
//===----------------------------------------------------------------------===//

def LoomScheduleKernelsPass
    : Pass<"loom-schedule-kernels", "::mlir::ModuleOp"> {
  let summary = "Split entry points into kernels with a dependency graph and "
                "an activation arena";
  let description = [{
    Runs on bufferized entry points (public functions on memrefs, before
    deallocations are inserted). Every top-level op with memory effects (a
    `linalg` op, a copy, an attention loop nest) is an *anchor*; index math,
    constants and views are recomputed wherever they are needed.

    1. **Effects.** For each anchor the pass finds the buffers it reads and
       writes: the entry point's arguments (weights, tokens, KV caches,
       logits) and its top-level allocations, following views. An op whose
       effects are not known is taken to read and write what it touches.
    2. **Arena.** Every top-level `memref.alloc` becomes a `memref.view` of
       one new last parameter, `%arena: memref<?xi8> {loom.name = "arena"}`,
       at an offset planned by the compiler: buffers live from their first
       to their last anchor, and those not live at the same time share
       memory (largest first, first fit, 64-byte aligned) where that adds
       no ordering: only if every anchor touching the one buffer already
       comes after every anchor touching the other through the program's
       own dependencies, so independent work (Q/K/V projections, expert
       shards) keeps separate memory and stays concurrent. A size that
       depends on the number of tokens is planned for `max-tokens` (by
       default the model's context length, from the `loom.model` attribute).
    3. **Dependencies.** A later anchor depends on an earlier one when both
       touch overlapping memory and one of them writes it (arena reuse
       included). Redundant edges are dropped.
    4. **Kernels.** Chains (the only successor of a node whose only
       predecessor it is) and fills feeding a single consumer are merged, so
       that nothing that could run at the same time is serialized. Each
       kernel becomes a public function `@<entry>__k<N>` with the entry
       point's signature and `loom.kernel_of = "<entry>"`.

    The entry point keeps its signature (plus the arena) and calls its
    kernels in order: the sequential schedule. Its `loom.schedule` attribute
    holds the graph as data: `arena_bytes`, `max_tokens`, and for each
    kernel its `name`, the kernels it waits for (`deps`) and the buffers it
    `reads` and `writes`. The runtime builds a `tbb::flow::graph` from it.

    Before:

    ```mlir
    func.func @step(%x: memref<4xf32>, %w1: memref<4xf32>, %w2: memref<4xf32>,
                    %out: memref<4xf32>) {
      %a = memref.alloc() : memref<4xf32>
      %b = memref.alloc() : memref<4xf32>
      linalg.mul ins(%x, %w1 : ...) outs(%a : ...)
      linalg.mul ins(%x, %w2 : ...) outs(%b : ...)
      linalg.add ins(%a, %b : ...) outs(%out : ...)
      return
    }
    ```

    After (the two products are independent kernels):

    ```mlir
    func.func @step(..., %arena: memref<?xi8> {loom.name = "arena"})
        attributes {loom.schedule = {arena_bytes = 128 : i64, kernels = [
          {deps = array<i64>, name = "step__k0", ...},
          {deps = array<i64>, name = "step__k1", ...},
          {deps = array<i64: 0, 1>, name = "step__k2", ...} ],
          ...}} {
      call @step__k0(...)
      call @step__k1(...)
      call @step__k2(...)
      return
    }
    func.func @step__k0(...) attributes {loom.kernel_of = "step"} {
      %a = memref.view %arena[%c0][] : memref<?xi8> to memref<4xf32>
      linalg.mul ins(%x, %w1 : ...) outs(%a : ...)
      return
    }
    ```
  }];
  let options = [
    Option<"maxTokens", "max-tokens", "int64_t", /*default=*/"0",
           "Largest number of tokens per call the arena is planned for (0: "
           "the model's context length)">,
    Option<"reuseMemory", "reuse-memory", "bool", /*default=*/"true",
           "Let buffers that are not live at the same time share arena "
           "memory">,
    Option<"mergeKernels", "merge-kernels", "bool", /*default=*/"true",
           "Merge chains and single-consumer fills into one kernel">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def LoomShareKernelCodePass
    : Pass<"loom-share-kernel-code", "::mlir::ModuleOp"> {
  let summary = "Compile kernels that differ only in what they read once";
  let description = [{
    Runs after `loom-schedule-kernels`. The layers of a transformer are one
    computation with different weights: their kernels take different
    arguments (each layer's weights and KV cache slices) but have the same
    body, or bodies that differ only in where their buffers sit in the
    activation arena. Compiling each of them again is most of the compile
    time of a deep model.

    Kernels of one entry point whose bodies are structurally equivalent
    (same ops, attributes, types and use-def structure, compared op by op)
    become one private function, `@<first kernel>__code`, marked
    `noinline`. Index constants that differ between the kernels and are
    used only as the byte offsets of `memref.view`s of the arena become
    trailing `index` parameters of the shared function; any other
    difference keeps the kernels apart. Each kernel keeps its name, its
    signature and its place in the schedule, and its body becomes a call of
    the shared code with its arguments and its arena offsets, so the
    runtime's calling convention does not change. The schedule's
    `#loom.kernel` entries name the code they run (`code = "..."`), which
    `loom-compile --print-schedule` shows.

    Before (two layers' projections, at different arena offsets):

    ```mlir
    func.func @step__k1(%w: memref<64x64xf32>, %arena: memref<?xi8>) ... {
      %c0 = arith.constant 0 : index
      %c4096 = arith.constant 4096 : index
      %in = memref.view %arena[%c0][] : memref<?xi8> to memref<4x64xf32>
      %out = memref.view %arena[%c4096][] : memref<?xi8> to memref<4x64xf32>
      linalg.matmul_transpose_b ins(%in, %w : ...) outs(%out : ...)
      return
    }
    func.func @step__k5(...)  // the same, with %c8192 for %c4096
    ```

    After:

    ```mlir
    func.func @step__k1(%w: memref<64x64xf32>, %arena: memref<?xi8>) ... {
      %c4096 = arith.constant 4096 : index
      call @step__k1__code(%w, %arena, %c4096) : (...) -> ()
      return
    }
    func.func private @step__k1__code(%w: memref<64x64xf32>,
        %arena: memref<?xi8>, %offset: index)
        attributes {passthrough = ["noinline"]} {
      ...  // the body, with %offset for %c4096
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

//===----------------------------------------------------------------------===//
// Parallelism
//===----------------------------------------------------------------------===//

def LoomSetTargetPass : Pass<"loom-set-target", "::mlir::ModuleOp"> {
  let summary = "Describe the target CPU in the module (a DLTI target system spec)";
  let description = [{
    Stamps the module with what the code generator knows of the CPU it
    generates code for: the CPU `cpu` names as LLVM does (`sapphirerapids`,
    `x86-64-v3`, ...), or this machine when `cpu` is empty. The description
    is a `#dlti.target_system_spec` whose `"CPU"` device lists the CPU's
    name, its instruction-set features, its vector registers and its cache
    sizes; every later pass that makes a target-dependent decision (the
    tiled attention's key blocks, the register blocks and cache chunks of
    the contractions, VNNI and BF16 dot products) reads it from there, as
    does the driver (the LLVM target machine and the artifact's manifest).

    A module that already has a CPU description keeps it unless `cpu` is
    given. An unknown CPU name is an error.

    With `gpu` (a compute capability: `sm_80`, `sm_90a`; `--target=cuda`
    passes `--gpu`), the spec also gets a `"GPU"` device: the chip and the
    limits of a block that follow from it (warp size, threads, registers
    per thread, shared memory per block). The NVIDIA pipeline's later
    stages (the NVVM target, the artifact's manifest) read the chip from
    there.

    ```mlir
    module attributes {dlti.target_system_spec = #dlti.target_system_spec<
      "CPU" = #dlti.target_device_spec<"cpu" = "skylake-avx512",
        "triple" = "x86_64-pc-linux-gnu", "isa_features" = ["avx", ...],
        "vector_bits" = 512 : i64, "vector_registers" = 32 : i64,
        "l1d_cache_bytes" = 32768 : i64, "l2_cache_bytes" = 1048576 : i64,
        "l3_cache_bytes" = 1441792 : i64, "cache_source" = "table">>} {...}
    ```
  }];
  let options = [
    Option<"cpu", "cpu", "std::string", /*default=*/"",
           "The CPU, as LLVM names it (empty: this machine's)">,
    Option<"gpu", "gpu", "std::string", /*default=*/"",
           "An NVIDIA GPU's compute capability (sm_80, sm_90a, ...) to "
           "describe too (empty: none)">,
  ];
  let dependentDialects = ["::mlir::DLTIDialect"];
}

def LoomParallelizeContractionsPass
    : Pass<"loom-parallelize-contractions", "::mlir::func::FuncOp"> {
  let summary = "Turn the contractions of a function into parallel loops";
  let description = [{
    Rewrites every linalg op on buffers that has a reduction dimension (the
    matmuls, linear layers and norms of a model: the work that grows with
    the weights) into an `scf.parallel` nest over its parallel dimensions,
    with the reduction as an inner sequential loop; the runtime later splits
    such loops across threads. Elementwise ops become parallel loops where
    their size is dynamic (a prompt's tokens: a prefill's norms, residual
    adds and activations) or at least `min-elementwise-iterations`; the
    small ones (one token's) stay sequential loops, so the code that spawns
    tasks stays small. Each output
    element is still reduced by one thread in order: results do not depend on
    the number of threads.

    Linear layers with q8_0 or q4_0 weights are register-blocked the same
    way. Where their activations were quantized to 8-bit blocks
    (convert-loom-to-linalg's int8-activations), each (token block, weight
    block) pair of 32 values is one integer dot product (`vpdpbusd` where
    the target has AVX512-VNNI with AVX512VL or AVX-VNNI, emitted as
    `llvm.call_intrinsic`; widened integer vectors elsewhere), converted to
    f32 and scaled
    by the product of the two blocks' scales into a vector<8xf32>
    accumulator.

    f32 linear layers over more than one token (`y[s, n] += x[s, k] ·
    w[n, k]`, n a multiple of 4 vectors) are outer products on packed
    weights (with `pack-weights`, the default): each task packs a panel of
    4 vectors of features (2 on 256-bit targets) for up to 256 values of k
    at a time, transposed so that a vector holds consecutive features at
    one k, and runs the tokens through it 6 at a time: per k, 6 broadcasts
    of x and 4 weight vectors feed 24 FMAs into accumulators that are y
    itself.

    Other multi-token dot contractions (k innermost in both operands: bf16
    and f16 operands, shapes the packing does not take) are
    register-blocked instead: `block-rows` tokens x
    `block-cols` weight rows per block, weight-row blocks outermost. With
    a cache size (by default the L2 of the module's target, see
    `loom-set-target`), the tokens are
    taken in chunks of `max(block-rows, cache-bytes / 2 / row bytes)` rows
    (a token's row of activations: 4 k bytes in f32, 2 k in bf16, 36 per
    block of 32 as 8-bit blocks; rounded down to whole blocks): a chunk of
    the activations stays in L2 while every weight row streams past it once
    per chunk (docs/Tiling.md).

    A contraction whose output's innermost dimension is contiguous in one
    operand and absent from the other (attention's P·V: `o[.., i, e] +=
    p[.., i, j] · v[.., j, e]`) becomes row updates: per output row, its
    `e` values in a few vector registers while `j` runs, one broadcast of
    `p` against vectors of `v` per step, in the op's own summation order.

    What depends on the CPU is read from the module's target description
    (`loom-set-target`): the vector width, the L2 size, and whether bf16
    operand pairs go to `vdpbf16ps` (AVX512-BF16) and 8-bit blocks to
    `vpdpbusd`. Without a description: 16 lanes, one chunk, neither.

    Before:

    ```mlir
    linalg.generic {iterator_types = ["parallel", "reduction"]} ins(%x, %w : ...) outs(%y : ...)
    ```

    After:

    ```mlir
    scf.parallel (%n) = (%c0) to (%N) step (%c1) {
      scf.for %k = %c0 to %K step %c1 { ... }
    }
    ```
  }];
  let options = [
    Option<"minParallelIterations", "min-parallel-iterations", "int64_t",
           /*default=*/"16",
           "Leave ops whose parallel iteration space is statically smaller "
           "than this as sequential loops">,
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"0",
           "f32 lanes of the dot-product accumulators (0: the target's "
           "vector registers, 16 where the IR names no target)">,
    Option<"blockRows", "block-rows", "int64_t", /*default=*/"4",
           "Rows of a (tokens) per register block">,
    Option<"blockCols", "block-cols", "int64_t", /*default=*/"4",
           "Rows of b (output features) per register block">,
    Option<"cacheBytes", "cache-bytes", "int64_t", /*default=*/"-1",
           "Bytes of the cache (L2) a block of tokens should fit in: the "
           "register-blocked loops then run over chunks of tokens whose rows "
           "of a take at most half of it (-1: the target's L2, one chunk "
           "where the IR names no target; 0: one chunk)">,
    Option<"minElementwiseIterations", "min-elementwise-iterations",
           "int64_t", /*default=*/"65536",
           "Elementwise ops (no reduction) become parallel loops too where "
           "their iteration count is dynamic (a prompt's tokens) or at "
           "least this (0: never)">,
    Option<"packWeights", "pack-weights", "bool", /*default=*/"true",
           "f32 linear layers over more than one token as outer products "
           "on weight panels packed per task (false: dot products)">,
  ];
  let dependentDialects = ["::mlir::amx::AMXDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::x86vector::X86VectorDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect"];
}

def LoomApproximateMathPass
    : Pass<"loom-approximate-math", "::mlir::func::FuncOp"> {
  let summary = "Expand f32 exp, tanh and erf into inline polynomials";
  let description = [{
    Rewrites `math.exp`, `math.tanh` and `math.erf` on f32 (scalars and
    vectors) into MLIR's polynomial approximations (range reduction, a
    polynomial, exponent bits set directly): arithmetic only, which LLVM's
    loop vectorizer turns into vector code. Left as they are, these ops
    become calls of libm's `expf`/`tanhf`/`erff`, one value per call: a
    softmax over attention scores, SiLU and GELU are then bound by the
    calls. The approximations are within about one unit in the last place
    (measured in MathApproximationTest against double precision, which
    asserts 2 units); llama.cpp's vector exp is an approximation of the
    same kind.
    `loom-compile --approximate-math=false` keeps libm, to compare.

    Before:

    ```mlir
    %e = math.exp %x : f32
    ```

    After (abridged):

    ```mlir
    %k = math.floor ... : f32
    %p = math.fma ... : f32
    %e = arith.mulf %p, %two_to_k : f32
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def LoomTileParallelLoopsForGpuPass
    : Pass<"loom-tile-parallel-loops-for-gpu", "::mlir::func::FuncOp"> {
  let summary = "Split each outermost parallel loop into GPU blocks of threads";
  let description = [{
    Tiles every outermost `scf.parallel` (the loops
    `convert-linalg-to-parallel-loops` makes of linalg ops; reductions stay
    sequential `scf.for` loops inside) so that upstream's
    `gpu-map-parallel-loops` maps the outer loop of tiles to the grid and
    the inner one to the threads of a block: the innermost dimension with
    more than one iteration by `threads` (or its static trip count where
    that is smaller), every other dimension by 1. The inner loop has
    constant bounds, the iterations past the end guarded by an `scf.if`,
    so the block size is a constant. A loop of more than 3 dimensions
    first has its leading ones collapsed into one (a grid and a block have
    3 each). Loops inside another parallel loop are left alone (they run
    in sequence in the thread that reaches them), and so are loops that
    already carry a `#gpu.loop_dim_map` (loom-reduce-across-gpu-threads). A `memref.copy` outside
    such loops (a KV cache row written in place) first becomes one, of
    loads and stores: on a GPU it is a kernel too, not the host's copy.

    Before:

    ```mlir
    scf.parallel (%s, %n) = (%c0, %c0) to (%tokens, %c768) step (%c1, %c1) {
      ...
    }
    ```

    After (abridged):

    ```mlir
    scf.parallel (%s0, %n0) = (%c0, %c0) to (%tokens, %c768) step (%c1, %c128) {
      scf.parallel (%s1, %n1) = (%c0, %c0) to (%c1, %c128) step (%c1, %c1) {
        scf.if %in_bounds { ... }
      }
    }
    ```
  }];
  let options = [
    Option<"threads", "threads", "int64_t", /*default=*/"128",
           "Threads per block along the innermost dimension">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::memref::MemRefDialect"];
}

def LoomReduceAcrossGpuThreadsPass
    : Pass<"loom-reduce-across-gpu-threads", "::mlir::func::FuncOp"> {
  let summary = "Reductions with few outputs as a block of threads per output";
  let description = [{
    A linalg op on buffers whose outputs are few and static but whose
    reduction is long (decode's matrix-vector products, a norm's sum of
    squares, softmax's max and sum over the positions) would run as one GPU
    thread per output, each reducing in sequence: a handful of threads for
    the whole GPU, each reading memory with a stride. Such an op becomes a
    grid of one block per output element whose threads share its
    reduction: thread `t` combines the elements `t`, `t + T`, `t + 2T`, ...
    of the reduction (its dimensions linearized, so neighbouring threads
    read neighbouring elements), and the block combines the threads'
    partial results (`scf.reduce`, which `convert-parallel-loops-to-gpu`
    makes a `gpu.all_reduce`). Floating-point sums are thus reassociated.
    Every thread reads the output's old value before the block's reduction
    and stores old + total after it: the reduction's barrier orders all
    the reads before any store, and every thread stores the same value.
    Where a `linalg.fill` of the output comes right before the op (decode's
    zeros) and the op writes every output element once, the op starts from
    the fill's value instead of reading the output, and the fill (a kernel
    of its own) goes.

    The op qualifies when it has one output, every parallel dimension has a
    static size (at most `max-outputs` outputs in all), the reduction has
    at least `min-reduction` elements (or a dynamic count), and its payload
    yields `combine(%out, value)` with `combine` one of `arith.addf`,
    `arith.addi`, `arith.maximumf`, `arith.maxnumf`, `arith.minimumf`,
    `arith.minnumf` (the value not depending on `%out`). The loops carry
    their `#gpu.loop_dim_map` (grid x, threads x); other ops are left to
    `convert-linalg-to-parallel-loops`.

    Before (decode's projection: 2048 outputs, 2048 products each):

    ```mlir
    linalg.generic {indexing_maps = [#x, #w, #y], iterator_types =
        ["parallel", "parallel", "reduction"]}
        ins(%x, %w : memref<1x2048xf32>, memref<2048x2048xf32>)
        outs(%y : memref<1x2048xf32>) { ... arith.addf %out, %p ... }
    ```

    After (abridged):

    ```mlir
    scf.parallel (%o) = (%c0) to (%c2048) step (%c1) {
      %y0 = memref.load %y[%c0, %o]
      %s = scf.parallel (%t) = (%c0) to (%c256) step (%c1) init (%zero) -> f32 {
        %p = scf.for %r = %t to %c2048 step %c256 iter_args(%a = %zero) -> (f32) { ... }
        scf.reduce(%p : f32) { ... arith.addf ... }
      } {mapping = [#gpu.loop_dim_map<processor = thread_x, ...>]}
      %y1 = arith.addf %y0, %s : f32
      memref.store %y1, %y[%c0, %o]
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = block_x, ...>]}
    ```
  }];
  let options = [
    Option<"threads", "threads", "int64_t", /*default=*/"256",
           "Threads per block (fewer where the reduction is shorter, never "
           "fewer than 32)">,
    Option<"minReduction", "min-reduction", "int64_t", /*default=*/"32",
           "The fewest elements a static reduction needs to qualify">,
    Option<"maxOutputs", "max-outputs", "int64_t", /*default=*/"1048576",
           "The most output elements (blocks) an op may have to qualify">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect"];
}

def LoomRegisterTileGpuReductionsPass
    : Pass<"loom-register-tile-gpu-reductions", "::mlir::func::FuncOp"> {
  let summary = "Reductions with many outputs: a tile of outputs per thread";
  let description = [{
    A linalg reduction that `loom-reduce-across-gpu-threads` left (prefill's
    products, over a dynamic number of tokens) would run one output per
    GPU thread, each loading both operands for every product. This pass
    gives each thread a `tile-rows` x `tile-cols` tile of outputs instead
    (the last two parallel dimensions with more than one iteration): the
    reduction runs in order, as before, with the tile's accumulators carried
    in registers (`scf.for` iter_args), so that each loaded operand serves a
    row or column of the tile (a 4 x 4 tile: 8 loads for 16 products, not
    32). The outer `scf.parallel` steps over tiles and is then shaped into
    blocks of threads by `loom-tile-parallel-loops-for-gpu` like any other.
    A tile reaching past the end of a dimension (a dynamic one, or one the
    tile does not divide) computes those elements on the last row or column,
    so that every load stays in bounds, and does not store them. Each
    output's sum is the same, in the same order, as one thread per output
    would make it. A `linalg.fill` of the output right before the op goes
    as in `loom-reduce-across-gpu-threads`: the accumulators start from its
    value.

    The op qualifies when it has one output, at least two parallel
    dimensions with more than one iteration, and a payload of the form
    `loom-reduce-across-gpu-threads` takes.
  }];
  let options = [
    Option<"tileRows", "tile-rows", "int64_t", /*default=*/"4",
           "Outputs per thread along the second-to-last wide dimension">,
    Option<"tileCols", "tile-cols", "int64_t", /*default=*/"4",
           "Outputs per thread along the last wide dimension">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::memref::MemRefDialect"];
}

def LoomUniformGpuReductionsPass
    : Pass<"loom-uniform-gpu-reductions", "::mlir::func::FuncOp"> {
  let summary = "Mark block-wide reductions that every thread reaches uniform";
  let description = [{
    `convert-parallel-loops-to-gpu` makes the `scf.reduce` of a loop mapped
    to threads (loom-reduce-across-gpu-threads) a `gpu.all_reduce` without
    the `uniform` attribute, and the NVVM lowering rewrites only uniform
    ones. A `gpu.all_reduce` directly in a `gpu.launch` body, under no
    condition or loop, is reached by every thread of the block: it is
    marked `uniform`. Others are left alone (and fail to lower, by name).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def LoomAddIntoReductionsPass : Pass<"loom-add-into-reductions"> {
  let summary = "Start a sum from the tensor it is then added to";
  let description = [{
    `x + Σ p` written as a sum from zero (a `linalg.generic` with reduction
    loops whose output a `linalg.fill` of zero starts, its body adding to
    the output) followed by an elementwise add of `x` becomes the sum
    started from `x`: one op, and on a GPU one kernel, fewer. The residual
    adds after a transformer block's attention output projection and its
    FFN's down projection are such adds. The sum must be used by the add
    alone, and `x` must have its type and exist before the sum.

    A block-wide sum (loom-reduce-across-gpu-threads) adds its total to the
    output's start value once, so its result is bit for bit the same; a sum
    in order (loom-register-tile-gpu-reductions, the CPU) adds the products
    to `x` one by one, which rounds differently. The NVIDIA pipeline runs
    it after elementwise fusion; the CPU's does not.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def LoomExpandIntoSlicesPass : Pass<"loom-expand-into-slices"> {
  let summary = "Compute a result in the shape of the slice it is inserted as";
  let description = [{
    A `linalg.generic` whose result is used only by a `tensor.expand_shape`,
    itself used only as the source of a `tensor.insert_slice`, becomes a
    generic with the expanded shape (upstream's fusion of reshapes by
    expansion, limited to this case): decode's value projection `[1, 1,
    kv_heads * head_dim]`, reshaped to `[1, kv_heads, 1, head_dim]` and
    inserted into its cache at the step's position, computes the cache's
    shape directly. Likewise a generic whose result reaches a slice through
    reshapes that only move unit dimensions (RoPE's key row `[1, 1,
    kv_heads, head_dim]` into the cache's `[1, kv_heads, 1, head_dim]`)
    writes the slice's shape, its output map's results permuted.
    `eliminate-empty-tensors` can then make the cache's slice its output:
    the new row is written in place, and on a GPU the copy kernel after it
    goes. Other reshapes are left alone (the CPU's
    contraction lowerings expect the projections' own shapes). The NVIDIA
    pipeline runs it before empty-tensor elimination.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LoomAttachGpuTargetPass
    : Pass<"loom-attach-gpu-target", "::mlir::ModuleOp"> {
  let summary = "Attach the NVVM target of the module's GPU to its kernels";
  let description = [{
    Runs upstream's `nvvm-attach-target` with the chip of the `"GPU"` device
    of the module's target system spec (`loom-set-target gpu=...`), so that
    the kernels are compiled for the GPU the IR describes; `chip` serves a
    module whose spec describes no GPU. A module with `gpu.module`s and
    neither is an error.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"",
           "The compute capability where the module's spec names no GPU">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

def LoomCseTensorsPass : Pass<"loom-cse-tensors"> {
  let summary = "Compute identical tensor ops of a function's body once";
  let description = [{
    Common subexpression elimination for tensor IR after elementwise fusion.
    An op of a function's body that computes what one before it computes
    (the same operands and attributes, equivalent regions) is replaced by
    it, where two linalg outputs that start from `tensor.empty` of the same
    sizes count as the same operand: upstream CSE sees two computations
    with distinct empty outputs as different, and once it has merged the
    empty tensors, the outputs share one. Left alone:

    - `tensor.empty`, `linalg.fill`, and views or casts of them: where an
      output starts. Two outputs starting from one tensor would share a
      buffer after bufferization (two loops' accumulators initialised from
      one cast of an empty tensor came out wrong: a random Mixtral's
      logits 16 off);
    - ops with memory effects, loops and other ops with regions (only
      linalg ops' bodies are compared), and ops nested in regions.

    Run after elementwise fusion (a producer used twice no longer fuses into
    its consumers): the NVIDIA pipeline computes RoPE's cos/sin table of a
    step's positions once for every layer's queries and keys, instead of
    twice per layer.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def LoomMergeGpuModulesPass
    : Pass<"loom-merge-gpu-modules", "::mlir::ModuleOp"> {
  let summary = "Move every outlined kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` makes a `gpu.module` of every launch: hundreds
    for a model, each its own PTX (or cubin) image, ptxas run and driver
    module. This pass moves every kernel of a module that holds just that
    kernel into one `gpu.module` (`module-name`) and points the
    `gpu.launch_func` ops at it. Each kernel is renamed after what it
    computes, which is what profilers show (`loom-run --profile`, Nsight):
    `<entry>_<label>_<n>`, with the entry point the launch belongs to (the
    one a schedule kernel is `loom.kernel_of`, else the launch's function's
    name up to a `__k`: the code kernels share is `<entry>__k<N>__code`),
    the name of the launch's location as an identifier (`blk.0.attn_q`
    becomes `blk_0_attn_q`; `kernel` where it has none), and a count of the
    kernels so named: `@decode__k3_kernel::@decode__k3_kernel` becomes
    `@kernels::@decode_blk_0_attn_q_0`. Modules with anything else in them
    are left as they are.
  }];
  let options = [
    Option<"moduleName", "module-name", "std::string", /*default=*/"\"kernels\"",
           "The name of the merged gpu.module">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def LoomOutlineParallelLoopsPass
    : Pass<"loom-outline-parallel-loops", "::mlir::ModuleOp"> {
  let summary = "Outline parallel loops into bodies the runtime runs on threads";
  let description = [{
    Every outermost `scf.parallel` is split along its first dimension that
    does not have a single iteration (a batch of one gives nothing to split;
    the dimension needs step 1): it becomes a private function
    `@__loom_parallel_body_<n>(%lo, %hi, captures...)` running the loop over
    `[lo, hi)` of that dimension, and at its place a
    call of `@__loom_parallel_dispatch_<n>(%lb, %ub, %grain, captures...)`.
    `loom-lower-parallel-dispatch` later turns that call into one call of the
    runtime's `loom_parallel_for`, which splits `[lb, ub)` across the threads
    of its oneTBB arena. `grain` is the smallest chunk worth a task: about
    `min-work` innermost iterations, judged from the static trip counts
    (their product over every loop in the body, saturating: loops side by
    side count as nested, an overestimate that gives grain 1).

    Before:

    ```mlir
    scf.parallel (%i) = (%c0) to (%n) step (%c1) {
      scf.for %k = %c0 to %c64 step %c1 { ... %x, %w ... }
    }
    ```

    After:

    ```mlir
    func.call @__loom_parallel_dispatch_0(%c0, %n, %grain, %x, %w) : (...) -> ()
    ...
    func.func private @__loom_parallel_body_0(%lo: index, %hi: index, %x: ..., %w: ...) {
      scf.parallel (%i) = (%lo) to (%hi) step (%c1) { ... }
      return
    }
    ```
  }];
  let options = [
    Option<"minWork", "min-work", "int64_t", /*default=*/"32768",
           "Innermost iterations a task should have at least">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect"];
}

def LoomLowerParallelDispatchPass
    : Pass<"loom-lower-parallel-dispatch", "::mlir::ModuleOp"> {
  let summary = "Turn parallel dispatch calls into calls of loom_parallel_for";
  let description = [{
    Runs on the LLVM dialect, after `loom-outline-parallel-loops` and the
    conversion to LLVM. Each call of `@__loom_parallel_dispatch_<n>(lb, ub,
    grain, captures...)` becomes: the captured values stored into stack
    slots, an array of pointers to them, and
    `loom_parallel_for(@__loom_parallel_packed_<n>, args, lb, ub, grain)`;
    `@__loom_parallel_packed_<n>(args, lo, hi)` loads the captures back and
    calls the body. The runtime (lib/Runtime/Parallel.cpp) implements
    `loom_parallel_for` with `tbb::parallel_for`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // LOOM_CODEGEN_PASSES_TD
