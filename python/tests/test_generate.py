"""Generation, sessions and tokenizers against loom-run and run.c's goldens."""

import numpy as np
import pytest

import loom

PROMPT = "Once upon a time"


@pytest.mark.parametrize("prompt,steps,golden", [
    (PROMPT, 64, "golden_once_upon_a_time_t0_n64.txt"),
    (PROMPT, 256, "golden_once_upon_a_time_t0_n256.txt"),
    ("", 256, "golden_noprompt_t0_n256.txt"),
])
def test_greedy_text_is_run_c_golden(stories, models, prompt, steps, golden):
    # loom-run (and run.c) end the text with a newline.
    text = stories.generate(prompt, steps=steps, temperature=0.0)
    assert text + "\n" == (models / golden).read_text()


def test_stream_pieces_make_the_text(stories):
    pieces = list(stories.stream(PROMPT, steps=40, temperature=0.0))
    assert len(pieces) > 10
    assert "".join(pieces) == stories.generate(PROMPT, steps=40,
                                               temperature=0.0)


def test_tokens_are_run_c_tokens(stories, models):
    lines = (models / "tokens_once_upon_a_time_t0_n64.txt").read_text()
    # The first line that is not a comment: every id of the sequence.
    sequence = next(line for line in lines.splitlines()
                    if not line.startswith("#"))
    expected = [int(t) for t in sequence.split()]
    got = list(stories.generate_tokens(PROMPT, steps=64, temperature=0.0))
    # After position 0 (BOS), up to the last sampled token.
    assert got == expected[1:]


def test_sampling_equals_loom_run(stories, tool, cache_dir):
    options = dict(steps=48, temperature=0.8, top_p=0.9, seed=42)
    text = stories.generate(PROMPT, **options)
    out = tool("loom-run", stories.path, "-p", PROMPT, "-n", 48,
               "--temperature", 0.8, "--top-p", 0.9, "--seed", 42,
               "--cache-dir", cache_dir)
    assert (text + "\n").encode() == out
    assert stories.generate(PROMPT, **options) == text  # the seed decides

    # A seed from the clock is told, and repeats the run; the counts are
    # the prompt's tokens in one prefill and one decode per sampled token.
    gen = stories.generate_tokens(PROMPT, steps=48, temperature=0.8, seed=0,
                                  ignore_eos=True)
    first = list(gen)
    assert gen.seed != 0
    prompt = stories.tokenizer.encode(PROMPT)
    assert gen.prompt_tokens == len(prompt)
    assert len(first) == 48 and first[:len(prompt) - 1] == prompt[1:]
    assert gen.decode_calls == 48 - len(prompt)
    again = stories.generate_tokens(PROMPT, steps=48, temperature=0.8,
                                    seed=gen.seed, ignore_eos=True)
    assert list(again) == first


def test_logits_equal_loom_run_bit_for_bit(stories, tool, cache_dir, tmp_path):
    dump = tmp_path / "logits.f32"
    tool("loom-run", stories.path, "-p", PROMPT, "-n", 64, "--temperature", 0,
         "--dump-logits", dump, "--cache-dir", cache_dir)
    expected = np.fromfile(dump, dtype=np.float32).reshape(-1, 512)
    ids = [1] + list(stories.generate_tokens(PROMPT, steps=64,
                                             temperature=0.0))
    s = stories.session()
    prompt = stories.tokenizer.encode(PROMPT)
    rows = [s.prefill(prompt)]
    for position in range(len(prompt), 64):
        rows.append(s.decode(ids[position], position)[None, :])
    got = np.concatenate(rows)
    assert got.shape == expected.shape == (64, 512)
    assert got.tobytes() == expected.tobytes()


def test_prefill_and_decode_shapes(stories):
    s = stories.session()
    logits = s.prefill(np.array([1, 403, 407]))
    assert logits.shape == (3, stories.vocab_size)
    assert logits.dtype == np.float32
    last = s.prefill([261], position=3, all_logits=False)
    assert last.shape == (1, stories.vocab_size)
    row = s.decode(int(np.argmax(last[0])), 4)
    assert row.shape == (stories.vocab_size,)


def test_sessions_have_their_own_caches(stories):
    a, b = stories.session(), stories.session()
    prompt = stories.tokenizer.encode(PROMPT)
    expected = a.prefill(prompt)
    b.prefill([1, 5, 6, 7, 8, 9, 10])  # another text in the other cache
    a.reset()
    assert np.array_equal(a.prefill(prompt), expected)
    assert np.array_equal(b.decode(11, 7), b.decode(11, 7))


