"""Encoders (BERT) from Python against loom-run on the same model."""

import numpy as np
import pytest

import loom


def _ids(path):
    return [int(t) for line in path.read_text().splitlines()
            if not line.startswith("#") for t in line.split()]


@pytest.fixture(scope="module")
def bert(models, cache_dir):
    return loom.load(models / "hf-random" / "bert" / "model",
                     cache_dir=cache_dir)


def test_hidden_and_mlm_equal_loom_run(bert, models, tool, cache_dir,
                                       tmp_path):
    folder = models / "hf-random" / "bert"
    ids = _ids(folder / "pair_input_ids.txt")
    types = _ids(folder / "pair_token_type_ids.txt")
    tool("loom-run", folder / "model", "--ids", "-p", " ".join(map(str, ids)),
         "--token-types", " ".join(map(str, types)), "--cache-dir", cache_dir,
         "--dump-hidden", tmp_path / "hidden", "--dump-logits",
         tmp_path / "mlm")
    assert bert.is_encoder
    s = bert.session()
    hidden = s.encode(ids, token_types=[types])
    assert hidden.shape == (len(ids), bert.config["dim"])
    assert hidden.tobytes() == (tmp_path / "hidden").read_bytes()
    mlm = s.encode(ids, entry="mlm", token_types=[types])
    assert mlm.shape == (len(ids), bert.vocab_size)
    assert mlm.tobytes() == (tmp_path / "mlm").read_bytes()
    # Against transformers (the folder's reference), as hf-random-bert.test.
    reference = np.fromfile(folder / "pair_last_hidden.f32", dtype=np.float32)
    assert np.abs(hidden.ravel() - reference).max() < 1e-4


def test_batches_pack_like_single_sequences(bert):
    s = bert.session()
    a, b = [2, 17, 33, 3], [2, 40, 41, 42, 43, 3]
    both = s.encode([a, b])
    assert both.shape == (len(a) + len(b), bert.config["dim"])
    np.testing.assert_allclose(both[:len(a)], s.encode(a), atol=1e-5)
    np.testing.assert_allclose(both[len(a):], s.encode(b), atol=1e-5)


def test_encoder_errors(bert):
    s = bert.session()
    assert s.num_token_types == 2
    with pytest.raises(loom.LoomError, match="token type"):
        s.encode([2, 5, 3], token_types=[[0, 1, 2]])
    with pytest.raises(loom.LoomError, match="is an encoder"):
        bert.generate([2, 3])
    with pytest.raises(loom.LoomError, match="masked-LM|pooling|no entry"):
        s.encode([2, 3], entry="embed")
    with pytest.raises(loom.LoomError, match="token types for"):
        s.encode([2, 5, 3], token_types=[[0, 1]])
    with pytest.raises(loom.LoomError, match="not an empty list"):
        s.encode([])
    with pytest.raises(loom.LoomError, match="sequence 0 of the batch has no"):
        s.encode([[]])
