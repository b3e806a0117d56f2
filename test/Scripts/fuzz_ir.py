"""Runs loom-opt's loom passes on mutated loom IR; no run may crash.

usage: fuzz_ir.py LOOM_OPT INPUT.mlir [INPUT.mlir ...] [--mutants N] [--seed S]

Each input is split at `// -----`; every piece is mutated N times (a shape
size made 0, 1, huge or negative-looking, an integer attribute changed, a
token deleted, two lines swapped) and each mutant is run through every pass
that works on loom IR. loom-opt may reject a mutant (exit 1, a diagnostic);
it must never die of a signal. Prints one line per crash (pass, input,
mutation) and exits 1 if there was one.
"""

import argparse
import random
import re
import subprocess
import sys

PASSES = [
    "--loom-fuse-attention",
    "--loom-narrow-weights",
    "--loom-interleave-weights",
    "--loom-shard-experts",
    "--loom-weights-to-arguments",
    "--convert-loom-to-linalg",
    "--convert-loom-to-linalg=attention-key-block=0",
    "--convert-loom-to-linalg=attention-rows=true",
    "--convert-loom-to-linalg=moe-gathered=true",
    "--canonicalize",
]

SIZES = ["0", "1", "3", "4611686018427387904", "2305843009213693951",
         "9223372036854775807", "?"]


def mutate(text, rng):
    """One random change; returns (mutated text, what was done)."""
    kind = rng.randrange(4)
    dims = list(re.finditer(r"(?<=[<x])\d+(?=x)", text))
    ints = list(re.finditer(r"(?<== )-?\d+\b", text))
    if kind == 0 and dims:
        m = rng.choice(dims)
        new = rng.choice(SIZES)
        return text[:m.start()] + new + text[m.end():], f"size {m.group()}->{new}"
    if kind == 1 and ints:
        m = rng.choice(ints)
        new = str(rng.choice([0, -1, 1, 7, 2**31, 2**62, -2**63]))
        return text[:m.start()] + new + text[m.end():], f"int {m.group()}->{new}"
    lines = text.splitlines()
    if kind == 2 and len(lines) > 2:
        i = rng.randrange(len(lines))
        words = lines[i].split(" ")
        if len(words) > 1:
            j = rng.randrange(len(words))
            del words[j]
            lines[i] = " ".join(words)
            return "\n".join(lines), f"line {i + 1}: word {j} deleted"
    if len(lines) > 3:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), f"lines {i + 1} and {j + 1} swapped"
    return text, "unchanged"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loom_opt")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--mutants", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    runs = crashes = 0
    for path in args.inputs:
        pieces = open(path).read().split("// -----")
        for index, piece in enumerate(pieces):
            for _ in range(args.mutants):
                text, what = mutate(piece, rng)
                for flag in PASSES:
                    runs += 1
                    proc = subprocess.run(
                        [args.loom_opt, "-", flag, "--mlir-print-op-generic"],
                        input=text.encode(), capture_output=True)
                    if proc.returncode < 0 or proc.returncode > 1:
                        crashes += 1
                        print(f"CRASH {proc.returncode}: {flag} on {path} "
                              f"piece {index} ({what})")
                        sys.stderr.write(proc.stderr.decode()[-2000:])
    print(f"{runs} runs, {crashes} crashes")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
