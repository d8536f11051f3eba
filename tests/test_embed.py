import numpy as np
import pytest

from gputopic.device import get_backend
from gputopic.embed import Embedder, cache_key, cached_encode, default_model_path, load_embedder
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
    from gputopic.tokenizer import tokenizer_char_cap

    model = load_embedder(None, "cpu").model
    cap = tokenizer_char_cap(model)
    docs = sorted(ng2000[0], key=len)[-300:]  # the longest posts
    assert max(map(len, docs)) > cap
    full = model.tokenize(docs)["input_ids"]
    cut = model.tokenize([d[:cap] for d in docs])["input_ids"]
    assert full.shape == cut.shape and bool((full == cut).all())


ODD_DOCS = ["", "   ", "\n\t", "é ü naïve café 日本語のテキスト 😀", "x" * 20000, "word " * 600,
            "Mixed CASE, punctuation!!! and numbers 123.45", "a"]


def test_fast_tokenizer_gives_the_models_own_features(ng2000):
    """The Rust-direct tokenizer must reproduce SentenceTransformer.preprocess exactly:
    ids, attention mask and token types, padding and truncation included."""
    from gputopic.tokenizer import fast_tokenizer

    model = load_embedder(None, "cpu").model
    docs = sorted(ng2000[0], key=len)
    sample = docs[:20] + docs[-20:] + docs[::97] + ODD_DOCS
    fast = fast_tokenizer(model, sample)
    assert fast is not None
    other = docs[1::53] + ODD_DOCS[::-1]  # documents it was not checked on
    got, ref = fast(other), model.preprocess(other)
    assert set(got) == set(ref)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert got[key].shape == ref[key].shape and bool((got[key] == ref[key]).all()), key


def test_whitespace_cut_gives_the_whole_texts_ids(ng2000):
    """Long texts are tokenised up to a whitespace near CUT_CHARS_PER_TOKEN x max_len
    characters first; the ids must equal those of the whole text, and a text whose prefix
    does not fill max_len tokens (a long run without spaces, short words) is tokenised
    again whole."""
    from gputopic.tokenizer import FastTokenizer, fast_tokenizer

    model = load_embedder(None, "cpu").model
    long_posts = sorted(ng2000[0], key=len)[-200:]
    odd = ["x" * 1500 + " word" * 400,  # prefix = one 1,500-char word: [UNK], then re-tokenised
           "a " * 2000,  # 2 characters per token: the prefix fills max_len
           "b" * 5000,  # no whitespace before the cut: tokenised whole at once
           "word\n" * 800, " " * 3000 + "end"]
    texts = long_posts + odd
    fast = fast_tokenizer(model, texts)
    assert fast is not None and fast.cut > 0 and fast.max_len == model.max_seq_length
    whole = FastTokenizer(fast.tokenizer, fast.pad_id, fast.type_id, fast.keys, fast.extras)
    calls = []
    tokenize = fast.tokenize
    fast.tokenize = lambda batch: calls.append(list(batch)) or tokenize(batch)
    got, ref = fast.pack(texts), whole.pack(texts)
    assert np.array_equal(got[1], ref[1]) and np.array_equal(got[0], ref[0])
    assert len(calls) == 2 and odd[0] in calls[1] and len(calls[1]) < 10  # few second passes
    assert len(calls[0][-5]) < len(odd[0]) and len(calls[0][-3]) == len(odd[2])
    pre = model.preprocess(texts)["input_ids"]
    feats = fast(texts)["input_ids"]
    assert feats.shape == pre.shape and bool((feats == pre).all())


ASCII_EDGE_DOCS = [
    "Hello [MASK] world", "[mask] in lower case", "a [Cls] token, mixed case", "[unknown] brackets only",
    "tab\tand\nnewline\r\nend", "vertical\x0btab", "form\x0cfeed", "del\x7fchar", "nul\x00byte",
    "UPPER Case and ÀCCENTS", "naïve café", "日本語 and ASCII", "", "   ", "x" * 300,
]


