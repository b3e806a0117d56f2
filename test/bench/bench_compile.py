#!/usr/bin/env python3
"""Compile time of models with loom-compile: cold, per stage, cached, and
the time a cached model takes to start generating.

For each model (stories260K from ../shared/models, and random-weight GGUF
files of the stories110M and TinyLlama-1.1B shapes, written once under
--work) and stored format it measures

  cold      loom-compile MODEL -o x.so --no-cache (wall seconds, peak RSS)
  stages    the same run's --timing report: frontend, MLIR lowering, LLVM
            (translation, optimization and code generation of the units on
            every core), link
  objects   loom-compile again with an object cache it has just filled
            (every unit's object found: MLIR lowering and the link remain)
  start     loom-run MODEL -n 1 with the artifact in its cache: from the
            command to the first generated token (weights mapped and,
            for q8_0/q4_0, interleaved at load)
  size      the artifact's bytes

and, with --baseline BIN (another build's loom-compile, e.g. of an older
commit), that build's cold time for the same file in the same run, so the
two are measured on the same machine state. Each number is the median of
--repeat runs. The table names the CPU and its vector flags.

  build/venv/bin/python test/bench/bench_compile.py
  build/venv/bin/python test/bench/bench_compile.py --models tinyllama-1.1B \\
      --formats q4_0 --baseline /tmp/old/build/bin/loom-compile
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPTS = os.path.join(ROOT, "test", "Scripts")
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "models"))

# Random-weight shapes: "dim,hidden,layers,heads,kv_heads,vocab".
SHAPES = {
    "tiny": "64,128,2,4,4,256",
    "stories110M": "768,2048,12,12,12,32000",
    "tinyllama-1.1B": "2048,5632,22,32,4,32000",
}
MODELS = ["stories260K"] + list(SHAPES)
DEFAULT_MODELS = ["stories260K", "stories110M", "tinyllama-1.1B"]
# Every stored format the test model writers make (quantize_gguf.py):
# llama.cpp's block types and its K-quant mixes.
FORMATS = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
           "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "q4_k_m", "q5_k_m",
           "q3_k_m"]
DEFAULT_FORMATS = ["f32", "q8_0", "q4_0"]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def timed(cmd):
    """Runs cmd; returns (wall seconds, peak RSS in MiB, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0, err


def model_file(args, model, fmt):
    """The GGUF file of `model` in `fmt`, written on first use."""
    if model == "stories260K":
        base = os.path.join(SHARED, "stories260K.gguf")
        if not os.path.exists(base):
            sys.exit(f"stories260K: {base} is missing (../shared/models)")
        folder = os.path.join(args.work, model)
        os.makedirs(folder, exist_ok=True)
    else:
        folder = os.path.join(args.work, model)
        base = os.path.join(folder, "model.gguf")
        if not os.path.exists(base):
            run([sys.executable, os.path.join(SCRIPTS, "write_test_model.py"),
                 "--arch", "llama", "--format", "gguf", "--scale", "0.05",
                 "--shape", SHAPES[model], "--out", folder])
    if fmt == "f32":
        return base
    path = os.path.join(folder, f"model-{fmt}.gguf")
    if not os.path.exists(path):
        run([sys.executable, os.path.join(SCRIPTS, "quantize_gguf.py"), base,
             path, "--quant", fmt])
    return path


# A --timing line: user seconds (%), wall seconds (%), indented name.
TIMING_LINE = re.compile(
    r"^\s*[\d.]+\s+\(\s*[\d.]+%\)\s+([\d.]+)\s+\(\s*[\d.]+%\)(\s+)(.*)$")


def stages(report):
    """The top-level stages of a --timing report: {name: wall seconds}."""
    out = {}
    for line in report.splitlines():
        m = TIMING_LINE.match(line)
        if m and len(m.group(2)) == 2:
            name = m.group(3)
            if name.startswith("optimize and generate code"):
                name = "units"
            out[name] = out.get(name, 0.0) + float(m.group(1))
    return out


def cpu_line():
    name, flags = "unknown CPU", []
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and name == "unknown CPU":
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = [f for f in line.split(":", 1)[1].split()
                         if re.match(r"(avx|amx|fma|f16c)", f)]
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores; {' '.join(flags)}"


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"),
                    help="where loom-compile and loom-run are (default build/bin)")
    ap.add_argument("--work", default="/tmp/loom-bench",
                    help="where model files go (default /tmp/loom-bench)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated, of: " + ", ".join(MODELS))
    ap.add_argument("--formats", default=",".join(DEFAULT_FORMATS),
                    help="comma-separated, of: " + ", ".join(FORMATS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", metavar="LOOM_COMPILE",
                    help="another build's loom-compile, timed cold beside")
    args = ap.parse_args()
    for model in args.models.split(","):
        if model not in MODELS:
            ap.error(f"unknown model '{model}' (known: {', '.join(MODELS)})")
    for fmt in args.formats.split(","):
        if fmt not in FORMATS:
            ap.error(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    compile_ = os.path.join(args.bin, "loom-compile")
    loom_run = os.path.join(args.bin, "loom-run")

    print(f"CPU: {cpu_line()}")
    head = ["model", "format", "cold s", "peak MiB", "frontend", "MLIR",
            "LLVM", "link", "objects cached s", "start s", "artifact KiB"]
    if args.baseline:
        head.insert(3, "baseline cold s")
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    scratch = tempfile.mkdtemp(prefix="loom-bench-compile-")
    try:
        for model in args.models.split(","):
            for fmt in args.formats.split(","):
                path = model_file(args, model, fmt)
                so = os.path.join(scratch, "model.so")
                cold, peaks, reports = [], [], []
                for _ in range(args.repeat):
                    wall, peak, err = timed([compile_, path, "-o", so,
                                             "--no-cache", "--timing"])
                    cold.append(wall)
                    peaks.append(peak)
                    reports.append(stages(err))
                base = []
                if args.baseline:
                    for _ in range(args.repeat):
                        base.append(timed([args.baseline, path, "-o", so])[0])
                objects = os.path.join(scratch, "objects")
                shutil.rmtree(objects, ignore_errors=True)
                timed([compile_, path, "-o", so, "--cache-dir", objects])
                cached = [timed([compile_, path, "-o", so, "--cache-dir",
                                 objects])[0] for _ in range(args.repeat)]
                size = os.path.getsize(so) / 1024.0
                runs = os.path.join(scratch, "run-cache")
                shutil.rmtree(runs, ignore_errors=True)
                start_cmd = [loom_run, path, "--ids", "-p", "1", "-n", "1",
                             "--temperature", "0", "--cache-dir", runs]
                timed(start_cmd)  # compiles into the cache
                start = [timed(start_cmd)[0] for _ in range(args.repeat)]

                def stage(name):
                    return statistics.median(r.get(name, 0.0) for r in reports)
                row = [model, fmt, f"{statistics.median(cold):.2f}",
                       f"{max(peaks):.0f}",
                       f"{stage('frontend (loom IR)'):.2f}",
                       f"{stage('lowering'):.2f}", f"{stage('LLVM'):.2f}",
                       f"{stage('link and seal'):.2f}",
                       f"{statistics.median(cached):.2f}",
                       f"{statistics.median(start):.2f}", f"{size:.0f}"]
                if args.baseline:
                    row.insert(3, f"{statistics.median(base):.2f}")
                print("| " + " | ".join(row) + " |", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
