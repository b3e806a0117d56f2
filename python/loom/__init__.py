"""Loom: compile and run transformer models from Python.

    import loom
    model = loom.load("stories260K.gguf")       # compiled (cached), or an artifact
    print(model.generate("Once upon a time", steps=64, temperature=0.0))

    s = model.session()                         # a KV cache of its own
    logits = s.prefill([1, 403, 407])           # float32 [tokens, vocab]
    logits = s.decode(token, position)          # float32 [vocab]

The compiler, the runtime and the tokenizers are Loom's C++ libraries (the
extension module ``loom._loom``); this package converts arguments and
results. Errors raise :class:`LoomError` carrying Loom's diagnostic, which
names the file, tensor or option at fault. Compiled code runs with the GIL
released. See docs/Python.md.
"""

from __future__ import annotations

import codecs
import functools
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from . import _loom
from ._loom import LoomError

__all__ = [
    "LoomError",
    "define",
    "ir",
    "Model",
    "Session",
    "Tokenizer",
    "compile_options",
    "load",
    "profile",
    "set_threads",
]

Tokens = Union[Sequence[int], np.ndarray]


def compile_options() -> Dict[str, Dict[str, str]]:
    """Every compile option ``load`` takes, by keyword name (``context_length``
    for ``--context-length``), each with its ``flag``, ``description`` and
    ``default``, and the ``value`` it takes as ``--help`` names it (empty
    for a switch): the options of ``loom-compile`` and ``loom-run``,
    declared once in Loom's C++ (CompileOptions.h)."""
    defaults = {}
    for item in _loom.default_compile_options().strip("{}").split():
        name, _, value = item.partition("=")
        defaults[name] = value
    return {
        flag.replace("-", "_"): {
            "flag": "--" + flag,
            "description": description,
            "default": defaults.get(flag, ""),
            "value": value,
        }
        for flag, description, value in _loom.compile_options()
    }


class Profile:
    """Kernel times of the calls made inside ``with loom.profile() as p:``
    (as ``loom-run --profile``): every kernel each session call runs, timed
    (the host's clock on the CPU, CUDA events on a GPU) and added up by
    entry point and op of the model, the layers of an op together
    (``blk.*.attn_q``). ``ops`` holds them once the block ends, most time
    first, each a dict with ``entry``, ``op``, ``kernels``, ``runs`` and
    ``seconds``. Profiling is for the whole process: one block at a time."""

    def __init__(self):
        self.ops: List[Dict[str, Any]] = []

    def __enter__(self) -> "Profile":
        _loom.reset_profile()
        _loom.set_profiling(True)
        return self

    def __exit__(self, *exc) -> None:
        _loom.set_profiling(False)
        self.ops = [
            {"entry": entry, "op": op, "kernels": kernels, "runs": runs,
             "seconds": seconds}
            for entry, op, kernels, runs, seconds in _loom.op_times()
        ]
        _loom.reset_profile()

    def seconds(self, entry: Optional[str] = None) -> float:
        """The kernels' time in all, or in entry point ``entry``."""
        return sum(o["seconds"] for o in self.ops
                   if entry is None or o["entry"] == entry)


def profile() -> Profile:
    """A context manager that profiles the kernels of the calls inside it:
    ``with loom.profile() as p: model.generate(...)``, then ``p.ops``."""
    return Profile()


def set_threads(count: int) -> None:
    """Runs compiled code's parallel loops on ``count`` threads (0: one per
    hardware thread), as ``loom-run --threads``."""
    count = int(count)
    if not 0 <= count <= _loom.max_thread_count():
        raise ValueError(
            f"threads takes a number from 0 (one per hardware thread) to "
            f"{_loom.max_thread_count()} (8 per hardware thread), not {count}")
    _loom.set_threads(count)


def _options_text(options: Dict[str, Any]) -> str:
    """Keyword compile options in the form Loom's C++ parses
    (``context-length=64 dtype=bf16``); None leaves an option out."""
    known = _known_options()
    return " ".join(_option_text(k, v, known) for k, v in options.items()
                    if v is not None)


