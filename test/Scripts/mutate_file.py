"""Writes damaged copies of a file: truncations and single-byte changes.

usage: mutate_file.py FILE OUT_DIR [--count N] [--seed S]

Half of the N copies are cut at lengths spread over the file (0 bytes
included); the others have one byte XOR-ed at a position spread over the file
(the ELF header, the code, the data and the trailer all get hit). The
mutants are named by what was done, so a failing one can be found again.
"""

import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    data = open(args.file, "rb").read()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cuts = args.count // 2
    for i in range(cuts):
        length = len(data) * i // cuts
        with open(os.path.join(args.out, f"cut-{length}"), "wb") as f:
            f.write(data[:length])
    for i in range(args.count - cuts):
        pos = min(len(data) - 1,
                  len(data) * i // (args.count - cuts) + rng.randrange(64))
        damaged = bytearray(data)
        damaged[pos] ^= 1 << rng.randrange(8)
        with open(os.path.join(args.out, f"flip-{pos}"), "wb") as f:
            f.write(damaged)


if __name__ == "__main__":
    main()
