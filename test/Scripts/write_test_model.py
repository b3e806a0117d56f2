#!/usr/bin/env python3
"""Writes a small random-weight model as GGUF and/or safetensors + config.json.

The files are written with the `gguf` and `safetensors` Python packages, which
are independent of Loom's readers. Both formats hold the same weights:

  qwen2    Qwen2 (QKV biases, rotate-half RoPE): GGUF arch `qwen2` and HF
           `Qwen2ForCausalLM` describe the same model, so Loom must build
           identical IR from either.
  llama    a Llama with grouped-query attention.
  mixtral  a Mixtral-style MoE: GGUF arch `llama` with stacked experts
           (`ffn_gate_exps`), HF `MixtralForCausalLM` with one tensor per expert.

usage: write_test_model.py --arch qwen2 --out DIR [--format gguf|safetensors|both]
"""

import argparse
import sys
import json
import os

import numpy as np


def shapes(cfg):
    """GGUF name -> (HF name, shape) of every tensor of the model."""
    d, h, v = cfg["dim"], cfg["hidden"], cfg["vocab"]
    hd = d // cfg["heads"]
    q, kv = cfg["heads"] * hd, cfg["kv_heads"] * hd
    t = {
        "token_embd.weight": ("model.embed_tokens.weight", (v, d)),
        "output_norm.weight": ("model.norm.weight", (d,)),
        "output.weight": ("lm_head.weight", (v, d)),
    }
    for i in range(cfg["layers"]):
        hf, g = f"model.layers.{i}", f"blk.{i}"
        t[f"{g}.attn_norm.weight"] = (f"{hf}.input_layernorm.weight", (d,))
        t[f"{g}.ffn_norm.weight"] = (f"{hf}.post_attention_layernorm.weight", (d,))
        for gg, hh, rows in (("attn_q", "q_proj", q), ("attn_k", "k_proj", kv),
                             ("attn_v", "v_proj", kv)):
            t[f"{g}.{gg}.weight"] = (f"{hf}.self_attn.{hh}.weight", (rows, d))
            if cfg["bias"]:
                t[f"{g}.{gg}.bias"] = (f"{hf}.self_attn.{hh}.bias", (rows,))
        t[f"{g}.attn_output.weight"] = (f"{hf}.self_attn.o_proj.weight", (d, q))
        if cfg["experts"]:
            e = cfg["experts"]
            t[f"{g}.ffn_gate_inp.weight"] = (f"{hf}.block_sparse_moe.gate.weight", (e, d))
            for gg, w, shape in (("ffn_gate_exps", "w1", (h, d)),
                                 ("ffn_up_exps", "w3", (h, d)),
                                 ("ffn_down_exps", "w2", (d, h))):
                t[f"{g}.{gg}.weight"] = (
                    [f"{hf}.block_sparse_moe.experts.{j}.{w}.weight" for j in range(e)],
                    (e,) + shape)
        else:
            t[f"{g}.ffn_gate.weight"] = (f"{hf}.mlp.gate_proj.weight", (h, d))
            t[f"{g}.ffn_up.weight"] = (f"{hf}.mlp.up_proj.weight", (h, d))
            t[f"{g}.ffn_down.weight"] = (f"{hf}.mlp.down_proj.weight", (d, h))
    return t