def _option_text(name: str, value: Any, known: Dict[str, Dict[str, str]]) -> str:
    if name not in known:
        raise TypeError(
            f"unknown compile option '{name}'; the options are: "
            + ", ".join(sorted(known)))
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    if not text or any(c.isspace() for c in text) or "=" in text:
        raise ValueError(f"compile option {name}={value!r} is not a value")
    return f"{known[name]['flag'][2:]}={text}"


def _token_array(tokens: Tokens, what: str) -> np.ndarray:
    array = np.asarray(tokens)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{what} takes a 1-D sequence of token ids, not an "
                         f"array of shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{what} takes integer token ids, not {array.dtype}")
    if array.size and (array.min() < -2**31 or array.max() >= 2**31):
        raise LoomError(f"{what}: token id {int(array.max())} is outside the "
                        "range of 32-bit ids")
    return np.ascontiguousarray(array, dtype=np.int32)


def _config_value(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class Tokenizer:
    """A model's vocabulary: SentencePiece/llama2.c, GPT-2 byte-level BPE
    (with the pre-tokenizer the file names) or WordPiece, exactly as
    ``loom-run --tokenize`` and ``--detokenize`` work."""

    def __init__(self, model: "Model"):
        self._model = model._native
        (self.vocab_size, self.bos_id, self.eos_id, self.adds_bos,
         self.byte_level, self.word_piece) = _loom.tokenizer_info(self._model)

    def encode(self, text: str, bos: Optional[bool] = None, eos: bool = False,
               parse_special: bool = True) -> List[int]:
        """The token ids of ``text``; ``bos`` (default: as the vocabulary
        says) starts them with BOS ([CLS] for WordPiece), ``eos`` ends them
        with EOS ([SEP]); with ``parse_special`` text such as
        ``<|im_start|>`` is the special token it spells."""
        return _loom.tokenize(self._model, text, bos, eos, parse_special)

    def decode(self, ids: Tokens) -> str:
        """The text of ``ids`` (a leading BOS prints nothing where prompts
        start with one; special tokens as they are spelled)."""
        ids = [int(i) for i in _token_array(ids, "decode")]
        return _loom.detokenize(self._model, ids).decode("utf-8", "replace")

    def piece(self, id: int) -> bytes:
        """The stored text of token ``id`` (byte-level pieces in GPT-2's
        byte-to-unicode form)."""
        return _loom.piece(self._model, int(id))


class Session:
    """A model ready to run, with a KV cache of its own: the prompt in one
    ``prefill`` call, then one ``decode`` call per token. One thread at a
    time; sessions are independent."""

    def __init__(self, model: "Model"):
        self.model = model
        self._native = _loom.Session(model._native)

    @property
    def warnings(self) -> List[str]:
        """What binding the weights found suspicious (NaN/inf weights)."""
        return self._native.warnings

    @property
    def num_token_types(self) -> int:
        """How many token types (segments) an encoder's ``token_types``
        may name; 0 for a decoder."""
        return self._native.num_token_types

    def prefill(self, tokens: Tokens, position: int = 0,
                all_logits: bool = True) -> np.ndarray:
        """Runs ``tokens`` at positions ``position ..`` and returns their
        logits, float32 ``[len(tokens), vocab]`` (with ``all_logits=False``
        only the last token's row, ``[1, vocab]``, and less work)."""
        return self._native.prefill(_token_array(tokens, "prefill"),
                                    int(position), bool(all_logits))

    def decode(self, token: int, position: int) -> np.ndarray:
        """Runs one token at ``position``; its logits, float32 ``[vocab]``."""
        return self._native.decode(int(token), int(position))

    def reset(self) -> None:
        """Forgets every cached position."""
        self._native.reset()

    def encode(self, sequences: Union[Tokens, Sequence[Tokens]],
               entry: str = "hidden",
               token_types: Optional[Sequence[Tokens]] = None) -> np.ndarray:
        """An encoder's (BERT's) entry point on one sequence of ids or a
        list of them, packed so each attends to itself only: ``hidden``,
        the last hidden states (one row per token); ``mlm``, the masked-LM
        logits (one row per token); ``embed``, the sentence embedding (one
        row per sequence)."""
        if len(sequences) == 0:
            raise LoomError("encode takes a sequence of token ids or a list "
                            "of them, not an empty list")
        if np.ndim(sequences[0]) == 0:
            sequences = [sequences]
        seqs = [_token_array(s, "encode").tolist() for s in sequences]
        types = ([_token_array(t, "token_types").tolist() for t in token_types]
                 if token_types is not None else [])
        return self._native.encode(entry, seqs, types)


class Model:
    """A compiled model bound to its model file: made by :func:`load`."""

    def __init__(self, native: "_loom.Model"):
        self._native = native
        self.tokenizer: Optional[Tokenizer] = (
            Tokenizer(self) if native.has_tokenizer else None)
        self._session: Optional[Session] = None

    path = property(lambda self: self._native.path,
                    doc="The model file the weights come from.")
    artifact_path = property(lambda self: self._native.artifact_path,
                             doc="The compiled artifact (a shared object).")
    compiled = property(lambda self: self._native.compiled,
                        doc="Whether load() compiled it (not from the cache).")
    device = property(lambda self: self._native.device,
                      doc="Where its sessions run: cpu, cuda or cuda:N.")
    notes = property(lambda self: self._native.notes,
                     doc="What compiling said on the way (e.g. the KV cache "
                     "size chosen).")
    vocab_size = property(lambda self: self._native.vocab_size)
    context_length = property(lambda self: self._native.context_length,
                              doc="The KV cache's capacity in positions.")
    max_tokens = property(lambda self: self._native.max_tokens,
                          doc="Most tokens one prefill call takes (longer "
                          "prompts run as several calls).")
    chat_template = property(
        lambda self: self._native.chat_template,
        doc="The model file's chat template (tokenizer.chat_template, a "
        "Jinja2 template; empty when it has none).")
    is_encoder = property(lambda self: self._native.is_encoder,
                          doc="Whether it is an encoder (BERT): encode(), "
                          "not generate().")

    @property
    def config(self) -> Dict[str, Any]:
        """The model's configuration, every field as ``loom-compile
        --print-config`` prints it (numbers as numbers)."""
        return {k: _config_value(v) for k, v in self._native.config}

    def session(self) -> Session:
        """A new session with a KV cache of its own."""
        return Session(self)

    def _default_session(self) -> Session:
        if self._session is None:
            self._session = Session(self)
        return self._session

    def _prompt(self, prompt: Union[str, Tokens], bos: Optional[bool],
                parse_special: bool) -> np.ndarray:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise LoomError(f"{self.path} holds no vocabulary; give the "
                                "prompt as token ids")
            use_bos = self.tokenizer.adds_bos if bos is None else bos
            ids = self.tokenizer.encode(prompt, use_bos, False, parse_special)
        else:
            ids = list(_token_array(prompt, "generate"))
        if not ids:
            ids = [self.tokenizer.bos_id if self.tokenizer else 1]
        return _token_array(ids, "generate")

    def generate_tokens(self, prompt: Union[str, Tokens] = "", steps: int = 256,
                        temperature: float = 1.0, top_p: float = 0.9,
                        top_k: int = 0, seed: int = 0, ignore_eos: bool = False,
                        bos: Optional[bool] = None, parse_special: bool = True,
                        session: Optional[Session] = None
                        ) -> "_loom.Generation":
        """The token ids after position 0, as ``loom-run --ids`` prints
        them: the prompt's, then sampled ones until ``steps`` positions
        (prompt included; 0: the context) or the stop token (BOS, as
        llama2.c's run.c; a byte-level vocabulary's EOS) unless
        ``ignore_eos``. ``temperature`` 0 is greedy; ``top_p``, ``top_k``
        and ``seed`` (0: from the clock) as ``loom-run`` takes them. The
        prompt is text (tokenized, BOS as the vocabulary says) or ids. Runs
        on ``session`` (default: the model's own, reset first).

        The iterator also tells ``seed`` (the sampler's, the clock's when
        ``seed`` is 0: pass it back to repeat a run), ``prompt_tokens``
        and ``decode_calls`` (so far), as ``loom-run --bench`` counts
        them."""
        if self.is_encoder:
            raise LoomError(f"{self.path} is an encoder: it does not "
                            "generate; use session().encode()")
        if session is None:
            session = self._default_session()
            session.reset()
        ids = self._prompt(prompt, bos, parse_special)
        gen = _loom.Generation(session._native, ids, int(steps),
                               float(temperature), float(top_p), int(top_k),
                               int(seed), bool(ignore_eos))
        return gen

    def stream(self, prompt: Union[str, Tokens] = "", **options) -> Iterator[str]:
        """The text of :meth:`generate_tokens` piece by piece as it is
        generated (the prompt's text after BOS first)."""
        if self.tokenizer is None:
            raise LoomError(f"{self.path} holds no vocabulary; use "
                            "generate_tokens() with token ids")
        ids = self._prompt(prompt, options.pop("bos", None),
                           options.get("parse_special", True))
        gen = self.generate_tokens(ids, **options)
        detok = _loom.Detokenizer(self._native, int(ids[0]))
        utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        for token in gen:
            text = utf8.decode(detok.push(token))
            if text:
                yield text
        tail = utf8.decode(b"", final=True)
        if tail:
            yield tail

    def generate(self, prompt: Union[str, Tokens] = "", **options) -> str:
        """The whole text :meth:`stream` yields (what ``loom-run`` prints,
        without its final newline). Options as :meth:`generate_tokens`."""
        return "".join(self.stream(prompt, **options))


def load(path: Union[str, os.PathLike], *, threads: Optional[int] = None,
         cache_dir: Optional[Union[str, os.PathLike]] = None,
         cache: bool = True, weights: Optional[Union[str, os.PathLike]] = None,
         tokenizer: Optional[Union[str, os.PathLike]] = None,
         device: str = "cpu", **compile_options: Any) -> Model:
    """Loads a model: a model file (GGUF, llama2.c ``.bin``, safetensors or
    a Hugging Face folder's ``model.safetensors``), compiled into Loom's
    compile cache unless it is there already, or an artifact made by
    ``loom-compile -o model.so``.

    Keyword arguments are the compile options of ``loom-compile`` with
    ``_`` for ``-`` (``context_length=256``, ``dtype="bf16"``,
    ``cpu="x86-64-v3"``, ...; :func:`compile_options` lists them), plus
    ``threads`` (:func:`set_threads`), ``cache_dir`` and ``cache=False``
    (compile into a temporary file) as ``loom-run``'s ``--cache-dir`` and
    ``--no-cache``, ``weights`` (an artifact's model file, default the one
    it was compiled from) and ``tokenizer`` (the vocabulary to use instead
    of the model file's: a llama2.c ``tokenizer.bin``, for checkpoints
    without one, or any file with a vocabulary, told apart by content).

    ``device`` is where its sessions run, as ``loom-run --device``:
    ``"cpu"`` (the default), or ``"cuda"`` / ``"cuda:N"`` (an NVIDIA GPU
    through the CUDA driver; a model file is then compiled with
    ``target="cuda"`` unless a target is given, and an artifact must have
    been compiled for it)."""
    if device.startswith("cuda") and "target" not in compile_options and \
            not _is_artifact(path):
        compile_options = dict(compile_options, target="cuda")
    text = _options_text(compile_options)
    if threads is not None:
        set_threads(threads)
    native = _loom.Model.open(
        os.fspath(path), text, os.fspath(cache_dir) if cache_dir else "",
        not cache, os.fspath(weights) if weights else "",
        os.fspath(tokenizer) if tokenizer else "", device)
    return Model(native)


def _is_artifact(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is a compiled artifact, which takes no compile
    options (the runtime's test, as loom-run's)."""
    return _loom.is_artifact(os.fspath(path))


@functools.lru_cache(maxsize=None)
def _known_options() -> Dict[str, Dict[str, str]]:
    return compile_options()


# The IR and model-definition modules, as attributes of the package
# (`loom.ir.parse(...)` after `import loom`).
from . import define, ir  # noqa: E402
