#!/usr/bin/env python3
"""Writes a GPT-2 or Falcon model of a given shape with random weights as
GGUF (arch `gpt2` or `falcon`, f32), with the byte-level BPE vocabulary of a
vocabulary GGUF, for benchmarks side by side with llama.cpp (which needs a
vocabulary to load a model).

  write_family_gguf.py --arch gpt2 --shape 768,3072,12,12,12,1024 \\
      --vocab ../shared/tokenizers/ggml-vocab-gpt-2.gguf --out /tmp/gpt2.gguf

--shape is dim,hidden,layers,heads,kv_heads,context (GPT-2 124M:
768,3072,12,12,12,1024); the vocabulary size is the vocabulary file's.
GPT-2: learned positions, biases, tied head (kv_heads must equal heads).
Falcon: the original architecture (one LayerNorm feeding attention and MLP
in parallel, multi-query attention with kv_heads 1 or grouped with more,
RoPE, no biases, an untied head). Weights are normal with standard
deviation --scale, LayerNorm weights near 1, biases small.
"""

import argparse

import numpy as np


def main():
    import gguf
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--arch", choices=["gpt2", "falcon"], default="gpt2")
    ap.add_argument("--shape", default="768,3072,12,12,12,1024")
    ap.add_argument("--vocab", required=True,
                    help="a GGUF with a gpt2 (byte-level BPE) vocabulary")
    ap.add_argument("--out", required=True)
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=124)
    args = ap.parse_args()
    dim, hidden, layers, heads, kv_heads, context = map(int, args.shape.split(","))
    gpt2 = args.arch == "gpt2"
    if gpt2 and kv_heads != heads:
        raise SystemExit("GPT-2 has as many key/value heads as heads")
    head_dim = dim // heads
    source = gguf.GGUFReader(args.vocab)
    if source.fields["tokenizer.ggml.model"].contents() != "gpt2":
        raise SystemExit(f"{args.vocab}: not a gpt2 (byte-level BPE) vocabulary")
    tokens = source.fields["tokenizer.ggml.tokens"].contents()
    vocab = len(tokens)

    w = gguf.GGUFWriter(args.out, args.arch)
    w.add_name(f"{args.arch}-random")
    w.add_block_count(layers)
    w.add_context_length(context)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(hidden)
    w.add_head_count(heads)
    if not gpt2:
        w.add_head_count_kv(kv_heads)
    w.add_layer_norm_eps(1e-5)
    w.add_file_type(0)
    for field in source.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(field.name, field.contents(), field.types[0], sub)

    rng = np.random.default_rng(args.seed)
    normal = lambda *shape: (rng.standard_normal(shape) * args.scale).astype(np.float32)
    ones = lambda n: (1.0 + rng.standard_normal(n) * 0.1).astype(np.float32)
    qkv = (heads + 2 * kv_heads) * head_dim
    w.add_tensor("token_embd.weight", normal(vocab, dim))
    if gpt2:
        w.add_tensor("position_embd.weight", normal(context, dim))
    for i in range(layers):
        b = f"blk.{i}"
        w.add_tensor(f"{b}.attn_norm.weight", ones(dim))
        w.add_tensor(f"{b}.attn_norm.bias", normal(dim))
        w.add_tensor(f"{b}.attn_qkv.weight", normal(qkv, dim))
        w.add_tensor(f"{b}.attn_output.weight", normal(dim, dim))
        w.add_tensor(f"{b}.ffn_up.weight", normal(hidden, dim))
        w.add_tensor(f"{b}.ffn_down.weight", normal(dim, hidden))
        if gpt2:
            w.add_tensor(f"{b}.attn_qkv.bias", normal(qkv))
            w.add_tensor(f"{b}.attn_output.bias", normal(dim))
            w.add_tensor(f"{b}.ffn_norm.weight", ones(dim))
            w.add_tensor(f"{b}.ffn_norm.bias", normal(dim))
            w.add_tensor(f"{b}.ffn_up.bias", normal(hidden))
            w.add_tensor(f"{b}.ffn_down.bias", normal(dim))
    w.add_tensor("output_norm.weight", ones(dim))
    w.add_tensor("output_norm.bias", normal(dim))
    if not gpt2:
        w.add_tensor("output.weight", normal(vocab, dim))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