@pytest.mark.parametrize("wordpiece", [True, False])
def test_ascii_texts_skip_the_normaliser_with_the_same_ids(ng2000, wordpiece):
    """Plain ASCII texts are lowercased in Python and tokenised without the normaliser (by
    the compiled WordPiece, or by the Rust tokenizer without its normaliser); their ids
    must equal the whole tokenizer's. Texts where the normaliser or the added-token
    matching would act (control characters, "[MASK]" in any case, non-ASCII) take the
    whole tokenizer: tokenised without the normaliser, "[MASK]" and the control characters
    would give other ids (the lowercase "[mask]" would not: it is routed there to be safe)."""
    from gputopic.tokenizer import FastTokenizer, fast_tokenizer

    model = load_embedder(None, "cpu").model
    texts = list(ng2000[0]) + ASCII_EDGE_DOCS
    fast = fast_tokenizer(model, texts[:50] + ASCII_EDGE_DOCS)
    assert fast is not None and fast.ascii_tokenizer is not None and fast.ascii_lower
    assert fast.wordpiece is not None
    if not wordpiece:
        fast.wordpiece = None
    whole = FastTokenizer(fast.tokenizer, fast.pad_id, fast.type_id, fast.keys, fast.extras,
                          max_len=fast.max_len, cut=fast.cut)
    seen = []
    ascii_path = fast._tokenize_ascii
    fast._tokenize_ascii = lambda batch: seen.extend(batch) or ascii_path(batch)
    got, ref = fast.pack(texts), whole.pack(texts)
    assert np.array_equal(got[1], ref[1]) and np.array_equal(got[0], ref[0])
    assert len(seen) > 0.95 * len(ng2000[0])  # most posts skip the normaliser
    kept = ASCII_EDGE_DOCS[3:5] + ASCII_EDGE_DOCS[12:]  # ASCII without [MASK]-like or control text
    assert {d.lower() for d in kept} <= set(seen)
    others = [d for d in ASCII_EDGE_DOCS if d not in kept]
    assert not {d.lower() for d in others} & set(seen)
    # the routing is what keeps them exact: without the normaliser they tokenise differently
    for d in ASCII_EDGE_DOCS[:1] + ASCII_EDGE_DOCS[5:9]:
        assert ascii_path([d.lower()])[0].tolist() != whole.tokenize([d])[0].tolist(), d


def test_a_failing_compiled_wordpiece_leaves_the_rust_tokenizer(monkeypatch, caplog):
    import gputopic.wordpiece as wordpiece_mod
    from gputopic.tokenizer import fast_tokenizer

    def broken(self, texts):
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(wordpiece_mod.AsciiWordPiece, "encode", broken)
    model = load_embedder(None, "cpu").model
    with caplog.at_level("WARNING", logger="gputopic"):
        fast = fast_tokenizer(model, ["Some text.", "more TEXT, here"] + ASCII_EDGE_DOCS)
    assert fast is not None and fast.wordpiece is None and fast.ascii_tokenizer is not None
    assert "compiled WordPiece tokenizer unavailable (RuntimeError: no LLVM here)" in caplog.text
    got, ref = fast(ASCII_EDGE_DOCS), model.preprocess(ASCII_EDGE_DOCS)
    assert bool((got["input_ids"] == ref["input_ids"]).all())


def test_ascii_tokenizer_only_for_normalisers_that_are_lowercasing_on_ascii():
    import json

    import tokenizers

    from gputopic.tokenizer import _ascii_tokenizer

    base = json.loads(tokenizers.Tokenizer.from_file(f"{default_model_path()}/tokenizer.json").to_str())

    def variant(normalizer, pre=None):
        spec = json.loads(json.dumps(base))
        spec["normalizer"] = normalizer
        if pre is not None:
            spec["pre_tokenizer"] = pre
        return _ascii_tokenizer(tokenizers.Tokenizer.from_str(json.dumps(spec)))

    tk, lower = variant(base["normalizer"])
    assert tk is not None and lower and json.loads(tk.to_str())["normalizer"] is None
    assert variant({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "StripAccents"}]})[1] is False
    assert variant({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}]})[1] is True
    assert variant(None) == (None, False)  # nothing to skip
    assert variant({"type": "Replace", "pattern": {"String": "a"}, "content": "b"}) == (None, False)
    assert variant(base["normalizer"], pre={"type": "Metaspace", "replacement": "▁",
                                             "prepend_scheme": "always", "split": True}) == (None, False)


