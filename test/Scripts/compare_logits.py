#!/usr/bin/env python3
"""Compares two files of little-endian f32 logits, rows of `--vocab` floats.

Prints the largest absolute difference and the number of rows whose argmax
differs, and exits 1 when the difference exceeds `--tolerance` or any argmax
differs. Plain Python (no numpy), so it runs under lit's own interpreter.

With --outlier-rows K, up to K rows may exceed the tolerance if they stay
within --outlier-tolerance (same units; their argmax is not compared).
For 8-bit activations: a float64 reference and Loom's f32 can round an
activation that sits near a rounding tie to different 8-bit values, and
that row's logits then move by far more than summation error (the same rows
move when the reference's own activations are perturbed by 3e-7).

With --min-cosine C, every row's cosine similarity to the expected row must
also be at least C (for embeddings).

usage: compare_logits.py ACTUAL EXPECTED --vocab 512 [--tolerance 1e-4 [--relative]]
                         [--rows N] [--outlier-rows K --outlier-tolerance T]
                         [--min-cosine C]
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
    ap.add_argument("--outlier-rows", type=int, default=0,
                    help="rows allowed beyond --tolerance")
    ap.add_argument("--outlier-tolerance", type=float,
                    help="the bound for those rows")
    ap.add_argument("--min-cosine", type=float,
                    help="the least cosine similarity of any row pair")
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
    scale = max(abs(x) for x in expected) if args.relative else 1.0
    bound = args.tolerance * scale
    outlier_bound = (args.outlier_tolerance or 0.0) * scale
    worst = 0.0
    argmax_mismatch = 0
    outliers = []
    cosine = 1.0
    for r in range(rows):
        a = actual[r * args.vocab:(r + 1) * args.vocab]
        e = expected[r * args.vocab:(r + 1) * args.vocab]
        norms = (sum(x * x for x in a) * sum(y * y for y in e)) ** 0.5
        if norms > 0:
            cosine = min(cosine, sum(x * y for x, y in zip(a, e)) / norms)
        diff = max(abs(x - y) for x, y in zip(a, e))
        if diff > bound:
            outliers.append(diff)  # its argmax may differ (a near-tie)
            continue
        worst = max(worst, diff)
        if max(range(args.vocab), key=a.__getitem__) != \
                max(range(args.vocab), key=e.__getitem__):
            argmax_mismatch += 1
    ok = argmax_mismatch == 0 and len(outliers) <= args.outlier_rows and \
        all(d <= outlier_bound for d in outliers)
    line = (f"rows: {rows}, max |difference|: {max([worst] + outliers):.3g} "
            f"(tolerance {bound:.3g}), argmax mismatches: {argmax_mismatch}")
    if args.min_cosine is not None:
        ok = ok and cosine >= args.min_cosine
        line += f", min cosine: {cosine:.7f} (at least {args.min_cosine})"
    if args.outlier_rows:
        line += (f", rows beyond the tolerance: {len(outliers)} (at most "
                 f"{args.outlier_rows}, each within {outlier_bound:.3g})")
    print(f"{line}, {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
