import numpy as np
import pytest

from gputopic.device import get_backend
from gputopic.embed import Embedder, cache_key, cached_encode, load_embedder
from gputopic.exceptions import InputError

from helpers import HashingEncoder

CPU = get_backend("cpu")


class CountingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def encode(self, docs):
        self.calls += 1
        return super().encode(docs)


def test_cache_skips_the_second_embedding(tmp_path):
    enc = CountingEncoder()
    emb = load_embedder(enc, "cpu")
    docs = ["one document", "another document"]
    first = cached_encode(emb, docs, CPU, tmp_path)
    second = cached_encode(emb, docs, CPU, tmp_path)
    assert enc.calls == 1
    np.testing.assert_array_equal(first, second)
    assert len(list(tmp_path.glob("*.npy"))) == 1


def test_cache_key_depends_on_model_and_every_document():
    base = cache_key("m", ["a", "b"])
    assert base != cache_key("m2", ["a", "b"])
    assert base != cache_key("m", ["a", "b "])
    assert base != cache_key("m", ["ab"])  # no ambiguity from concatenation


def test_unreadable_cache_file_is_recomputed(tmp_path):
    enc = CountingEncoder()
    emb = load_embedder(enc, "cpu")
    docs = ["x y", "y z"]
    cached_encode(emb, docs, CPU, tmp_path)
    next(tmp_path.glob("*.npy")).write_bytes(b"garbage")
    out = cached_encode(emb, docs, CPU, tmp_path)
    assert enc.calls == 2 and out.shape == (2, 64)


def test_encoder_returning_wrong_rows_is_reported():
    class Bad:
        def encode(self, docs):
            return np.zeros((len(docs) + 1, 4), dtype=np.float32)

    with pytest.raises(InputError, match="the embedding model have 3 rows but there are 2 documents"):
        Embedder(Bad(), "bad", owned=False, device="cpu").encode(["a", "b"], CPU)


def test_unloadable_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="Could not load the embedding model"):
        load_embedder(str(tmp_path / "no-such-model"), "cpu").encode(["a"], CPU)


def test_default_model_is_the_bundled_minilm():
    emb = load_embedder(None, "cpu")
    assert emb.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    vecs = emb.encode(["GPU topic models", "a sentence about cooking pasta"], CPU)
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    assert np.isfinite(vecs).all()


def test_character_cap_keeps_the_tokens_the_model_sees(ng2000):
    """The CUDA path cuts documents to tokenizer_char_cap() characters before tokenising;
    on real long posts the truncated token ids must be unchanged."""
    from gputopic.embed import tokenizer_char_cap

    model = load_embedder(None, "cpu").model
    cap = tokenizer_char_cap(model)
    docs = sorted(ng2000[0], key=len)[-300:]  # the longest posts
    assert max(map(len, docs)) > cap
    full = model.tokenize(docs)["input_ids"]
    cut = model.tokenize([d[:cap] for d in docs])["input_ids"]
    assert full.shape == cut.shape and bool((full == cut).all())
