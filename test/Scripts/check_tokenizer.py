#!/usr/bin/env python3
"""Checks `loom-run --tokenize` against token ids made by other tokenizers.

  check_tokenizer.py vectors LOOM_RUN VOCAB.gguf
      llama.cpp's tokenizer test vectors: VOCAB.gguf.inp holds the cases,
      separated by "\\n__ggml_vocab_test__\\n"; VOCAB.gguf.out one line of
      ids per case (Hugging Face's tokenizer, no BOS, special-token text not
      matched). Each case is tokenized with --no-bos --no-parse-special.

  check_tokenizer.py ids LOOM_RUN MODEL TEXT_FILE IDS_FILE
      one text (exact bytes) against an ids file ('#' comment lines, then
      one line of space-separated ids), tokenized as a prompt is (BOS and
      special tokens as the vocabulary says); then --detokenize of those
      ids must give the text back.

Prints one line per failing case and a summary "N of M cases pass"; exits 1
when any fails.
"""

import subprocess
import sys


def tokenize(loom_run, vocab, text, extra):
    proc = subprocess.run([loom_run, vocab, "--tokenize", f"-p={text}"] + extra,
                          capture_output=True)
    if proc.returncode != 0:
        return None, proc.stderr.decode("utf-8", "replace").strip()
    return [int(x) for x in proc.stdout.decode().split()], None


def vectors(loom_run, vocab):
    text = open(vocab + ".inp", encoding="utf-8", newline="").read()
    cases = text.split("\n__ggml_vocab_test__\n")
    if cases and cases[-1] == "":
        cases.pop()
    expected = open(vocab + ".out", encoding="utf-8").read().split("\n")
    expected = [[int(x) for x in line.split()] for line in expected[:len(cases)]]
    if len(expected) != len(cases):
        sys.exit(f"{vocab}: {len(cases)} cases but {len(expected)} id lines")
    passed = 0
    for case, want in zip(cases, expected):
        got, error = tokenize(loom_run, vocab, case,
                              ["--no-bos", "--no-parse-special"])
        if got == want:
            passed += 1
        else:
            print(f"FAIL {case!r}: expected {want}, got {got or error}")
    print(f"{passed} of {len(cases)} cases pass")
    return passed == len(cases)


def ids(loom_run, model, text_file, ids_file):
    text = open(text_file, "rb").read().decode("utf-8")
    lines = [l for l in open(ids_file).read().splitlines()
             if l.strip() and not l.startswith("#")]
    want = [int(x) for x in lines[0].split()]
    got, error = tokenize(loom_run, model, text, [])
    ok = got == want
    if not ok:
        print(f"FAIL {text!r}: expected {want}, got {got or error}")
    proc = subprocess.run([loom_run, model, "--detokenize", "--ids",
                           "-p=" + " ".join(map(str, want))],
                          capture_output=True)
    back = proc.stdout.decode("utf-8", "replace")
    if back.endswith("\n"):
        back = back[:-1]
    if back != text:
        ok = False
        print(f"FAIL detokenize: expected {text!r}, got {back!r} "
              f"{proc.stderr.decode().strip()}")
    print(f"{int(ok)} of 1 cases pass")
    return ok


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "vectors":
        ok = vectors(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "ids":
        ok = ids(*sys.argv[2:])
    else:
        sys.exit(__doc__)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
