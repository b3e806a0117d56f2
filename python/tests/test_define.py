"""Models defined in Python: the C++ frontend's IR, run against references."""

import numpy as np
import pytest

import loom
from loom import define as d

PROMPT = "Once upon a time"

# stories260K's architecture, written out (its GGUF pairs RoPE features
# interleaved, as llama.cpp's converter stores Llama's q/k).
STORIES = d.Transformer(
    vocab=512, dim=64, layers=5, context_length=2048,
    attention=d.Attention(heads=8, kv_heads=4,
                          positions=d.Rotary(style="interleaved")),
    mlp=d.SwiGLU(hidden=172), tied_embeddings=True)


@pytest.fixture(scope="module")
def stories_weights(models):
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(models / "stories260K.gguf"))
    return {t.name: np.array(t.data) for t in reader.tensors}


def test_stories_architecture_writes_the_golden(stories_weights, models,
                                                 cache_dir):
    expected = STORIES.weights()
    assert set(stories_weights) <= set(expected)
    assert all(name in stories_weights
               for name, (_, required) in expected.items() if required)
    model = STORIES.compile(stories_weights, name="stories-in-python",
                            tokenizer=models / "stories260K.gguf",
                            cache_dir=cache_dir)
    assert model.path == "stories-in-python"
    text = model.generate(PROMPT, steps=64, temperature=0.0)
    assert text + "\n" == \
        (models / "golden_once_upon_a_time_t0_n64.txt").read_text()


def test_stories_ir_equals_the_gguf_frontend(stories_weights, models, tool):
    expected = tool("loom-compile", models / "stories260K.gguf",
                    "--emit=loom", "--context-length", 64, "-o", "-")
    module = STORIES.ir(stories_weights, context_length=64)
    assert str(module) + "\n" == expected.decode()


# A GPT-2-style model in a few lines, against numpy.
GPT = d.Transformer(
    vocab=97, dim=32, layers=2, context_length=16,
    norm=d.LayerNorm(eps=1e-5),
    attention=d.Attention(heads=4, positions=d.Learned(), qkv="fused",
                          bias=True),
    mlp=d.GELU(hidden=64, approximate="tanh"),
    projection_bias=True, tied_embeddings=True)


def gpt_weights(seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(shape) * 0.2).astype(np.float32)
            for name, (shape, required) in GPT.weights().items() if required}


def numpy_gpt(w, ids):
    """GPT-2's forward pass in float64: pre-norm blocks, learned
    positions, fused QKV (all queries, then keys, then values), causal
    attention, tanh GELU, tied head."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    n, heads, hd = len(ids), 4, 8

    def norm(x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w[name + ".weight"] + \
            w[name + ".bias"]

    def linear(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    x = w["token_embd.weight"][ids] + w["position_embd.weight"][:n]
    for layer in range(2):
        p = f"blk.{layer}."
        q, k, v = np.split(linear(norm(x, p + "attn_norm"), p + "attn_qkv"),
                           3, axis=-1)
        q, k, v = (t.reshape(n, heads, hd).transpose(1, 0, 2)
                   for t in (q, k, v))
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.where(np.tri(n, dtype=bool), s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        o = (s / s.sum(-1, keepdims=True)) @ v
        x = x + linear(o.transpose(1, 0, 2).reshape(n, -1), p + "attn_output")
        h = linear(norm(x, p + "ffn_norm"), p + "ffn_up")
        h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) *
                                   (h + 0.044715 * h ** 3)))
        x = x + linear(h, p + "ffn_down")
    return norm(x, "output_norm") @ w["token_embd.weight"].T


def test_gpt_defined_in_python_matches_numpy(cache_dir):
    w = gpt_weights()
    model = GPT.compile(w, name="tiny-gpt", cache_dir=cache_dir)
    assert model.config["architecture"] == "gpt2"
    assert model.config["feed_forward"] == "gelu_tanh"
    ids = [3, 14, 15, 92, 65, 35, 89, 79]
    s = model.session()
    logits = s.prefill(ids[:6])
    row6 = s.decode(ids[6], 6)
    row7 = s.decode(ids[7], 7)
    got = np.concatenate([logits, row6[None], row7[None]])
    reference = numpy_gpt(w, ids)
    # f32 against float64: 1e-5 of the largest logit (measured: 1.6e-7 of
    # it; the erf GELU in place of the tanh one is off by 6.5e-5 of it).
    tolerance = 1e-5 * np.abs(reference).max()
    assert np.abs(got - reference).max() < tolerance
    assert (got.argmax(-1) == reference.argmax(-1)).all()


def test_weights_from_a_safetensors_file(tmp_path, cache_dir):
    safetensors = pytest.importorskip("safetensors.numpy")
    w = gpt_weights(seed=1)
    path = tmp_path / "gpt.safetensors"
    safetensors.save_file(w, str(path))
    from_file = GPT.compile(path, cache_dir=cache_dir).session().prefill([1, 2])
    from_dict = GPT.compile(w, cache_dir=cache_dir).session().prefill([1, 2])
    assert from_file.tobytes() == from_dict.tobytes()


def test_definition_errors(cache_dir):
    w = gpt_weights()
    missing = dict(w)
    del missing["blk.1.ffn_up.weight"]
    with pytest.raises(loom.LoomError,
                       match="tiny: missing tensor 'blk.1.ffn_up.weight' "
                             r"\(expected shape \[64, 32\]\)"):
        GPT.compile(missing, name="tiny", cache_dir=cache_dir)
    wrong = dict(w)
    wrong["blk.0.attn_qkv.weight"] = np.zeros((96, 31), np.float32)
    with pytest.raises(loom.LoomError,
                       match=r"tensor 'blk.0.attn_qkv.weight' has shape "
                             r"\[96, 31\], expected \[96, 32\]"):
        GPT.compile(wrong, cache_dir=cache_dir)
    with pytest.raises(TypeError, match="'token_embd.weight' is float64"):
        GPT.compile({**w, "token_embd.weight": np.zeros((97, 32))})
    with pytest.raises(ValueError, match="wiring takes one of"):
        d.Transformer(vocab=8, dim=8, layers=1, context_length=8,
                      attention=d.Attention(heads=2), mlp=d.SwiGLU(16),
                      wiring="sideways").config()
    odd = d.Transformer(vocab=8, dim=12, layers=1, context_length=8,
                        attention=d.Attention(heads=4, kv_heads=3),
                        mlp=d.SwiGLU(16))
    with pytest.raises(loom.LoomError,
                       match="4 heads are not a multiple of its 3 KV heads"):
        odd.weights()
    with pytest.raises(loom.LoomError, match="odd, but RoPE rotates pairs"):
        odd.compile({})
    with pytest.raises(TypeError, match="unknown compile option 'speed'"):
        GPT.compile(w, speed=3)


def test_long_context_is_capped_with_a_note(cache_dir):
    long = d.Transformer(
        vocab=16, dim=16, layers=1, context_length=8192,
        attention=d.Attention(heads=2, positions=d.Rotary()),
        mlp=d.SwiGLU(hidden=32))
    rng = np.random.default_rng(2)
    w = {name: rng.standard_normal(shape).astype(np.float32)
         for name, (shape, required) in long.weights().items() if required}
    capped = long.compile(w, cache_dir=cache_dir)
    assert capped.context_length == 4096
    assert capped.notes == ["a KV cache for 4096 positions (the model allows "
                            "8192; context_length= to change)"]
    asked = long.compile(w, cache_dir=cache_dir, context_length=100)
    assert asked.context_length == 100
    assert asked.notes == []
