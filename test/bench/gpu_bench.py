#!/usr/bin/env python3
"""Loom on a GPU side by side with PyTorch, same model, same device, same run.

usage: gpu_bench.py --loom-run BIN --artifact SO --model DIR
                    [--prompt 512] [--steps 128] [--json OUT] [--device cpu]
                    [--attention SO=DIR ...] [--seq 2048]

The model is a Hugging Face folder (config.json + model.safetensors in
bf16, e.g. a TinyLlama-1.1B-shaped random Llama from
`write_test_model.py --format safetensors --dtype bf16 --shape
2048,5632,22,32,4,32000`); the artifact is `loom-compile DIR --target=cuda`
of a folder of the same shapes. Measured, each on the one GPU:

  copy bandwidth  a device-to-device copy of 1 GiB (bytes read + written /
                  time, median of 10), which makes the decode roofline:
                  bandwidth / bytes of weights = tokens/s if every step read
                  every weight once and did nothing else;
  Loom            `loom-run --bench` (one untimed warm-up of the same prompt
                  and step first): prefill tokens/s of a PROMPT-token prompt,
                  decode tokens/s of STEPS greedy steps (--ignore-eos); the
                  schedule's independent kernels on several streams (the
                  default), and again with --schedule=sequential (one
                  stream: no events between streams);
  PyTorch         transformers' LlamaForCausalLM on the same weights in
                  bf16, attention `eager` and `sdpa`: prefill = one forward
                  of the prompt (median of 5 after 2 warm-ups), decode =
                  STEPS greedy forwards of one token with the KV cache
                  (after a warm-up run of 8);
  GEMM            each linear layer of the prefill alone: Loom's time from
                  `loom-run --profile` (CUDA events around its kernels,
                  the layers' mean), against `x @ w.T` in bf16 on the same
                  shapes (cuBLAS; median of 10) as TFLOP/s (2 M N K / time);
                  and from the same run's 16 decode steps, how much of a
                  step the kernels fill;
  attention       for each --attention SO=DIR (an artifact compiled with
                  --max-tokens >= SEQ, and its model folder): Loom's
                  attention op of a SEQ-token prefill (its kernels' time
                  from --profile, per layer), against
                  `scaled_dot_product_attention(q, k, v, is_causal=True)`
                  in bf16 on the same heads (the key/value heads repeated
                  for grouped-query attention), as TFLOP/s of causal
                  attention, 2 SEQ^2 head_dim heads (half of QK^T and PV's
                  4 SEQ^2 head_dim heads: the keys after a query are
                  skipped).

Prints Markdown tables (device, CPU and the numbers) and, with --json, the
same figures as JSON. Without a GPU it exits 2, measuring nothing, unless
--device cpu asks for a rehearsal of the script on the CPU (PyTorch on the
CPU, loom-run --device=cpu with CPU artifacts; no bandwidth figure; the
CPU's kernel times are its host clock).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def cuda_time(fn, repeats, device="cuda"):
    """Median seconds of `fn` over `repeats` runs, timed with CUDA events
    (on the CPU, with the wall clock)."""
    import torch
    times = []
    for _ in range(repeats):
        if device != "cuda":
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            continue
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def copy_bandwidth():
    import torch
    n = 1 << 30
    src = torch.empty(n, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    seconds = cuda_time(lambda: dst.copy_(src), 10)
    return 2 * n / seconds


def weight_bytes(folder):
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        header = int.from_bytes(f.read(8), "little")
    return os.path.getsize(os.path.join(folder, "model.safetensors")) - 8 - header


def loom(args, ids, artifact=None, model=None, steps=None, profile=False,
         extra=()):
    steps = args.steps if steps is None else steps
    cmd = [args.loom_run, artifact or args.artifact, "--weights",
           model or args.model, f"--device={args.device}", "--ids", "-p",
           " ".join(map(str, ids)), "-n", str(len(ids) + steps),
           "--temperature", "0", "--ignore-eos", "--bench"]
    if profile:
        cmd.append("--profile")
    cmd += list(extra)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip()[-400:]}
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def profiled(result, entry, op):
    """(seconds, runs) of `op` ("blk.*.attn_q") in `entry` of a --profile
    result: the ops whose first name it is (a kernel also computing the
    next op, "blk.*.attn_output+blk.*.residual", counts for its first)."""
    seconds = runs = 0
    for o in result.get("profile", []):
        if o["entry"] == entry and o["op"].split("+")[0] == op:
            seconds += o["seconds"]
            runs += o["runs"]
    return seconds, runs


def config_of(folder):
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    heads = c["num_attention_heads"]
    return {"dim": c["hidden_size"], "ffn": c["intermediate_size"],
            "layers": c["num_hidden_layers"], "heads": heads,
            "kv_heads": c.get("num_key_value_heads", heads),
            "head_dim": c.get("head_dim") or c["hidden_size"] // heads,
            "vocab": c["vocab_size"]}


def gemm_rows(args, ids):
    """Each linear layer of the prefill: Loom's kernels against cuBLAS."""
    import torch
    c = config_of(args.model)
    m = len(ids)
    q, kv = c["heads"] * c["head_dim"], c["kv_heads"] * c["head_dim"]
    shapes = {"attn_q": (q, c["dim"]), "attn_k": (kv, c["dim"]),
              "attn_v": (kv, c["dim"]), "attn_output": (c["dim"], q),
              "ffn_gate": (c["ffn"], c["dim"]), "ffn_up": (c["ffn"], c["dim"]),
              "ffn_down": (c["dim"], c["ffn"])}
    run = loom(args, ids, steps=16, profile=True)
    rows = []
    for op, (n, k) in shapes.items():
        flops = 2 * m * n * k
        row = {"op": op, "m": m, "n": n, "k": k}
        seconds, runs = profiled(run, "prefill", f"blk.*.{op}")
        if runs:
            # Every layer ran it once.
            row["loom_s"] = seconds / c["layers"]
            row["loom_tflops"] = flops / row["loom_s"] / 1e12
        x = torch.randn(m, k, device=args.device, dtype=torch.bfloat16)
        w = torch.randn(n, k, device=args.device, dtype=torch.bfloat16)
        for _ in range(3):
            x @ w.T
        row["torch_s"] = cuda_time(lambda: x @ w.T, 10, args.device)
        row["torch_tflops"] = flops / row["torch_s"] / 1e12
        rows.append(row)
    return rows, run


