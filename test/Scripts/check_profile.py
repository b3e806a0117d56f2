#!/usr/bin/env python3
"""Checks the "profile" of `loom-run --bench --profile` (its JSON line).

Every kernel the run launched must be in the profile, once per run: for
each --entry ENTRY=K, the runs of ENTRY's ops add up to K per step (steps:
1 for prefill, the generated tokens for decode); for each --op ENTRY:OP=R,
op OP of ENTRY (layers folded, "blk.*.attn_q") ran R times per step. Every
time must be >= 0 and the entry's total > 0. Prints the entries' totals.
Plain Python, so it runs under lit's own interpreter.

usage: check_profile.py BENCH.json [--entry decode=39] [--op decode:blk.*.ffn_up=2]
"""

import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench")
    parser.add_argument("--entry", action="append", default=[])
    parser.add_argument("--op", action="append", default=[])
    args = parser.parse_args()
    with open(args.bench) as f:
        bench = json.loads(f.read())
    if "profile" not in bench:
        sys.exit("check_profile.py: no \"profile\" in " + args.bench)
    steps = {"prefill": 1, "decode": bench["generated_tokens"]}
    runs, seconds = {}, {}
    ops = {}
    for o in bench["profile"]:
        if o["seconds"] < 0 or o["runs"] < 1 or o["kernels"] < 1:
            sys.exit(f"check_profile.py: a bad record {o}")
        runs[o["entry"]] = runs.get(o["entry"], 0) + o["runs"]
        seconds[o["entry"]] = seconds.get(o["entry"], 0) + o["seconds"]
        ops[(o["entry"], o["op"])] = o["runs"]
    failed = False
    for spec in args.entry:
        entry, per_step = spec.split("=")
        want = int(per_step) * steps[entry]
        print(f"{entry}: {runs.get(entry, 0)} kernel runs (want {want}), "
              f"{seconds.get(entry, 0) * 1e3:.3f} ms")
        if runs.get(entry, 0) != want or seconds.get(entry, 0) <= 0:
            failed = True
    for spec in args.op:
        key, per_step = spec.split("=")
        entry, op = key.split(":", 1)
        want = int(per_step) * steps[entry]
        got = ops.get((entry, op))
        print(f"{entry} {op}: {got} runs (want {want})")
        if got != want:
            failed = True
    if failed:
        sys.exit("check_profile.py: the profile does not account for every "
                 "kernel run; ops: " + ", ".join(f"{e}:{o}" for e, o in ops))


if __name__ == "__main__":
    main()
