#!/usr/bin/env python3
"""Assembles every kernel module of `loom-compile --target=cuda --emit=ptx`
with the CUDA toolkit's ptxas and checks what it reports.

The PTX file holds one module after another, each after a line
`// ---- kernel module NAME (sm_XX)`. Each is assembled alone for the
architecture it names (`ptxas -arch=sm_XX -v`): a module ptxas rejects, or
a kernel that spills registers to local memory, fails the check. Prints
one summary line (modules, kernels, architecture, most registers, failures)
for FileCheck, and with --table each kernel's registers and stack frame.

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
ENTRY = re.compile(r"Compiling entry function '(\w+)'")


def modules(text):
    heads = list(HEADER.finditer(text))
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        yield head.group(1), head.group(2), text[head.end():end]


def kernel_reports(module, report):
    """(kernel, its part of `ptxas -v`'s report) for each entry function of
    the module (a module holds every kernel: loom-merge-gpu-modules)."""
    heads = list(ENTRY.finditer(report))
    if not heads:
        yield module, report
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(report)
        yield f"{module}::{head.group(1)}", report[head.end():end]


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
    failures, most, arches, kernels = [], 0, set(), 0
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
            for kernel, part in kernel_reports(name, report):
                kernels += 1
                registers = max((int(r) for r in REGISTERS.findall(part)),
                                default=0)
                spills = sum(int(s) + int(l)
                             for s, l in SPILLS.findall(part))
                stack = max((int(s) for s in STACK.findall(part)), default=0)
                most = max(most, registers)
                if spills:
                    failures.append(
                        f"{kernel}: {spills} bytes of register spills")
                if args.table:
                    print(f"{kernel}: {registers} registers, stack {stack} "
                          f"bytes, spills {spills} bytes")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"modules: {len(found)}, kernels: {kernels}, "
          f"arch: {','.join(sorted(arches))}, "
          f"most registers: {most}, failed: {len(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
