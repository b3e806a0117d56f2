#!/usr/bin/env python3
"""A numpy reference of the Llama family, for the random test models.

Rebuilds the weights of a model written by write_test_model.py (same
generator, same seed: independent of any file reader), runs greedy decoding
after a forced prompt (--prompt ids, default BOS) for --steps positions (or
until BOS comes again) in float64, recomputing the whole sequence at
every step (no KV cache), and writes the logits of every position as
little-endian f32 rows, the layout of `loom-run --dump-logits`.

usage: reference_forward.py --arch qwen2 --rope half --steps 24 --out ref.f32
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import write_test_model as models  # noqa: E402


def rope(x, positions, theta, style):
    """x: [seq, heads, d]."""
    seq, heads, d = x.shape
    half = d // 2
    inv = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # [d/2]
    ang = positions[:, None] * inv[None, :]                      # [seq, d/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = np.empty_like(x)
    if style == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
    else:
        a, b = x[..., :half], x[..., half:]
        out[..., :half] = a * cos - b * sin
        out[..., half:] = a * sin + b * cos
    return out


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def int8_blocks(x, size=32):
    """x as Loom and llama.cpp's x86 code feed it to a q8_0 / q4_0 weight:
    f32 blocks of 32 along the last axis, each d * q with q =
    round-half-even(x * (127 / max|x|)) in f32 arithmetic (0 where max|x| is
    0) and d = max|x| / 127 rounded to f16 (q8_0 and q8_1 store it so). A
    K-quant weight takes blocks of 256 (llama.cpp's q8_K, whose d is
    1 / (127 / max|x|) in f32)."""
    x32 = x.astype(np.float32).reshape(*x.shape[:-1], -1, size)
    amax = np.abs(x32).max(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = np.where(amax == 0, np.float32(0),
                       np.float32(127) / amax).astype(np.float32)
        if size == 256:
            d = np.where(inv == 0, np.float32(0),
                         np.float32(1) / inv).astype(np.float32)
        else:
            d = (amax / np.float32(127)).astype(np.float16).astype(np.float32)
    q = np.clip(np.rint(x32 * inv), -127, 127)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(x.shape)


# Formats whose super-blocks of 256 take one x scale (Loom's
# convert-loom-to-linalg and llama.cpp's q8_K).
K_QUANTS = ("q2_k", "q3_k", "q4_k", "q5_k", "q6_k")


def bf16_round(x):
    """x rounded to bf16 (to nearest, ties to even), as Loom and llama.cpp
    feed it to a bf16 weight."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def linear(x, w, name, inputs):
    """x @ w[name].T, the input first rounded as the weight's format wants
    it (`inputs`: name -> rounding, for q8_0/q4_0 and bf16 weights)."""
    if name in inputs:
        x = inputs[name](x)
    return x @ w[name].T


def mixture_of_experts(cfg, w, g, h, inputs):
    """Mixtral: softmax over the router logits, the top-k experts (ties to the
    lower id), their weights renormalised, a SwiGLU FFN per chosen expert."""
    logits = linear(h, w, f"{g}.ffn_gate_inp.weight", inputs)      # [seq, E]
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        top = np.argsort(-p[t], kind="stable")[:cfg["top_k"]]
        weights = p[t, top] / p[t, top].sum()
        for e, wt in zip(top, weights):
            gate = w[f"{g}.ffn_gate_exps.weight"][e] @ h[t]
            up = w[f"{g}.ffn_up_exps.weight"][e] @ h[t]
            act = gate / (1.0 + np.exp(-gate))
            out[t] += wt * (w[f"{g}.ffn_down_exps.weight"][e] @ (act * up))
    return out


