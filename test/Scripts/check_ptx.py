#!/usr/bin/env python3
"""Assembles every kernel module of `loom-compile --target=cuda --emit=ptx`
with the CUDA toolkit's ptxas and checks what it reports.

The PTX file holds one module after another, each after a line
`// ---- kernel module NAME (sm_XX)`. Each is assembled alone for the
architecture it names (`ptxas -arch=sm_XX -v`): a module ptxas rejects, or
one whose kernel spills registers to local memory, fails the check. Prints
one summary line (modules, architecture, most registers, spills) for
FileCheck, and with --table each module's registers and stack frame.

    check_ptx.py model.ptx [--ptxas /usr/local/cuda/bin/ptxas] [--table]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HEADER = re.compile(r"^// ---- kernel module (\S+) \((sm_\w+)\)$", re.M)
REGISTERS = re.compile(r"Used (\d+) registers")
SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
STACK = re.compile(r"(\d+) bytes stack frame")


def modules(text):
    heads = list(HEADER.finditer(text))
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        yield head.group(1), head.group(2), text[head.end():end]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ptx")
    parser.add_argument("--ptxas", default="ptxas")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    with open(args.ptx) as f:
        text = f.read()
    found = list(modules(text))
    if not found:
        sys.exit(f"{args.ptx}: no '// ---- kernel module' in it")
    failures, most, arches = [], 0, set()
    with tempfile.TemporaryDirectory() as scratch:
        source = os.path.join(scratch, "module.ptx")
        for name, arch, ptx in found:
            arches.add(arch)
            with open(source, "w") as f:
                f.write(ptx)
            run = subprocess.run(
                [args.ptxas, f"-arch={arch}", "-v", source, "-o", os.devnull],
                capture_output=True, text=True)
            report = run.stdout + run.stderr
            if run.returncode != 0:
                failures.append(f"{name}: ptxas failed:\n{report}")
                continue
            registers = max((int(r) for r in REGISTERS.findall(report)),
                            default=0)
            spills = sum(int(s) + int(l) for s, l in SPILLS.findall(report))
            stack = max((int(s) for s in STACK.findall(report)), default=0)
            most = max(most, registers)
            if spills:
                failures.append(f"{name}: {spills} bytes of register spills")
            if args.table:
                print(f"{name}: {registers} registers, stack {stack} bytes, "
                      f"spills {spills} bytes")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"modules: {len(found)}, arch: {','.join(sorted(arches))}, "
          f"most registers: {most}, failed: {len(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
