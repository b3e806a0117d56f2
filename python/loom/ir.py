"""MLIR text with Loom's dialects and passes: what ``loom-opt`` does, from
Python.

    from loom import ir
    m = ir.parse(open("attention.mlir").read())
    m.run("builtin.module(func.func(loom-fuse-attention))")
    print(m)

    m = ir.from_model("stories260K.gguf")      # loom IR, as loom-compile --emit=loom

Every dialect and pass ``loom-opt`` knows is registered: the loom dialect,
Loom's passes and pipelines, and upstream MLIR's. Failures raise
:class:`loom.LoomError` with MLIR's diagnostics (location, message, notes).
"""

from __future__ import annotations

import os
from typing import Optional, Union

from . import _loom

__all__ = ["Context", "Module", "from_model", "parse", "parse_file"]


class Context:
    """An MLIR context with Loom's and upstream MLIR's dialects loaded. A
    module lives in the context it was parsed in; contexts are independent
    (one thread at a time each)."""

    def __init__(self):
        self._native = _loom.Context()


_default: Optional[Context] = None


def _context(context: Optional[Context]) -> Context:
    global _default
    if context is not None:
        return context
    if _default is None:
        _default = Context()
    return _default


class Module:
    """A ``builtin.module`` in a context; changed in place by :meth:`run`."""

    def __init__(self, native: "_loom.Module", context: Context):
        self._native = native
        self.context = context

    def run(self, pipeline: str) -> "Module":
        """Runs a pass pipeline in MLIR's textual form on the module, as
        ``loom-opt --pass-pipeline=PIPELINE`` does, e.g.
        ``"builtin.module(func.func(loom-fuse-attention))"``; returns the
        module."""
        self._native.run(pipeline)
        return self

    def verify(self) -> "Module":
        """Checks every op's invariants (raises with the diagnostics)."""
        self._native.verify()
        return self

    def compile(self, weights: Optional[Union[str, os.PathLike]] = None,
                output: Optional[Union[str, os.PathLike]] = None,
                **compile_options):
        """Compiles the module, as it is now, to an artifact and returns it
        as a :class:`loom.Model` ready to run: the rest of Loom's pipeline
        (loom IR to linalg, bufferization, LLVM) on a copy, so a pass
        author's transformation is compiled and run exactly as loom-compile
        compiles a model. The weights are the model's the module was built
        from (``from_model``, a definition's ``ir``), or those of the model
        file ``weights`` (a module parsed from ``loom-compile --emit=loom``
        text). ``output`` keeps the artifact (default: a temporary file);
        keyword arguments are the compile options, as :func:`loom.load`
        takes them."""
        from . import Model, _options_text
        options = _options_text(compile_options)
        return Model(self._native.compile(
            options, os.fspath(output) if output else "",
            os.fspath(weights) if weights else ""))

    def print(self, generic: bool = False) -> str:
        """The module's text, in MLIR's generic op form with ``generic``."""
        return self._native.str(generic)

    def __str__(self) -> str:
        return self._native.str(False)


def parse(text: str, name: str = "<string>",
          context: Optional[Context] = None) -> Module:
    """Parses (and verifies) a module from MLIR text; ``name`` names the
    text in diagnostics."""
    ctx = _context(context)
    return Module(_loom.Module.parse(ctx._native, text, name), ctx)


def parse_file(path: Union[str, os.PathLike],
               context: Optional[Context] = None) -> Module:
    """Parses the module in the file ``path``."""
    with open(path, encoding="utf-8") as f:
        return parse(f.read(), os.fspath(path), context)


def from_model(path: Union[str, os.PathLike], context_length: int = 0,
               context: Optional[Context] = None) -> Module:
    """The loom IR of a model file, as ``loom-compile MODEL --emit=loom``
    writes it (``context_length`` 0: the model's, at most 4096)."""
    ctx = _context(context)
    return Module(
        _loom.Module.from_model(ctx._native, os.fspath(path),
                                int(context_length)), ctx)