def forward(cfg, w, tokens, style, inputs={}):
    d, hq, hkv = cfg["dim"], cfg["heads"], cfg["kv_heads"]
    hd = d // hq
    seq = len(tokens)
    x = w["token_embd.weight"][tokens]                       # [seq, d]
    pos = np.arange(seq, dtype=np.float64)
    causal = np.triu(np.full((seq, seq), -np.inf), 1)
    if cfg.get("window"):  # a query sees itself and the window - 1 before
        causal += np.tril(np.full((seq, seq), -np.inf), -cfg["window"])
    for i in range(cfg["layers"]):
        g = f"blk.{i}"
        h = rms_norm(x, w[f"{g}.attn_norm.weight"], cfg["eps"])
        def proj(name):
            y = linear(h, w, f"{g}.{name}.weight", inputs)
            if f"{g}.{name}.bias" in w:
                y = y + w[f"{g}.{name}.bias"]
            return y
        q = rope(proj("attn_q").reshape(seq, hq, hd), pos, cfg["theta"], style)
        k = rope(proj("attn_k").reshape(seq, hkv, hd), pos, cfg["theta"], style)
        v = proj("attn_v").reshape(seq, hkv, hd)
        rep = hq // hkv
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + causal
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p = p / p.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", p, v).reshape(seq, d)
        x = x + linear(o, w, f"{g}.attn_output.weight", inputs)
        h = rms_norm(x, w[f"{g}.ffn_norm.weight"], cfg["eps"])
        if cfg["experts"]:
            x = x + mixture_of_experts(cfg, w, g, h, inputs)
        else:
            gate = linear(h, w, f"{g}.ffn_gate.weight", inputs)
            up = linear(h, w, f"{g}.ffn_up.weight", inputs)
            silu = gate / (1.0 + np.exp(-gate))
            x = x + linear(silu * up, w, f"{g}.ffn_down.weight", inputs)
    x = rms_norm(x, w["output_norm.weight"], cfg["eps"])
    return linear(x, w, "output.weight", inputs)                # [seq, vocab]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["llama", "qwen2", "mixtral"], required=True)
    ap.add_argument("--rope", choices=["interleaved", "half"], required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quant", choices=models.QUANT_TYPES,
                    help="the weights as a GGUF file quantized with "
                    "write_test_model.py --quant stores them (encoded and "
                    "decoded by the gguf package)")
    ap.add_argument("--f32-activations", action="store_true",
                    help="with --quant q8_0/q4_0/bf16: multiply the weights "
                    "with f32 activations (Loom's int8-activations=false, "
                    "bf16-activations=false)")
    ap.add_argument("--shape", help="as write_test_model.py's --shape")
    ap.add_argument("--prompt", default="1",
                    help="token ids to force first, BOS included")
    ap.add_argument("--window", type=int,
                    help="as write_test_model.py's --window")
    args = ap.parse_args()
    cfg = models.config(args.arch, args.shape)
    cfg["window"] = args.window
    weights = models.weights(cfg, args.seed, args.scale).items()
    w = {name: models.as_stored(name, value, args.quant).astype(np.float64)
         for name, (_, value) in weights}
    # Linear layers with q8_0 / q4_0 weights take 8-bit activations, those
    # with bf16 weights bf16 ones (Loom's convert-loom-to-linalg
    # int8-activations and bf16-activations, llama.cpp's CPU path), the
    # router included; the stacked experts of a MoE layer take f32 ones.
    inputs = {}
    def rounding(name):
        qtype = models.tensor_type(name, args.quant)
        if qtype in K_QUANTS:
            return lambda x: int8_blocks(x, 256)
        return bf16_round if qtype == "bf16" else (
            int8_blocks if qtype in models.BLOCK_TYPES else None)
    if args.quant and not args.f32_activations:
        inputs = {name: rounding(name) for name, (_, value) in weights
                  if models.quantizable(name, value, args.quant)
                  and rounding(name) and value.ndim == 2
                  and name != "token_embd.weight"}
    prompt = [int(t) for t in args.prompt.split()]
    tokens = prompt[:1]
    rows = []
    for step in range(args.steps):
        logits = forward(cfg, w, np.array(tokens), args.rope, inputs)[-1]
        rows.append(logits)
        if step + 1 < len(prompt):  # the prompt is forced
            tokens.append(prompt[step + 1])
            continue
        token = int(np.argmax(logits))
        if token == 1:  # BOS ends a run, as in llama2.c's run.c
            break
        tokens.append(token)
    np.asarray(rows, dtype="<f4").tofile(args.out)
    print("tokens:", " ".join(map(str, tokens)))


if __name__ == "__main__":
    main()
