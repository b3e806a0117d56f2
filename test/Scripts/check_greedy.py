#!/usr/bin/env python3
"""Compares a greedy continuation and logits with reference files.

  check_greedy.py ids GOT_IDS REF_IDS [--agree-until N]
                     [--logits GOT.f32 --vocab V --near-tie D]
      GOT_IDS: loom-run --ids output (the prompt, then the continuation);
      REF_IDS: an ids file of the continuation only ('#' comment lines,
      then one line). Prints the first step where they differ (or that all
      agree) and fails if that is before N (default: all of REF_IDS).
      With --logits (loom-run --dump-logits of the same run: a row per
      forwarded position), a first difference before N passes where it is
      a near-tie in those logits: the reference's token within D of the
      chosen one's logit at that step.

  check_greedy.py logits GOT.f32 REF.f32 --vocab V --skip K --tolerance T
      GOT: loom-run --dump-logits rows; its rows from K on are compared
      with every row of REF (raw f32, V per row): prints the largest
      |difference| and the argmax of each row; fails above T or on an
      argmax mismatch.
"""

import argparse
import sys

import numpy as np


def read_ids(path):
    lines = [l for l in open(path).read().splitlines()
             if l.strip() and not l.startswith("#")]
    return [int(x) for x in lines[0].split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["ids", "logits"])
    ap.add_argument("got")
    ap.add_argument("ref")
    ap.add_argument("--agree-until", type=int)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--tolerance", type=float)
    ap.add_argument("--logits")
    ap.add_argument("--near-tie", type=float)
    args = ap.parse_args()
    if args.mode == "ids":
        ref = read_ids(args.ref)
        got = [int(x) for x in open(args.got).read().split()]
        got = got[len(got) - len(ref):] if len(got) >= len(ref) else got
        first = next((i for i, (a, b) in enumerate(zip(got, ref)) if a != b),
                     min(len(got), len(ref)))
        want = len(ref) if args.agree_until is None else args.agree_until
        if first >= len(ref):
            print(f"all {len(ref)} steps agree")
            sys.exit(0)
        print(f"first differs at step {first}")
        if first >= want:
            sys.exit(0)
        if args.logits is None:
            sys.exit(1)
        if args.vocab is None or args.near_tie is None:
            sys.exit("--logits needs --vocab and --near-tie")
        rows = np.fromfile(args.logits, dtype=np.float32).reshape(
            -1, args.vocab)
        # The token of step s was chosen from the row of the position
        # before it: the prompt's last for step 0.
        prompt = len(open(args.got).read().split()) - len(ref)
        row = rows[prompt - 1 + first]
        gap = float(row[got[first]] - row[ref[first]])
        near = gap <= args.near_tie
        print(f"step {first}: {got[first]} over the reference's "
              f"{ref[first]} by {gap:.3g} in these logits "
              f"({'a near-tie' if near else 'not a near-tie'}: "
              f"bound {args.near_tie:g})")
        sys.exit(0 if near else 1)
    got = np.fromfile(args.got, dtype=np.float32).reshape(-1, args.vocab)
    ref = np.fromfile(args.ref, dtype=np.float32).reshape(-1, args.vocab)
    got = got[args.skip:args.skip + len(ref)]
    diff = float(np.abs(got - ref).max())
    same = bool((got.argmax(1) == ref.argmax(1)).all())
    print(f"rows {len(ref)}: max |difference| {diff:.3g} (tolerance "
          f"{args.tolerance:g}), argmax {'equal' if same else 'differs'}")
    sys.exit(0 if diff <= args.tolerance and same else 1)


if __name__ == "__main__":
    main()