def test_fast_tokenizer_declines_a_model_it_cannot_reproduce():
    from gputopic.tokenizer import fast_tokenizer

    model = load_embedder(None, "cpu").model
    model.tokenizer.padding_side = "left"
    try:
        assert fast_tokenizer(model, ["some text", "more text here"]) is None
    finally:
        model.tokenizer.padding_side = "right"


@pytest.mark.parametrize("fast", [True, False])
def test_sorted_batched_loop_matches_plain_encode(ng2000, monkeypatch, fast):
    """The GPU embedding loop (length-sorted, token-budget batches, chunks tokenised in
    background threads, rows written back in input order) run on the CPU: same vectors
    as SentenceTransformer.encode, with the Rust-direct tokenizer and without it."""
    import gputopic.embed as embed_mod

    monkeypatch.setattr(embed_mod, "FAST_CHUNK_DOCS", 7)  # many chunks and batches
    if not fast:
        monkeypatch.setattr(embed_mod, "fast_tokenizer", lambda model, sample: None)
    docs = ng2000[0][:40] + ODD_DOCS
    emb = load_embedder(None, "cpu")
    ours = emb._encode_device(docs, batch_size=3, verbose=False).numpy()
    assert (emb._fast is not False) == fast
    plain = emb.model.encode(docs, batch_size=16)
    cos = (ours * plain).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(plain, axis=1)
    assert cos.min() > 0.9999, cos.min()


def test_token_budget_batches_cover_every_row_once():
    from gputopic.tokenizer import fast_tokenizer

    model = load_embedder(None, "cpu").model
    texts = ["word " * n for n in (300, 120, 60, 60, 30, 10, 3, 0)]
    fast = fast_tokenizer(model, texts)
    idx = np.arange(len(texts)) + 100
    batches = fast.batches(idx, texts, token_budget=256, pin=False)
    assert np.concatenate([b for b, _, _ in batches]).tolist() == idx.tolist()
    for rows, feats, _ in batches:
        ids = feats["input_ids"]
        assert ids.shape[0] == len(rows)
        assert ids.shape[0] == 1 or ids.numel() <= 256  # a single over-long row still runs
    assert len(batches) > 2


# ------------------------------------------------- int8 ONNX Runtime CPU path


@pytest.fixture(scope="module")
def int8_embedder():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    return load_embedder(None, "cpu", "auto")  # the copy is made once into $GPUTOPIC_ONNX_CACHE (conftest)


def _cos(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_int8_cpu_path_stays_close_to_fp32_on_real_posts(int8_embedder, ng2000):
    docs, _, ref = ng2000
    got = int8_embedder.encode(docs[:48], CPU)
    assert int8_embedder.int8 and int8_embedder._onnx  # the int8 copy ran
    cos = _cos(got, ref[:48])
    # measured on 300 posts (bench/results/cpu_embed_speed_300.json): min 0.984, mean 0.994
    assert cos.min() > 0.97 and cos.mean() > 0.985
    assert int8_embedder.cache_id.endswith("#onnx-int8")  # not mixed with fp32 in the embedding cache


def test_int8_path_runs_small_batches_and_hands_its_arena_back(int8_embedder, ng2000, monkeypatch):
    # ORT's arena keeps the memory of the largest batch until the process ends (~430 MB
    # at 32 x 256 tokens): batches of ONNX_CPU_BATCH_SIZE documents' worth of tokens,
    # then one shrinking run
    from gputopic import embed

    int8_embedder.encode(["load the copy"], CPU)
    session = int8_embedder._onnx.session
    calls = []

    class Spy:
        def __getattr__(self, name):
            return getattr(session, name)

        def run(self, out, feed, opts=None):
            calls.append((next(iter(feed.values())).shape, opts))
            return session.run(out, feed, opts)

    monkeypatch.setattr(int8_embedder._onnx, "session", Spy())
    docs = ng2000[0][:40]
    got = int8_embedder.encode(docs, CPU)
    assert got.shape == (40, 384)
    *batches, last = calls
    assert sum(shape[0] for shape, _ in batches) == 40
    budget = embed.ONNX_CPU_BATCH_SIZE * int8_embedder.model.max_seq_length  # tokens per batch
    assert all(shape[0] * shape[1] <= budget and opts is None for shape, opts in batches)
    assert len(batches) > 1
    assert last[0] == (1, 1) and last[1].get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"


def test_int8_copy_is_reused_and_a_corrupt_one_rebuilt(int8_embedder, tmp_path, monkeypatch, caplog):
    import logging
    import shutil

    from gputopic import onnx_int8

    model = int8_embedder.model
    int8_embedder.encode(["make sure the copy exists"], CPU)
    src = int8_embedder._onnx.folder
    folder = tmp_path / src.name
    shutil.copytree(src, folder)
    builds = []
    monkeypatch.setattr(onnx_int8, "_build", lambda model, probe, folder: builds.append(folder))
    probe = model.preprocess(["a short text", "and another one"])
    assert onnx_int8.load_or_build(model, probe, tmp_path) is not None and builds == []  # reused
    path = folder / onnx_int8.ONNX_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="gputopic"):
        onnx_int8.load_or_build(model, probe, tmp_path)
    assert builds == [folder] and not folder.exists()  # the damaged copy was dropped and rebuilt
    assert "SHA-256" in caplog.text and "rebuilding" in caplog.text


