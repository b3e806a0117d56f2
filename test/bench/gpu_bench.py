#!/usr/bin/env python3
"""Loom on a GPU side by side with PyTorch, same model, same device, same run.

usage: gpu_bench.py --loom-run BIN --artifact SO --model DIR
                    [--prompt 512] [--steps 128] [--json OUT] [--device cpu]

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
                  decode tokens/s of STEPS greedy steps (--ignore-eos);
  PyTorch         transformers' LlamaForCausalLM on the same weights in
                  bf16, attention `eager` and `sdpa`: prefill = one forward
                  of the prompt (median of 5 after 2 warm-ups), decode =
                  STEPS greedy forwards of one token with the KV cache
                  (after a warm-up run of 8).

Prints a Markdown table (device, CPU and the numbers) and, with --json, the
same figures as JSON. Without a GPU it exits 2, measuring nothing, unless
--device cpu asks for a rehearsal of the script on the CPU (PyTorch on the
CPU, loom-run --device=cpu with a CPU artifact; no bandwidth figure).
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


def loom(args, ids):
    cmd = [args.loom_run, args.artifact, "--weights", args.model,
           f"--device={args.device}", "--ids", "-p", " ".join(map(str, ids)),
           "-n", str(len(ids) + args.steps), "--temperature", "0",
           "--ignore-eos", "--bench"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip()[-400:]}
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


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
    results = {"loom": loom(args, ids)}
    for attention in ("eager", "sdpa"):
        results["torch " + attention] = torch_run(args, ids, attention)

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
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "cpu": cpu, "bandwidth": bandwidth,
                       "weight_bytes": weights, "roofline": roofline,
                       "results": results}, f, indent=2)
    return 1 if "error" in results["loom"] else 0


if __name__ == "__main__":
    sys.exit(main())