def test_tokenizer_matches_loom_run(stories, tool):
    text = "Lily saw a big, red ball."
    ids = tool("loom-run", stories.path, "--tokenize", "-p", text).split()
    assert stories.tokenizer.encode(text) == [int(i) for i in ids]
    back = tool("loom-run", stories.path, "--detokenize", "--ids", "-p",
                " ".join(i.decode() for i in ids))
    assert stories.tokenizer.decode([int(i) for i in ids]) + "\n" == \
        back.decode()
    assert stories.tokenizer.vocab_size == 512
    assert stories.tokenizer.bos_id == 1
    assert stories.tokenizer.piece(403) == b" Once"


def test_config_and_options(stories, models, cache_dir):
    config = stories.config
    assert config["architecture"] == "llama"
    assert config["dim"] == 64 and config["layers"] == 5
    assert config["norm_eps"] == pytest.approx(1e-5)
    options = loom.compile_options()
    assert options["context_length"]["flag"] == "--context-length"
    assert options["context_length"]["default"] == "0"
    assert options["dtype"]["default"] == "f32"
    assert options["dtype"]["value"] == "f32|bf16"
    assert stories.chat_template == ""
    assert stories.session().num_token_types == 0
    small = loom.load(models / "stories260K.gguf", context_length=64,
                      cache_dir=cache_dir)
    assert small.context_length == 64
    # The prompt must fit the context, as in loom-run.
    with pytest.raises(loom.LoomError, match="context holds 64 positions"):
        small.generate(list(range(1, 70)))


def test_artifact_runs_as_its_model(models, tool, tmp_path, cache_dir):
    artifact = tmp_path / "stories.so"
    tool("loom-compile", models / "stories260K.gguf", "-o", artifact,
         "--context-length", 128)
    model = loom.load(artifact)
    assert model.path.endswith("stories260K.gguf")
    assert model.context_length == 128
    assert model.generate(PROMPT, steps=64, temperature=0.0) + "\n" == \
        (models / "golden_once_upon_a_time_t0_n64.txt").read_text()
    with pytest.raises(loom.LoomError, match="takes no compile options"):
        loom.load(artifact, dtype="bf16")