def test_a_sentence_transformer_object_is_named_by_its_weights():
    """The bundled model passed as an object (any SentenceTransformer subclass) has the
    default's id, so models embedding alike can be merged and share the cache."""
    from sentence_transformers import SentenceTransformer

    from gputopic.embed import model_identity

    class Sub(SentenceTransformer):
        pass

    model = Sub(default_model_path(), device="cpu")
    assert model_identity(model) == load_embedder(None, "cpu").model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert load_embedder(model, "cpu").model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert model_identity(HashingEncoder()) == "helpers.HashingEncoder"  # other encoders: by their class


def test_torch_backend_is_the_plain_sentence_transformer(ng2000):
    docs, _, ref = ng2000
    emb = load_embedder(None, "cpu", "torch")
    assert not emb.int8 and emb.cache_id == emb.model_id
    assert not load_embedder(None, "cpu").int8  # the default: exact, batch-independent fp32
    np.testing.assert_allclose(emb.encode(docs[:6], CPU), ref[:6], atol=2e-4)


def test_model_objects_and_cuda_keep_their_own_path():
    class Enc:
        def encode(self, docs):
            return np.ones((len(docs), 3), dtype=np.float32)

    assert not load_embedder(Enc(), "cpu").int8
    assert not load_embedder(None, "cuda").int8  # not loaded: no GPU needed to check this


def test_missing_onnxruntime_falls_back_with_a_log_line(monkeypatch, caplog):
    import logging
    import sys

    from gputopic.exceptions import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails
    with caplog.at_level(logging.INFO, logger="gputopic"):
        emb = load_embedder(None, "cpu", "auto")
    assert not emb.int8 and "onnxruntime/onnx not installed" in caplog.text
    with pytest.raises(MissingDependencyError, match=r"gputopic\[onnx\]"):
        load_embedder(None, "cpu", "onnx-int8")


def test_unknown_embedding_backend_is_rejected():
    from gputopic import GPUTopic

    with pytest.raises(InputError, match="embedding_backend must be one of"):
        load_embedder(None, "cpu", "int4")
    with pytest.raises(InputError, match="embedding_backend must be one of"):
        GPUTopic(embedding_backend="int4").fit_transform(["a b c"] * 30)


