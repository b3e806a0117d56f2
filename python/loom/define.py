"""Define transformer models in Python, from blocks, and compile them.

    import numpy as np
    from loom import define as d

    gpt = d.Transformer(
        vocab=512, dim=64, layers=2, context_length=128,
        norm=d.LayerNorm(eps=1e-5),
        attention=d.Attention(heads=4, positions=d.Learned(), qkv="fused",
                              bias=True),
        mlp=d.GELU(hidden=256, approximate="tanh"),
        projection_bias=True, tied_embeddings=True)
    weights = {name: np.random.randn(*shape).astype(np.float32) * 0.02
               for name, (shape, required) in gpt.weights().items() if required}
    model = gpt.compile(weights)              # a loom.Model
    logits = model.session().prefill([1, 2, 3])

A definition is a configuration: Loom's C++ frontend builds its loom IR
(the same builder, the same IR as for a GGUF or Hugging Face file of that
architecture) and compiles it. Weights are numpy arrays (float32, float16)
or :class:`Stored` block-format bytes, by GGUF-style name
(``token_embd.weight``, ``blk.0.attn_q.weight``, ...): ``weights()`` lists
every name with its shape, or a path to a ``.safetensors`` file holding
them under those names. Shapes are logical, outermost first: ``[out, in]``
for a linear layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import Model, _loom, _options_text
from . import ir as _ir

__all__ = [
    "Attention", "GELU", "LayerNorm", "Learned", "MoE", "RMSNorm", "Rotary",
    "Stored", "SwiGLU", "Transformer",
]


@dataclass(frozen=True)
class RMSNorm:
    """x / rms(x) * w (Llama)."""
    eps: float = 1e-5


@dataclass(frozen=True)
class LayerNorm:
    """(x - mean) / std * w + b (GPT-2, BERT, Falcon)."""
    eps: float = 1e-5


@dataclass(frozen=True)
class Rotary:
    """Rotary position embeddings on queries and keys. ``style`` pairs a
    head's features: ``"half"`` (x[i], x[i + d/2]), as Hugging Face
    checkpoints store them, or ``"interleaved"`` (x[2i], x[2i+1]), Meta's
    and llama2.c's layout (and GGUF ``llama`` files')."""
    theta: float = 10000.0
    style: str = "half"


@dataclass(frozen=True)
class Learned:
    """A learned table of absolute positions added to the token embeddings
    (``position_embd.weight``, [context_length, dim]; GPT-2, BERT)."""


@dataclass(frozen=True)
class Attention:
    """Multi-head attention: ``heads`` query heads, ``kv_heads`` key/value
    heads (fewer: grouped-query; 1: multi-query; default ``heads``),
    ``head_dim`` (default ``dim // heads``). ``qkv``: ``"split"``
    (``attn_q``, ``attn_k``, ``attn_v``) or ``"fused"`` (one ``attn_qkv``,
    all queries, then keys, then values); ``bias``: the projections have
    biases. ``causal`` False makes an encoder; ``sliding_window`` limits
    how far back a query sees (Mistral)."""
    heads: int
    kv_heads: Optional[int] = None
    head_dim: Optional[int] = None
    positions: Union[Rotary, Learned] = field(default_factory=Rotary)
    qkv: str = "split"
    bias: bool = False
    causal: bool = True
    sliding_window: Optional[int] = None


@dataclass(frozen=True)
class SwiGLU:
    """down(silu(gate x) * up x) (Llama)."""
    hidden: int


@dataclass(frozen=True)
class GELU:
    """down(gelu(up x)): the exact erf form (``approximate="none"``, BERT,
    Falcon) or the tanh approximation (``"tanh"``, GPT-2)."""
    hidden: int
    approximate: str = "none"


@dataclass(frozen=True)
class MoE:
    """A mixture of ``experts`` SwiGLU networks of width ``hidden``, the
    ``top_k`` a router picks per token (Mixtral); experts stacked as GGUF
    stores them (``ffn_gate_exps``: [experts, hidden, dim])."""
    experts: int
    top_k: int
    hidden: int


@dataclass(frozen=True)
class Stored:
    """A weight in one of GGUF's block formats (``q8_0``, ``q4_0``,
    ``q4_k``, ...): the blocks' bytes as uint8, and the logical shape."""
    data: np.ndarray
    storage: str
    shape: Tuple[int, ...]