def busy(run):
    """Of a profiled run's decode steps: wall ms a step, kernel ms a step
    (the events' sum), and the share of the step the kernels fill: well
    under 100% means the host's launches keep the GPU waiting."""
    steps = run.get("generated_tokens", 0)
    if not steps or "profile" not in run:
        return None
    wall = run["decode_s"] / steps
    kernels = sum(o["seconds"] for o in run["profile"]
                  if o["entry"] == "decode") / steps
    return wall * 1e3, kernels * 1e3, 100 * kernels / wall


def attention_rows(args):
    """Causal attention at --seq tokens: Loom's op against SDPA."""
    import torch
    rows = []
    for spec in args.attention:
        artifact, folder = spec.split("=", 1)
        c = config_of(folder)
        s, d, h = args.seq, c["head_dim"], c["heads"]
        flops = 2 * s * s * d * h
        row = {"model": os.path.basename(folder.rstrip("/")), "seq": s,
               "head_dim": d, "heads": h, "kv_heads": c["kv_heads"]}
        ids = [3 + (i * 7919) % (c["vocab"] - 3) for i in range(s)]
        run = loom(args, ids, artifact=artifact, model=folder, steps=1,
                   profile=True)
        seconds, runs = profiled(run, "prefill", "blk.*.attention")
        if runs:
            row["loom_s"] = seconds / c["layers"]
            row["loom_tflops"] = flops / row["loom_s"] / 1e12
        elif "error" in run:
            row["loom_error"] = run["error"]
        qt = torch.randn(1, h, s, d, device=args.device, dtype=torch.bfloat16)
        kt = torch.randn(1, c["kv_heads"], s, d, device=args.device,
                         dtype=torch.bfloat16)
        vt = torch.randn_like(kt)
        group = h // c["kv_heads"]
        sdpa = torch.nn.functional.scaled_dot_product_attention

        def attend():
            return sdpa(qt, kt.repeat_interleave(group, 1),
                        vt.repeat_interleave(group, 1), is_causal=True)
        for _ in range(3):
            attend()
        row["torch_s"] = cuda_time(attend, 10, args.device)
        row["torch_tflops"] = flops / row["torch_s"] / 1e12
        rows.append(row)
    return rows


