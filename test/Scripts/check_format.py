"""Checks that every C and C++ source of Loom is formatted as .clang-format
says (LLVM style). Prints each file clang-format would change, with the
first lines of its diff, and exits 1 when there is one.

usage: check_format.py --root SRC --clang-format BIN
Fix with `tools/loom-dev format`.
"""

import argparse
import os
import subprocess
import sys

FOLDERS = ["include", "lib", "tools", "test", "python", "docs/examples"]
SUFFIXES = (".c", ".cpp", ".h")


def sources(root):
    """The tracked sources (git ls-files), or every source of FOLDERS when
    the checkout has no git metadata."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "--", *FOLDERS],
                             check=True, capture_output=True, text=True).stdout
        files = [f for f in out.splitlines() if f.endswith(SUFFIXES)]
        if files:
            return sorted(files)
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for folder in FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            files += [os.path.relpath(os.path.join(dirpath, n), root)
                      for n in names if n.endswith(SUFFIXES)]
    return sorted(files)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--clang-format", required=True)
    args = ap.parse_args()
    files = sources(args.root)
    bad = []
    for f in files:
        path = os.path.join(args.root, f)
        formatted = subprocess.run([args.clang_format, "--style=file", path],
                                   check=True, capture_output=True,
                                   text=True).stdout
        with open(path, encoding="utf-8") as source:
            if source.read() != formatted:
                bad.append(f)
    for f in bad:
        print(f"not formatted: {f}")
    print(f"{len(files) - len(bad)} of {len(files)} files formatted")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
