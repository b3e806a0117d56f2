#!/usr/bin/env python3
"""Checks that every diagnostic a dialect's C++ can emit has a test.

For each call of emitOpError / emitError / inferError in the given C++ files,
the string literals of the call (up to the end of the statement) are joined
into a pattern, literal pieces in order with anything in between. Each pattern
must match the text of at least one `expected-error {{...}}` in the given .mlir
test files. Prints every uncovered message with its file and line and exits 1
when there is one.

usage: verifier_coverage.py --cpp A.cpp [B.cpp...] --tests invalid.mlir [...]
"""

import argparse
import re
import sys

CALL = re.compile(r"\b(emitOpError|emitError|inferError)\s*\(")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
EXPECTED = re.compile(r"expected-error(?:\s*@[^ ]+)?\s*\{\{(.*?)\}\}")


def statement_from(text, start):
    """The text from `start` to the `;` that ends the statement."""
    depth = 0
    i = start
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{" and depth == 0:
            return None  # a definition, not a call
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ";" and depth <= 0:
            return text[start:i]
        i += 1
    return text[start:]


def messages(path):
    text = open(path, encoding="utf-8").read()
    # Blank out comments, keeping line numbers.
    text = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), text)
    for m in CALL.finditer(text):
        stmt = statement_from(text, m.start())
        if stmt is None:
            continue
        pieces = [bytes(s, "utf-8").decode("unicode_escape")
                  for s in LITERAL.findall(stmt)]
        # The helper that formats "'<op>' op " itself is not a message.
        pieces = [p for p in pieces if p.strip(" '") not in ("", "op")]
        if not pieces:
            continue
        line = text.count("\n", 0, m.start()) + 1
        yield path, line, pieces


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpp", nargs="+", required=True)
    ap.add_argument("--tests", nargs="+", required=True)
    args = ap.parse_args()

    expected = []
    for t in args.tests:
        for line in open(t, encoding="utf-8"):
            expected += EXPECTED.findall(line)

    missing = 0
    total = 0
    for cpp in args.cpp:
        for path, line, pieces in messages(cpp):
            total += 1
            pattern = re.compile(".*".join(re.escape(p) for p in pieces))
            if not any(pattern.search(e) for e in expected):
                missing += 1
                print(f"{path}:{line}: no expected-error matches: "
                      + " ... ".join(repr(p) for p in pieces))
    print(f"{total - missing} of {total} diagnostics covered")
    return 1 if missing or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