def torch_run(args, ids, attention):
    import torch
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(
        args.model, torch_dtype=torch.bfloat16,
        attn_implementation=attention).to(args.device).eval()
    prompt = torch.tensor([ids], device=args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    @torch.no_grad()
    def prefill():
        return model(prompt, use_cache=True)

    @torch.no_grad()
    def decode(steps):
        out = model(prompt, use_cache=True)
        cache = out.past_key_values
        token = out.logits[:, -1:].argmax(-1)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            out = model(token, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            token = out.logits[:, -1:].argmax(-1)
        sync()
        return steps / (time.perf_counter() - start)

    for _ in range(2):
        prefill()
    seconds = cuda_time(prefill, 5, args.device)
    decode(8)
    result = {"prefill_tok_s": len(ids) / seconds,
              "decode_tok_s": decode(args.steps)}
    del model
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loom-run", required=True)
    ap.add_argument("--artifact", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--json")
    ap.add_argument("--attention", action="append", default=[],
                    metavar="SO=DIR",
                    help="an artifact compiled with --max-tokens >= --seq "
                         "and its model folder: time its attention")
    ap.add_argument("--seq", type=int, default=2048,
                    help="the attention rows' prompt (default 2048)")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                    help="cpu: rehearse the script without a GPU")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("gpu_bench: PyTorch is not installed here: nothing compared",
              file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: no CUDA GPU: nothing measured", file=sys.stderr)
        return 2
    with open(os.path.join(args.model, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    # A fixed prompt of ordinary token ids (not BOS/EOS).
    ids = [3 + (i * 7919) % (vocab - 3) for i in range(args.prompt)]

    cuda = args.device == "cuda"
    device = torch.cuda.get_device_name() if cuda else "cpu (rehearsal)"
    bandwidth = copy_bandwidth() if cuda else float("nan")
    weights = weight_bytes(args.model)
    roofline = bandwidth / weights
    results = {"loom": loom(args, ids),
               "loom, one stream": loom(args, ids,
                                        extra=["--schedule=sequential"])}
    for attention in ("eager", "sdpa"):
        results["torch " + attention] = torch_run(args, ids, attention)
    gemms, profiled_run = gemm_rows(args, ids)
    gemm_error = profiled_run.get("error")
    decode_busy = busy(profiled_run)
    attentions = attention_rows(args)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f
                       if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"device: {device}; host CPU: {cpu}")
    print(f"copy bandwidth {bandwidth / 1e9:.0f} GB/s (read + written); "
          f"weights {weights / 1e9:.2f} GB; decode roofline "
          f"{roofline:.0f} tokens/s")
    print()
    print(f"| | prefill {args.prompt} (tokens/s) | decode {args.steps} "
          f"(tokens/s) | decode / roofline |")
    print("|---|---|---|---|")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error'][-120:]} | | |")
            continue
        print(f"| {name} | {r['prefill_tok_s']:.0f} | {r['decode_tok_s']:.1f} "
              f"| {100 * r['decode_tok_s'] / roofline:.1f}% |")
    print()
    if gemm_error:
        print(f"Loom's profiled prefill failed: {gemm_error[-200:]}")
    elif decode_busy:
        print("Loom's decode with --profile: %.3f ms a step, %.3f ms of it in "
              "kernels (%.0f%%; the rest is the GPU waiting for launches)"
              % decode_busy)
        print()
    print(f"| linear layer (prefill {args.prompt}) | M x N x K | Loom TFLOP/s "
          "| cuBLAS bf16 TFLOP/s | Loom / cuBLAS |")
    print("|---|---|---|---|---|")
    for r in gemms:
        loom_t = r.get("loom_tflops")
        print(f"| {r['op']} | {r['m']} x {r['n']} x {r['k']} | "
              + (f"{loom_t:.2f}" if loom_t else "-") + " | "
              f"{r['torch_tflops']:.2f} | "
              + (f"{100 * loom_t / r['torch_tflops']:.1f}%" if loom_t else "-")
              + " |")
    if attentions:
        print()
        print("| causal attention | seq | heads (KV) x head_dim | Loom TFLOP/s "
              "| SDPA bf16 TFLOP/s | Loom / SDPA |")
        print("|---|---|---|---|---|---|")
        for r in attentions:
            loom_t = r.get("loom_tflops")
            note = "-" if loom_t else "failed: " + r.get(
                "loom_error", "no attention op in the profile")[-120:]
            print(f"| {r['model']} | {r['seq']} | {r['heads']} "
                  f"({r['kv_heads']}) x {r['head_dim']} | "
                  + (f"{loom_t:.3f}" if loom_t else note) + " | "
                  f"{r['torch_tflops']:.2f} | "
                  + (f"{100 * loom_t / r['torch_tflops']:.1f}%"
                     if loom_t else "-") + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "cpu": cpu, "bandwidth": bandwidth,
                       "weight_bytes": weights, "roofline": roofline,
                       "results": results, "gemm": gemms,
                       "decode_busy": decode_busy,
                       "attention": attentions}, f, indent=2)
    failed = ("error" in results["loom"] or gemm_error
              or any("loom_tflops" not in r for r in attentions))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
