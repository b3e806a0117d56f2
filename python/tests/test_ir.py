"""loom.ir: the same text as loom-opt and loom-compile --emit=loom."""

import numpy as np
import pytest

import loom
from loom import ir

from conftest import ROOT

ATTENTION = ROOT / "test" / "Dialect" / "Loom" / "fuse-attention" / \
    "mask-causal-window.mlir"
PIPELINE = "builtin.module(func.func(loom-fuse-attention),canonicalize)"


def test_pipeline_equals_loom_opt(tool):
    expected = tool("loom-opt", ATTENTION, f"--pass-pipeline={PIPELINE}")
    module = ir.parse_file(ATTENTION).run(PIPELINE)
    assert str(module) + "\n" == expected.decode()
    assert "loom.attention" in str(module)


def test_package_attributes():
    # `import loom` is enough for loom.ir and loom.define.
    assert loom.ir is ir
    assert loom.define.Transformer is not None


def test_generic_form_and_contexts():
    text = ATTENTION.read_text()
    a = ir.parse(text, context=ir.Context())
    b = ir.parse(text, context=ir.Context())
    assert str(a) == str(b)
    assert '"func.func"' in a.print(generic=True)
    a.verify()


def test_model_ir_equals_loom_compile(models, tool):
    expected = tool("loom-compile", models / "stories260K.gguf",
                    "--emit=loom", "--context-length", 64, "-o", "-")
    module = ir.from_model(models / "stories260K.gguf", context_length=64)
    assert str(module) + "\n" == expected.decode()


def test_errors_carry_diagnostics(tmp_path):
    with pytest.raises(loom.LoomError, match=r"snippet.mlir:1:\d+: error: expected"):
        ir.parse("func.func @f( {", name="snippet.mlir")
    m = ir.parse("func.func @f() { return }")
    with pytest.raises(loom.LoomError, match="'no-such-pass' does not refer"):
        m.run("builtin.module(no-such-pass)")
    bad = ir.parse("func.func @g(%a: i32) -> i32 { return %a : i32 }")
    with pytest.raises(loom.LoomError, match="nowhere.gguf"):
        ir.from_model(tmp_path / "nowhere.gguf")
    bad.verify()


def test_compile_a_transformed_module(models, tmp_path):
    """A pass author's loop: the model's loom IR, a pipeline run on it, the
    result compiled and run; the module keeps its IR."""
    m = ir.from_model(models / "stories260K.gguf", context_length=128)
    before = str(m)
    model = m.compile(output=tmp_path / "plain.so")
    assert str(m) == before
    assert (tmp_path / "plain.so").exists()
    assert model.context_length == 128
    golden = (models / "golden_once_upon_a_time_t0_n64.txt").read_text()
    assert model.generate("Once upon a time", steps=64,
                          temperature=0.0) + "\n" == golden
    # Fused attention, lowered with the whole score matrix, gives the same
    # logits as the tiled lowering loom.load compiles.
    m.run("builtin.module(func.func(loom-fuse-attention))")
    assert "loom.attention" in str(m)
    direct = m.compile(attention_key_block=-1).session().prefill([1, 403, 407])
    tiled = loom.load(models / "stories260K.gguf", context_length=128)
    np.testing.assert_allclose(direct, tiled.session().prefill([1, 403, 407]),
                               atol=1e-4)
    # Text of loom IR has no weights of its own until it is given a file.
    text = ir.parse(before)
    with pytest.raises(loom.LoomError, match="parsed from text"):
        text.compile()
    again = text.compile(weights=models / "stories260K.gguf")
    assert again.generate("Once upon a time", steps=64,
                          temperature=0.0) + "\n" == golden
