"""Fixtures of the loom package's tests.

They run from the lit suite (test/Python/pytest.test), which sets LOOM_BIN
(the tools of the build the package was built against) and LOOM_CACHE (the
suite's compile cache), or by hand:

    LOOM_BIN=build/bin build/venv/bin/python -m pytest python/tests

Tests that need ../shared/models skip, saying so, where it is absent.
"""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT.parent / "shared" / "models"


def _bin() -> pathlib.Path:
    return pathlib.Path(os.environ.get("LOOM_BIN", ROOT / "build" / "bin"))


@pytest.fixture(scope="session")
def tool():
    """Runs a Loom tool of the build (loom-run, loom-opt, loom-compile) and
    returns its stdout as bytes; a failure fails the test with its stderr."""
    def run(name, *args):
        done = subprocess.run([str(_bin() / name), *map(str, args)],
                              capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout
    return run


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    path = os.environ.get("LOOM_CACHE")
    return path or str(tmp_path_factory.mktemp("loom-cache"))


@pytest.fixture(scope="session")
def models():
    if not MODELS.is_dir():
        pytest.skip(f"{MODELS} is absent: the tests of real models need "
                    "../shared/models")
    return MODELS


@pytest.fixture(scope="session")
def stories(models, cache_dir):
    """stories260K from its GGUF, compiled (or taken from the cache)."""
    import loom
    return loom.load(models / "stories260K.gguf", cache_dir=cache_dir)