_WIRINGS = ("pre_norm", "parallel", "parallel_shared_norm", "post_norm")


@dataclass(frozen=True)
class Transformer:
    """A decoder (or, with ``attention.causal`` False, an encoder) made of
    ``layers`` blocks of attention and an MLP, wired as ``wiring`` says:
    ``"pre_norm"`` (x += attn(norm(x)); x += mlp(norm(x)); Llama, GPT-2),
    ``"parallel"`` (x += attn(norm2(x)) + mlp(norm1(x)); Falcon's new
    decoder), ``"parallel_shared_norm"`` (one norm; Falcon 7B) or
    ``"post_norm"`` (x = norm(x + attn(x)); BERT). ``projection_bias``:
    the attention output and MLP projections have biases;
    ``tied_embeddings``: the LM head is the token embedding (no
    ``output.weight``); ``output_norm``: a final norm before the head.
    Encoders: ``token_types`` segment embeddings, ``embedding_norm``,
    ``pooling`` (``"mean"``, ``"cls"``) of a sentence embedding.
    ``architecture`` is the family recorded in the IR (derived from the
    blocks when not given)."""
    vocab: int
    dim: int
    layers: int
    context_length: int
    attention: Attention
    mlp: Union[SwiGLU, GELU, MoE]
    norm: Union[RMSNorm, LayerNorm] = field(default_factory=RMSNorm)
    wiring: str = "pre_norm"
    projection_bias: bool = False
    tied_embeddings: bool = False
    output_norm: bool = True
    embedding_norm: bool = False
    token_types: int = 0
    pooling: str = "none"
    normalize_embedding: bool = False
    architecture: Optional[str] = None

    def _architecture(self) -> str:
        if self.architecture:
            return self.architecture
        if isinstance(self.mlp, MoE):
            return "mixtral"
        if not self.attention.causal:
            return "bert"
        if isinstance(self.norm, LayerNorm):
            return ("gpt2" if isinstance(self.attention.positions, Learned)
                    else "falcon")
        return "mistral" if self.attention.sliding_window else "llama"

    def config(self) -> Dict[str, str]:
        """The configuration, field by field, as ``loom-compile
        --print-config`` prints it (checked by Loom's C++ reader of that
        form)."""
        a, mlp = self.attention, self.mlp
        if self.wiring not in _WIRINGS:
            raise ValueError(f"wiring takes one of {', '.join(_WIRINGS)}, "
                             f"not {self.wiring!r}")
        if a.qkv not in ("split", "fused"):
            raise ValueError(f"qkv takes 'split' or 'fused', not {a.qkv!r}")
        if isinstance(mlp, GELU) and mlp.approximate not in ("none", "tanh"):
            raise ValueError("GELU's approximate takes 'none' or 'tanh', not "
                             f"{mlp.approximate!r}")
        if a.heads <= 0:
            raise ValueError(f"attention heads must be positive, not "
                             f"{a.heads}")
        rotary = isinstance(a.positions, Rotary)
        if rotary and a.positions.style not in ("half", "interleaved"):
            raise ValueError("Rotary's style takes 'half' or 'interleaved', "
                             f"not {a.positions.style!r}")
        feed_forward = {SwiGLU: "swiglu", MoE: "swiglu"}.get(type(mlp)) or (
            "gelu_tanh" if mlp.approximate == "tanh" else "gelu")
        fields = {
            "architecture": self._architecture(),
            "dim": self.dim,
            "hidden_dim": mlp.hidden,
            "layers": self.layers,
            "heads": a.heads,
            "kv_heads": a.kv_heads or a.heads,
            "head_dim": a.head_dim or self.dim // a.heads,
            "vocab": self.vocab,
            "context_length": self.context_length,
            "norm_eps": repr(float(self.norm.eps)),
            "rope_theta": repr(float(a.positions.theta)) if rotary else "none",
            "rope_style": a.positions.style if rotary else "none",
            "tied_embeddings": self.tied_embeddings,
            "attention_bias": a.bias,
            "sliding_window": a.sliding_window or "none",
            "experts": mlp.experts if isinstance(mlp, MoE) else 0,
            "experts_per_token": mlp.top_k if isinstance(mlp, MoE) else 0,
            "norm": "rms_norm" if isinstance(self.norm, RMSNorm)
            else "layer_norm",
            "positions": "rotary" if rotary else "learned",
            "qkv": a.qkv,
            "feed_forward": feed_forward,
            "wiring": self.wiring,
            "projection_bias": self.projection_bias,
            "causal": a.causal,
            "token_types": self.token_types,
            "embedding_norm": self.embedding_norm,
            "output_norm": self.output_norm,
            "pooling": self.pooling,
            "normalize_embedding": self.normalize_embedding,
        }
        text = {k: ("true" if v is True else "false" if v is False else str(v))
                for k, v in fields.items()}
        # Loom's reader of this form checks every value.
        return dict(_loom.parse_config(list(text.items()), "definition"))

    def weights(self) -> Dict[str, Tuple[Tuple[int, ...], bool]]:
        """Every weight the model reads: name -> (shape, required).
        Biases of norms and projections the blocks do not have are not
        required (absent), and ``output.weight`` is not with tied
        embeddings."""
        return {name: (tuple(shape), required)
                for name, shape, required in _loom.expected_weights(
                    list(self.config().items()), "definition", True)}

    def _tensors(self, weights) -> List[tuple]:
        if isinstance(weights, (str, os.PathLike)):
            try:
                from safetensors.numpy import load_file
            except ImportError as e:
                raise ImportError("reading weights from a .safetensors file "
                                  "needs the safetensors package") from e
            weights = load_file(os.fspath(weights))
        tensors = []
        for name, value in weights.items():
            if isinstance(value, Stored):
                data = np.ascontiguousarray(value.data, dtype=np.uint8)
                tensors.append((name, [int(d) for d in value.shape],
                                value.storage, data))
                continue
            array = np.asarray(value)
            storage = {np.dtype(np.float32): "f32",
                       np.dtype(np.float16): "f16"}.get(array.dtype)
            if storage is None:
                raise TypeError(f"weight '{name}' is {array.dtype}; give "
                                "float32 or float16 arrays, or Stored blocks")
            tensors.append((name, list(array.shape), storage,
                            np.ascontiguousarray(array)))
        return tensors

    def ir(self, weights: Union[Mapping[str, object], str, os.PathLike],
           context_length: int = 0,
           context: Optional[_ir.Context] = None) -> _ir.Module:
        """The model's loom IR, as ``loom-compile --emit=loom`` writes it for
        a file of this architecture (``context_length`` 0: the
        definition's, at most 4096)."""
        ctx = _ir._context(context)
        native = _loom.Module.from_definition(
            ctx._native, "definition", list(self.config().items()),
            self._tensors(weights), int(context_length))
        return _ir.Module(native, ctx)

    def compile(self, weights: Union[Mapping[str, object], str, os.PathLike],
                name: str = "definition",
                tokenizer: Optional[Union[str, os.PathLike]] = None,
                cache_dir: Optional[Union[str, os.PathLike]] = None,
                cache: bool = True, **compile_options) -> Model:
        """Compiles the model with ``weights`` (copied once) into a
        :class:`loom.Model`, as :func:`loom.load` compiles a file (the same
        compile options and cache; ``name`` names it in diagnostics).
        ``tokenizer``: a file with the vocabulary (a GGUF, a vocabulary-only
        GGUF, or a llama2.c ``tokenizer.bin``) for text prompts."""
        options = _options_text(compile_options)
        native = _loom.Model.define(
            name, list(self.config().items()), self._tensors(weights),
            options, os.fspath(cache_dir) if cache_dir else "", not cache,
            os.fspath(tokenizer) if tokenizer else "")
        return Model(native)
