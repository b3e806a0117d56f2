"""loom.load(..., device=...): where a model's sessions run.

A CUDA device needs the NVIDIA driver; without a GPU these tests use the
build's stand-in driver (test/unit/Runtime/FakeCudaDriver.cpp, named by
LOOM_FAKE_CUDA in the lit suite), which loads the artifact's kernels and
checks every launch but computes nothing: the tests see the model compiled
for CUDA, its session on the device and its kernels launched, not logits.
Each runs in a fresh interpreter, as a process loads its CUDA driver once.
"""

import os
import subprocess
import sys

import pytest


def _run(script, **env):
    done = subprocess.run([sys.executable, "-c", script],
                          capture_output=True, text=True,
                          env=dict(os.environ, **env))
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def fake_cuda():
    path = os.environ.get("LOOM_FAKE_CUDA")
    if not path:
        pytest.skip("LOOM_FAKE_CUDA (the stand-in CUDA driver) is set by "
                    "test/Python/pytest.test; run the suite through lit")
    return path


def test_cuda_device_compiles_for_cuda(models, cache_dir, fake_cuda):
    script = f"""
import loom
m = loom.load({str(models / "stories260K.gguf")!r}, device="cuda",
              cache_dir={cache_dir!r})
print(m.device)
print(sum(1 for _ in m.generate_tokens([1], steps=4)))
"""
    rc, out, err = _run(script, LOOM_CUDA_DRIVER=fake_cuda,
                        LOOM_FAKE_CUDA_ANY_KERNEL="1")
    assert rc == 0, err
    assert out.split() == ["cuda", "4"]
    # The stand-in says at exit what ran: one module, kernels launched.
    assert "fake CUDA driver: 1 modules loaded" in err


def test_cpu_artifact_refused_on_cuda(models, cache_dir, fake_cuda):
    script = f"""
import loom
try:
    loom.load({str(models / "stories260K.gguf")!r}, device="cuda",
              target="cpu", cache_dir={cache_dir!r}).session()
except loom.LoomError as e:
    print(e)
"""
    rc, out, err = _run(script, LOOM_CUDA_DRIVER=fake_cuda)
    assert rc == 0, err
    assert "compiled for the CPU" in out or "runs on the CPU" in out, out


def test_missing_driver_is_an_error(models, cache_dir):
    script = f"""
import loom
try:
    loom.load({str(models / "stories260K.gguf")!r}, device="cuda",
              cache_dir={cache_dir!r})
except loom.LoomError as e:
    print(e)
"""
    rc, out, err = _run(script, LOOM_CUDA_DRIVER="/nonexistent/libcuda.so.1")
    assert rc == 0, err
    assert "no CUDA driver found" in out, out


def test_unknown_device_is_an_error(models, cache_dir):
    import loom
    with pytest.raises(loom.LoomError, match="tpu"):
        loom.load(models / "stories260K.gguf", device="tpu",
                  cache_dir=cache_dir)
