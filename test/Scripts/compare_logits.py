#!/usr/bin/env python3
"""Compares two files of little-endian f32 logits, rows of `--vocab` floats.

Prints the largest absolute difference and the number of rows whose argmax
differs, and exits 1 when the difference exceeds `--tolerance` or any argmax
differs. Plain Python (no numpy), so it runs under lit's own interpreter.

usage: compare_logits.py ACTUAL EXPECTED --vocab 512 [--tolerance 1e-4 [--relative]]
                         [--rows N]
"""

import argparse
import array
import sys


def load(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("actual")
    ap.add_argument("expected")
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--relative", action="store_true",
                    help="the tolerance is relative to max |expected|")
    ap.add_argument("--rows", type=int,
                    help="compare the first N rows only (both files need them)")
    args = ap.parse_args()
    actual, expected = load(args.actual), load(args.expected)
    if args.rows is not None:
        n = args.rows * args.vocab
        if len(actual) < n or len(expected) < n:
            print(f"fewer than {args.rows} rows: {len(actual)} and "
                  f"{len(expected)} floats")
            return 1
        actual, expected = actual[:n], expected[:n]
    if len(actual) != len(expected) or len(actual) % args.vocab:
        print(f"size mismatch: {len(actual)} vs {len(expected)} floats")
        return 1
    rows = len(actual) // args.vocab
    worst = 0.0
    argmax_mismatch = 0
    for r in range(rows):
        a = actual[r * args.vocab:(r + 1) * args.vocab]
        e = expected[r * args.vocab:(r + 1) * args.vocab]
        worst = max(worst, max(abs(x - y) for x, y in zip(a, e)))
        if max(range(args.vocab), key=a.__getitem__) != \
                max(range(args.vocab), key=e.__getitem__):
            argmax_mismatch += 1
    bound = args.tolerance
    if args.relative:
        bound *= max(abs(x) for x in expected)
    ok = worst <= bound and argmax_mismatch == 0
    print(f"rows: {rows}, max |difference|: {worst:.3g} "
          f"(tolerance {bound:.3g}), argmax mismatches: {argmax_mismatch}, "
          f"{'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
