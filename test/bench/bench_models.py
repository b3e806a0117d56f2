#!/usr/bin/env python3
"""Loom's prompt and generation speed on random-weight GGUF models, side by
side with llama.cpp's llama-bench where one is given.

For each model shape and stored format it writes the GGUF file once (under
--work, never into the source tree), compiles it with loom-compile, and runs

  ppN   a prompt of N tokens in one prefill: prompt tokens/s
  tgN   N tokens generated one by one after BOS: generation tokens/s

with `loom-run --bench` at each thread count; with --llama-bench PATH the
same file runs under llama-bench right after each Loom run (alternating, so
both see the same machine state), and the table gets llama.cpp's tokens/s
and the ratio Loom / llama.cpp. Every number is the median of --repeat runs,
after one unmeasured run (the first maps the weights and code in; llama-bench
warms up the same way).

  build/venv/bin/python test/bench/bench_models.py                 # stories15M, f32/q8_0/q4_0
  build/venv/bin/python test/bench/bench_models.py --shapes stories110M \\
      --llama-bench /tmp/llama.cpp/build/bin/llama-bench
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "Scripts")
sys.path.insert(0, HERE)
import bench_compile  # noqa: E402  (its formats and CPU line)

# (architecture, "dim,hidden,layers,heads,kv_heads,vocab"): issue 6's dense
# shapes, and for issue 7 a Mixtral-style stories15M (8 experts, top 2)
# with the dense models of its active and of its total FFN size.
SHAPES = {
    "tiny": ("llama", "64,128,2,4,4,256"),
    "stories15M": ("llama", "288,768,6,6,6,32000"),
    "stories110M": ("llama", "768,2048,12,12,12,32000"),
    "tinyllama-1.1B": ("llama", "2048,5632,22,32,4,32000"),
    "moe-8x768-top2": ("mixtral", "288,768,6,6,6,32000"),
    "dense-1536": ("llama", "288,1536,6,6,6,32000"),
    "dense-6144": ("llama", "288,6144,6,6,6,32000"),
    # GPT-2 124M and a Falcon (original architecture: multi-query, parallel
    # attention and MLP) of the same size (dim, hidden, layers, heads,
    # kv_heads, context), with their own vocabularies from
    # ../shared/tokenizers (llama.cpp needs one).
    "gpt2-124M": ("gpt2", "768,3072,12,12,12,1024"),
    "falcon-mqa-124M": ("falcon", "768,3072,12,12,1,1024"),
}
VOCABS = os.path.join(HERE, "..", "..", "..", "shared", "tokenizers")
FORMATS = bench_compile.FORMATS


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def model_file(args, shape, fmt):
    """The GGUF file of `shape` in `fmt`, written on first use."""
    folder = os.path.join(args.work, shape)
    f32 = os.path.join(folder, "model.gguf")
    arch, dims = SHAPES[shape]
    if not os.path.exists(f32) and arch in ("gpt2", "falcon"):
        os.makedirs(folder, exist_ok=True)
        vocab = os.path.join(VOCABS, f"ggml-vocab-{'gpt-2' if arch == 'gpt2' else arch}.gguf")
        run([sys.executable, os.path.join(HERE, "write_family_gguf.py"),
             "--arch", arch, "--shape", dims, "--vocab", vocab, "--out", f32])
    if not os.path.exists(f32):
        run([sys.executable, os.path.join(SCRIPTS, "write_test_model.py"),
             "--arch", arch, "--format", "gguf", "--scale", "0.05",
             "--shape", dims, "--out", folder])
    if fmt == "f32":
        return f32
    path = os.path.join(folder, f"model-{fmt}.gguf")
    if not os.path.exists(path):
        run([sys.executable, os.path.join(SCRIPTS, "quantize_gguf.py"), f32,
             path, "--quant", fmt])
    return path


def loom_run(args, artifact, test, threads):
    kind, n = test[:2], int(test[2:])
    cmd = [os.path.join(args.bin, "loom-run"), artifact, "--ids", "--bench",
           "--temperature", "0", "--threads", str(threads)]
    if kind == "pp":
        # BOS and N-1 more ids: one prefill of N tokens, nothing generated.
        ids = ["1"] + [str(5 + (7 * i) % 200) for i in range(n - 1)]
        cmd += ["-p", " ".join(ids), "-n", str(n)]
        key = "prefill_tok_s"
    else:
        cmd += ["-n", str(n + 1)]
        key = "decode_tok_s"
    return json.loads(run(cmd).stdout)[key]


def llama_bench(args, path, test, threads):
    kind, n = test[:2], int(test[2:])
    cmd = [args.llama_bench, "-m", path, "-t", str(threads), "-r", "1",
           "-o", "json"]
    cmd += ["-p", str(n), "-n", "0"] if kind == "pp" else ["-p", "0", "-n", str(n)]
    rows = json.loads(run(cmd).stdout)
    return rows[0]["avg_ts"]


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"),
                    help="where loom-compile and loom-run are (default build/bin)")
    ap.add_argument("--work", default="/tmp/loom-bench",
                    help="where model files and artifacts go")
    ap.add_argument("--shapes", default="stories15M",
                    help="comma-separated, of: " + ", ".join(SHAPES))
    ap.add_argument("--formats", default="f32,q8_0,q4_0",
                    help="comma-separated, of: " + ", ".join(FORMATS))
    ap.add_argument("--tests", default="pp128,pp512,tg128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", action="append", default=[],
                    metavar="NAME=PATH",
                    help="also a real GGUF file as it is (its own format), "
                         "e.g. smollm2=/path/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--llama-bench", help="path of llama.cpp's llama-bench")
    ap.add_argument("--cpu", default="",
                    help="compile Loom's code for this CPU (loom-compile --cpu, "
                         "e.g. x86-64-v3 to measure the AVX2 code on an "
                         "AVX-512 host; build llama.cpp for the same class "
                         "to compare); default: the host")
    ap.add_argument("--gemm", metavar="MxKxN[,...]",
                    help="also run loom-bench-gemm on these shapes at the "
                         "largest thread count: Loom's f32 matmul in GFLOP/s "
                         "against the measured FMA peak")
    ap.add_argument("--expert-shards", default="1",
                    help="comma-separated shard counts for the MoE shapes "
                         "(loom-compile --expert-shards); dense shapes run "
                         "unsharded")
    args = ap.parse_args()
    shapes = args.shapes.split(",")
    formats = args.formats.split(",")
    for s in shapes:
        if s not in SHAPES:
            ap.error(f"unknown shape '{s}'")
    for f in formats:
        if f not in FORMATS:
            ap.error(f"unknown format '{f}'")
    tests = args.tests.split(",")
    for t in tests:
        if t[:2] not in ("pp", "tg") or not t[2:].isdigit():
            ap.error(f"unknown test '{t}' (ppN or tgN)")
    threads = [int(t) for t in args.threads.split(",")]
    shard_counts = [int(n) for n in args.expert_shards.split(",")]
    show_shards = shard_counts != [1]
    os.makedirs(args.work, exist_ok=True)

    header = ["model", "format"] + (["shards"] if show_shards else []) + \
        ["compile s", "threads", "test", "loom tok/s"]
    if args.llama_bench:
        header += ["llama.cpp tok/s", "loom/llama.cpp"]
    rows = []
    runs = [(shape, fmt, None) for shape in shapes for fmt in formats]
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not path or not os.path.exists(path):
            ap.error(f"--model {spec}: expected NAME=PATH of an existing file")
        runs.append((name, "file", os.path.abspath(path)))
    cpu = bench_compile.cpu_line()
    if args.cpu:
        cpu += f" (Loom's code compiled for {args.cpu})"
    print(f"CPU: {cpu}", file=sys.stderr, flush=True)
    for shape, fmt, given in runs:
        path = given or model_file(args, shape, fmt)
        for shards in shard_counts if shape.startswith("moe") else [1]:
            suffix = f"-{args.cpu}" if args.cpu else ""
            artifact = os.path.join(args.work,
                                    f"{shape}-{fmt}-x{shards}{suffix}.so")
            start = time.perf_counter()
            run([os.path.join(args.bin, "loom-compile"), path, "-o", artifact,
                 f"--expert-shards={shards}"] +
                ([f"--cpu={args.cpu}"] if args.cpu else []))
            compile_s = time.perf_counter() - start
            for t in threads:
                for test in tests:
                    loom, llama = [], []
                    # One run unmeasured, as llama-bench warms up too:
                    # the first maps the weights and the code in.
                    loom_run(args, artifact, test, t)
                    for _ in range(args.repeat):
                        loom.append(loom_run(args, artifact, test, t))
                        if args.llama_bench:
                            llama.append(llama_bench(args, path, test, t))
                    row = [shape, fmt] + ([str(shards)] if show_shards else []) + \
                        [f"{compile_s:.1f}", str(t), test,
                         f"{statistics.median(loom):.1f}"]
                    if args.llama_bench:
                        ref = statistics.median(llama)
                        row += [f"{ref:.1f}",
                                f"{statistics.median(loom) / ref:.2f}x"]
                    rows.append(row)
                    print("  ".join(row), file=sys.stderr, flush=True)
    print(f"CPU: {cpu}")
    print()
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    if args.gemm:
        print()
        for shape in args.gemm.split(","):
            m, k, n = shape.split("x")
            print(run([os.path.join(args.bin, "loom-bench-gemm"),
                       "-j", str(max(threads)), "-m", m, "-k", k, "-n", n]).stdout,
                  end="")


if __name__ == "__main__":
    main()