def weights(cfg, seed, scale=0.1):
    """Normal(0, scale) weights; norm weights around 1."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (hf, shape) in shapes(cfg).items():
        w = rng.standard_normal(shape) * scale
        if "norm" in name:
            w = 1.0 + w
        out[name] = (hf, w.astype(np.float32))
    return out


# Storage formats for --quant, as the gguf package names them (lower
# case), and mixes of them as llama.cpp's quantizer makes (q4_k_m: the
# value and down projections and the output in q6_k, the rest q4_k; q5_k_m
# likewise with q5_k; q3_k_m: values q5_k, output and down projections
# q4_k and q6_k, the rest q3_k).
BLOCK_TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k",
               "q5_k", "q6_k", "iq4_nl"]
MIXES = {
    "q4_k_m": {"attn_v": "q6_k", "ffn_down": "q6_k", "output": "q6_k",
               "": "q4_k"},
    "q5_k_m": {"attn_v": "q6_k", "ffn_down": "q6_k", "output": "q6_k",
               "": "q5_k"},
    "q3_k_m": {"attn_v": "q5_k", "ffn_down": "q4_k", "output": "q6_k",
               "attn_output": "q4_k", "": "q3_k"},
}
QUANT_TYPES = BLOCK_TYPES + ["f16", "bf16"] + list(MIXES)


def tensor_type(name, quant):
    """The storage type `quant` gives tensor `name` (a mix picks by the
    name's role: blk.N.attn_v.weight -> attn_v)."""
    if quant not in MIXES:
        return quant
    role = name.split(".")[-2] if name.startswith("blk.") else name.split(".")[0]
    return MIXES[quant].get(role, MIXES[quant][""])


def block_values(qtype):
    return 256 if qtype.endswith("_k") else 32


def quantizable(name, value, quant):
    """Which tensors a quantized file stores in `quant`, as llama.cpp's
    quantizer does: the matrices (not norms or biases) whose rows fill
    whole blocks (any row length for f16/bf16)."""
    if quant is None or value.ndim not in (2, 3) or "norm" in name:
        return False
    qtype = tensor_type(name, quant)
    return qtype in ("f16", "bf16") or value.shape[-1] % block_values(qtype) == 0


def stored(name, value, quant):
    """The bytes a quantized GGUF stores for `value`, and the gguf type:
    the gguf package's encoder where it has one, ggml_blocks.py's (checked
    against the package's decoder) otherwise."""
    import gguf
    qname = tensor_type(name, quant)
    qtype = getattr(gguf.GGMLQuantizationType, qname.upper())
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ggml_blocks
    if qname in ggml_blocks.ENCODERS:
        return ggml_blocks.ENCODERS[qname](value), qtype
    return gguf.quants.quantize(value, qtype), qtype


def as_stored(name, value, quant):
    """`value` as a reader of the quantized file sees it (decoded by the
    gguf package, not by Loom)."""
    if not quantizable(name, value, quant):
        return value
    import gguf
    data, qtype = stored(name, value.astype(np.float32), quant)
    return gguf.quants.dequantize(data, qtype).reshape(value.shape)


def write_gguf(cfg, tensors, path, quant=None):
    import gguf
    arch = cfg["gguf_arch"]
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"loom-test-{cfg['name']}")
    w.add_context_length(cfg["context"])
    w.add_embedding_length(cfg["dim"])
    w.add_block_count(cfg["layers"])
    w.add_feed_forward_length(cfg["hidden"])
    w.add_head_count(cfg["heads"])
    w.add_head_count_kv(cfg["kv_heads"])
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_rope_freq_base(cfg["theta"])
    if cfg.get("window"):
        w.add_sliding_window(cfg["window"])
    if cfg["experts"]:
        w.add_expert_count(cfg["experts"])
        w.add_expert_used_count(cfg["top_k"])
    # A minimal SentencePiece-style vocabulary: control tokens, then pieces.
    tokens = ["<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(3, cfg["vocab"])]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 3 + [-float(i) for i in range(3, cfg["vocab"])])
    w.add_token_types([2, 3, 3] + [1] * (cfg["vocab"] - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name, (_, value) in tensors.items():
        if quantizable(name, value, quant):
            data, qtype = stored(name, value, quant)
            w.add_tensor(name, data, raw_dtype=qtype)
        else:
            w.add_tensor(name, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def bf16_bytes(value):
    """float32 values rounded to bfloat16 (to nearest, ties to even)."""
    bits = np.ascontiguousarray(value, dtype=np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype("<u2").tobytes()


def save_bf16(flat, path):
    """A safetensors file of BF16 tensors (numpy has no bfloat16, so the
    format is written directly: an 8-byte header size, the JSON header,
    the data)."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, value in flat.items():
        size = value.size * 2
        header[name] = {"dtype": "BF16", "shape": list(value.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for value in flat.values():
            f.write(bf16_bytes(value))


def write_safetensors(cfg, tensors, folder, dtype="f32"):
    flat = {}
    for _, (hf, value) in tensors.items():
        if isinstance(hf, list):  # one tensor per expert
            for j, name in enumerate(hf):
                flat[name] = np.ascontiguousarray(value[j])
        else:
            flat[hf] = value
    if dtype == "bf16":
        save_bf16(flat, os.path.join(folder, "model.safetensors"))
    else:
        from safetensors.numpy import save_file
        save_file(flat, os.path.join(folder, "model.safetensors"),
                  metadata={"format": "pt"})
    config = {
        "architectures": [cfg["hf_arch"]],
        "model_type": cfg["hf_type"],
        "hidden_size": cfg["dim"],
        "intermediate_size": cfg["hidden"],
        "num_hidden_layers": cfg["layers"],
        "num_attention_heads": cfg["heads"],
        "num_key_value_heads": cfg["kv_heads"],
        "max_position_embeddings": cfg["context"],
        "rms_norm_eps": cfg["eps"],
        "rope_theta": cfg["theta"],
        "vocab_size": cfg["vocab"],
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16" if dtype == "bf16" else "float32",
    }
    if cfg["experts"]:
        config["num_local_experts"] = cfg["experts"]
        config["num_experts_per_tok"] = cfg["top_k"]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


MODELS = {
    "qwen2": dict(name="qwen2", gguf_arch="qwen2", hf_arch="Qwen2ForCausalLM",
                  hf_type="qwen2", dim=32, hidden=64, layers=2, heads=4,
                  kv_heads=2, vocab=64, context=128, eps=1e-6, theta=1e6,
                  bias=True, experts=0, top_k=0),
    "llama": dict(name="llama", gguf_arch="llama", hf_arch="LlamaForCausalLM",
                  hf_type="llama", dim=32, hidden=64, layers=2, heads=4,
                  kv_heads=1, vocab=64, context=128, eps=1e-5, theta=1e4,
                  bias=False, experts=0, top_k=0),
    "mixtral": dict(name="mixtral", gguf_arch="llama", hf_arch="MixtralForCausalLM",
                    hf_type="mixtral", dim=32, hidden=48, layers=3, heads=4,
                    kv_heads=2, vocab=64, context=128, eps=1e-5, theta=1e6,
                    bias=False, experts=8, top_k=2),
}


def config(arch, shape=None):
    """MODELS[arch], with --shape's dimensions where given."""
    cfg = dict(MODELS[arch])
    if shape:
        (cfg["dim"], cfg["hidden"], cfg["layers"], cfg["heads"],
         cfg["kv_heads"], cfg["vocab"]) = map(int, shape.split(","))
        cfg["context"] = max(cfg["context"], 1024)
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(MODELS), required=True)
    ap.add_argument("--out", required=True, help="folder to write into")
    ap.add_argument("--format", choices=["gguf", "safetensors", "both"],
                    default="both")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=0.1,
                    help="standard deviation of the random weights")
    # Ways to break a model, for the tests of bad input.
    ap.add_argument("--drop", action="append", default=[],
                    help="leave out this tensor (GGUF name)")
    ap.add_argument("--transpose", action="append", default=[],
                    help="write this 2-d tensor transposed (GGUF name)")
    ap.add_argument("--gguf-arch", help="declare another GGUF architecture")
    ap.add_argument("--layers", type=int, help="declare another layer count")
    ap.add_argument("--eps", type=float, help="declare another norm epsilon")
    ap.add_argument("--theta", type=float, help="declare another RoPE theta")
    ap.add_argument("--context", type=int,
                    help="declare another context length")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                    help="safetensors only: the tensors' type (bf16: rounded "
                    "to nearest even, as torch does)")
    ap.add_argument("--window", type=int,
                    help="GGUF only: a sliding window of this many positions "
                    "(Mistral's: a query sees itself and the W-1 before it)")
    ap.add_argument("--nonfinite", action="append", default=[],
                    help="put a NaN and an Inf into this tensor (GGUF name)")
    ap.add_argument("--quant", choices=QUANT_TYPES,
                    help="GGUF only: store the weight matrices in this format "
                    "or mix (those whose rows are not whole blocks stay f32)")
    ap.add_argument("--shape", help="other dimensions for a benchmark model: "
                    "dim,hidden,layers,heads,kv_heads,vocab (e.g. the shape of "
                    "stories15M: 288,768,6,6,6,32000)")
    args = ap.parse_args()
    cfg = config(args.arch, args.shape)
    os.makedirs(args.out, exist_ok=True)
    tensors = weights(cfg, args.seed, args.scale)
    for name in args.drop:
        del tensors[name]
    for name in args.transpose:
        hf, value = tensors[name]
        tensors[name] = (hf, np.ascontiguousarray(value.T))
    for name in args.nonfinite:
        hf, value = tensors[name]
        value = value.copy()
        value.flat[0] = np.nan
        value.flat[-1] = np.inf
        tensors[name] = (hf, value)
    for key in ("eps", "theta", "context", "window"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.gguf_arch:
        cfg["gguf_arch"] = args.gguf_arch
    if args.layers:
        cfg["layers"] = args.layers
    if args.format in ("gguf", "both"):
        write_gguf(cfg, tensors, os.path.join(args.out, "model.gguf"),
                   args.quant)
    if args.format in ("safetensors", "both"):
        if args.quant:
            sys.exit("--quant writes GGUF files only")
        write_safetensors(cfg, tensors, args.out, args.dtype)


if __name__ == "__main__":
    main()