def test_torch_threads_are_set_inside_the_cuda_loop_scope_and_restored():
    """The CUDA loop runs with torch's CPU pool at CUDA_LOOP_TORCH_THREADS and gives the
    process its setting back, also when a batch fails."""
    import torch

    from gputopic.embed import _torch_threads

    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with _torch_threads(torch, target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with _torch_threads(torch, target):
            raise RuntimeError("a failed batch")
    assert torch.get_num_threads() == before
    with _torch_threads(torch, None):
        assert torch.get_num_threads() == before


# ------------------------------------------------- packed (unpadded) batches


def test_packed_loop_equals_padded_encode_in_document_order(ng2000, monkeypatch):
    """The packed path (no padding: linear layers on real tokens only, attention per
    document) gives the padded model's vectors, row for row in input order, on real posts
    of all lengths plus odd texts, with many chunks and batches."""
    import gputopic.embed as embed_mod

    monkeypatch.setattr(embed_mod, "FAST_CHUNK_DOCS", 16)
    docs = ng2000[0][:48] + ODD_DOCS
    emb = load_embedder(None, "cpu").set_fast_path(packed=True)
    got = emb.encode(docs, CPU, batch_size=4)
    assert emb._packed and emb.last_stats["packed"] and emb.last_stats["padding"] == 0.0
    assert emb.last_stats["batches"] > 3 and emb.last_stats["docs"] == len(docs)
    plain = emb.model.encode(docs, batch_size=16)
    assert _cos(got, plain).min() > 0.9999


def test_packed_attention_kinds_agree():
    """Nested-tensor attention and the padded-attention copy give the same vectors (CPU)."""
    import torch

    from gputopic.packed import PackedEncoder, packed_encoder
    from gputopic.tokenizer import fast_tokenizer

    model = load_embedder(None, "cpu").model
    texts = ["word " * n + "end" for n in (40, 7, 1, 0, 19)]
    fast = fast_tokenizer(model, texts)
    flat, lengths = (torch.from_numpy(a) for a in fast.pack(texts))
    with torch.inference_mode():
        a = packed_encoder(model, "nested")(flat, lengths, fast.type_id)
        b = packed_encoder(model, "padded")(flat, lengths, fast.type_id)
    assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="attention must be one of"):
        PackedEncoder(model[0].auto_model, True, "flash")


def test_padding_share_is_recorded_and_packed_batches_hold_the_token_budget():
    from gputopic.tokenizer import fast_tokenizer

    model = load_embedder(None, "cpu").model
    texts = ["word " * n for n in (300, 120, 60, 60, 30, 10, 3, 0)]
    fast = fast_tokenizer(model, texts)
    idx = np.arange(len(texts))
    padded = fast.batches(idx, texts, token_budget=256, pin=False)
    packed = fast.batches(idx, texts, token_budget=256, pin=False, packed=True)
    for batches in (padded, packed):
        assert np.concatenate([b for b, _, _ in batches]).tolist() == idx.tolist()
    tokens = sum(t for _, _, (t, _) in padded)
    assert tokens == sum(t for _, _, (t, _) in packed) == sum(min(n + 2, 256) for n in (300, 120, 60, 60, 30, 10, 3, 0))
    assert all(slots == t for _, _, (t, slots) in packed)
    assert sum(s for _, _, (_, s) in padded) > tokens  # padded batches compute some padding
    for rows, feats, (t, _) in packed:
        assert feats["lengths"].shape[0] == len(rows) and feats["flat"].shape[0] == t
        assert len(rows) == 1 or t <= 256


def test_fast_path_switches_are_checked():
    emb = load_embedder(None, "cpu")
    with pytest.raises(InputError, match="dtype must be one of"):
        emb.set_fast_path(dtype="float8")
    with pytest.raises(InputError, match="packed must be True or False"):
        emb.set_fast_path(packed="yes")
    with pytest.raises(InputError, match="compile must be True or False"):
        emb.set_fast_path(compile=1)
    assert emb.set_fast_path(dtype="bfloat16").half_dtype == "bfloat16"


def test_packed_batch_out_of_memory_is_split_in_half(ng2000):
    """A packed batch that runs out of memory is cut in two (ids and lengths together) and
    retried until the halves fit; the vectors stay those of the model, in input order."""
    import torch

    docs = ng2000[0][:24]
    emb = load_embedder(None, "cpu").set_fast_path(packed=True)
    want = emb.encode(docs, CPU, batch_size=32)
    real, sizes = emb._packed.forward, []

    def forward(flat, lengths, type_id=0):
        sizes.append(int(lengths.shape[0]))
        assert int(lengths.sum()) == flat.shape[0]
        if lengths.shape[0] > 4:
            raise torch.cuda.OutOfMemoryError("simulated")
        return real(flat, lengths, type_id)

    emb._packed.forward = forward
    got = emb.encode(docs, CPU, batch_size=32)
    assert sizes[:3] == [24, 12, 6]  # one batch of all 24, halved on each failure
    assert sum(s for s in sizes if s <= 4) == len(docs)  # the halves that ran cover every row once
    assert _cos(got, want).min() > 0.99999