def test_errors_are_exceptions(stories, tmp_path, models, cache_dir):
    with pytest.raises(loom.LoomError, match="nowhere.gguf: no such file"):
        loom.load(tmp_path / "nowhere.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 60)
    with pytest.raises(loom.LoomError, match="bad.gguf"):
        loom.load(bad, cache_dir=cache_dir)
    with pytest.raises(TypeError, match="unknown compile option 'bogus'"):
        loom.load(models / "stories260K.gguf", bogus=1)
    with pytest.raises(loom.LoomError, match="--dtype takes f32 or bf16"):
        loom.load(models / "stories260K.gguf", dtype="f64",
                  cache_dir=cache_dir)
    with pytest.raises(ValueError, match="threads takes a number"):
        loom.set_threads(-1)
    s = stories.session()
    with pytest.raises(loom.LoomError,
                       match="token id 512 is outside the vocabulary of 512"):
        s.prefill([1, 512])
    with pytest.raises(loom.LoomError, match="token id -3 is outside"):
        s.decode(-3, 0)
    with pytest.raises(loom.LoomError, match="do not fit the context"):
        s.decode(5, stories.context_length)
    with pytest.raises(loom.LoomError, match="outside the range of 32-bit"):
        s.prefill([1, 2**40])
    with pytest.raises(TypeError, match="integer token ids"):
        s.prefill([1.5, 2.0])
    with pytest.raises(ValueError, match="1-D sequence"):
        s.prefill([[1, 2], [3, 4]])
    with pytest.raises(loom.LoomError, match="no tokens"):
        s.prefill([])
    with pytest.raises(loom.LoomError, match="outside the vocabulary"):
        stories.tokenizer.decode([1, 9999])
    with pytest.raises(loom.LoomError, match="decoder"):
        s.encode([1, 2, 3])
    # The session still works after every error.
    assert s.prefill([1, 403]).shape == (2, 512)


def test_bf16_and_threads_as_loom_run(models, tool, cache_dir, tmp_path):
    """Compile options and threads as keywords: the same artifact (through
    the shared cache key) and the same logits as loom-run's flags."""
    model = loom.load(models / "stories260K.gguf", dtype="bf16", threads=1,
                      context_length=256, cache_dir=cache_dir)
    assert loom._loom.thread_count() == 1
    dump = tmp_path / "bf16.f32"
    tool("loom-run", models / "stories260K.gguf", "--dtype=bf16",
         "--threads=1", "--context-length=256", "-p", PROMPT, "-n", 8,
         "--temperature", 0, "--dump-logits", dump, "--cache-dir", cache_dir)
    expected = np.fromfile(dump, dtype=np.float32).reshape(-1, 512)
    got = model.session().prefill(model.tokenizer.encode(PROMPT))
    assert got.tobytes() == expected[:len(got)].tobytes()
    f32 = loom.load(models / "stories260K.gguf", context_length=256,
                    cache_dir=cache_dir).session().prefill(
                        model.tokenizer.encode(PROMPT))
    # bf16 matrices differ from f32 ones (measured: 0.8% of the largest
    # logit), not in the tokens they pick.
    assert 0 < np.abs(got - f32).max() < 0.02 * np.abs(f32).max()
    assert (got.argmax(-1) == f32.argmax(-1)).all()
    loom.set_threads(0)


def test_sessions_run_in_threads(stories):
    """Compiled code runs without the GIL: sessions in Python threads give
    what they give one after the other."""
    import threading
    prompts = [[1, 403, 407, 261], [1, 5, 6, 7], [1, 300, 301, 302]]
    expected = [stories.session().prefill(p) for p in prompts]
    results = [None] * len(prompts)

    def run(i):
        s = stories.session()
        for _ in range(20):
            results[i] = s.prefill(prompts[i])
            s.reset()

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        assert got.tobytes() == want.tobytes()


def test_one_session_in_two_threads_is_an_error_not_a_race(stories):
    """A session runs one call at a time: a call from a second thread while
    one runs raises, and the session goes on working."""
    import threading
    s = stories.session()
    # Long enough that the calls overlap (measured: every other one).
    prompt = stories.tokenizer.encode(PROMPT * 20)
    expected = stories.session().prefill(prompt)
    errors, results = [], []

    def run():
        for _ in range(30):
            try:
                results.append(s.prefill(prompt))
            except loom.LoomError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("running a call in another thread" in e for e in errors)
    assert len(results) + len(errors) == 60
    assert all(r.tobytes() == expected.tobytes() for r in results)
    assert s.prefill(prompt).tobytes() == expected.tobytes()


def test_tokenizer_file_told_apart_by_content(models, tmp_path, cache_dir):
    checkpoint = models / "stories260K.bin"
    golden = (models / "golden_once_upon_a_time_t0_n64.txt").read_text()
    for vocab in ("tok512.bin", "stories260K.gguf"):
        model = loom.load(checkpoint, tokenizer=models / vocab,
                          cache_dir=cache_dir)
        assert model.generate(PROMPT, steps=64, temperature=0.0) + "\n" == \
            golden, vocab
    # The first 300 pieces of tok512.bin: a sound tokenizer.bin, of
    # another size than the model's.
    data = (models / "tok512.bin").read_bytes()
    at = 4
    for _ in range(300):
        at += 8 + int.from_bytes(data[at + 4:at + 8], "little")
    short = tmp_path / "short.bin"
    short.write_bytes(data[:at])
    with pytest.raises(loom.LoomError, match="short.bin: the vocabulary has "
                       "300 pieces, the model 512 tokens"):
        loom.load(checkpoint, tokenizer=short, cache_dir=cache_dir)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:at + 3])
    with pytest.raises(loom.LoomError, match="cut.bin: is neither a file "
                       "with a vocabulary nor a llama2.c tokenizer.bin"):
        loom.load(checkpoint, tokenizer=cut, cache_dir=cache_dir)
    with pytest.raises(loom.LoomError, match="stories260K.bin: is a model "
                       "file without a vocabulary"):
        loom.load(checkpoint, tokenizer=checkpoint, cache_dir=cache_dir)


def test_profile_counts_every_kernel_run(stories):
    # stories260K's schedule: 91 kernels a decode step, 5 layers.
    session = stories.session()
    with loom.profile() as p:
        session.prefill(stories.tokenizer.encode(PROMPT))
        for position in range(5, 9):
            session.decode(1, position)
    decode = [o for o in p.ops if o["entry"] == "decode"]
    assert sum(o["runs"] for o in decode) == 91 * 4
    q = next(o for o in decode if o["op"] == "blk.*.attn_q")
    assert (q["kernels"], q["runs"]) == (5, 20)
    assert p.seconds() > 0 and p.seconds("decode") < p.seconds()
    # Off again after the block: nothing more is recorded.
    session.decode(1, 9)
    with loom.profile() as empty:
        pass
    assert empty.ops == []
