"""The compiled ASCII WordPiece (gputopic.wordpiece) against the Rust tokenizer it stands in for."""

import json

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("numba")

from gputopic.embed import default_model_path  # noqa: E402
from gputopic.wordpiece import AsciiWordPiece  # noqa: E402

# a small cased vocabulary: "##z" and "##Q" are missing (words with them are [UNK]),
# several lengths of overlapping pieces make the greedy longest match matter
SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "z", "Q", "ab", "abc", "abca", "ca", "bc",
               "##a", "##b", "##c", "##ab", "##bc", "##abc", "##cab", "1", "12", "##1", "##2", "##12",
               ".", ",", "!", "-", "'"]
ALPHABET = list("abczQ12") * 3 + list(" .,!-'\t\n\r?")  # "?" is not in the vocabulary


def small_tokenizer(post="template", max_length=16, max_word=9):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(SMALL_VOCAB)}
    tk = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=max_word))
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if post == "template":
        tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                          special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    elif post == "bert":
        tk.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    tk.enable_truncation(max_length)
    return tk


def random_texts(n, seed, longest=60):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(ALPHABET, size=rng.integers(0, longest))) for _ in range(n)]


def rust_ids(tk, texts):
    ids = [e.ids for e in tk.encode_batch(texts)]
    return np.array([i for row in ids for i in row], dtype=np.int64), np.array([len(r) for r in ids])


@pytest.mark.parametrize("post,max_length,max_word", [("template", 16, 9), ("bert", 7, 4), (None, 40, 100)])
def test_same_ids_as_the_rust_tokenizer_on_random_text(post, max_length, max_word):
    """Greedy longest pieces, [UNK] for words without a split or longer than max_word,
    punctuation split off, truncation inside a word, empty and blank texts."""
    tk = small_tokenizer(post, max_length, max_word)
    wp = AsciiWordPiece.from_tokenizer(tk)
    assert wp is not None
    edge = ["", "   \n\t", "abcabcab", "zzz", "a" * 200, "abc" * 3 + "a"]
    texts = random_texts(3000, seed=max_length, longest=4 * max_length) + edge
    flat, counts = wp.encode(texts)
    ref_flat, ref_counts = rust_ids(tk, texts)
    assert np.array_equal(counts, ref_counts)
    assert np.array_equal(flat, ref_flat)
    unk = SMALL_VOCAB.index("[UNK]")
    assert (flat == unk).sum() > 100  # the unknown-word branches ran
    assert (counts == max_length).sum() > 100  # and truncation


def test_same_ids_as_the_rust_tokenizer_for_the_default_model(ng2000):
    """all-MiniLM-L6-v2's tokenizer on lowercased ASCII posts (what FastTokenizer sends)."""
    from gputopic.tokenizer import _CONTROL_BYTES, _ascii_tokenizer

    tk = tokenizers.Tokenizer.from_file(f"{default_model_path()}/tokenizer.json")
    tk.no_padding()
    tk.enable_truncation(256)
    plain, lower = _ascii_tokenizer(tk)
    assert lower
    wp = AsciiWordPiece.from_tokenizer(plain)
    assert wp is not None and wp.max_length == 256
    texts = [d.lower() for d in ng2000[0] if d.isascii() and not set(d.encode()) & set(_CONTROL_BYTES)]
    texts += ["word " * 300, "x" * 101, "x" * 100, "e-mail: a.b@c.com (see [1]) -- 3.14"]
    flat, counts = wp.encode(texts)
    ref_flat, ref_counts = rust_ids(tk, texts)
    assert np.array_equal(counts, ref_counts) and np.array_equal(flat, ref_flat)
    assert len(texts) > 1900


def test_empty_batch():
    wp = AsciiWordPiece.from_tokenizer(small_tokenizer())
    flat, counts = wp.encode([])
    assert flat.size == 0 and counts.size == 0


def _with(tk, **changes):
    spec = json.loads(tk.to_str())
    for path, value in changes.items():
        node = spec
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return tokenizers.Tokenizer.from_str(json.dumps(spec))


def test_declines_tokenizers_it_does_not_reproduce():
    from tokenizers import Tokenizer, models

    tk = small_tokenizer()
    assert AsciiWordPiece.from_tokenizer(tk) is not None
    assert AsciiWordPiece.from_tokenizer(_with(tk, pre_tokenizer={"type": "Whitespace"})) is None
    assert AsciiWordPiece.from_tokenizer(_with(tk, model__unk_token="<unk>")) is None
    assert AsciiWordPiece.from_tokenizer(_with(tk, truncation=None)) is None
    assert AsciiWordPiece.from_tokenizer(_with(tk, truncation__direction="Left")) is None
    padded = small_tokenizer()
    padded.enable_padding()
    assert AsciiWordPiece.from_tokenizer(padded) is None
    byte_level = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    assert AsciiWordPiece.from_tokenizer(_with(tk, post_processor=byte_level)) is None
    single_b = json.loads(tk.to_str())["post_processor"]
    single_b["single"] = [{"Sequence": {"id": "B", "type_id": 0}}]
    assert AsciiWordPiece.from_tokenizer(_with(tk, post_processor=single_b)) is None
    assert AsciiWordPiece.from_tokenizer(small_tokenizer(max_length=2)) is None  # no room for text
    bpe = Tokenizer(models.BPE({"a": 0, "[UNK]": 1}, [], unk_token="[UNK]"))
    bpe.enable_truncation(8)
    assert AsciiWordPiece.from_tokenizer(bpe) is None
