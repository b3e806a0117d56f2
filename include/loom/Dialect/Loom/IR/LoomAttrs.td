//===- LoomAttrs.td - the artifact contract as attributes --*- tablegen -*-===//
//
// What an entry point's parameters are to the runtime and how it is split
// into kernels: the contract between the compiler and the runtime, as typed
// attributes the verifier checks. The manifest an artifact carries is a
// projection of them.
//
//===----------------------------------------------------------------------===//

#ifndef LOOM_DIALECT_LOOM_IR_LOOMATTRS_TD
#define LOOM_DIALECT_LOOM_IR_LOOMATTRS_TD

include "loom/Dialect/Loom/IR/LoomBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Loom_ParamRole : I32EnumAttr<"ParamRole",
    "what an entry point's parameter (or result) is to the runtime", [
      // i32 token ids [1, n].
      I32EnumAttrCase<"tokens", 0>,
      // index: the positions already in the KV cache.
      I32EnumAttrCase<"position", 1>,
      // index: the first token whose logits are computed.
      I32EnumAttrCase<"logits_from", 2>,
      // A KV cache, updated in place (its `loom.name`: k_cache.3).
      I32EnumAttrCase<"cache", 3>,
      // The f32 logits [1, n - logits_from, vocab].
      I32EnumAttrCase<"logits", 4>,
      // i8 [bytes]: the activations, laid out by loom-schedule-kernels.
      I32EnumAttrCase<"arena", 5>,
      // i32 token types (segment ids) [1, n] of an encoder's tokens (BERT).
      I32EnumAttrCase<"token_types", 6>,
      // i32 [1, n]: each token's position in its sequence (an encoder's
      // call packs several sequences one after the other).
      I32EnumAttrCase<"positions", 7>,
      // i32 [1, n]: the sequence (0, 1, ...) each token belongs to; tokens
      // attend to their own sequence's only.
      I32EnumAttrCase<"sequences", 8>,
      // i32 [b]: the length of each packed sequence.
      I32EnumAttrCase<"sequence_lengths", 9>
    ]> {
  let cppNamespace = "::mlir::loom";
  let genSpecializedAttr = 0;
}

def Loom_ParamRoleAttr : EnumAttr<Loom_Dialect, Loom_ParamRole, "role"> {
  let summary = "what an entry point's parameter is to the runtime";
  let description = [{
    On the parameters and results of an entry point (`loom.role`):
    `#loom.role<tokens>`, `position`, `logits_from`, `cache`, `logits`,
    `arena`, `token_types`, `positions`, `sequences`, `sequence_lengths`.
    Weights are named by `loom.weight` instead.
    `logits` is an entry point's one f32 output: the logits of a decoder,
    and of an encoder's entry points the hidden states (`@hidden`), the
    masked-LM logits (`@mlm`) or the sentence embeddings (`@embed`). An
    encoder's call packs `b` sequences into its `n` tokens (`positions`,
    `sequences`, `sequence_lengths` say where each one lies).
  }];
  let assemblyFormat = "`<` $value `>`";
}

def Loom_KernelAttr : AttrDef<Loom_Dialect, "Kernel"> {
  let mnemonic = "kernel";
  let summary = "one kernel of an entry point's schedule";
  let description = [{
    The function `name` (a kernel of the entry point, marked
    `loom.kernel_of`), the kernels it waits for (`deps`: indices of earlier
    kernels of the schedule), the entry point's parameters it takes
    (`params`: indices, in the kernel's order), and the buffers it reads and
    writes (labels for people and `--print-schedule`: a parameter's name or
    `arena[lo, hi)`). `code`, where present, names the private function
    whose code the kernel runs, shared with other kernels of the schedule
    (loom-share-kernel-code). `op`, where present, says what the kernel
    computes in the model's own words: the names its ops carry from the
    frontend (their locations, e.g. `blk.0.attn_q`, several joined by `+`),
    for profiles (`loom-run --profile`) and people.

    ```mlir
    #loom.kernel<name = "prefill_k0", deps = array<i64>,
                 params = array<i64: 0, 1, 5>, reads = ["tokens"],
                 writes = ["arena[0, 256)"], op = "token_embd">
    ```
  }];
  let parameters = (ins "::mlir::StringAttr":$name,
                        "::mlir::DenseI64ArrayAttr":$deps,
                        "::mlir::DenseI64ArrayAttr":$params,
                        "::mlir::ArrayAttr":$reads,
                        "::mlir::ArrayAttr":$writes,
                        OptionalParameter<"::mlir::StringAttr">:$code,
                        OptionalParameter<"::mlir::StringAttr">:$op);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def Loom_ScheduleAttr : AttrDef<Loom_Dialect, "Schedule"> {
  let mnemonic = "schedule";
  let summary = "an entry point split into kernels over one activation arena";
  let description = [{
    On an entry point (`loom.schedule`), made by `loom-schedule-kernels`:
    the bytes of its activation arena, planned for `max_tokens` tokens per
    call, and its kernels in a dependency order (each kernel's `deps` name
    only kernels before it). The runtime runs them as a graph; calling the
    entry point runs them one after the other.
  }];
  let parameters = (ins "int64_t":$arena_bytes, "int64_t":$max_tokens,
                        "::mlir::ArrayAttr":$kernels);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The kernels (the verifier checks each element is one).
    auto getKernelList() const {
      return getKernels().getAsRange<::mlir::loom::KernelAttr>();
    }
  }];
}

#endif // LOOM_DIALECT_LOOM_IR_LOOMATTRS_TD
